// The functions' collaborators, built once per instance from the config:
// Cloud Storage (run records, uploaded images files), Pub/Sub (jobs), the
// registry clients with source credentials, and the structured logger.
//
// The Google client libraries are the bulk of a cold start (@google-cloud/pubsub
// alone ~0.45 s and ~30 MiB, @google-cloud/storage ~0.25 s), so each is
// imported on first use only: copyJob never loads Pub/Sub, planApi loads
// neither unless asked for a run's status. `preload` starts those imports at
// cold start for the functions that will need them on every request.

import { createRequire } from 'node:module';
import type { PubSub } from '@google-cloud/pubsub';
import type { Storage } from '@google-cloud/storage';
import type { JobPublisher } from '../pipeline/fanout.ts';
import type { RunStore } from '../pipeline/run-store.ts';
import {
  CredentialChain,
  DockerConfigCredentials,
  GoogleCredentials,
} from '../registry/credentials.ts';
import { Registries } from '../registry/registries.ts';
import type { Logger } from '../util/logger.ts';
import type { FunctionConfig } from './config.ts';
import { GcsRunStore } from './gcs-run-store.ts';
import { cloudLogger } from './logger.ts';
import { PubSubJobPublisher } from './publisher.ts';

const require = createRequire(import.meta.url);

export interface Runtime {
  readonly config: FunctionConfig;
  readonly logger: Logger;
  /** The Cloud Storage client, loaded on first use. */
  storage(): Promise<Storage>;
  /** Throws if the function was deployed without SYNCER_RUNS_BUCKET. */
  store(): RunStore;
  /** Throws if the function was deployed without SYNCER_JOBS_TOPIC. */
  publisher(): JobPublisher;
  registries(): Registries;
}

/** The client libraries a function uses on every request, worth loading before the first. */
export type ClientLibrary = 'storage' | 'pubsub';

/**
 * An object whose every method is async, standing in for one that does not
 * exist yet: each call waits for `load` (started on the first call) and is
 * passed on. So `store()` and `publisher()` stay synchronous for their callers
 * while the library behind them is imported only when a method is called.
 */
function deferred<T extends object>(load: () => Promise<T>): T {
  const loaded = once(load);
  return new Proxy({} as T, {
    get(_, name) {
      // Not a promise itself: `await store` must not wait for a `then` call.
      if (name === 'then' || typeof name === 'symbol') return undefined;
      return async (...args: unknown[]) => {
        const target = await loaded();
        return (target[name as keyof T] as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make();
    return made;
  };
}

export function createRuntime(
  config: FunctionConfig,
  logger: Logger = cloudLogger(undefined, config.debug),
): Runtime & { preload(libraries: readonly ClientLibrary[]): Promise<void> } {
  const projectOptions = config.project ? { projectId: config.project } : {};
  const storage = once(async () => {
    // The package's CommonJS build: it loads in ~130 ms and ~69 MiB against its
    // ES module build's ~200 ms and ~75 MiB (Node 24, 2 cores, 5 runs each).
    const { Storage } = require('@google-cloud/storage') as typeof import('@google-cloud/storage');
    return new Storage(projectOptions);
  });
  const pubsub = once(async (): Promise<PubSub> => {
    const { PubSub } = await import('@google-cloud/pubsub');
    return new PubSub(projectOptions);
  });
  let store: RunStore | undefined;
  let publisher: JobPublisher | undefined;
  let registries: Registries | undefined;
  return {
    config,
    logger,
    storage,
    store() {
      const bucket = config.runsBucket;
      if (!bucket) throw new Error('SYNCER_RUNS_BUCKET is not set');
      store ??= deferred(async () => new GcsRunStore(await storage(), bucket));
      return store;
    },
    publisher() {
      const topic = config.jobsTopic;
      if (!topic) throw new Error('SYNCER_JOBS_TOPIC is not set');
      publisher ??= deferred(async () => new PubSubJobPublisher(await pubsub(), topic));
      return publisher;
    },
    registries() {
      registries ??= new Registries({
        credentials: new CredentialChain([
          ...(config.sourceCredentials
            ? [
                DockerConfigCredentials.fromText(
                  config.sourceCredentials,
                  'SYNCER_SOURCE_CREDENTIALS',
                ),
              ]
            : []),
          new GoogleCredentials(),
        ]),
        endpoints: config.endpoints,
        insecureRegistries: config.insecureRegistries,
        retry: { attempts: config.retryAttempts },
        logger,
        policy: config.policy,
        authHosts: config.authHosts,
      });
      return registries;
    },
    async preload(libraries) {
      await Promise.all(libraries.map((library) => (library === 'storage' ? storage() : pubsub())));
    },
  };
}

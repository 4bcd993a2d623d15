// The functions' collaborators, built once per instance from the config:
// Cloud Storage (run records, uploaded images files), Pub/Sub (jobs), the
// registry clients with source credentials, and the structured logger.
//
// The Google client libraries are the bulk of a cold start (@google-cloud/pubsub
// alone ~0.45 s and ~30 MiB), so Pub/Sub is imported on first use only and
// copyJob never loads it unless it dead-letters or completes a run. Cloud
// Storage is a few JSON API calls of our own (storage-client.ts) over the
// registries' undici pool. google-auth-library, for the access tokens of Cloud
// Storage and Artifact Registry (one GoogleAuth, one token cache), is loaded on
// the first request that needs a token. `preload` starts the Pub/Sub import at
// cold start for the functions that publish on every request.

import type { PubSub } from '@google-cloud/pubsub';
import type { JobPublisher } from '../pipeline/fanout.ts';
import type { RunEventPublisher } from '../pipeline/run-completed.ts';
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
import { PubSubRunEventPublisher } from './run-events.ts';
import { StorageClient } from './storage-client.ts';

export interface Runtime {
  readonly config: FunctionConfig;
  readonly logger: Logger;
  /** The Cloud Storage client (run records, uploaded images files). */
  storage(): StorageClient;
  /** Throws if the function was deployed without SYNCER_RUNS_BUCKET. */
  store(): RunStore;
  /** Throws if the function was deployed without SYNCER_JOBS_TOPIC. */
  publisher(): JobPublisher;
  registries(): Registries;
  /** Publishes a job message to SYNCER_DEAD_LETTER_TOPIC (throws if unset). */
  deadLetter?(data: Uint8Array, attributes: Record<string, string>): Promise<void>;
  /** The runs topic's publisher, or undefined without SYNCER_RUNS_TOPIC. */
  runEvents?(): RunEventPublisher | undefined;
}

/** The client libraries a function uses on every request, worth loading before the first. */
export type ClientLibrary = 'pubsub';

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
  // Application Default Credentials: on Cloud Run, the function's service
  // account from the metadata server.
  const googleAuth = once(async () => {
    const { GoogleAuth } = await import('google-auth-library');
    return new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
  });
  const accessToken = { getAccessToken: async () => (await googleAuth()).getAccessToken() };
  const storage = new StorageClient(
    config.storageEmulator
      ? { endpoint: config.storageEmulator }
      : { accessToken: accessToken.getAccessToken },
  );
  const pubsub = once(async (): Promise<PubSub> => {
    const { PubSub } = await import('@google-cloud/pubsub');
    return new PubSub(projectOptions);
  });
  let store: RunStore | undefined;
  let publisher: JobPublisher | undefined;
  let registries: Registries | undefined;
  let runEvents: RunEventPublisher | undefined;
  return {
    config,
    logger,
    storage: () => storage,
    store() {
      const bucket = config.runsBucket;
      if (!bucket) throw new Error('SYNCER_RUNS_BUCKET is not set');
      store ??= new GcsRunStore(storage, bucket);
      return store;
    },
    publisher() {
      const topic = config.jobsTopic;
      if (!topic) throw new Error('SYNCER_JOBS_TOPIC is not set');
      publisher ??= deferred(async () => new PubSubJobPublisher(await pubsub(), topic));
      return publisher;
    },
    runEvents() {
      if (!config.runsTopic) return undefined;
      runEvents ??= new PubSubRunEventPublisher(pubsub, config.runsTopic);
      return runEvents;
    },
    async deadLetter(data, attributes) {
      if (!config.deadLetterTopic) throw new Error('SYNCER_DEAD_LETTER_TOPIC is not set');
      await (await pubsub())
        .topic(config.deadLetterTopic)
        .publishMessage({ data: Buffer.from(data), attributes });
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
          new GoogleCredentials(accessToken),
        ]),
        endpoints: config.registryEndpoints,
        insecureRegistries: config.insecureRegistries,
        // A spent pull budget is waited out in-process only briefly; then the
        // delivery goes back to Pub/Sub (pipeline/rate-limited-job.ts).
        retry: {
          attempts: config.retryAttempts,
          maxRateLimitWaitMs: config.rateLimitWaitSeconds * 1000,
        },
        logger,
        policy: config.policy,
        authHosts: config.registryAuthHosts,
      });
      return registries;
    },
    async preload(libraries) {
      await Promise.all(libraries.map(() => pubsub()));
    },
  };
}

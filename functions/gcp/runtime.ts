// The functions' collaborators, built once per instance from the config:
// Cloud Storage (run records, uploaded images files), Pub/Sub (jobs), the
// registry clients with source credentials, and the structured logger.
//
// The Google client libraries are the bulk of a cold start, so each is
// imported on first use: copyJob loads @google-cloud/pubsub only when it
// dead-letters a job or announces a run, planApi loads @google-cloud/storage
// only for GET /runs. One GoogleAuth (google-auth-library, itself loaded on the
// first request that needs a token) serves Cloud Storage and Artifact
// Registry, so they share one token cache. `preload` starts the imports at
// cold start for the functions that use a library on every request.

import type { PubSub } from '@google-cloud/pubsub';
import type { GoogleAuth } from 'google-auth-library';
import type { JobPublisher } from '../pipeline/fanout.ts';
import type { ObjectStore } from '../pipeline/object-store.ts';
import type { RunEventPublisher } from '../pipeline/run-completed.ts';
import { RunStore } from '../pipeline/run-store.ts';
import {
  type AccessTokenSource,
  CredentialChain,
  DockerConfigCredentials,
  GoogleCredentials,
} from '../registry/credentials.ts';
import { Registries } from '../registry/registries.ts';
import type { Logger } from '../util/logger.ts';
import type { FunctionConfig } from './config.ts';
import { cloudLogger } from './logger.ts';
import { PubSubJobPublisher } from './publisher.ts';
import { PubSubRunEventPublisher } from './run-events.ts';
import { StorageError } from './storage-error.ts';

export interface Runtime {
  readonly config: FunctionConfig;
  readonly logger: Logger;
  /** `gs://bucket/name` (at a generation, when an event names one); throws if it is gone. */
  readObject(bucket: string, name: string, generation?: string): Promise<Buffer>;
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
export type ClientLibrary = 'pubsub' | 'storage';

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

/**
 * Google's clients, each loaded and created on first use, so a function's
 * cold start loads only the libraries it uses.
 */
function googleClients(config: FunctionConfig) {
  const projectOptions = config.project ? { projectId: config.project } : {};
  // Application Default Credentials: on Cloud Run, the function's service
  // account from the metadata server.
  const googleAuth = once(async (): Promise<GoogleAuth> => {
    const { GoogleAuth } = await import('google-auth-library');
    return new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
  });
  const storage = once(async () => {
    const { storageBuckets } = await import('./gcs-object-store.ts');
    return storageBuckets({
      ...projectOptions,
      // An emulator takes no credentials; the library sends none to a custom endpoint.
      ...(config.storageEmulator
        ? { apiEndpoint: config.storageEmulator }
        : { authClient: await googleAuth() }),
    });
  });
  const pubsub = once(async (): Promise<PubSub> => {
    const { PubSub } = await import('@google-cloud/pubsub');
    return new PubSub(projectOptions);
  });
  return {
    accessToken: { getAccessToken: async () => (await googleAuth()).getAccessToken() },
    storage,
    bucket: (name: string) => once(async () => (await storage())(name)),
    pubsub,
  };
}

/** The registries: the mounted source credentials first, then the function's own identity. */
function registriesOf(
  config: FunctionConfig,
  accessToken: AccessTokenSource,
  logger: Logger,
): Registries {
  return new Registries({
    credentials: new CredentialChain([
      ...(config.sourceCredentials
        ? [DockerConfigCredentials.fromText(config.sourceCredentials, 'SYNCER_SOURCE_CREDENTIALS')]
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
    throttles: config.throttles,
  });
}

export function createRuntime(
  config: FunctionConfig,
  logger: Logger = cloudLogger(undefined, config.debug),
): Runtime & { preload(libraries: readonly ClientLibrary[]): Promise<void> } {
  const { accessToken, storage, bucket, pubsub } = googleClients(config);
  let store: RunStore | undefined;
  let publisher: JobPublisher | undefined;
  let registries: Registries | undefined;
  let runEvents: RunEventPublisher | undefined;
  return {
    config,
    logger,
    async readObject(name, object, generation) {
      const found = await (await bucket(name)()).readGeneration(object, generation);
      if (!found)
        throw new StorageError(
          404,
          `gs://${name}/${object}${generation ? `#${generation}` : ''} does not exist (deleted or replaced since the event)`,
        );
      return found.bytes;
    },
    store() {
      const name = config.runsBucket;
      if (!name) throw new Error('SYNCER_RUNS_BUCKET is not set');
      store ??= new RunStore(deferred<ObjectStore>(bucket(name)));
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
      registries ??= registriesOf(config, accessToken, logger);
      return registries;
    },
    async preload(libraries) {
      const loads = { pubsub, storage };
      await Promise.all(libraries.map((library) => loads[library]()));
    },
  };
}

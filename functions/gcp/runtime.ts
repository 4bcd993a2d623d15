// The functions' collaborators, built once per instance from the config:
// Cloud Storage (run records, uploaded images files), Pub/Sub (jobs), the
// registry clients with source credentials, and the structured logger.

import { PubSub } from '@google-cloud/pubsub';
import { Storage } from '@google-cloud/storage';
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

export interface Runtime {
  readonly config: FunctionConfig;
  readonly logger: Logger;
  readonly storage: Storage;
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

export function createRuntime(
  config: FunctionConfig,
  logger: Logger = cloudLogger(undefined, config.debug),
): Runtime {
  const storage = new Storage(config.project ? { projectId: config.project } : {});
  let pubsub: PubSub | undefined;
  let store: RunStore | undefined;
  let publisher: JobPublisher | undefined;
  let registries: Registries | undefined;
  let runEvents: RunEventPublisher | undefined;
  return {
    config,
    logger,
    storage,
    store() {
      if (!config.runsBucket) throw new Error('SYNCER_RUNS_BUCKET is not set');
      store ??= new GcsRunStore(storage, config.runsBucket);
      return store;
    },
    publisher() {
      if (!config.jobsTopic) throw new Error('SYNCER_JOBS_TOPIC is not set');
      pubsub ??= new PubSub(config.project ? { projectId: config.project } : {});
      publisher ??= new PubSubJobPublisher(pubsub, config.jobsTopic);
      return publisher;
    },
    runEvents() {
      if (!config.runsTopic) return undefined;
      runEvents ??= new PubSubRunEventPublisher(config.runsTopic, config.project);
      return runEvents;
    },
    async deadLetter(data, attributes) {
      if (!config.deadLetterTopic) throw new Error('SYNCER_DEAD_LETTER_TOPIC is not set');
      pubsub ??= new PubSub(config.project ? { projectId: config.project } : {});
      await pubsub
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
          new GoogleCredentials(),
        ]),
        endpoints: config.endpoints,
        insecureRegistries: config.insecureRegistries,
        // A spent pull budget is waited out in-process only briefly; then the
        // delivery goes back to Pub/Sub (pipeline/rate-limited-job.ts).
        retry: {
          attempts: config.retryAttempts,
          maxRateLimitWaitMs: config.rateLimitWaitSeconds * 1000,
        },
        logger,
        policy: config.policy,
        authHosts: config.authHosts,
      });
      return registries;
    },
  };
}

// The events the functions receive, and the copy function's adapter: a job
// message runs one copy; return to acknowledge, throw to have the message
// delivered again. (The fan-out adapters are in fanout-events.ts, so the copy
// function never loads the images-file parser or the fan-out.)

import { completeRunIfDone } from '../pipeline/completion.ts';
import { handleCopyJob } from '../pipeline/copy-job.ts';
import type { Runtime } from './runtime.ts';

/** `google.cloud.storage.object.v1.finalized` data (the fields used here). */
export interface StorageObjectData {
  readonly bucket?: string;
  readonly name?: string;
  readonly generation?: string | number;
}

/** `google.cloud.pubsub.topic.v1.messagePublished` data. */
export interface MessagePublishedData {
  readonly message?: {
    readonly data?: string;
    readonly attributes?: Readonly<Record<string, string>>;
    readonly messageId?: string;
  };
  readonly subscription?: string;
  readonly deliveryAttempt?: number;
}

export interface Event<T> {
  readonly id?: string;
  readonly data?: T;
}

/** One job from the jobs topic. */
export async function onCopyJob(event: Event<MessagePublishedData>, rt: Runtime): Promise<void> {
  const message = event.data?.message;
  if (!message?.data) {
    rt.logger.warn('job event without message data; acknowledged', { eventId: event.id });
    return;
  }
  // The job deadline is the pipeline's policy (pipeline/deadline.ts): this
  // adapter only passes the configured seconds and maps throw → redelivery.
  await handleCopyJob(
    {
      data: Buffer.from(message.data, 'base64'),
      ...((message.messageId ?? event.id) !== undefined && {
        messageId: (message.messageId ?? event.id) as string,
      }),
      ...(event.data?.deliveryAttempt !== undefined && { attempt: event.data.deliveryAttempt }),
      ...(message.attributes && { attributes: message.attributes }),
    },
    {
      prefix: rt.config.targetRepoPrefix,
      store: rt.store(),
      registries: rt.registries(),
      logger: rt.logger,
      maxDeliveryAttempts: rt.config.maxDeliveryAttempts,
      ...(rt.config.deadLetterTopic && rt.deadLetter && { deadLetter: rt.deadLetter }),
      dryRun: rt.config.dryRun,
      concurrency: rt.config.concurrency,
      deadlineSeconds: rt.config.jobDeadlineSeconds,
      referrers: rt.config.referrers,
      requirePlatforms: rt.config.requirePlatforms,
      onJobEnded: (job) => {
        const events = rt.runEvents?.();
        return completeRunIfDone(job, {
          store: rt.store(),
          logger: rt.logger,
          leaseMs: rt.config.completionLeaseSeconds * 1000,
          ...(events && { events }),
        });
      },
    },
  );
}

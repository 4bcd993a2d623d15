// The events the functions receive, and the copy function's adapter: a job
// message runs one copy; return to acknowledge, throw to have the message
// delivered again. (The fan-out adapters are in fanout-events.ts, so the copy
// function never loads the images-file parser or the fan-out.)

import { handleCopyJob, recordAbandonedJob, TransientJobError } from '../pipeline/copy-job.ts';
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
  // An event function has 540 s. A copy that would outlast that gives up its
  // delivery first: the blobs it already put in the target stay there, so the
  // redelivery resumes with a HEAD for each instead of a transfer.
  let timer: NodeJS.Timeout | undefined;
  const expired = new TransientJobError(
    `job still running after ${rt.config.jobDeadlineSeconds} s; Pub/Sub will redeliver it`,
  );
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(expired), rt.config.jobDeadlineSeconds * 1000);
  });
  const started = Date.now();
  const delivery = {
    data: Buffer.from(message.data, 'base64'),
    ...((message.messageId ?? event.id) !== undefined && {
      messageId: (message.messageId ?? event.id) as string,
    }),
    ...(event.data?.deliveryAttempt !== undefined && { attempt: event.data.deliveryAttempt }),
  };
  const deps = {
    prefix: rt.config.prefix,
    store: rt.store(),
    registries: rt.registries(),
    logger: rt.logger,
    maxDeliveryAttempts: rt.config.maxDeliveryAttempts,
    dryRun: rt.config.dryRun,
    concurrency: rt.config.concurrency,
    referrers: rt.config.referrers,
    requirePlatforms: rt.config.requirePlatforms,
  };
  const copy = handleCopyJob(delivery, deps);
  try {
    await Promise.race([copy, deadline]);
  } catch (error) {
    if (error === expired) {
      rt.logger.warn('job deadline reached; handing the message back to Pub/Sub', {
        messageId: message.messageId,
      });
      copy.catch(() => {});
      // Every way a delivery ends leaves a record: on the last attempt this
      // one says deadLettered, so the run still finishes.
      await recordAbandonedJob(delivery, deps, expired.message, started);
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

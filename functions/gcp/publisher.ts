// Publishing jobs to the jobs topic. The client batches messages; the fan-out
// waits until every publish is acknowledged, and a failure of any makes the
// whole fan-out fail so the trigger is redelivered (jobs are idempotent, so the
// ones that did go out do no harm when they go out again).

import type { PubSub, Topic } from '@google-cloud/pubsub';
import { SyncerError } from '../errors.ts';
import type { JobPublisher } from '../pipeline/fanout.ts';
import { encodeJob, type JobMessage, jobAttributes } from '../pipeline/job.ts';

export class PubSubJobPublisher implements JobPublisher {
  readonly #topic: Topic;

  constructor(pubsub: PubSub, topicName: string) {
    this.#topic = pubsub.topic(topicName, {
      batching: { maxMessages: 1000, maxMilliseconds: 10, maxBytes: 4 * 1024 * 1024 },
    });
  }

  async publish(jobs: readonly JobMessage[], runJobs: number): Promise<void> {
    const outcomes = await Promise.allSettled(
      jobs.map((job) =>
        this.#topic.publishMessage({
          data: encodeJob(job),
          attributes: jobAttributes(job, runJobs),
        }),
      ),
    );
    const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed.length > 0) {
      throw new SyncerError(
        'PUBLISH_FAILED',
        `${failed.length} of ${jobs.length} jobs were not published: ${(failed[0]?.reason as Error)?.message}`,
        { cause: failed[0]?.reason },
      );
    }
  }
}

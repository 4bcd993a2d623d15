// The runs topic: one run-completed message per run (pipeline/run-completed.ts
// decides who sends it). The runtime's Pub/Sub client is loaded on first use,
// so the copy function pays its load time only when a run actually completes.

import type { PubSub } from '@google-cloud/pubsub';
import { RUN_COMPLETED, type RunCompletedEvent } from '../pipeline/records.ts';
import type { RunEventPublisher } from '../pipeline/run-completed.ts';

export class PubSubRunEventPublisher implements RunEventPublisher {
  readonly #pubsub: () => Promise<PubSub>;
  readonly #topicName: string;

  /** `pubsub` loads the runtime's one Pub/Sub client (on first use). */
  constructor(pubsub: () => Promise<PubSub>, topicName: string) {
    this.#pubsub = pubsub;
    this.#topicName = topicName;
  }

  async publishRunCompleted(event: RunCompletedEvent): Promise<string> {
    const topic = (await this.#pubsub()).topic(this.#topicName);
    // Attributes let a subscription filter (e.g. attributes.outcome = "failed");
    // `runId` is the message's stable id: a subscriber drops a duplicate by it
    // (pipeline/completion.ts says when one can happen).
    return topic.publishMessage({
      data: Buffer.from(JSON.stringify(event)),
      attributes: {
        type: RUN_COMPLETED,
        runId: event.runId,
        outcome: event.outcome,
        dryRun: String(event.dryRun),
      },
    });
  }
}

// The runs topic: one run-completed message per run (pipeline/run-completed.ts
// decides who sends it). The Pub/Sub client is loaded on first use, so the copy
// function pays its load time only when a run actually completes.

import type { PubSub, Topic } from '@google-cloud/pubsub';
import { RUN_COMPLETED } from '../pipeline/log-events.ts';
import type { RunCompletedEvent, RunEventPublisher } from '../pipeline/run-completed.ts';

export class PubSubRunEventPublisher implements RunEventPublisher {
  readonly #project: string | undefined;
  readonly #topicName: string;
  #topic: Promise<Topic> | undefined;

  constructor(topicName: string, project: string | undefined) {
    this.#topicName = topicName;
    this.#project = project;
  }

  #open(): Promise<Topic> {
    this.#topic ??= import('@google-cloud/pubsub').then(({ PubSub }) => {
      const pubsub: PubSub = new PubSub(this.#project ? { projectId: this.#project } : {});
      return pubsub.topic(this.#topicName);
    });
    return this.#topic;
  }

  async publishRunCompleted(event: RunCompletedEvent): Promise<string> {
    const topic = await this.#open();
    // Attributes let a subscription filter (e.g. attributes.outcome = "failed").
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

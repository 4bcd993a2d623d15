// The copy function as Pub/Sub's push endpoint. The jobs subscription pushes
// each message to the function's URL as a "wrapped" JSON body
// (https://cloud.google.com/pubsub/docs/push, "How push endpoints receive messages"):
//
//   {"message": {"data": base64, "messageId", "attributes", "publishTime"},
//    "subscription": "projects/P/subscriptions/S", "deliveryAttempt": N}
//
// `deliveryAttempt` is present when the subscription has a dead-letter policy.
// The answer is the acknowledgement: 102, 200, 201, 202 and 204 acknowledge,
// any other status is a negative acknowledgement and Pub/Sub redelivers after
// the subscription's retry backoff (same page, "Receive messages").
//
// The function receives the envelope itself (an HTTP function) rather than as
// a CloudEvent: the Functions Framework's conversion of a raw push drops
// `deliveryAttempt` and `subscription` and writes two unstructured warnings per
// delivery when the push URL has no /projects/P/topics/T path. A CloudEvent
// carrying the same data (an Eventarc trigger: binary mode, or structured mode
// with the envelope under `data`) is accepted too.

import type { Request, Response } from '@google-cloud/functions-framework';
import { describeError, SyncerError } from '../errors.ts';
import { isTransient } from '../failures.ts';
import { completeRunIfDone, RunCompletingError } from '../pipeline/completion.ts';
import {
  type CopyJobDeps,
  type Delivery,
  handleCopyJob,
  TransientJobError,
} from '../pipeline/copy-job.ts';
import { RateLimitedJobError } from '../pipeline/rate-limited-job.ts';
import type { Runtime } from './runtime.ts';

export class InvalidPushError extends SyncerError {
  constructor(message: string) {
    super('INVALID_PUSH', message);
  }
}

/** A push as the copy core takes it, with the subscription it came from (for logs). */
export interface PushDelivery extends Delivery {
  readonly messageId: string;
  readonly subscription?: string;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function stringAttributes(value: unknown): Record<string, string> | undefined {
  if (!isObject(value)) return undefined;
  return Object.fromEntries(
    Object.entries(value).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );
}

/** The delivery a request body holds, or an InvalidPushError saying what is wrong. */
export function parsePush(body: unknown): PushDelivery {
  let envelope = body;
  if (Buffer.isBuffer(envelope) || typeof envelope === 'string') {
    try {
      envelope = JSON.parse(envelope.toString());
    } catch {
      throw new InvalidPushError('body is not JSON: expected a Pub/Sub push envelope');
    }
  }
  // A structured-mode CloudEvent carries the envelope as its data.
  if (isObject(envelope) && typeof envelope.specversion === 'string') envelope = envelope.data;
  if (!isObject(envelope) || !isObject(envelope.message))
    throw new InvalidPushError('no "message" object: expected a Pub/Sub push envelope');
  const message = envelope.message;
  // The push example in the documentation spells the id message_id, the API messageId.
  const messageId = message.messageId ?? message.message_id;
  if (typeof messageId !== 'string' || messageId === '')
    throw new InvalidPushError('message without a messageId');
  if (message.data !== undefined && typeof message.data !== 'string')
    throw new InvalidPushError('message.data is not a base64 string');
  const attempt = envelope.deliveryAttempt;
  if (attempt !== undefined && !(Number.isInteger(attempt) && (attempt as number) >= 1))
    throw new InvalidPushError('deliveryAttempt is not a positive whole number');
  const attributes = stringAttributes(message.attributes);
  return {
    data: Buffer.from(typeof message.data === 'string' ? message.data : '', 'base64'),
    messageId,
    ...(attempt !== undefined && { attempt: attempt as number }),
    ...(attributes && { attributes }),
    ...(typeof envelope.subscription === 'string' && { subscription: envelope.subscription }),
  };
}

/** What the copy core needs, from the runtime. */
export function copyJobDeps(rt: Runtime): CopyJobDeps {
  const config = rt.config;
  return {
    prefix: config.targetRepoPrefix,
    store: rt.store(),
    registries: rt.registries(),
    logger: rt.logger,
    maxDeliveryAttempts: config.maxDeliveryAttempts,
    ...(config.deadLetterTopic && rt.deadLetter && { deadLetter: rt.deadLetter }),
    dryRun: config.dryRun,
    concurrency: config.concurrency,
    // The job deadline is the pipeline's policy (pipeline/deadline.ts).
    deadlineSeconds: config.jobDeadlineSeconds,
    referrers: config.referrers,
    defaults: config.defaults,
    trust: config.trust,
    onJobEnded: (job) => {
      const events = rt.runEvents?.();
      return completeRunIfDone(job, {
        store: rt.store(),
        logger: rt.logger,
        leaseMs: config.completionLeaseSeconds * 1000,
        ...(events && { events }),
      });
    },
  };
}

/** One push delivery: 204 acknowledges, 503 (transient) or 500 hands the message back. */
export async function onJobPush(req: Request, res: Response, rt: Runtime): Promise<void> {
  let delivery: PushDelivery;
  try {
    if (req.method !== 'POST') throw new InvalidPushError(`method ${req.method}: expected POST`);
    delivery = parsePush(req.body);
  } catch (error) {
    // Pub/Sub never sends this; whoever did gets told why, and the log keeps it.
    rt.logger.warn('request to the copy function is not a Pub/Sub push; refused', {
      error: describeError(error),
      contentType: req.get('content-type'),
    });
    res.status(400).json({ error: describeError(error) });
    return;
  }
  const about = {
    messageId: delivery.messageId,
    subscription: delivery.subscription,
    deliveryAttempt: delivery.attempt,
  };
  try {
    await handleCopyJob(delivery, copyJobDeps(rt));
    res.status(204).end();
  } catch (error) {
    // A failure of the job was logged and recorded by the core; a run whose
    // announcement is under way hands the delivery back to come again;
    // anything else (the run store unreachable, a bug) is logged here, once.
    if (error instanceof RunCompletingError)
      rt.logger.info('run announcement pending; delivery handed back', {
        ...about,
        reason: describeError(error),
      });
    else if (!(error instanceof TransientJobError || error instanceof RateLimitedJobError))
      rt.logger.warn('job delivery failed; Pub/Sub will redeliver', {
        ...about,
        error: describeError(error),
      });
    res.status(isTransient(error) ? 503 : 500).json({ error: describeError(error), ...about });
  }
}

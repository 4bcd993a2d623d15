// What the copy function does with a job that failed transiently, and why a
// spent pull budget is not a failure.
//
// Pub/Sub counts every delivery against the subscription's max delivery
// attempts, then moves the message to the dead-letter topic
// (https://cloud.google.com/pubsub/docs/handling-failures). A 429 (Docker Hub:
// "You have reached your pull rate limit", docker/docs
// content/manuals/docker-hub/usage/pulls.md) says nothing about the job: it
// would succeed once the window resets, which may be hours. Were 429s to count,
// a large run behind one egress address would dead-letter jobs that never had a
// chance. So the copy function keeps its own count:
//
// - `failures` in the job's result record counts transient failures that were
//   not rate limits (network, 5xx, a bad digest in flight). When it reaches
//   SYNCER_MAX_DELIVERY_ATTEMPTS the function dead-letters the job itself: it
//   publishes the message to SYNCER_DEAD_LETTER_TOPIC, records `deadLettered`,
//   and acknowledges.
// - A 429 records `rateLimited` and `retryAt` (the registry's Retry-After, or
//   the end of its window) and hands the delivery back (throws): Pub/Sub
//   redelivers with its backoff. A redelivery before `retryAt` is handed back
//   at once, without a registry request, and counts for nothing.
// - The subscription's own max delivery attempts is set high (100, the most
//   Pub/Sub allows) with a maximum backoff of 600 s, so it outlasts a 6-hour
//   window and is only a backstop (infra/pubsub.tf; the arithmetic is in
//   infra/README.md, "Sizing", recomputed by test/infra/sizing-check.ts).
//
// Without SYNCER_DEAD_LETTER_TOPIC the function throws on the last counted
// failure as before, and the subscription's policy must then match
// SYNCER_MAX_DELIVERY_ATTEMPTS (rate limits then do burn attempts).

import type { CopyResult } from '../engine/types.ts';
import { SyncerError } from '../errors.ts';
import type { JobResultRecord } from './records.ts';

/** A job record with the copy function's own retry bookkeeping (extra JSON fields). */
export type RetryBookkeeping = JobResultRecord & {
  /** Transient failures that were not rate limits: the count that dead-letters. */
  readonly failures?: number;
  /** The last attempt met a spent budget (429). */
  readonly rateLimited?: boolean;
  /** Before this time (ISO 8601) a redelivery is handed back without touching the registry. */
  readonly retryAt?: string;
};

/** The delivery is handed back to Pub/Sub until the source's budget allows again; not an attempt. */
export class RateLimitedJobError extends SyncerError {
  readonly retryAt: string;

  constructor(message: string, retryAt: string) {
    super('TOO_MANY_REQUESTS', message);
    this.retryAt = retryAt;
  }
}

/** Default wait after a 429 that named no time and announced no window. */
const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;

export function isRateLimitedResult(result: Pick<CopyResult, 'errorCode' | 'category'>): boolean {
  return result.category === 'rate-limited' || result.errorCode === 'TOO_MANY_REQUESTS';
}

/** A redelivery that arrives before the recorded `retryAt` goes straight back. */
export function earlyRedelivery(
  previous: JobResultRecord | undefined,
  now = Date.now(),
): RateLimitedJobError | undefined {
  const record = previous as RetryBookkeeping | undefined;
  if (!record?.retrying || !record.rateLimited || !record.retryAt) return undefined;
  if (Date.parse(record.retryAt) <= now) return undefined;
  return new RateLimitedJobError(
    `source rate limit: waiting until ${record.retryAt} before trying again`,
    record.retryAt,
  );
}

export interface NextStep {
  /** Fields to add to the job's record. */
  readonly fields: Partial<RetryBookkeeping> & { attempt: number };
  readonly rateLimited: boolean;
  /** The counted failures reached the limit: the job ends dead-lettered. */
  readonly last: boolean;
  readonly message: string;
}

/**
 * After a transient failure: a rate limit waits (`retryAt`) without counting;
 * anything else counts one more failure, the last of which dead-letters.
 */
export function afterTransientFailure(
  result: Pick<CopyResult, 'errorCode' | 'error' | 'category'>,
  previous: JobResultRecord | undefined,
  options: {
    readonly maxFailures: number | undefined;
    /** Pub/Sub's delivery attempt, when the trigger passes it on. */
    readonly deliveryAttempt: number | undefined;
    /** When the source registry takes requests again, if it said (registry/rate-limit.ts). */
    readonly notBefore: number | undefined;
    /**
     * The subscription dead-letters by its own count (no SYNCER_DEAD_LETTER_TOPIC):
     * Pub/Sub's attempt reaching the limit is then the last, whatever the tally.
     */
    readonly subscriptionCounts?: boolean;
    readonly now?: number;
  },
): NextStep {
  const now = options.now ?? Date.now();
  const earlier = previous?.retrying ? (previous as RetryBookkeeping) : undefined;
  const attempt = options.deliveryAttempt ?? (earlier?.attempt ?? 0) + 1;
  // Failures counted so far: the record's own tally, nothing else. Pub/Sub's
  // delivery attempt also counts the pushes Cloud Run refused while every
  // instance was busy (429, "no available instance") and deliveries whose
  // instance died before answering: none of those is a failure of the job.
  const failures = earlier?.failures ?? 0;
  const pubsubLast =
    options.subscriptionCounts === true &&
    options.deliveryAttempt !== undefined &&
    options.maxFailures !== undefined &&
    options.deliveryAttempt >= options.maxFailures;
  if (isRateLimitedResult(result) && !pubsubLast) {
    const retryAt = new Date(options.notBefore ?? now + DEFAULT_RATE_LIMIT_WAIT_MS).toISOString();
    return {
      fields: { attempt, failures, rateLimited: true, retryAt, retrying: true },
      rateLimited: true,
      last: false,
      message: 'job met a spent pull budget; handed back to Pub/Sub until it resets',
    };
  }
  const counted = failures + 1;
  const last = pubsubLast || (options.maxFailures !== undefined && counted >= options.maxFailures);
  return {
    fields: { attempt, failures: counted, ...(last ? { deadLettered: true } : { retrying: true }) },
    rateLimited: false,
    last,
    message: last
      ? 'job failed on its last attempt; dead-lettered'
      : 'job failed transiently; Pub/Sub will redeliver',
  };
}

// Retrying with backoff, in one place. Whether a failure is worth another try
// is functions/failures.ts's call (connection faults, timeouts, 408, 429,
// 500/502/503/504, bytes that did not match their digest); everything else
// (401 after a fresh token, 403, 404) fails at once, because trying again
// cannot help.

import { setTimeout as sleep } from 'node:timers/promises';
import { codeOf, isTransient } from '../failures.ts';
import { RegistryError } from './errors.ts';

export interface RetryPolicy {
  /** Total attempts, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Upper bound on a registry's Retry-After, so one answer cannot stall a run for hours. */
  readonly maxRetryAfterMs: number;
  /**
   * Set: a request may spend this long waiting out 429s (a spent pull budget)
   * without those waits counting as attempts, and then the 429 is the answer.
   * The CLI waits for the budget (--rate-limit-wait-seconds); the copy function
   * waits briefly and then hands its delivery back to Pub/Sub. Unset: a 429 is
   * retried like any transient failure, within `attempts`.
   */
  readonly maxRateLimitWaitMs?: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 15_000,
  maxRetryAfterMs: 60_000,
};

/** A 429: the registry's request budget (Docker Hub's pulls) is spent for now. */
export function isRateLimited(error: unknown): boolean {
  return error instanceof RegistryError && error.status === 429;
}

/** Whether a request that failed this way is tried again (functions/failures.ts decides). */
export function isRetryable(error: unknown): boolean {
  return isTransient(error);
}

/** Retry-After is either delta-seconds or an HTTP-date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Exponential backoff with full jitter, unless the registry said how long to wait. */
export function retryDelay(
  policy: RetryPolicy,
  attempt: number,
  error: unknown,
  random = Math.random,
): number {
  if (error instanceof RegistryError && error.retryAfterMs !== undefined) {
    return Math.min(error.retryAfterMs, policy.maxRetryAfterMs);
  }
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export interface RetryEvent {
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
}

/**
 * Runs `operation` until it succeeds, fails with something not retryable, or
 * uses up the policy's attempts. `operation` must be safe to run again: it may
 * not replay a stream it has already consumed.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  operation: (attempt: number) => Promise<T>,
  onRetry?: (event: RetryEvent) => void,
  signal?: AbortSignal,
): Promise<T> {
  let rateLimitWaited = 0;
  let waits = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      signal?.throwIfAborted();
      return await operation(attempt);
    } catch (error) {
      // A cancelled operation is handed back to whoever cancelled it, never retried here.
      const cancelled = signal?.aborted === true || codeOf(error) === 'CANCELLED';
      // Waiting out a spent budget is not a failed attempt, up to a bound;
      // the backoff still grows with every wait when the registry names no time.
      const delay = retryDelay(policy, ++waits, error);
      const bound = policy.maxRateLimitWaitMs;
      if (!cancelled && bound !== undefined && isRateLimited(error)) {
        // Past the bound the 429 is the answer: the caller waits longer (the
        // copy function hands its delivery back to Pub/Sub until the window resets).
        if (rateLimitWaited + delay > bound) throw error;
        rateLimitWaited += delay;
        onRetry?.({ attempt, delayMs: delay, error });
        await sleep(delay, undefined, signal ? { signal } : undefined);
        attempt--;
        continue;
      }
      if (cancelled || attempt >= policy.attempts || !isRetryable(error)) {
        if (attempt > 1 && error instanceof Error) {
          (error as Error & { attempts?: number }).attempts = attempt;
        }
        throw error;
      }
      onRetry?.({ attempt, delayMs: delay, error });
      await sleep(delay, undefined, signal ? { signal } : undefined);
    }
  }
}

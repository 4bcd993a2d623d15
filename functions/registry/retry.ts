// Retryability is decided here and only here. A request is retried when the
// failure is plausibly transient: connection faults, timeouts, 408, 429, 5xx
// except 501 and 505, and bytes that did not match their digest. Everything else (401 after a fresh token, 403, 404,
// digest mismatches) fails at once, because trying again cannot help.

import { setTimeout as sleep } from 'node:timers/promises';
import { SyncerError } from '../errors.ts';
import { RegistryError, RegistryNetworkError } from './errors.ts';

export interface RetryPolicy {
  /** Total attempts, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Upper bound on a registry's Retry-After, so one answer cannot stall a run for hours. */
  readonly maxRetryAfterMs: number;
  /**
   * Time a request may spend waiting out 429s (a spent pull budget) without
   * those waits counting as attempts: the CLI waits for the budget; the copy
   * function waits briefly and then hands its delivery back to Pub/Sub.
   */
  readonly maxRateLimitWaitMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 15_000,
  maxRetryAfterMs: 60_000,
  maxRateLimitWaitMs: 10 * 60_000,
};

/** A 429: the registry's request budget (Docker Hub's pulls) is spent for now. */
export function isRateLimited(error: unknown): boolean {
  return error instanceof RegistryError && error.status === 429;
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export function isRetryable(error: unknown): boolean {
  if (error instanceof RegistryNetworkError) return true;
  if (error instanceof RegistryError) return RETRYABLE_STATUS.has(error.status) || error.staleToken;
  // Bytes that arrived wrong (truncated, corrupted in flight) may arrive right
  // the next time; a registry that keeps serving them wrong fails after the
  // policy's attempts with the mismatch as the reason.
  if (error instanceof SyncerError)
    return error.code === 'DIGEST_MISMATCH' || error.code === 'SIZE_MISMATCH';
  return false;
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
): Promise<T> {
  let rateLimitWaited = 0;
  let waits = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      // Waiting out a spent budget is not a failed attempt, up to a bound;
      // the backoff still grows with every wait when the registry names no time.
      const delay = retryDelay(policy, ++waits, error);
      if (isRateLimited(error)) {
        // Past the bound the 429 is the answer: the caller waits longer (the
        // copy function hands its delivery back to Pub/Sub until the window resets).
        if (rateLimitWaited + delay > policy.maxRateLimitWaitMs) throw error;
        rateLimitWaited += delay;
        onRetry?.({ attempt, delayMs: delay, error });
        await sleep(delay);
        attempt--;
        continue;
      }
      if (attempt >= policy.attempts || !isRetryable(error)) {
        if (attempt > 1 && error instanceof Error) {
          (error as Error & { attempts?: number }).attempts = attempt;
        }
        throw error;
      }
      onRetry?.({ attempt, delayMs: delay, error });
      await sleep(delay);
    }
  }
}

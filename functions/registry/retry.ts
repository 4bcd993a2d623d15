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
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 15_000,
  maxRetryAfterMs: 60_000,
};

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
  for (let attempt = 1; ; attempt++) {
    try {
      signal?.throwIfAborted();
      return await operation(attempt);
    } catch (error) {
      // A cancelled operation is handed back to whoever cancelled it, never retried here.
      const cancelled = signal?.aborted === true || codeOf(error) === 'CANCELLED';
      if (cancelled || attempt >= policy.attempts || !isRetryable(error)) {
        if (attempt > 1 && error instanceof Error) {
          (error as Error & { attempts?: number }).attempts = attempt;
        }
        throw error;
      }
      const delayMs = retryDelay(policy, attempt, error);
      onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, undefined, signal ? { signal } : undefined);
    }
  }
}

// Cancellation: every request, token wait and blob stream of a copy takes the
// copy's AbortSignal. What a cancelled operation throws is the signal's reason
// when that is one of ours (a job deadline), else a plain CANCELLED error.

import { SyncerError } from '../errors.ts';

/** The error a cancelled operation ends with. */
export function cancellation(signal: AbortSignal): SyncerError {
  const reason: unknown = signal.reason;
  if (reason instanceof SyncerError) return reason;
  return new SyncerError('CANCELLED', 'cancelled', { cause: reason });
}

/** Throws the cancellation if the signal has fired. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancellation(signal);
}

/**
 * Waits for `promise`, or stops waiting when the signal fires. The promise
 * itself runs on (it may be shared, like a token fetch other requests wait for).
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(cancellation(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancellation(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

// The job deadline, a policy of the copy job: an event-triggered function has
// 540 s (Cloud Run functions, event-driven timeout), so a copy that would
// outlast that is cancelled first and its delivery handed back to Pub/Sub.
// Cancelled, not abandoned: the signal reaches every request, token wait and
// blob stream of the copy, and nothing is sent once it has fired, so a copy
// that lost its deadline can never write a manifest or a record later, over
// what the redelivery wrote. The blobs it already put in the target stay
// there: the redelivery finds them with a HEAD each instead of a transfer.

import { SyncerError } from '../errors.ts';

export interface Deadline {
  readonly signal: AbortSignal;
  /** Settles when the deadline fires (never, if it is cleared first). */
  readonly expired: Promise<void>;
  clear(): void;
}

export function startDeadline(seconds: number | undefined): Deadline {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    if (seconds === undefined) return;
    timer = setTimeout(() => {
      controller.abort(
        new SyncerError(
          'JOB_DEADLINE',
          `job still running after ${seconds} s; cancelled, Pub/Sub will redeliver it`,
        ),
      );
      resolve();
    }, seconds * 1000);
  });
  return {
    signal: controller.signal,
    expired,
    clear: () => clearTimeout(timer),
  };
}

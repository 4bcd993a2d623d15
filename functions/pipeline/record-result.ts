// Writing a job's result record so that the best outcome wins, whatever order
// deliveries arrive in. Pub/Sub delivers at least once: a duplicate may finish
// after the original, a late transient failure of an old delivery may arrive
// after the job was copied. Last-writer-wins would let either replace a better
// record. Instead each write is a compare-and-swap: read the record and its
// generation, decide whether the new outcome is better, write with
// ifGenerationMatch=<that generation> (0 when there is none yet); if another
// writer got in between, Cloud Storage answers 412 and we decide again
// (https://cloud.google.com/storage/docs/request-preconditions, "read-modify-write").

import { SyncerError } from '../errors.ts';
import type { Logger } from '../util/logger.ts';
import { logFieldsOfJobRecorded } from './log-events.ts';
import { PreconditionFailedError } from './object-store.ts';
import { isFinal, type JobResultRecord } from './records.ts';
import { ABSENT, type RunStore, resultPath, type Versioned } from './run-store.ts';

/** Compare-and-swap rounds before giving up; each lost round means another writer made progress. */
const MAX_ROUNDS = 8;

export class RecordContentionError extends SyncerError {
  constructor(path: string) {
    super('RECORD_CONTENTION', `${path}: lost ${MAX_ROUNDS} compare-and-swap rounds in a row`);
  }
}

/**
 * How good an outcome is. A pending retry is the least; any ended outcome beats
 * it; an image in the target beats a failure (a duplicate delivery that
 * succeeded after a dead-lettered one did the work); `copied` beats `exists`
 * (the duplicate that found the image there did not copy it, the other did).
 */
function rank(record: JobResultRecord): number {
  if (!isFinal(record)) return 0;
  if (record.status === 'copied') return 3;
  if (record.status === 'exists' || record.status === 'planned') return 2;
  return 1;
}

/** Whether `next` should replace `current` in the run record. */
export function supersedes(next: JobResultRecord, current: JobResultRecord): boolean {
  const a = rank(next);
  const b = rank(current);
  if (a !== b) return a > b;
  // Two pending retries: the later attempt's error is the news. Two equal
  // ended outcomes: the first stays (a duplicate changes nothing).
  return a === 0 && (next.attempt ?? 0) >= (current.attempt ?? 0);
}

export interface Recorded {
  /** The record the run now holds: `next`, or the better one already there. */
  readonly record: JobResultRecord;
  readonly written: boolean;
}

/**
 * `known`: the record as the caller last read it (null: read and found none),
 * so the first round needs no read of its own; a stale one costs a round.
 */
export async function recordResult(
  store: RunStore,
  next: JobResultRecord,
  logger?: Logger,
  known?: Versioned<JobResultRecord> | null,
): Promise<Recorded> {
  let current = known === undefined ? await store.readResult(next.runId, next.key) : known;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    if (round > 0) current = await store.readResult(next.runId, next.key);
    if (current && !supersedes(next, current.value))
      return { record: current.value, written: false };
    try {
      await store.writeResult(next, current?.generation ?? ABSENT);
    } catch (error) {
      if (error instanceof PreconditionFailedError) continue;
      throw error;
    }
    if (isFinal(next)) logger?.info('job recorded', logFieldsOfJobRecorded(next));
    return { record: next, written: true };
  }
  throw new RecordContentionError(resultPath(next.runId, next.key));
}

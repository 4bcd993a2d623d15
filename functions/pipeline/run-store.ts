// Run records: one place per run that says what was planned and what each job
// ended as. Layout (a contract, see README "Run records"):
//
//   runs/<runId>/run.json              the plan: trigger, jobs published, or the file's errors
//   runs/<runId>/results/<jobKey>.json one per job, written by the copy function
//   runs/<runId>/completed.json        created once, by whoever records the run's last job
//
// Every write of a job record or the completion marker carries a generation
// precondition (record-result.ts, run-completed.ts), so concurrent and late
// deliveries decide by compare-and-swap instead of last-writer-wins.
//
// The store is an interface so the pipeline knows nothing of Cloud Storage;
// the functions use GcsRunStore, tests may use MemoryRunStore.

import type { Drift } from '../engine/drift.ts';
import type { PlatformCheck } from '../engine/platforms.ts';
import type { ReferrersSummary } from '../engine/referrers.ts';
import type { CopyStatus } from '../engine/types.ts';
import { SyncerError } from '../errors.ts';
import type { FailureCategory } from '../failures.ts';
import type { Diagnostic } from '../images-file/diagnostics.ts';
import type { PullBudgetRefusal } from './pull-budget.ts';
import type { CompletionMarker } from './run-completed.ts';

export interface PlannedJob {
  readonly key: string;
  readonly source: string;
  readonly tag?: string;
  readonly target: string;
  readonly sourceDigest?: string;
  /** The entry's `requireSignature`, passed on in its job message. */
  readonly requireSignature?: boolean;
  /** Required platforms the entry or the file named (`os/arch[/variant]`); absent: the copy function's default. */
  readonly platforms?: readonly string[];
}

export interface RunRecord {
  readonly runId: string;
  readonly createdAt: string;
  readonly trigger: Readonly<Record<string, string>>;
  readonly file: string;
  readonly dryRun: boolean;
  /**
   * `publishing` until every job is acknowledged by Pub/Sub; `invalid` for a rejected file;
   * `refused` when the source registries' pull budget cannot fit the run (nothing published).
   */
  readonly state: 'publishing' | 'published' | 'invalid' | 'refused';
  /** Why the fan-out refused the run, with the numbers. */
  readonly refusal?: PullBudgetRefusal;
  readonly jobs: readonly PlannedJob[];
  readonly errors?: readonly Diagnostic[];
  readonly warnings?: readonly Diagnostic[];
}

export type ResultStatus = CopyStatus | 'invalid';

export interface JobResultRecord {
  readonly key: string;
  readonly runId: string;
  readonly source: string;
  readonly target: string;
  readonly status: ResultStatus;
  readonly digest?: string;
  readonly mediaType?: string;
  readonly error?: string;
  readonly errorCode?: string;
  /** For failures and conflicts: what kind of problem it is (functions/failures.ts). */
  readonly category?: FailureCategory;
  readonly platforms?: PlatformCheck;
  readonly drift?: Drift;
  /** Pub/Sub's delivery attempt that produced this record. */
  readonly attempt?: number;
  /** The last attempt failed and the message went to the dead-letter topic. */
  readonly deadLettered?: boolean;
  /** A transient failure that Pub/Sub will deliver again: the job is still pending. */
  readonly retrying?: boolean;
  readonly finishedAt: string;
  readonly durationMs?: number;
  readonly bytes?: number;
  /** Signatures, attestations, SBOMs: found, copied, already there, skipped and why, signed. */
  readonly referrers?: ReferrersSummary;
}

/** A stored object's value and the generation that holds it. */
export interface Versioned<T> {
  readonly value: T;
  /** Cloud Storage's generation number, as a decimal string (an int64). */
  readonly generation: string;
}

/**
 * A write that proceeds only if the object is still at `ifGenerationMatch`;
 * `'0'` means "only if it does not exist yet". This is Cloud Storage's
 * request precondition (https://cloud.google.com/storage/docs/request-preconditions):
 * a mismatch is answered 412 conditionNotMet and nothing is written.
 */
export interface WritePrecondition {
  readonly ifGenerationMatch: string;
}

/** The object changed (or appeared) since it was read: read again and decide again. */
export class PreconditionFailedError extends SyncerError {
  constructor(path: string, expected: string, options?: { cause?: unknown }) {
    super(
      'PRECONDITION_FAILED',
      `${path} is no longer at generation ${expected}${expected === '0' ? ' (it exists)' : ''}`,
      options,
    );
  }
}

/** A job record's place in the run without reading its body: ended, or still to be retried. */
export interface ResultOutcome {
  readonly key: string;
  readonly final: boolean;
}

export interface RunStore {
  readRun(runId: string): Promise<RunRecord | undefined>;
  writeRun(run: RunRecord, precondition?: WritePrecondition): Promise<string>;
  /** The newest runs first, at most `limit`. */
  listRuns(limit: number): Promise<RunRecord[]>;
  readResults(runId: string): Promise<JobResultRecord[]>;
  readResult(runId: string, key: string): Promise<JobResultRecord | undefined>;
  readResultVersion(runId: string, key: string): Promise<Versioned<JobResultRecord> | undefined>;
  /** Returns the written generation; throws PreconditionFailedError on a mismatch. */
  writeResult(result: JobResultRecord, precondition?: WritePrecondition): Promise<string>;
  /** Every job record of a run, final or not, from a listing (no body is read where avoidable). */
  listResultOutcomes(runId: string): Promise<ResultOutcome[]>;
  readCompletion(runId: string): Promise<Versioned<CompletionMarker> | undefined>;
  writeCompletion(marker: CompletionMarker, precondition: WritePrecondition): Promise<string>;
}

export function runPath(runId: string): string {
  return `runs/${runId}/run.json`;
}

export function resultPath(runId: string, key: string): string {
  return `runs/${runId}/results/${key}.json`;
}

export function completionPath(runId: string): string {
  return `runs/${runId}/completed.json`;
}

/** A record that Pub/Sub will not deliver again: the job has ended. */
export function isFinal(result: JobResultRecord): boolean {
  return result.retrying !== true;
}

/** Run records in memory, with generations and preconditions as Cloud Storage keeps them. */
export class MemoryRunStore implements RunStore {
  readonly objects = new Map<string, string>();
  readonly generations = new Map<string, number>();
  #generation = 0;

  #get<T>(path: string): Versioned<T> | undefined {
    const text = this.objects.get(path);
    if (text === undefined) return undefined;
    return { value: JSON.parse(text), generation: String(this.generations.get(path)) };
  }

  /** Check and write in one synchronous step, as the service does atomically. */
  #put(path: string, value: unknown, precondition?: WritePrecondition): string {
    if (precondition) {
      const current = String(this.generations.get(path) ?? 0);
      if (current !== precondition.ifGenerationMatch)
        throw new PreconditionFailedError(path, precondition.ifGenerationMatch);
    }
    const generation = ++this.#generation;
    this.objects.set(path, JSON.stringify(value));
    this.generations.set(path, generation);
    return String(generation);
  }

  async readRun(runId: string): Promise<RunRecord | undefined> {
    return this.#get<RunRecord>(runPath(runId))?.value;
  }

  async writeRun(run: RunRecord, precondition?: WritePrecondition): Promise<string> {
    return this.#put(runPath(run.runId), run, precondition);
  }

  async listRuns(limit: number): Promise<RunRecord[]> {
    return [...this.objects.keys()]
      .filter((path) => /^runs\/[^/]+\/run\.json$/.test(path))
      .sort((a, b) => (this.generations.get(b) ?? 0) - (this.generations.get(a) ?? 0))
      .slice(0, limit)
      .map((path) => JSON.parse(this.objects.get(path) as string));
  }

  async readResults(runId: string): Promise<JobResultRecord[]> {
    const prefix = `runs/${runId}/results/`;
    return [...this.objects].filter(([k]) => k.startsWith(prefix)).map(([, v]) => JSON.parse(v));
  }

  async readResult(runId: string, key: string): Promise<JobResultRecord | undefined> {
    return this.#get<JobResultRecord>(resultPath(runId, key))?.value;
  }

  async readResultVersion(
    runId: string,
    key: string,
  ): Promise<Versioned<JobResultRecord> | undefined> {
    return this.#get<JobResultRecord>(resultPath(runId, key));
  }

  async writeResult(result: JobResultRecord, precondition?: WritePrecondition): Promise<string> {
    return this.#put(resultPath(result.runId, result.key), result, precondition);
  }

  async listResultOutcomes(runId: string): Promise<ResultOutcome[]> {
    return (await this.readResults(runId)).map((r) => ({ key: r.key, final: isFinal(r) }));
  }

  async readCompletion(runId: string): Promise<Versioned<CompletionMarker> | undefined> {
    return this.#get<CompletionMarker>(completionPath(runId));
  }

  async writeCompletion(
    marker: CompletionMarker,
    precondition: WritePrecondition,
  ): Promise<string> {
    return this.#put(completionPath(marker.runId), marker, precondition);
  }
}

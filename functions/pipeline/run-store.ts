// Run records: one place per run that says what was planned and what each job
// ended as. Layout (a contract, see README "Run records"):
//
//   runs/<runId>/run.json              the plan: trigger, jobs published, or the file's errors
//   runs/<runId>/results/<jobKey>.json one per job, written by the copy function
//
// The store is an interface so the pipeline knows nothing of Cloud Storage;
// the functions use GcsRunStore, tests may use MemoryRunStore.

import type { Drift } from '../engine/drift.ts';
import type { PlatformCheck } from '../engine/platforms.ts';
import type { ReferrersSummary } from '../engine/referrers.ts';
import type { CopyStatus } from '../engine/types.ts';
import type { FailureCategory } from '../failures.ts';
import type { Diagnostic } from '../images-file/diagnostics.ts';

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
  /** `publishing` until every job is acknowledged by Pub/Sub; `invalid` for a rejected file. */
  readonly state: 'publishing' | 'published' | 'invalid';
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

export interface RunStore {
  readRun(runId: string): Promise<RunRecord | undefined>;
  writeRun(run: RunRecord): Promise<void>;
  readResults(runId: string): Promise<JobResultRecord[]>;
  readResult(runId: string, key: string): Promise<JobResultRecord | undefined>;
  writeResult(result: JobResultRecord): Promise<void>;
}

export function runPath(runId: string): string {
  return `runs/${runId}/run.json`;
}

export function resultPath(runId: string, key: string): string {
  return `runs/${runId}/results/${key}.json`;
}

export class MemoryRunStore implements RunStore {
  readonly objects = new Map<string, string>();

  async readRun(runId: string): Promise<RunRecord | undefined> {
    const text = this.objects.get(runPath(runId));
    return text === undefined ? undefined : JSON.parse(text);
  }

  async writeRun(run: RunRecord): Promise<void> {
    this.objects.set(runPath(run.runId), JSON.stringify(run));
  }

  async readResults(runId: string): Promise<JobResultRecord[]> {
    const prefix = `runs/${runId}/results/`;
    return [...this.objects].filter(([k]) => k.startsWith(prefix)).map(([, v]) => JSON.parse(v));
  }

  async readResult(runId: string, key: string): Promise<JobResultRecord | undefined> {
    const text = this.objects.get(resultPath(runId, key));
    return text === undefined ? undefined : JSON.parse(text);
  }

  async writeResult(result: JobResultRecord): Promise<void> {
    this.objects.set(resultPath(result.runId, result.key), JSON.stringify(result));
  }
}

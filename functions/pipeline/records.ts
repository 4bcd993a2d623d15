// The run records' shapes: what the fan-out plans, what each job ends as, and
// how a run's completion is claimed and announced. The layout in the bucket
// and how each is written are run-store.ts's; what completes a run is
// completion.ts's. A contract (docs/pipeline.md "Run records"): fields are only added.

import type { Drift } from '../engine/drift.ts';
import type { PlatformCheck } from '../engine/platforms.ts';
import type { ReferrersSummary } from '../engine/referrers.ts';
import type { CopyStatus } from '../engine/types.ts';
import type { FailureCategory } from '../failures.ts';
import type { Diagnostic } from '../images-file/diagnostics.ts';
import type { EncodedPolicy } from '../images-file/fields.ts';
import type { PullBudgetRefusal } from './pull-budget.ts';

/** A pull request, as the workflow that runs on it states it (the base branch's code, not the pull request's). */
export interface PullRequest {
  /** `owner/name`. */
  readonly repository: string;
  readonly number: number;
  /** The head commit the images file was read at. */
  readonly commit: string;
  /** Its head is in another repository. */
  readonly fork: boolean;
}

/** Why a job copies before its pull request is merged: the pull request, and the pattern that trusts its source. */
export interface EarlyMirror extends PullRequest {
  readonly trustedBy: string;
}

/** One image of a run's plan: its key, source and target, the pinned digest, and its policy as encoded (images-file/fields.ts). */
export interface PlannedJob extends EncodedPolicy {
  readonly key: string;
  readonly source: string;
  readonly tag?: string;
  readonly target: string;
  readonly sourceDigest?: string;
  /** Mirrored while its pull request is open (a trusted source). */
  readonly early?: EarlyMirror;
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
  /** This job mirrored its image while its pull request was open. */
  readonly early?: EarlyMirror;
  /** The image was already in the target, put there early by this pull request (in run `runId`). */
  readonly mirroredBy?: EarlyMirror & { readonly runId: string };
}

/** What the mirror keeps of an image a pull request mirrored early (run-store.ts `mirrors/`). */
export interface EarlyMirrorRecord extends EarlyMirror {
  readonly target: string;
  readonly digest: string;
  readonly runId: string;
  readonly mirroredAt: string;
}

/** A record that Pub/Sub will not deliver again: the job has ended. */
export function isFinal(result: Pick<JobResultRecord, 'retrying'>): boolean {
  return result.retrying !== true;
}

/** A job record as a listing shows it, from its custom metadata: no body read. */
export interface ResultSummary {
  readonly key: string;
  readonly final: boolean;
  readonly status?: ResultStatus;
  readonly category?: string;
  readonly deadLettered?: boolean;
}

/**
 * The planned jobs of one shard of a run (the keys starting with `shard`),
 * written by the fan-out, so a job can tell whether its shard has ended by
 * listing that shard's records alone (completion.ts).
 */
export interface ShardPlan {
  readonly runId: string;
  readonly shard: string;
  /** How many shards the run has (non-empty ones only). */
  readonly shards: number;
  readonly keys: readonly string[];
}

/** Who is announcing a run's completion, until when (completion.ts). */
export interface CompletionClaim {
  readonly runId: string;
  readonly claimId: string;
  readonly claimedAt: string;
  /** Past this time (ISO 8601) another delivery may take the claim over. */
  readonly leaseUntil: string;
}

/** The type of the message on the runs topic. */
export const RUN_COMPLETED = 'image-syncer.run.completed';

export interface RunProblem {
  readonly source: string;
  readonly target: string;
  readonly status: string;
  readonly category: string;
  readonly errorCode?: string;
  readonly error?: string;
  readonly deadLettered?: boolean;
}

/** The message on the runs topic (a contract: docs/pipeline.md "The run-completed message"). */
export interface RunCompletedEvent {
  readonly type: typeof RUN_COMPLETED;
  readonly runId: string;
  readonly dryRun: boolean;
  readonly file: string;
  readonly trigger: Readonly<Record<string, string>>;
  readonly createdAt: string;
  readonly completedAt: string;
  readonly durationMs: number;
  /** `failed` when any image ended conflict, failed or invalid. */
  readonly outcome: 'succeeded' | 'failed';
  readonly images: number;
  /** Images per final status: copied, exists, planned, conflict, failed, invalid. */
  readonly counts: Readonly<Record<string, number>>;
  /** Problem images per failure category. */
  readonly categories: Readonly<Record<string, number>>;
  readonly deadLettered: number;
  readonly problems: readonly RunProblem[];
  readonly problemsTruncated?: boolean;
}

/** `completed.json`: written once the run-completed message is out. */
export interface CompletionMarker extends RunCompletedEvent {
  /** `published` to the runs topic; `recorded` when no runs topic is configured. */
  readonly state: 'published' | 'recorded';
  readonly claimId: string;
  readonly messageId?: string;
}

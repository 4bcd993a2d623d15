// A run's status, as GET /runs/{runId} answers it: counts per outcome, every
// image with its result (or `pending`), and where the run is: `running` while
// jobs are pending, `completing` once every job has ended but its
// run-completed message is not out yet, `done` once it is (completion.ts).

import { CATEGORY_ACTIONS } from '../failures.ts';
import type { Diagnostic } from '../images-file/diagnostics.ts';
import type { BudgetedRunRecord } from '../pipeline/fanout-budget.ts';
import type { PullBudgetRefusal, RegistryPullBudget } from '../pipeline/pull-budget.ts';
import type { RetryBookkeeping } from '../pipeline/rate-limited-job.ts';
import type { CompletionMarker, JobResultRecord, RunRecord } from '../pipeline/records.ts';
import { type EntryResult, entryOf } from './entries.ts';

/** One image of a run: its entry, and for a problem the action that fixes it. */
export type RunImage = EntryResult & { deadLettered?: boolean; action?: string };

/** The action for an image's category, beside its code and category. */
function withAction(image: EntryResult & { deadLettered?: boolean }): RunImage {
  return image.category && image.status !== 'pending'
    ? { ...image, action: CATEGORY_ACTIONS[image.category] }
    : image;
}

export interface RunStatus {
  readonly runId: string;
  readonly state: RunRecord['state'];
  readonly dryRun: boolean;
  readonly phase: 'running' | 'completing' | 'done';
  /** `phase` is `done`: every job ended and the run is announced (or it never had jobs to run). */
  readonly done: boolean;
  readonly counts: Readonly<Record<string, number>>;
  readonly images: readonly RunImage[];
  readonly errors?: readonly Diagnostic[];
  /** The pull budget the fan-out read (estimated pulls beside what remained), per source registry. */
  readonly pullBudget?: readonly RegistryPullBudget[];
  /** Set when the fan-out refused the run: the budget could not fit it; nothing was published. */
  readonly refusal?: PullBudgetRefusal;
}

export function runStatus(
  run: RunRecord,
  results: readonly JobResultRecord[],
  completion?: CompletionMarker,
): RunStatus {
  const byKey = new Map(results.map((r) => [r.key, r]));
  const images: RunImage[] = run.jobs.map((job) => {
    const result = byKey.get(job.key);
    if (!result || result.retrying) {
      // Not ended yet; a transient failure shows as the pending job's last error.
      return {
        source: job.source,
        target: job.target,
        status: 'pending',
        ...(job.sourceDigest && { digest: job.sourceDigest }),
        ...(result?.error && pendingError(result)),
      };
    }
    return withAction({
      ...entryOf({ ...result, source: job.source, target: job.target }),
      ...(result.deadLettered && { deadLettered: true }),
    });
  });
  const counts: Record<string, number> = {};
  for (const image of images) counts[image.status] = (counts[image.status] ?? 0) + 1;
  const phase =
    run.state === 'invalid' || run.state === 'refused' || completion
      ? 'done'
      : run.state === 'published' && counts.pending === undefined
        ? 'completing'
        : 'running';
  return {
    runId: run.runId,
    state: run.state,
    dryRun: run.dryRun,
    phase,
    done: phase === 'done',
    counts,
    images,
    ...(run.errors && { errors: run.errors }),
    ...((run as BudgetedRunRecord).pullBudget && {
      pullBudget: (run as BudgetedRunRecord).pullBudget,
    }),
    ...(run.refusal && { refusal: run.refusal }),
  };
}

/** A pending job's last transient failure: a spent pull budget waits; anything else will be retried. */
function pendingError(result: JobResultRecord): Partial<EntryResult> {
  const kept = result as RetryBookkeeping;
  const kind = {
    ...(result.errorCode && { errorCode: result.errorCode }),
    ...(result.category && { category: result.category }),
  };
  if (kept.rateLimited && kept.retryAt)
    return { ...kind, error: `rate limited, waiting until ${kept.retryAt}: ${result.error}` };
  return { ...kind, error: `attempt ${result.attempt ?? 1} failed, will retry: ${result.error}` };
}

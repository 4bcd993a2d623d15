// The run-completed message: when every job of a run has ended, one message
// goes to the runs topic with the run's counts and failure categories, so CI,
// chat or another system can subscribe instead of polling GET /runs/{id}.
// Who sends it, once and never lost, is completion.ts's; this module only
// says what it holds. It is built from the listing of the run's job records
// (their outcomes are in metadata) and the bodies of at most
// MAX_LISTED_PROBLEMS problem records, so its cost does not grow with the
// size of the records.

import { mapLimited } from '../engine/limiter.ts';
import {
  type JobResultRecord,
  type ResultSummary,
  RUN_COMPLETED,
  type RunCompletedEvent,
  type RunProblem,
  type RunRecord,
} from './records.ts';

/** At most this many problem images are listed in the message (a Pub/Sub message holds 10 MB). */
export const MAX_LISTED_PROBLEMS = 100;

export interface RunEventPublisher {
  /** Resolves with the message id once Pub/Sub has acknowledged the publish. */
  publishRunCompleted(event: RunCompletedEvent): Promise<string>;
}

const PROBLEM_STATUSES = new Set(['conflict', 'failed', 'invalid']);
/** The order counts are given in, whatever order the records were listed in. */
const STATUS_ORDER = ['copied', 'exists', 'planned', 'conflict', 'failed', 'invalid'];

/** The category a problem record carries; records without one fall back to their status. */
function categoryOf(summary: Pick<ResultSummary, 'status' | 'category'>): string {
  return (
    summary.category ?? (summary.status === 'failed' ? 'internal' : (summary.status ?? 'internal'))
  );
}

function problemOf(record: JobResultRecord): RunProblem {
  return {
    source: record.source,
    target: record.target,
    status: record.status,
    category: categoryOf(record),
    ...(record.errorCode !== undefined && { errorCode: record.errorCode }),
    ...(record.error !== undefined && { error: record.error }),
    ...(record.deadLettered && { deadLettered: true }),
  };
}

/**
 * The event of a run whose planned jobs have all ended. `summaries` are the
 * run's job records as listed; `readProblem` reads one problem record's body
 * (at most MAX_LISTED_PROBLEMS are read).
 */
export async function runCompletedEvent(
  run: RunRecord,
  summaries: readonly ResultSummary[],
  readProblem: (key: string) => Promise<JobResultRecord | undefined>,
  completedAt: number,
): Promise<RunCompletedEvent> {
  const planned = new Set(run.jobs.map((job) => job.key));
  const ended = summaries
    .filter((summary) => planned.has(summary.key) && summary.final)
    .sort(
      (a, b) =>
        STATUS_ORDER.indexOf(a.status ?? 'failed') - STATUS_ORDER.indexOf(b.status ?? 'failed'),
    );
  const counts: Record<string, number> = {};
  const categories: Record<string, number> = {};
  const problemKeys: string[] = [];
  for (const summary of ended) {
    const status = summary.status ?? 'failed';
    counts[status] = (counts[status] ?? 0) + 1;
    if (!PROBLEM_STATUSES.has(status)) continue;
    const category = categoryOf(summary);
    categories[category] = (categories[category] ?? 0) + 1;
    problemKeys.push(summary.key);
  }
  const listed = await mapLimited(problemKeys.slice(0, MAX_LISTED_PROBLEMS), 16, readProblem);
  const problems = listed.flatMap((record) => (record ? [problemOf(record)] : []));
  return {
    type: RUN_COMPLETED,
    runId: run.runId,
    dryRun: run.dryRun,
    file: run.file,
    trigger: run.trigger,
    createdAt: run.createdAt,
    completedAt: new Date(completedAt).toISOString(),
    durationMs: Math.max(0, completedAt - Date.parse(run.createdAt)),
    outcome: problemKeys.length > 0 ? 'failed' : 'succeeded',
    images: ended.length,
    counts,
    categories,
    deadLettered: ended.filter((summary) => summary.deadLettered).length,
    problems,
    ...(problemKeys.length > MAX_LISTED_PROBLEMS && { problemsTruncated: true }),
  };
}

// The run-completed event: when the last job of a run is recorded, one message
// goes to the runs topic with the run's counts and failure categories, so CI,
// chat or another system can subscribe instead of polling GET /runs/{id}.
//
// Exactly once per run, although every copy delivery may be duplicated or
// redelivered and the last two jobs may end at the same moment: whoever sees
// every job ended tries to CREATE runs/<runId>/completed.json with the
// precondition ifGenerationMatch=0 (Cloud Storage request preconditions,
// https://cloud.google.com/storage/docs/request-preconditions: "0" means the
// write proceeds only if no live object exists). One create succeeds; every
// other caller gets 412 conditionNotMet and publishes nothing.
//
// The marker is a claim with a lease: if the claimer cannot publish it hands the
// claim back (and its delivery fails, so Pub/Sub redelivers it); if it dies
// between claim and publish, a delivery after the lease takes the claim over,
// again by a generation precondition, so two claimers never both publish.

import { randomUUID } from 'node:crypto';
import type { Logger } from '../util/logger.ts';
import { logFieldsOfRunCompleted, RUN_COMPLETED } from './log-events.ts';
import {
  isFinal,
  type JobResultRecord,
  PreconditionFailedError,
  type RunRecord,
  type RunStore,
} from './run-store.ts';

/** At most this many problem images are listed in the message (a Pub/Sub message holds 10 MB). */
export const MAX_LISTED_PROBLEMS = 100;

/** Longer than a copy function may run (540 s), so a live claimer is never overtaken. */
export const CLAIM_LEASE_MS = 10 * 60 * 1000;

export interface RunProblem {
  readonly source: string;
  readonly target: string;
  readonly status: string;
  readonly category: string;
  readonly errorCode?: string;
  readonly error?: string;
  readonly deadLettered?: boolean;
}

/** The message on the runs topic (a contract: README "Operations"). */
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

export interface CompletionMarker extends RunCompletedEvent {
  /** `claimed` until the message is out; `published`; `recorded` when no runs topic is configured. */
  readonly state: 'claimed' | 'published' | 'recorded';
  readonly claimedAt: string;
  /** Who claimed it: a create retried after a lost answer meets its own claim and knows it won. */
  readonly claimId: string;
  readonly messageId?: string;
}

export interface RunEventPublisher {
  /** Resolves with the message id once Pub/Sub has acknowledged the publish. */
  publishRunCompleted(event: RunCompletedEvent): Promise<string>;
}

export interface CompletionDeps {
  readonly store: RunStore;
  readonly logger: Logger;
  /** Absent: the marker is still written (GET /runs shows it), nothing is published. */
  readonly events?: RunEventPublisher;
  readonly now?: () => number;
}

const PROBLEM_STATUSES = new Set(['conflict', 'failed', 'invalid']);

/** The category a failed record carries; records from before categories fall back to their status. */
function categoryOf(record: JobResultRecord): string {
  return record.category ?? (record.status === 'failed' ? 'internal' : record.status);
}

export function runCompletedEvent(
  run: RunRecord,
  results: readonly JobResultRecord[],
  completedAt: number,
): RunCompletedEvent {
  const byKey = new Map(results.map((r) => [r.key, r]));
  const planned = new Set(run.jobs.map((j) => j.key));
  const ended = [
    ...run.jobs.flatMap((job) => {
      const record = byKey.get(job.key);
      return record ? [{ ...record, source: job.source, target: job.target }] : [];
    }),
    // Messages that were not valid jobs have no planned key; they count too.
    ...results.filter((r) => r.status === 'invalid' && !planned.has(r.key)),
  ];
  const counts: Record<string, number> = {};
  const categories: Record<string, number> = {};
  const problems: RunProblem[] = [];
  for (const record of ended) {
    counts[record.status] = (counts[record.status] ?? 0) + 1;
    if (!PROBLEM_STATUSES.has(record.status)) continue;
    const category = categoryOf(record);
    categories[category] = (categories[category] ?? 0) + 1;
    problems.push({
      source: record.source,
      target: record.target,
      status: record.status,
      category,
      ...(record.errorCode !== undefined && { errorCode: record.errorCode }),
      ...(record.error !== undefined && { error: record.error }),
      ...(record.deadLettered && { deadLettered: true }),
    });
  }
  return {
    type: RUN_COMPLETED,
    runId: run.runId,
    dryRun: run.dryRun,
    file: run.file,
    trigger: run.trigger,
    createdAt: run.createdAt,
    completedAt: new Date(completedAt).toISOString(),
    durationMs: Math.max(0, completedAt - Date.parse(run.createdAt)),
    outcome: problems.length > 0 ? 'failed' : 'succeeded',
    images: ended.length,
    counts,
    categories,
    deadLettered: ended.filter((r) => r.deadLettered).length,
    problems: problems.slice(0, MAX_LISTED_PROBLEMS),
    ...(problems.length > MAX_LISTED_PROBLEMS && { problemsTruncated: true }),
  };
}

export type CompletionOutcome = 'pending' | 'already' | 'published' | 'recorded';

/**
 * Whether every planned job of the run has a final record, from one listing:
 * the outcome is in each record's custom metadata, so no record is read. Each
 * final job lists once: a 2,000-image run costs 2 list pages per job (1,000
 * objects a page), about 4,000 list calls for the whole run.
 */
async function allJobsEnded(run: RunRecord, store: RunStore): Promise<boolean> {
  if (run.state === 'invalid' || run.state === 'refused' || run.jobs.length === 0) return false;
  const ended = new Set(
    (await store.listResultOutcomes(run.runId)).filter((o) => o.final).map((o) => o.key),
  );
  return run.jobs.every((job) => ended.has(job.key));
}

/**
 * Called after a job's final record is written (or found): if that was the
 * run's last job, claims the completion and publishes the event, once.
 */
export async function completeRunIfDone(
  runId: string,
  deps: CompletionDeps,
): Promise<CompletionOutcome> {
  const now = deps.now ?? Date.now;
  const run = await deps.store.readRun(runId);
  if (!run || !(await allJobsEnded(run, deps.store))) return 'pending';
  const existing = await deps.store.readCompletion(runId);
  const stale =
    existing?.value.state === 'claimed' &&
    now() - Date.parse(existing.value.claimedAt) >= CLAIM_LEASE_MS;
  if (existing && !stale) return 'already';

  const results = (await deps.store.readResults(runId)).filter(isFinal);
  const event = runCompletedEvent(run, results, now());
  const claimId = randomUUID();
  let generation: string;
  try {
    generation = await deps.store.writeCompletion(
      { ...event, state: 'claimed', claimedAt: new Date(now()).toISOString(), claimId },
      { ifGenerationMatch: existing?.generation ?? '0' },
    );
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
    // The client retries a conditional write whose answer was lost; the retry
    // then fails the precondition against our own claim.
    const winner = await deps.store.readCompletion(runId);
    if (winner?.value.claimId !== claimId) return 'already';
    generation = winner.generation;
  }
  deps.logger.info('run completed', logFieldsOfRunCompleted(event));
  if (!deps.events) {
    await deps.store.writeCompletion(
      { ...event, state: 'recorded', claimedAt: new Date(now()).toISOString(), claimId },
      { ifGenerationMatch: generation },
    );
    return 'recorded';
  }
  let messageId: string;
  try {
    messageId = await deps.events.publishRunCompleted(event);
  } catch (error) {
    // Hand the claim back (an expired lease) so the redelivery of this job publishes.
    await deps.store
      .writeCompletion(
        { ...event, state: 'claimed', claimedAt: new Date(0).toISOString(), claimId },
        { ifGenerationMatch: generation },
      )
      .catch(() => {});
    throw error;
  }
  await deps.store.writeCompletion(
    { ...event, state: 'published', claimedAt: new Date(now()).toISOString(), claimId, messageId },
    { ifGenerationMatch: generation },
  );
  return 'published';
}

// The structured log lines that monitoring is built on. Cloud Logging turns
// each JSON line into a LogEntry whose jsonPayload holds these fields; the
// log-based metrics in infra/monitoring.tf filter on `event` and extract the
// others, and test/infra/monitoring.test.ts runs the code that writes these
// lines and evaluates every metric's filter and extractors against them, so a
// field renamed here without the Terraform breaks that test.

import type { JobResultRecord, RunCompletedEvent } from './records.ts';

/** The `event` field of the lines metrics count. */
export const LOG_EVENT = {
  /** One per job outcome a run record keeps: final statuses only, once per job. */
  jobRecorded: 'job_recorded',
  /** One per run, written by whoever claimed its completion. */
  runCompleted: 'run_completed',
} as const;

export function logFieldsOfJobRecorded(record: JobResultRecord): Record<string, unknown> {
  const category = record.category;
  return {
    event: LOG_EVENT.jobRecorded,
    runId: record.runId,
    source: record.source,
    target: record.target,
    status: record.status,
    ...(category !== undefined && { category }),
    ...(record.errorCode !== undefined && { errorCode: record.errorCode }),
    bytes: record.bytes ?? 0,
    ...(record.durationMs !== undefined && { durationMs: record.durationMs }),
    ...(record.attempt !== undefined && { attempt: record.attempt }),
    deadLettered: record.deadLettered === true,
  };
}

export function logFieldsOfRunCompleted(event: RunCompletedEvent): Record<string, unknown> {
  return {
    event: LOG_EVENT.runCompleted,
    runId: event.runId,
    dryRun: event.dryRun,
    outcome: event.outcome,
    images: event.images,
    durationMs: event.durationMs,
    deadLettered: event.deadLettered,
    counts: event.counts,
    categories: event.categories,
  };
}

// A run's status, as GET /runs/{runId} answers it: counts per outcome, every
// image with its result (or `pending`), and `done` once every job has ended.

import type { Diagnostic } from '../images-file/diagnostics.ts';
import { type EntryResult, entryOf } from './entries.ts';
import type { JobResultRecord, RunRecord } from './run-store.ts';

export interface RunStatus {
  readonly runId: string;
  readonly state: RunRecord['state'];
  readonly dryRun: boolean;
  readonly done: boolean;
  readonly counts: Readonly<Record<string, number>>;
  readonly images: readonly (EntryResult & { deadLettered?: boolean })[];
  readonly errors?: readonly Diagnostic[];
}

export function runStatus(run: RunRecord, results: readonly JobResultRecord[]): RunStatus {
  const byKey = new Map(results.map((r) => [r.key, r]));
  const images: (EntryResult & { deadLettered?: boolean })[] = run.jobs.map((job) => {
    const result = byKey.get(job.key);
    if (!result || result.retrying) {
      // Not ended yet; a transient failure shows as the pending job's last error.
      return {
        source: job.source,
        target: job.target,
        status: 'pending',
        ...(job.sourceDigest && { digest: job.sourceDigest }),
        ...(result?.error && {
          error: `attempt ${result.attempt ?? 1} failed, will retry: ${result.error}`,
        }),
      };
    }
    return {
      ...entryOf({ ...result, source: job.source, target: job.target }),
      ...(result.deadLettered && { deadLettered: true }),
    };
  });
  // Messages that were not valid jobs have no planned key; show them too.
  for (const result of results) {
    if (result.status === 'invalid' && !run.jobs.some((j) => j.key === result.key)) {
      images.push({
        source: result.source,
        target: result.target,
        status: 'invalid',
        ...(result.error && { error: result.error }),
      });
    }
  }
  const counts: Record<string, number> = {};
  for (const image of images) counts[image.status] = (counts[image.status] ?? 0) + 1;
  const done =
    run.state === 'invalid' ||
    (run.state === 'published' && !images.some((i) => i.status === 'pending'));
  return {
    runId: run.runId,
    state: run.state,
    dryRun: run.dryRun,
    done,
    counts,
    images,
    ...(run.errors && { errors: run.errors }),
  };
}

// One line per image for reports, plans and run status: the shape the CLI's
// --report, the HTTP function's /plan and GET /runs/{id}, and the Markdown
// summary (markdown.ts) share.

import type { Drift } from '../engine/drift.ts';
import type { PlatformCheck } from '../engine/platforms.ts';
import type { ReferrersSummary } from '../engine/referrers.ts';
import type { CopyStatus } from '../engine/types.ts';
import type { FailureCategory } from '../failures.ts';
import { formatDiagnostic } from '../images-file/diagnostics.ts';
import type { ImagesFileCheck } from '../images-file/parse.ts';
import type { EarlyImage } from '../pipeline/pull-request-plan.ts';
import type { EarlyMirror } from '../pipeline/records.ts';
import { formatReference } from '../reference/reference.ts';
import { categoryOfCode } from './failure-groups.ts';

export type EntryStatus = CopyStatus | 'valid' | 'invalid' | 'pending';

export interface EntryResult {
  readonly source: string;
  readonly target: string;
  readonly status: EntryStatus;
  readonly digest?: string;
  readonly mediaType?: string;
  readonly error?: string;
  /** Failures, conflicts, invalid entries: the stable code (errors.ts) and its category (failures.ts). */
  readonly errorCode?: string;
  readonly category?: FailureCategory;
  /** Planned copies: the pulls (source manifest GETs) the copy will cost, at most. */
  readonly pulls?: number;
  /** PLATFORM_MISSING: required, available, missing. */
  readonly platforms?: PlatformCheck;
  /** A conflict explained: digests, platforms changed, the fix. */
  readonly drift?: Drift;
  /** Signatures, attestations, SBOMs: found, copied, already there, skipped and why, signed. */
  readonly referrers?: ReferrersSummary;
  /** A pull request's plan: this image is being mirrored before merge (pipeline/pull-request-plan.ts). */
  readonly mirroredEarly?: EarlyImage;
  /** A job of a pull request's early mirror: which pull request, trusted by which pattern. */
  readonly early?: EarlyMirror;
  /** Already in the target, mirrored early by this pull request. */
  readonly mirroredBy?: EarlyMirror & { readonly runId: string };
}

/** An entry from anything that ended with a status (a copy result, a job's result record). */
export function entryOf(result: EntryResult): EntryResult {
  const category = result.category ?? categoryOfCode(result.errorCode);
  return {
    source: result.source,
    target: result.target,
    status: result.status,
    ...(result.digest !== undefined && { digest: result.digest }),
    ...(result.mediaType !== undefined && { mediaType: result.mediaType }),
    ...(result.error !== undefined && { error: result.error }),
    ...(result.errorCode !== undefined && { errorCode: result.errorCode }),
    ...(category !== undefined && { category }),
    ...(result.pulls !== undefined && { pulls: result.pulls }),
    ...(result.referrers !== undefined && { referrers: result.referrers }),
    ...(result.platforms !== undefined && { platforms: result.platforms }),
    ...(result.drift !== undefined && { drift: result.drift }),
    ...(result.mirroredEarly !== undefined && { mirroredEarly: result.mirroredEarly }),
    ...(result.early !== undefined && { early: result.early }),
    ...(result.mirroredBy !== undefined && { mirroredBy: result.mirroredBy }),
  };
}

/** Every listed entry of a checked file: valid with its target, or invalid with its problems. */
export function validationEntries(check: ImagesFileCheck): EntryResult[] {
  const problemsByIndex = new Map<number, string[]>();
  for (const problem of check.problems) {
    const index = /^images\[(\d+)\]/.exec(problem.field)?.[1];
    if (index === undefined) continue;
    const list = problemsByIndex.get(Number(index)) ?? [];
    list.push(formatDiagnostic(problem));
    problemsByIndex.set(Number(index), list);
  }
  const validByIndex = new Map(check.entries.map((e) => [e.index, e]));
  const out: EntryResult[] = [];
  for (const item of check.listed) {
    const valid = validByIndex.get(item.index);
    const problems = problemsByIndex.get(item.index);
    if (valid && !problems) {
      out.push({ source: valid.source, target: formatReference(valid.target), status: 'valid' });
    } else if (problems) {
      out.push({
        source: item.source ?? '',
        target: '',
        status: 'invalid',
        errorCode: 'INVALID_IMAGES_FILE',
        category: 'invalid',
        error: problems.join('; '),
      });
    }
  }
  return out;
}

/** Whether a set of results should fail a CI job. */
export function hasProblems(entries: readonly { status: string }[]): boolean {
  return entries.some(
    (e) => e.status === 'conflict' || e.status === 'failed' || e.status === 'invalid',
  );
}

/**
 * A plan's entries: each planned image (and, for a pull request, those it
 * mirrors early), or every entry with its problems when the file has any.
 */
export function planEntries(plan: {
  readonly check: ImagesFileCheck;
  readonly results?: readonly EntryResult[];
  readonly early?: { readonly images: ReadonlyMap<string, EarlyImage> };
}): EntryResult[] {
  if (!plan.results) return validationEntries(plan.check);
  return plan.results.map((result) => {
    const mirroredEarly = plan.early?.images.get(result.target);
    return entryOf({ ...result, ...(mirroredEarly && { mirroredEarly }) });
  });
}

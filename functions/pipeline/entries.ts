// One line per image for reports, plans and run status: the shape the CLI's
// --report, the HTTP function's /plan and the Markdown summary share.

import type { Drift } from '../engine/drift.ts';
import type { PlatformCheck } from '../engine/platforms.ts';
import type { ReferrersSummary } from '../engine/referrers.ts';
import type { CopyStatus } from '../engine/types.ts';
import { formatDiagnostic } from '../images-file/diagnostics.ts';
import type { ImagesFileCheck } from '../images-file/parse.ts';
import { formatReference } from '../reference/reference.ts';
import { driftMarkdown } from './drift-markdown.ts';
import { referrersNote } from './referrers-text.ts';

export type EntryStatus = CopyStatus | 'valid' | 'invalid' | 'pending';

export interface EntryResult {
  readonly source: string;
  readonly target: string;
  readonly status: EntryStatus;
  readonly digest?: string;
  readonly mediaType?: string;
  readonly error?: string;
  /** A stable code for failures (SIGNATURE_REQUIRED, PLATFORM_MISSING, SOURCE_NOT_FOUND, …). */
  readonly errorCode?: string;
  readonly category?: string;
  /** PLATFORM_MISSING: required, available, missing. */
  readonly platforms?: PlatformCheck;
  /** A conflict explained: digests, platforms changed, the fix. */
  readonly drift?: Drift;
  /** Signatures, attestations, SBOMs: found, copied, already there, skipped and why, signed. */
  readonly referrers?: ReferrersSummary;
}

/** An entry from anything that ended with a status (a copy result, a job's result record). */
export function entryOf(result: EntryResult): EntryResult {
  return {
    source: result.source,
    target: result.target,
    status: result.status,
    ...(result.digest !== undefined && { digest: result.digest }),
    ...(result.mediaType !== undefined && { mediaType: result.mediaType }),
    ...(result.error !== undefined && { error: result.error }),
    ...(result.errorCode !== undefined && { errorCode: result.errorCode }),
    ...(result.referrers !== undefined && { referrers: result.referrers }),
    ...(result.category !== undefined && { category: result.category }),
    ...(result.platforms !== undefined && { platforms: result.platforms }),
    ...(result.drift !== undefined && { drift: result.drift }),
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

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A Markdown table for job summaries and `Accept: text/markdown`. */
export function markdownTable(
  title: string,
  entries: readonly EntryResult[],
  problems: readonly string[] = [],
): string {
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.status, (counts.get(e.status) ?? 0) + 1);
  const lines = [
    `### ${title}`,
    '',
    [...counts].map(([status, n]) => `**${n}** ${status}`).join(' · ') || 'no images',
    '',
    '| status | source | target | digest or error |',
    '|---|---|---|---|',
    ...entries.map(
      (e) =>
        `| ${e.status} | \`${cell(e.source)}\` | \`${cell(e.target)}\` | ${cell(e.error ?? (e.digest ? `\`${e.digest}\`` : ''))}${e.referrers ? ` · ${cell(referrersNote(e.referrers))}` : ''} |`,
    ),
  ];
  lines.push(...driftMarkdown(entries));
  if (problems.length > 0)
    lines.push('', '**Problems in the images file**', '', ...problems.map((p) => `- ${cell(p)}`));
  return `${lines.join('\n')}\n`;
}

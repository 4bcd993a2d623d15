// The Markdown summary of a plan or a run (a job summary, `Accept:
// text/markdown`): a table of every image, then for each conflict what
// upstream changed and the fix as YAML ready to paste into the images file,
// the problems by category, and the pull budget.

import { describeDrift, driftFixYaml } from '../engine/drift.ts';
import { describeBudget, type RegistryPullBudget } from '../pipeline/pull-budget.ts';
import type { EntryResult } from './entries.ts';
import { categoryLabel, failureGroups } from './failure-groups.ts';
import { referrersNote } from './referrers-text.ts';

function driftMarkdown(entries: readonly EntryResult[]): string[] {
  const lines: string[] = [];
  for (const e of entries) {
    if (e.status !== 'conflict' || !e.drift) continue;
    const fix = driftFixYaml(e.drift);
    lines.push(
      '',
      `**Conflict on \`${e.target}\`**: ${describeDrift(e.drift)}.`,
      `The mirror holds \`${e.drift.targetDigest}\`; the source now serves \`${e.drift.sourceDigest}\`.`,
      '',
      'Keep what the mirror holds (the next run is `exists`, as long as upstream still serves that digest):',
      '',
      '```yaml',
      fix.keep,
      '```',
      '',
      'Or mirror the new content under a new tag:',
      '',
      '```yaml',
      fix.newTag,
      '```',
    );
  }
  return lines;
}

/** `mirrored early (trusted: PATTERN)` for what a pull request mirrors before merge, else the status. */
function statusCell(e: EntryResult): string {
  return e.mirroredEarly
    ? cell(`mirrored early (trusted: ${e.mirroredEarly.trustedBy})`)
    : e.status;
}

/** Which pull request mirrored an image early, for a job of its early run or one that found it after merge. */
function provenance(e: EntryResult): string {
  const by = e.mirroredBy ?? e.early;
  if (!by) return '';
  const what = e.mirroredBy ? 'mirrored early by' : `early mirror (trusted: ${by.trustedBy}) for`;
  return cell(` · ${what} ${by.repository}#${by.number} at ${by.commit.slice(0, 12)}`);
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A Markdown table for job summaries and `Accept: text/markdown`. */
export function markdownTable(
  title: string,
  entries: readonly EntryResult[],
  problems: readonly string[] = [],
  pulls: readonly RegistryPullBudget[] = [],
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
        `| ${statusCell(e)} | \`${cell(e.source)}\` | \`${cell(e.target)}\` | ${cell(e.error ? `${categoryLabel(e)}: ${e.error}` : e.mirroredEarly ? `\`${e.mirroredEarly.reference}\`` : e.digest ? `\`${e.digest}\`` : '')}${e.referrers ? ` · ${cell(referrersNote(e.referrers))}` : ''}${provenance(e)} |`,
    ),
  ];
  lines.push(...driftMarkdown(entries));
  const groups = failureGroups(entries);
  if (groups.length > 0) {
    lines.push('', '**Problems by category, and what fixes them**', '');
    for (const group of groups)
      lines.push(
        `- **${group.category}** (${group.sources.length}): ${cell(group.action)}. ${group.sources.map((s) => `\`${cell(s)}\``).join(', ')}`,
      );
  }
  if (problems.length > 0)
    lines.push('', '**Problems in the images file**', '', ...problems.map((p) => `- ${cell(p)}`));
  if (pulls.length > 0)
    lines.push('', '**Pull budget**', '', ...pulls.map((b) => `- ${cell(describeBudget(b))}`));
  return `${lines.join('\n')}\n`;
}

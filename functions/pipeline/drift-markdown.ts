// The Markdown for conflicts under the summary table: what upstream changed
// and the fix, as YAML ready to paste into the images file.

import { describeDrift, driftFixYaml } from '../engine/drift.ts';
import type { EntryResult } from './entries.ts';

export function driftMarkdown(entries: readonly EntryResult[]): string[] {
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

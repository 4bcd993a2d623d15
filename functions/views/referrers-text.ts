// One short line about an image's signatures, attestations and SBOMs, for the
// Markdown summary and the CLI: whether it is signed, and what happened to its
// referrers (found, copied, already there, planned, skipped, changed).

import type { ReferrersSummary } from '../engine/referrers.ts';

export function referrersNote(summary: ReferrersSummary | undefined): string {
  if (!summary) return '';
  const parts = [summary.signed ? 'signed' : 'unsigned'];
  if (summary.found > 0) {
    const counts = (
      [
        ['copied', summary.copied],
        ['already there', summary.exists],
        ['planned', summary.planned],
        ['skipped', summary.skipped],
        ['signature changed', summary.changed],
      ] as const
    )
      .filter(([, n]) => n > 0)
      .map(([what, n]) => `${n} ${what}`);
    parts.push(`${summary.found} referrer(s): ${counts.join(', ')}`);
    const reasons = [
      ...new Set(
        summary.items
          .filter((i) => i.reason && i.status !== 'copied' && i.status !== 'exists')
          .map((i) => `${i.tag ?? i.artifactType ?? i.kind}: ${i.reason}`),
      ),
    ];
    if (reasons.length > 0) parts.push(reasons.join('; '));
    const unlisted = summary.items.filter((i) => i.reason?.startsWith('not listed')).length;
    if (unlisted > 0) parts.push(`${unlisted} not listed in the target's referrers tag`);
  }
  return parts.join(' · ');
}

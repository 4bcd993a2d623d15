// A run in a browser: GET /runs and GET /runs/{id} as HTML when the request
// prefers text/html. Plain HTML and one inline style block: no script at all,
// nothing from another origin, enforced by a Content-Security-Policy that only
// admits the style block by its hash. While a run is open the page reloads
// itself with <meta http-equiv="refresh">. Every value from a record is
// escaped: sources, errors and fixes come from images files and registries.

import { createHash } from 'node:crypto';
import { type Drift, describeDrift, driftFixYaml } from '../engine/drift.ts';
import { formatDiagnostic } from '../images-file/diagnostics.ts';
import type { CompletionMarker, RunRecord } from '../pipeline/records.ts';
import type { RunImage, RunStatus } from './status.ts';

export const REFRESH_SECONDS = 5;

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:1.5rem;color:#1b1f24;background:#fff}
h1{font-size:1.3rem;margin:0 0 .5rem}
table{border-collapse:collapse;width:100%;margin-top:1rem}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
code,pre{font:12px ui-monospace,monospace;word-break:break-all}
pre{margin:.2rem 0;white-space:pre-wrap;background:#f6f8fa;padding:.2rem .4rem}
progress{width:20rem;height:1rem}
.counts span{margin-right:1rem}
.s-copied,.s-exists,.s-planned{color:#1a7f37}
.s-conflict,.s-failed,.s-invalid{color:#cf222e;font-weight:600}
.s-pending{color:#9a6700}
.muted{color:#57606a}
`;

/** Only this exact style block, no script, no other origin, no framing, no form posts. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const HTML_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/**
 * Whether the Accept header ranks text/html above JSON (RFC 9110 §12.5.1:
 * the most specific matching range gives a type its q). Browsers send
 * `text/html,…,*\/*;q=0.8`; curl sends `*\/*`, which keeps JSON.
 */
export function prefersHtml(accept: string | undefined): boolean {
  const ranges = (accept ?? '').split(',').map((part) => {
    const [range = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find(Boolean);
    return { range: range.trim(), q: q === undefined ? 1 : Number(q) };
  });
  const quality = (type: string) => {
    const [major] = type.split('/');
    const match =
      ranges.find((r) => r.range === type) ??
      ranges.find((r) => r.range === `${major}/*`) ??
      ranges.find((r) => r.range === '*/*');
    return match?.q ?? 0;
  };
  const html = quality('text/html');
  return html > 0 && html > quality('application/json');
}

/** A value of unknown shape as readable text: `key: value` pairs. */
function describe(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return value.map(describe).join('; ');
  return Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `${k}: ${describe(v)}`)
    .join(', ');
}

function isDrift(value: unknown): value is Drift {
  const d = value as Partial<Drift> | undefined;
  return typeof d?.targetDigest === 'string' && typeof d.pin === 'object' && Array.isArray(d.added);
}

/** What upstream changed, for a conflict the copy explained. */
function driftCell(drift: unknown): string {
  if (drift === undefined) return '';
  if (!isDrift(drift)) return escapeHtml(describe(drift));
  return `${escapeHtml(describeDrift(drift))}<br><span class="muted">mirror <code>${escapeHtml(drift.targetDigest)}</code>, source <code>${escapeHtml(drift.sourceDigest)}</code></span>`;
}

/** The fix: for a drift, the images-file entries to paste; otherwise the category's action. */
function fixCell(image: RunImage): string {
  if (isDrift(image.drift)) {
    const fix = driftFixYaml(image.drift);
    return `keep the mirror's image:<pre>${escapeHtml(fix.keep)}</pre>or a new tag:<pre>${escapeHtml(fix.newTag)}</pre>`;
  }
  return escapeHtml(image.action ?? '');
}

function page(title: string, body: string, refresh: boolean): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${refresh ? `<meta http-equiv="refresh" content="${REFRESH_SECONDS}">\n` : ''}<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

function countsLine(counts: Readonly<Record<string, number>>): string {
  const parts = Object.entries(counts).map(
    ([status, n]) =>
      `<span class="s-${escapeHtml(status)}"><b>${n}</b> ${escapeHtml(status)}</span>`,
  );
  return `<p class="counts" id="counts">${parts.join('') || 'no images'}</p>`;
}

/** The page of one run: counts, progress while open, one row per image. */
export function runPage(status: RunStatus): string {
  const total = status.images.length;
  const ended = status.images.filter((i) => i.status !== 'pending').length;
  const rows = status.images.map((image) => {
    const note = [
      image.errorCode,
      image.error,
      image.deadLettered ? 'dead-lettered' : undefined,
      image.platforms?.missing.length ? `missing ${image.platforms.missing.join(', ')}` : undefined,
    ]
      .filter(Boolean)
      .join(' · ');
    return `<tr class="image">
<td class="status s-${escapeHtml(image.status)}">${escapeHtml(image.status)}</td>
<td class="category">${escapeHtml(image.category ?? '')}</td>
<td><code class="source">${escapeHtml(image.source)}</code><br><code class="target muted">${escapeHtml(image.target)}</code></td>
<td><code class="digest">${escapeHtml(image.digest)}</code></td>
<td class="drift">${driftCell(image.drift)}</td>
<td class="fix">${fixCell(image)}</td>
<td class="error">${escapeHtml(note)}</td>
</tr>`;
  });
  const state = { running: 'in progress', completing: 'completing', done: 'done' }[status.phase];
  const body = [
    `<p><a href="/runs">← recent runs</a></p>`,
    `<h1>Run <code>${escapeHtml(status.runId)}</code> — <span id="state">${state}</span>${status.dryRun ? ' (dry run)' : ''}</h1>`,
    countsLine(status.counts),
    status.refusal
      ? `<p id="refusal" class="s-failed">Refused, nothing published: ${escapeHtml(status.refusal.message)}</p>`
      : '',
    status.done
      ? ''
      : `<p><progress id="progress" value="${ended}" max="${total}">${ended} of ${total}</progress> <span id="progress-text">${ended} of ${total} images ended; this page refreshes every ${REFRESH_SECONDS} s</span></p>`,
    (status.errors ?? []).length > 0
      ? `<h2>Problems in the images file</h2><ul id="errors">${(status.errors ?? [])
          .map((e) => `<li>${escapeHtml(formatDiagnostic(e))}</li>`)
          .join('')}</ul>`
      : '',
    `<table id="images"><thead><tr><th>status</th><th>category</th><th>source → target</th><th>digest</th><th>drift</th><th>fix</th><th>error</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>`,
  ].join('\n');
  return page(`image-syncer run ${status.runId}`, body, !status.done);
}

export interface RunSummary {
  readonly run: RunRecord;
  readonly completion?: CompletionMarker;
}

/** The recent runs: when, from what, how many jobs, and the outcome once complete. */
export function runsPage(runs: readonly RunSummary[]): string {
  const rows = runs.map(({ run, completion }) => {
    const outcome = completion
      ? `${escapeHtml(completion.outcome)}: ${Object.entries(completion.counts)
          .map(([s, n]) => `${n} ${escapeHtml(s)}`)
          .join(', ')}`
      : run.state === 'invalid'
        ? 'invalid images file'
        : run.state === 'refused'
          ? `refused: ${escapeHtml(run.refusal?.message ?? 'the pull budget cannot fit it')}`
          : 'in progress';
    return `<tr class="run">
<td><a href="/runs/${encodeURIComponent(run.runId)}"><code>${escapeHtml(run.runId)}</code></a></td>
<td>${escapeHtml(run.createdAt)}</td>
<td><code>${escapeHtml(run.file)}</code></td>
<td>${run.jobs.length}${run.dryRun ? ' (dry run)' : ''}</td>
<td class="outcome">${outcome}</td>
</tr>`;
  });
  const body = `<h1>image-syncer: recent runs</h1>
<table id="runs"><thead><tr><th>run</th><th>started</th><th>images file</th><th>images</th><th>outcome</th></tr></thead>
<tbody>
${rows.join('\n') || '<tr><td colspan="5">no runs yet</td></tr>'}
</tbody></table>`;
  const open = runs.some(
    (r) => !r.completion && (r.run.state === 'publishing' || r.run.state === 'published'),
  );
  return page('image-syncer runs', body, open);
}

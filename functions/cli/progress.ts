// What a person sees: one line per image as it finishes and, on a terminal, a
// live status line (images done, bytes copied) redrawn in place on stderr.

import { type Drift, describeDrift } from '../engine/drift.ts';
import type { ReferrersSummary } from '../engine/referrers.ts';
import type { CopyResult, SyncObserver } from '../engine/types.ts';
import { categoryLabel } from '../views/failure-groups.ts';
import { referrersNote } from '../views/referrers-text.ts';

export interface Output {
  write(text: string): void;
  readonly isTTY?: boolean;
}

const SYMBOL: Record<string, string> = {
  copied: 'copied  ',
  exists: 'exists  ',
  planned: 'planned ',
  conflict: 'CONFLICT',
  failed: 'FAILED  ',
  valid: 'valid   ',
  invalid: 'INVALID ',
};

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export function resultLine(result: {
  status: string;
  source: string;
  target: string;
  digest?: string;
  error?: string;
  errorCode?: string;
  category?: string;
  referrers?: ReferrersSummary;
  drift?: Drift;
}): string {
  const symbol = SYMBOL[result.status] ?? result.status;
  let line = `${symbol} ${result.source}${result.target ? ` → ${result.target}` : ''}`;
  if (result.digest && result.status !== 'failed') line += ` ${result.digest.slice(0, 19)}`;
  if (result.error) {
    // The kind of problem and its code first, so a reader (and grep) finds like with like.
    const kind = categoryLabel(result);
    line += `\n         ${kind ? `[${kind}] ` : ''}${result.error}`;
  }
  if (result.referrers) line += `\n         ${referrersNote(result.referrers)}`;
  if (result.drift) {
    const { drift } = result;
    line += `\n         ${describeDrift(drift)}`;
    line += `\n         keep the mirror's: source: "${drift.pin.source}"  tag: "${drift.pin.tag}"`;
    line += `\n         or a new tag:     source: "${drift.newTag.source}"  tag: "${drift.newTag.tag}"`;
  }
  return line;
}

export class ProgressDisplay implements SyncObserver {
  readonly #out: Output;
  readonly #status: Output;
  readonly #total: number;
  #done = 0;
  #bytes = 0;
  #lastDraw = 0;
  #drawn = false;

  constructor(out: Output, status: Output, total: number) {
    this.#out = out;
    this.#status = status;
    this.#total = total;
  }

  imageFinished(result: CopyResult): void {
    this.#done++;
    this.#clear();
    this.#out.write(`${resultLine(result)}\n`);
    this.#draw(true);
  }

  bytes(delta: number): void {
    this.#bytes += delta;
    this.#draw(false);
  }

  #clear(): void {
    if (this.#drawn) {
      this.#status.write('\r\x1b[2K');
      this.#drawn = false;
    }
  }

  #draw(force: boolean): void {
    if (!this.#status.isTTY) return;
    const now = Date.now();
    if (!force && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    this.#status.write(
      `\r\x1b[2K${this.#done}/${this.#total} images · ${formatBytes(this.#bytes)} copied`,
    );
    this.#drawn = true;
  }

  finish(): void {
    this.#clear();
  }

  get bytesCopied(): number {
    return this.#bytes;
  }
}

// The bench's report: each table as Markdown, headed by a line naming the run
// that measured it (date, rounds, machine, command), and the marked blocks of
// bench/README.md those tables replace:
//
//   <!-- bench:NAME -->
//   2026-12-05 · 3 rounds · 2 cores, load 0.4 at start · `BENCH_ROUNDS=3 npm run bench`
//
//   | measure | … |
//   <!-- /bench:NAME -->

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { relative } from 'node:path';

export const BLOCKS = [
  'copy',
  'big',
  'fanout',
  'boot',
  'referrers',
  'bookkeeping',
  'chaos',
] as const;
export type BlockName = (typeof BLOCKS)[number];

export interface Table {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** One phase's table and how many rounds or runs it took. */
export interface Section {
  readonly name: BlockName;
  /** E.g. "3 rounds, medians" or "1 run". */
  readonly scope: string;
  readonly table: Table;
}

/** The run as the header line names it, taken when the bench starts. */
export interface RunInfo {
  readonly date: string;
  readonly cores: number;
  readonly load: number;
  readonly command: string;
}

const PLAIN = /^[\w.,:/=@%+-]*$/;

/** The command as typed: every BENCH_* variable (sorted), then how the bench was started. */
export function commandLine(env: NodeJS.ProcessEnv): string {
  const settings = Object.keys(env)
    .filter((name) => name.startsWith('BENCH_'))
    .sort()
    .map((name) => {
      const value = env[name] ?? '';
      return `${name}=${PLAIN.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`}`;
    });
  const start = env.npm_lifecycle_event === 'bench' ? 'npm run bench' : 'node bench/run.ts';
  return [...settings, start].join(' ');
}

export function describeRun(env: NodeJS.ProcessEnv = process.env, now = new Date()): RunInfo {
  return {
    date: now.toISOString().slice(0, 10),
    cores: availableParallelism(),
    load: loadavg()[0] ?? Number.NaN,
    command: commandLine(env),
  };
}

export function markdownTable(table: Table): string {
  const row = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [
    row(table.columns),
    row(table.columns.map(() => '---')),
    ...table.rows.map((cells) => row(cells)),
  ].join('\n');
}

/** A block's content: the header line, a blank line, the table. */
export function renderSection(run: RunInfo, section: Section): string {
  const header = `${run.date} · ${section.scope} · ${run.cores} cores, load ${run.load.toFixed(1)} at start · \`${run.command}\``;
  return `${header}\n\n${markdownTable(section.table)}`;
}

const opening = (name: string) => `<!-- bench:${name} -->`;
const closing = (name: string) => `<!-- /bench:${name} -->`;

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

/** Where a block's content starts and ends; an error naming the file, marker and line where it is not one well-formed block. */
function locate(text: string, name: string, file: string): { start: number; end: number } {
  const open = opening(name);
  const close = closing(name);
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  if (start < 0) throw new Error(`${file}: no ${open} marker (the ${name} table's block)`);
  if (end < 0) throw new Error(`${file}: no ${close} marker closing ${open}`);
  for (const marker of [open, close]) {
    const again = text.indexOf(marker, text.indexOf(marker) + marker.length);
    if (again >= 0)
      throw new Error(`${file}:${lineOf(text, again)}: ${marker} a second time (one block each)`);
  }
  if (end < start)
    throw new Error(
      `${file}:${lineOf(text, end)}: ${close} before its ${open} (line ${lineOf(text, start)})`,
    );
  return { start: start + open.length, end };
}

/** Throws, naming the marker, unless `text` holds each of the blocks once. */
export function checkBlocks(text: string, names: Iterable<string>, file: string): void {
  for (const name of names) locate(text, name, file);
}

/** `text` with each named block's content replaced; everything else byte for byte. */
export function replaceBlocks(
  text: string,
  contents: ReadonlyMap<string, string>,
  file: string,
): string {
  let result = text;
  for (const [name, content] of contents) {
    const { start, end } = locate(result, name, file);
    result = `${result.slice(0, start)}\n${content}\n${result.slice(end)}`;
  }
  return result;
}

/** Replaces the blocks in the file at `path` in one write (a rename): all of them or, on an error, none. */
export function writeBlocks(path: string, contents: ReadonlyMap<string, string>): void {
  const updated = replaceBlocks(readFileSync(path, 'utf8'), contents, relative('.', path));
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, updated);
  renameSync(temporary, path);
}

// bench/report.ts: the bench replaces its tables' blocks in bench/README.md and
// nothing else; a block it cannot find is an error naming the marker, before
// anything is written; a phase not run keeps its table.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  BLOCKS,
  checkBlocks,
  commandLine,
  renderSection,
  replaceBlocks,
  writeBlocks,
} from '../../bench/report.ts';
import { fanOutTable } from '../../bench/tables.ts';

const README = [
  '# Benchmarks',
  '',
  'Prose about the copy, with a stray `<!-- bench` in it.',
  '',
  '<!-- bench:copy -->',
  '2026-11-29 · 3 rounds · old copy table',
  '',
  '| measure | image-syncer |',
  '| --- | --- |',
  '| cold wall time | 5.73 s |',
  '<!-- /bench:copy -->',
  '',
  '## Fan-out\r',
  '',
  '<!-- bench:fanout -->',
  '2026-11-29 · 1 run · old fan-out table  ',
  '<!-- /bench:fanout -->',
  '',
  'Closing words, no trailing newline.',
].join('\n');

const RUN = { date: '2026-12-06', cores: 2, load: 0.42, command: 'BENCH_ROUNDS=1 npm run bench' };

describe('bench report: the README blocks', () => {
  it('replaces one block and leaves the rest of the file byte for byte', () => {
    const updated = replaceBlocks(README, new Map([['copy', 'new copy table']]), 'README.md');
    const before = README.slice(0, README.indexOf('<!-- bench:copy -->'));
    const after = README.slice(
      README.indexOf('<!-- /bench:copy -->') + '<!-- /bench:copy -->'.length,
    );
    assert.equal(
      updated,
      `${before}<!-- bench:copy -->\nnew copy table\n<!-- /bench:copy -->${after}`,
    );
    assert.ok(updated.includes('2026-11-29 · 1 run · old fan-out table  \n'));
    assert.ok(!updated.includes('5.73 s'));
  });

  it('keeps the table of a phase not run, and replacing again gives the same file', () => {
    const once = replaceBlocks(README, new Map([['fanout', 'fan-out v2']]), 'README.md');
    assert.ok(once.includes('| cold wall time | 5.73 s |'), 'the copy table stays');
    assert.equal(replaceBlocks(once, new Map([['fanout', 'fan-out v2']]), 'README.md'), once);
  });

  it('names the missing marker, and writes nothing when one block of several is missing', () => {
    assert.throws(
      () => replaceBlocks(README, new Map([['boot', 'x']]), 'bench/README.md'),
      /^Error: bench\/README\.md: no <!-- bench:boot --> marker/,
    );
    const unclosed = README.replace('<!-- /bench:fanout -->', '');
    assert.throws(() => checkBlocks(unclosed, ['fanout'], 'README.md'), /<!-- \/bench:fanout -->/);
    const twice = `${README}\n<!-- bench:copy -->\n`;
    assert.throws(
      () => checkBlocks(twice, ['copy'], 'README.md'),
      /README\.md:20: <!-- bench:copy/,
    );

    const path = join(mkdtempSync(join(tmpdir(), 'bench-report-')), 'README.md');
    writeFileSync(path, README);
    const contents = new Map([
      ['copy', 'new copy table'],
      ['chaos', 'new chaos table'],
    ]);
    assert.throws(() => writeBlocks(path, contents), /bench:chaos/);
    assert.equal(readFileSync(path, 'utf8'), README, 'the file is unchanged');
  });

  it('the real bench/README.md holds every block once', () => {
    const text = readFileSync(new URL('../../bench/README.md', import.meta.url), 'utf8');
    checkBlocks(text, BLOCKS, 'bench/README.md');
  });
});

describe('bench report: the tables', () => {
  it('heads each table with the date, rounds, machine and command', () => {
    const section = { name: 'fanout' as const, scope: '1 run', table: fanOutTable(FAN_OUT) };
    const text = renderSection(RUN, section);
    assert.equal(
      text.split('\n')[0],
      '2026-12-06 · 1 run · 2 cores, load 0.4 at start · `BENCH_ROUNDS=1 npm run bench`',
    );
    assert.match(text, /\| fan-out: 2,000 jobs published \| 0\.66 s \| < 5 s \| PASS \|/);
    assert.match(text, /\| fan-out with digests pinned \(2,000 HEADs\) \| 6\.20 s \|/);
  });

  it('names every BENCH_ setting in the command, quoted where the shell needs it', () => {
    const command = commandLine({
      BENCH_SYNCER_ARGS: '--concurrency 4',
      BENCH_ROUNDS: '1',
      PATH: '/usr/bin',
      npm_lifecycle_event: 'bench',
    });
    assert.equal(command, "BENCH_ROUNDS=1 BENCH_SYNCER_ARGS='--concurrency 4' npm run bench");
    assert.equal(commandLine({}), 'node bench/run.ts');
  });
});

const FAN_OUT = { seconds: 0.66, pinnedSeconds: 6.2 };

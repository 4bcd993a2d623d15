// npm run bench: runs the phases BENCH_PHASES names (default all), prints one
// table per phase and replaces that phase's block in bench/README.md
// (BENCH_WRITE=0 only prints). What each phase measures and how, and every
// BENCH_* setting: bench/README.md.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startRegistry } from '../test/support/registry.ts';
import { benchBookkeeping } from './bookkeeping.ts';
import { benchBoot } from './boot.ts';
import { benchChaos } from './chaos.ts';
import { benchBig, benchCold, prepareCopy, startBenchTarget, TARGET_CREDS } from './copy.ts';
import { benchFanOut } from './fanout.ts';
import { benchReferrers } from './referrers.ts';
import {
  BLOCKS,
  type BlockName,
  checkBlocks,
  describeRun,
  renderSection,
  type Section,
  writeBlocks,
} from './report.ts';
import {
  bigTable,
  bookkeepingTable,
  bootTable,
  chaosTable,
  copyTable,
  fanOutTable,
  referrersTable,
} from './tables.ts';
import { seedWorkload } from './workload.ts';

// Taken first: the load average at start is the machine's, not the bench's.
const RUN = describeRun();
const README = join(import.meta.dirname, 'README.md');
const WRITE = process.env.BENCH_WRITE !== '0';
/** Each phase and the README block its table goes to. */
const BLOCK_OF: Readonly<Record<string, BlockName>> = {
  cold: 'copy',
  big: 'big',
  fanout: 'fanout',
  referrers: 'referrers',
  boot: 'boot',
  bookkeeping: 'bookkeeping',
  chaos: 'chaos',
};
const PHASES = new Set((process.env.BENCH_PHASES ?? Object.keys(BLOCK_OF).join(',')).split(','));
/** Phases that need none of the seeded registries: they run first, on their own. */
const STANDALONE = new Set(['bookkeeping', 'chaos']);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BIG_MIB = Number(process.env.BENCH_BIG_MIB ?? 1024);
// The CLI runs as users run it: the bin script, under this Node (24).
const PATH = `${dirname(process.execPath)}:${process.env.PATH}`;
// BENCH_PROFILE=DIR writes a V8 CPU profile of every image-syncer run into DIR.
const PROFILE = process.env.BENCH_PROFILE
  ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_PROFILE}` }
  : {};
const MiB = 1024 * 1024;

const SOURCE_USER = 'pusher';
const SOURCE_PASSWORD = 'bench-push';
const SOURCE_CREDS = `${SOURCE_USER}:${SOURCE_PASSWORD}`;

const say = (text: string) => process.stdout.write(`${text}\n`);
const rounds = (n: number) => (n === 1 ? '1 round' : `${n} rounds, medians`);

/** The phases that copy from the seeded source registry, in the order they run. */
async function registryPhases(): Promise<Section[]> {
  const source = await startRegistry({ kind: 'token', users: { [SOURCE_USER]: SOURCE_PASSWORD } });
  const target = await startBenchTarget();
  const sections: Section[] = [];
  try {
    say(`source ${source.url} (token auth), target ${target.url} (Basic auth); ${ROUNDS} rounds`);
    say('seeding…');
    const workload = await seedWorkload(source.host, SOURCE_CREDS, {
      bigLayerMiB: BIG_MIB,
      largeLayerMiB: 256,
    });
    execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
    // BENCH_SYNCER_ARGS adds flags to every image-syncer run (e.g. "--concurrency 4").
    const extraArgs = (process.env.BENCH_SYNCER_ARGS ?? '').split(' ').filter(Boolean);
    const setup = prepareCopy(source, workload, { extraArgs, env: { PATH, ...PROFILE } });
    if (PHASES.has('cold') && ROUNDS >= 1) {
      const scope = `${rounds(ROUNDS)}; ${workload.cold.length} images, ${(workload.coldBytes / MiB).toFixed(0)} MiB cold`;
      sections.push({ name: 'copy', scope, table: copyTable(await benchCold(setup, ROUNDS, say)) });
    }
    const bigRounds = Math.min(ROUNDS, 2);
    if (PHASES.has('big') && bigRounds >= 1) {
      const big = await benchBig(setup, target, bigRounds, say);
      sections.push({ name: 'big', scope: rounds(bigRounds), table: bigTable(big) });
    }
    if (PHASES.has('referrers')) {
      const signed = await benchReferrers(source, SOURCE_CREDS, setup.dir, {
        PATH,
        ...PROFILE,
      });
      const scope = `1 run; ${signed.images} signed images`;
      sections.push({ name: 'referrers', scope, table: referrersTable(signed) });
    }
    if (PHASES.has('fanout')) {
      const fanOut = await benchFanOut(source.host, 2000);
      sections.push({ name: 'fanout', scope: '1 run', table: fanOutTable(fanOut) });
    }
    if (PHASES.has('boot')) {
      const bootRounds = Math.max(ROUNDS, 5);
      const creds = { source: SOURCE_CREDS, target: TARGET_CREDS };
      const boot = await benchBoot(source, target, creds, bootRounds);
      sections.push({ name: 'boot', scope: rounds(bootRounds), table: bootTable(boot) });
    }
    return sections;
  } finally {
    await Promise.all([source.stop(), target.stop()]);
  }
}

/** Prints each table and, unless BENCH_WRITE=0, replaces its block in bench/README.md. */
function report(sections: Section[]): void {
  const ordered = [...sections].sort((a, b) => BLOCKS.indexOf(a.name) - BLOCKS.indexOf(b.name));
  const contents = new Map(ordered.map((s) => [s.name, renderSection(RUN, s)]));
  for (const [name, content] of contents) say(`\n<!-- bench:${name} -->\n${content}`);
  if (!WRITE || contents.size === 0) return;
  writeBlocks(README, contents);
  say(`\nbench/README.md: replaced the ${[...contents.keys()].join(', ')} table(s)`);
}

const unknown = [...PHASES].filter((phase) => !Object.hasOwn(BLOCK_OF, phase));
if (unknown.length > 0)
  throw new Error(
    `BENCH_PHASES: unknown phase(s) ${unknown.join(', ')}; known: ${Object.keys(BLOCK_OF).join(', ')}`,
  );
// A missing block fails now, not after the phases have run.
if (WRITE) {
  const blocks = [...PHASES].map((phase) => BLOCK_OF[phase] as BlockName);
  checkBlocks(readFileSync(README, 'utf8'), blocks, 'bench/README.md');
}

const sections: Section[] = [];
if (PHASES.has('bookkeeping')) {
  const sizes = (process.env.BENCH_BOOKKEEPING_SIZES ?? '1000,10000').split(',').map(Number);
  const figures = await benchBookkeeping(sizes, say);
  sections.push({ name: 'bookkeeping', scope: '1 run per size', table: bookkeepingTable(figures) });
}
if (PHASES.has('chaos')) {
  const chaos = await benchChaos(Number(process.env.BENCH_CHAOS_IMAGES ?? 500), say);
  sections.push({ name: 'chaos', scope: '1 run', table: chaosTable(chaos) });
}
const standaloneOnly = [...PHASES].every((phase) => STANDALONE.has(phase));
if (!standaloneOnly) sections.push(...(await registryPhases()));
report(sections);
if (standaloneOnly) process.exit(0);

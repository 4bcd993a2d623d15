// The copy phases of `npm run bench`: image-syncer side by side with `skopeo
// sync --all --preserve-digests` on the same registries and images (cold, then
// no-op into the filled target), alternating which goes first; and a large
// layer against curl piping the same blob from source to target.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectRaw } from '../test/support/images.ts';
import { startRegistry, type TestRegistry } from '../test/support/registry.ts';
import {
  countRequests,
  type Measurement,
  measure,
  type RequestCounts,
  settled,
} from './measure.ts';
import type { Workload } from './workload.ts';

const TARGET_USER = 'bench';
const TARGET_PASSWORD = 'bench-write';
/** `user:password` of the bench's target registries. */
export const TARGET_CREDS = `${TARGET_USER}:${TARGET_PASSWORD}`;

/** An empty target registry (Basic auth) that the bench's writer may push to. */
export function startBenchTarget(): Promise<TestRegistry> {
  return startRegistry({ kind: 'basic', users: { [TARGET_USER]: TARGET_PASSWORD } });
}

/** The files and settings both tools run with. */
export interface CopySetup {
  readonly source: TestRegistry;
  readonly workload: Workload;
  /** Holds the images files and image-syncer's DOCKER_CONFIG. */
  readonly dir: string;
  readonly imagesFile: string;
  readonly syncFile: string;
  readonly emptyAuth: string;
  /** Flags of every image-syncer run, BENCH_SYNCER_ARGS. */
  readonly extraArgs: readonly string[];
  /** Environment of every image-syncer run. */
  readonly syncerEnv: NodeJS.ProcessEnv;
}

export type Tool = 'image-syncer' | 'skopeo';
export type CopyPhase = 'cold' | 'noop' | 'noopReferrers';
export interface CopyRun {
  readonly m: Measurement;
  readonly source: RequestCounts;
  readonly target: RequestCounts;
}
export interface CopyFigures {
  readonly workload: Workload;
  readonly runs: Record<CopyPhase, Record<Tool, CopyRun[]>>;
}
export interface BigFigures {
  readonly mib: number;
  readonly syncer: Measurement[];
  readonly curl: Measurement[];
}

/** Writes the images file, skopeo's sync file and an empty auth file for skopeo. */
export function prepareCopy(
  source: TestRegistry,
  workload: Workload,
  options: { extraArgs: readonly string[]; env: NodeJS.ProcessEnv },
): CopySetup {
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  const imagesFile = join(dir, 'images.yaml');
  writeFileSync(
    imagesFile,
    `images:\n${workload.cold.map((p) => `- source: ${source.host}/${p}`).join('\n')}\n`,
  );
  const emptyAuth = join(dir, 'auth.json');
  writeFileSync(emptyAuth, '{"auths":{}}');
  const syncFile = join(dir, 'skopeo.yaml');
  const byRepo = new Map<string, string[]>();
  for (const path of workload.cold) {
    const [repo, tag] = path.split(':') as [string, string];
    byRepo.set(repo, [...(byRepo.get(repo) ?? []), tag]);
  }
  writeFileSync(
    syncFile,
    `${source.host}:\n  tls-verify: false\n  images:\n${[...byRepo].map(([repo, tags]) => `    ${repo}: [${tags.map((t) => `"${t}"`).join(', ')}]`).join('\n')}\n`,
  );
  const syncerEnv = { DOCKER_CONFIG: dir, ...options.env };
  const { extraArgs } = options;
  return { source, workload, dir, imagesFile, syncFile, emptyAuth, extraArgs, syncerEnv };
}

/** image-syncer's DOCKER_CONFIG (`dir`) names the target's credentials. */
export function useTarget(dir: string, target: TestRegistry): void {
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      auths: { [target.host]: { auth: Buffer.from(TARGET_CREDS).toString('base64') } },
    }),
  );
}

/** image-syncer, as users run it: the built CLI, copying `file` to `target` under `prefix`. */
export function runSyncer(
  file: string,
  target: TestRegistry,
  prefix: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<Measurement> {
  return measure(
    'bin/image-syncer.js',
    ['-i', file, '-r', `${target.host}/${prefix}/`, ...args],
    env,
  );
}

/** Like for like with skopeo sync, which copies no signatures: --referrers=false. */
function referrersOff(setup: CopySetup): string[] {
  return ['--referrers=false', ...setup.extraArgs];
}

/** One measured run that must succeed, with the requests it caused on both registries. */
export async function countedRun(
  what: string,
  source: TestRegistry,
  target: TestRegistry,
  run: () => Promise<Measurement>,
): Promise<CopyRun> {
  source.clearLog();
  target.clearLog();
  const m = await run();
  if (m.exitCode !== 0) throw new Error(`${what} failed:\n${m.output.slice(-2000)}`);
  return {
    m,
    source: countRequests(await settled(source)),
    target: countRequests(await settled(target)),
  };
}

function runSkopeo(setup: CopySetup, target: TestRegistry, prefix: string): Promise<Measurement> {
  return measure(
    'skopeo',
    [
      'sync',
      '--all',
      '--preserve-digests',
      '--src',
      'yaml',
      '--dest',
      'docker',
      '--dest-tls-verify=false',
      '--dest-creds',
      TARGET_CREDS,
      setup.syncFile,
      `${target.host}/${prefix}`,
    ],
    { REGISTRY_AUTH_FILE: setup.emptyAuth },
  );
}

/** One measured run of `tool` in `phase`. */
function runOnce(
  setup: CopySetup,
  phase: CopyPhase,
  tool: Tool,
  target: TestRegistry,
  round: number,
): Promise<CopyRun> {
  const prefix = `r${round}`;
  const { imagesFile, syncerEnv } = setup;
  return countedRun(`${tool} ${phase}`, setup.source, target, () =>
    phase === 'noopReferrers'
      ? runSyncer(imagesFile, target, prefix, setup.extraArgs, syncerEnv)
      : tool === 'image-syncer'
        ? runSyncer(imagesFile, target, prefix, referrersOff(setup), syncerEnv)
        : runSkopeo(setup, target, prefix),
  );
}

/**
 * Cold and no-op runs of both tools, `rounds` times. Each cold run copies into
 * an empty registry of its own: nothing of an earlier run (and nothing
 * skopeo's blob-info cache remembers) can be mounted.
 */
export async function benchCold(
  setup: CopySetup,
  rounds: number,
  say: (line: string) => void,
): Promise<CopyFigures> {
  const runs: CopyFigures['runs'] = {
    cold: { 'image-syncer': [], skopeo: [] },
    noop: { 'image-syncer': [], skopeo: [] },
    noopReferrers: { 'image-syncer': [], skopeo: [] },
  };
  const record = async (phase: CopyPhase, tool: Tool, target: TestRegistry, round: number) => {
    const run = await runOnce(setup, phase, tool, target, round);
    runs[phase][tool].push(run);
    say(
      `  round ${round} ${phase.padEnd(4)} ${tool.padEnd(12)} ${run.m.seconds.toFixed(2)} s, ${run.m.maxRssMiB.toFixed(0)} MiB RSS`,
    );
  };
  for (let round = 1; round <= rounds; round++) {
    const order: Tool[] = round % 2 ? ['image-syncer', 'skopeo'] : ['skopeo', 'image-syncer'];
    for (const tool of order) {
      const empty = await startBenchTarget();
      useTarget(setup.dir, empty);
      try {
        await record('cold', tool, empty, round);
        await record('noop', tool, empty, round);
        if (tool === 'image-syncer') await record('noopReferrers', tool, empty, round);
      } finally {
        await empty.stop();
      }
    }
  }
  return { workload: setup.workload, runs };
}

/** A shell script in which curl pipes the big blob from source to target, as a baseline. */
function curlScript(setup: CopySetup, target: TestRegistry, digest: string, round: number) {
  const { source } = setup;
  const realm = `${source.tokenServer?.realm}?service=${source.tokenServer?.service}&scope=repository:bench/big:pull`;
  return [
    'set -euo pipefail',
    `token=$(curl -sf '${realm}' | sed -E 's/.*"token":"([^"]+)".*/\\1/')`,
    `location=$(curl -sf -u ${TARGET_CREDS} -X POST -o /dev/null -D - '${target.url}/v2/curl${round}/big/blobs/uploads/' | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p')`,
    `case "$location" in http*) ;; *) location="${target.url}$location" ;; esac`,
    `curl -sf -H "Authorization: Bearer $token" -L '${source.url}/v2/bench/big/blobs/${digest}' | curl -sf -u ${TARGET_CREDS} -X PUT -H 'content-type: application/octet-stream' -T - "$location&digest=${digest}"`,
  ].join('\n');
}

/** The big layer: image-syncer against curl, into `target`, `rounds` times. */
export async function benchBig(
  setup: CopySetup,
  target: TestRegistry,
  rounds: number,
  say: (line: string) => void,
): Promise<BigFigures> {
  const { source, workload } = setup;
  useTarget(setup.dir, target);
  const bigManifest = JSON.parse((await inspectRaw(`${source.host}/${workload.big}`)).toString());
  const bigDigest = bigManifest.layers[0].digest as string;
  const bigFile = join(setup.dir, 'big.yaml');
  writeFileSync(bigFile, `images:\n- source: ${source.host}/${workload.big}\n`);
  const big: BigFigures = { mib: workload.bigLayerBytes / 1024 / 1024, syncer: [], curl: [] };
  for (let round = 1; round <= rounds; round++) {
    const syncer = await runSyncer(
      bigFile,
      target,
      `big${round}`,
      referrersOff(setup),
      setup.syncerEnv,
    );
    if (syncer.exitCode !== 0)
      throw new Error(`image-syncer big failed:\n${syncer.output.slice(-2000)}`);
    big.syncer.push(syncer);
    const curl = await measure('bash', ['-c', curlScript(setup, target, bigDigest, round)]);
    if (curl.exitCode !== 0) throw new Error(`curl baseline failed:\n${curl.output.slice(-2000)}`);
    big.curl.push(curl);
    say(
      `  big round ${round}: image-syncer ${syncer.seconds.toFixed(2)} s (${syncer.maxRssMiB.toFixed(0)} MiB RSS), curl ${curl.seconds.toFixed(2)} s`,
    );
  }
  return big;
}

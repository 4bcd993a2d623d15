// npm run bench: image-syncer side by side with `skopeo sync --all
// --preserve-digests`, on the same registries and images, alternating which
// goes first, several rounds; then a 1 GiB layer against curl streaming the
// same blob, and a 2,000-entry fan-out into the Pub/Sub emulator.
// BENCH_ROUNDS (default 3), BENCH_BIG_MIB (default 1024) tune it.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runChaos } from '../test/support/chaos.ts';
import { inspectRaw } from '../test/support/images.ts';
import { startRegistry, type TestRegistry } from '../test/support/registry.ts';
import { benchBookkeeping } from './bookkeeping.ts';
import { benchBoot } from './boot.ts';
import { benchFanOut } from './fanout.ts';
import {
  countRequests,
  type Measurement,
  measure,
  median,
  type RequestCounts,
  settled,
} from './measure.ts';
import { benchReferrers } from './referrers.ts';
import { seedWorkload } from './workload.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
// BENCH_PHASES=cold,big,fanout,referrers,boot,bookkeeping,chaos (default all) runs only
// some parts; BENCH_BOOT_APP: see boot.ts; BENCH_BOOKKEEPING_SIZES: see bookkeeping.ts;
// BENCH_CHAOS_IMAGES (default 500): see test/support/chaos.ts.
const PHASES = new Set(
  (process.env.BENCH_PHASES ?? 'cold,big,fanout,referrers,boot,bookkeeping,chaos').split(','),
);
/** Phases that need none of the registries seeded below: they run first, on their own. */
const STANDALONE = new Set(['bookkeeping', 'chaos']);
const BIG_MIB = Number(process.env.BENCH_BIG_MIB ?? 1024);
const NODE = process.execPath;
// BENCH_PROFILE=DIR writes a V8 CPU profile of every image-syncer run into DIR.
const PROFILE = process.env.BENCH_PROFILE
  ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_PROFILE}` }
  : {};
// The CLI runs as users run it: the bin script, under this Node (24).
const PATH = `${dirname(NODE)}:${process.env.PATH}`;
const MiB = 1024 * 1024;

const say = (text: string) => process.stdout.write(`${text}\n`);

if (PHASES.has('bookkeeping')) {
  const sizes = (process.env.BENCH_BOOKKEEPING_SIZES ?? '1000,10000').split(',').map(Number);
  await benchBookkeeping(sizes, say);
}
if (PHASES.has('chaos')) {
  const images = Number(process.env.BENCH_CHAOS_IMAGES ?? 500);
  const chaos = await runChaos({
    images,
    instances: 2,
    killEveryMs: [1500, 3000],
    timeoutMs: 600_000,
  });
  const final = [...chaos.records.values()].filter((r) => r.final).length;
  say(
    `chaos: ${images} images announced in ${chaos.seconds.toFixed(1)} s through ${chaos.kills} random kills${chaos.claimerKilled ? ' and a claimer killed between claim and publish' : ''}; ` +
      `pushes answered ${JSON.stringify(chaos.pushes)}; ${final} of ${chaos.plannedKeys.length} images final, ${chaos.records.size} records; ` +
      `${chaos.messages.length} run-completed message(s), ${chaos.deadLetters} dead-lettered; run page: ${chaos.status.phase}`,
  );
}
if ([...PHASES].every((phase) => STANDALONE.has(phase))) process.exit(0);

const source = await startRegistry({ kind: 'token', users: { pusher: 'bench-push' } });
const target = await startRegistry({ kind: 'basic', users: { bench: 'bench-write' } });
try {
  say(`source ${source.url} (token auth), target ${target.url} (Basic auth); ${ROUNDS} rounds`);
  say('seeding…');
  const workload = await seedWorkload(source.host, 'pusher:bench-push', {
    bigLayerMiB: BIG_MIB,
    largeLayerMiB: 256,
  });
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });

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

  // BENCH_SYNCER_ARGS adds flags to every image-syncer run (e.g. "--concurrency 4").
  // Like for like with skopeo sync, which copies no signatures: --referrers=false
  // here; what referrers cost is measured beside it (a no-op with them on, and
  // the signed-images phase).
  const extraArgs = [
    '--referrers=false',
    ...(process.env.BENCH_SYNCER_ARGS ?? '').split(' ').filter(Boolean),
  ];
  const tools = {
    'image-syncer': (registry: TestRegistry, prefix: string, file = imagesFile) =>
      measure(
        'bin/image-syncer.js',
        ['-i', file, '-r', `${registry.host}/${prefix}/`, ...extraArgs],
        { DOCKER_CONFIG: dir, PATH, ...PROFILE },
      ),
    skopeo: (registry: TestRegistry, prefix: string, file = syncFile) =>
      measure(
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
          'bench:bench-write',
          file,
          `${registry.host}/${prefix}`,
        ],
        {
          REGISTRY_AUTH_FILE: emptyAuth,
        },
      ),
  };
  type Tool = keyof typeof tools;
  interface Run {
    m: Measurement;
    source: RequestCounts;
    target: RequestCounts;
  }
  const runs: Record<'cold' | 'noop' | 'noopReferrers', Record<Tool, Run[]>> = {
    cold: { 'image-syncer': [], skopeo: [] },
    noop: { 'image-syncer': [], skopeo: [] },
    noopReferrers: { 'image-syncer': [], skopeo: [] },
  };
  async function run(
    phase: 'cold' | 'noop' | 'noopReferrers',
    tool: Tool,
    registry: TestRegistry,
    round: number,
  ): Promise<void> {
    source.clearLog();
    registry.clearLog();
    const m =
      phase === 'noopReferrers'
        ? await measure(
            'bin/image-syncer.js',
            ['-i', imagesFile, '-r', `${registry.host}/r${round}/`, ...extraArgs.slice(1)],
            { DOCKER_CONFIG: dir, PATH, ...PROFILE },
          )
        : await tools[tool](registry, `r${round}`);
    if (m.exitCode !== 0) throw new Error(`${tool} ${phase} failed:\n${m.output.slice(-2000)}`);
    runs[phase][tool].push({
      m,
      source: countRequests(await settled(source)),
      target: countRequests(await settled(registry)),
    });
    say(
      `  round ${round} ${phase.padEnd(4)} ${tool.padEnd(12)} ${m.seconds.toFixed(2)} s, ${m.maxRssMiB.toFixed(0)} MiB RSS`,
    );
  }
  // Each cold run copies into an empty registry of its own: nothing of an
  // earlier run (and nothing skopeo's blob-info cache remembers) can be mounted.
  for (let round = 1; PHASES.has('cold') && round <= ROUNDS; round++) {
    const order: Tool[] = round % 2 ? ['image-syncer', 'skopeo'] : ['skopeo', 'image-syncer'];
    for (const tool of order) {
      const empty = await startRegistry({ kind: 'basic', users: { bench: 'bench-write' } });
      writeFileSync(
        join(dir, 'config.json'),
        JSON.stringify({
          auths: { [empty.host]: { auth: Buffer.from('bench:bench-write').toString('base64') } },
        }),
      );
      try {
        await run('cold', tool, empty, round);
        await run('noop', tool, empty, round);
        if (tool === 'image-syncer') await run('noopReferrers', tool, empty, round);
      } finally {
        await empty.stop();
      }
    }
  }
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      auths: { [target.host]: { auth: Buffer.from('bench:bench-write').toString('base64') } },
    }),
  );

  // The 1 GiB layer: image-syncer against curl piping the blob from source to target.
  const bigManifest = JSON.parse((await inspectRaw(`${source.host}/${workload.big}`)).toString());
  const bigDigest = bigManifest.layers[0].digest as string;
  const bigFile = join(dir, 'big.yaml');
  writeFileSync(bigFile, `images:\n- source: ${source.host}/${workload.big}\n`);
  const big: { syncer: Measurement[]; curl: Measurement[] } = { syncer: [], curl: [] };
  const realm = `${source.tokenServer?.realm}?service=${source.tokenServer?.service}&scope=repository:bench/big:pull`;
  for (let round = 1; PHASES.has('big') && round <= Math.min(ROUNDS, 2); round++) {
    const syncer = await tools['image-syncer'](target, `big${round}`, bigFile);
    if (syncer.exitCode !== 0)
      throw new Error(`image-syncer big failed:\n${syncer.output.slice(-2000)}`);
    big.syncer.push(syncer);
    const script = [
      'set -euo pipefail',
      `token=$(curl -sf '${realm}' | sed -E 's/.*"token":"([^"]+)".*/\\1/')`,
      `location=$(curl -sf -u bench:bench-write -X POST -o /dev/null -D - '${target.url}/v2/curl${round}/big/blobs/uploads/' | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p')`,
      `case "$location" in http*) ;; *) location="${target.url}$location" ;; esac`,
      `curl -sf -H "Authorization: Bearer $token" -L '${source.url}/v2/bench/big/blobs/${bigDigest}' | curl -sf -u bench:bench-write -X PUT -H 'content-type: application/octet-stream' -T - "$location&digest=${bigDigest}"`,
    ].join('\n');
    const curl = await measure('bash', ['-c', script]);
    if (curl.exitCode !== 0) throw new Error(`curl baseline failed:\n${curl.output.slice(-2000)}`);
    big.curl.push(curl);
    say(
      `  big round ${round}: image-syncer ${syncer.seconds.toFixed(2)} s (${syncer.maxRssMiB.toFixed(0)} MiB RSS), curl ${curl.seconds.toFixed(2)} s`,
    );
  }

  const signed = PHASES.has('referrers')
    ? await benchReferrers(source, 'pusher:bench-push', dir, { PATH, ...PROFILE })
    : undefined;

  const fanOut = PHASES.has('fanout')
    ? await benchFanOut(source.host, 2000)
    : { seconds: Number.NaN, pinnedSeconds: Number.NaN };

  const boot = PHASES.has('boot')
    ? await benchBoot(
        source,
        target,
        { source: 'pusher:bench-push', target: 'bench:bench-write' },
        Math.max(ROUNDS, 5),
      )
    : undefined;

  // --- report ---
  const images = workload.cold.length;
  const med = (phase: 'cold' | 'noop', tool: Tool, pick: (r: Run) => number) =>
    median(runs[phase][tool].map(pick));
  const coldSyncer = med('cold', 'image-syncer', (r) => r.m.seconds);
  const coldSkopeo = med('cold', 'skopeo', (r) => r.m.seconds);
  const noopSyncer = med('noop', 'image-syncer', (r) => r.m.seconds);
  const noopSkopeo = med('noop', 'skopeo', (r) => r.m.seconds);
  const mbps = (bytes: number, seconds: number) => bytes / MiB / seconds;
  const bigSyncer = median(big.syncer.map((m) => m.seconds));
  const bigCurl = median(big.curl.map((m) => m.seconds));
  const bigRss = Math.max(...big.syncer.map((m) => m.maxRssMiB));
  const noopSource = runs.noop['image-syncer'].map((r) => r.source);
  const noopTarget = runs.noop['image-syncer'].map((r) => r.target);
  const maxSourcePerImage = Math.max(...noopSource.map((c) => c.total / images));
  const sourceGets = Math.max(...noopSource.map((c) => c.manifestGets + c.blobGets));
  const targetWrites = Math.max(...noopTarget.map((c) => c.writes));
  const check = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const row = (cells: string[]) => say(`| ${cells.join(' | ')} |`);

  say('');
  say(
    `### Benchmark (${new Date().toISOString().slice(0, 10)}, ${ROUNDS} rounds, medians; ${images} images, ${(workload.coldBytes / MiB).toFixed(0)} MiB cold)`,
  );
  say('');
  row(['measure', 'image-syncer', 'skopeo / curl', 'ratio', 'target', '']);
  row(['---', '---', '---', '---', '---', '---']);
  row([
    'cold wall time',
    `${coldSyncer.toFixed(2)} s`,
    `${coldSkopeo.toFixed(2)} s`,
    (coldSyncer / coldSkopeo).toFixed(2),
    '≤ 0.70',
    check(coldSyncer / coldSkopeo <= 0.7),
  ]);
  row([
    'cold throughput',
    `${mbps(workload.coldBytes, coldSyncer).toFixed(0)} MiB/s`,
    `${mbps(workload.coldBytes, coldSkopeo).toFixed(0)} MiB/s`,
    '',
    '',
    '',
  ]);
  row([
    'cold peak RSS',
    `${med('cold', 'image-syncer', (r) => r.m.maxRssMiB).toFixed(0)} MiB`,
    `${med('cold', 'skopeo', (r) => r.m.maxRssMiB).toFixed(0)} MiB`,
    '',
    '',
    '',
  ]);
  row([
    'cold source requests / image',
    (med('cold', 'image-syncer', (r) => r.source.total) / images).toFixed(1),
    (med('cold', 'skopeo', (r) => r.source.total) / images).toFixed(1),
    '',
    '',
    '',
  ]);
  row([
    'no-op wall time',
    `${noopSyncer.toFixed(2)} s`,
    `${noopSkopeo.toFixed(2)} s`,
    (noopSyncer / noopSkopeo).toFixed(2),
    '≤ 1.00',
    check(noopSyncer <= noopSkopeo),
  ]);
  const noopRefs = runs.noopReferrers['image-syncer'];
  row([
    'no-op wall time, referrers on (default)',
    `${median(noopRefs.map((r) => r.m.seconds)).toFixed(2)} s`,
    '',
    '',
    '',
    '',
  ]);
  row([
    'no-op source requests / image, referrers on',
    (Math.max(...noopRefs.map((r) => r.source.total)) / images).toFixed(2),
    '',
    '',
    '≤ 6 (HEADs, 1 referrers query)',
    check(Math.max(...noopRefs.map((r) => r.source.total)) / images <= 6),
  ]);
  row([
    'no-op source manifest/blob GETs, referrers on',
    String(Math.max(...noopRefs.map((r) => r.source.manifestGets + r.source.blobGets))),
    '',
    '',
    '0',
    check(Math.max(...noopRefs.map((r) => r.source.manifestGets + r.source.blobGets)) === 0),
  ]);
  row([
    'no-op source manifest/blob GETs',
    String(sourceGets),
    String(Math.max(...runs.noop.skopeo.map((r) => r.source.manifestGets + r.source.blobGets))),
    '',
    '0',
    check(sourceGets === 0),
  ]);
  row([
    'no-op source requests / image',
    maxSourcePerImage.toFixed(2),
    (Math.max(...runs.noop.skopeo.map((r) => r.source.total)) / images).toFixed(2),
    '',
    '≤ 2 (HEADs)',
    check(maxSourcePerImage <= 2),
  ]);
  row([
    'no-op target writes',
    String(targetWrites),
    String(Math.max(...runs.noop.skopeo.map((r) => r.target.writes))),
    '',
    '0',
    check(targetWrites === 0),
  ]);
  row([
    `big (${BIG_MIB} MiB layer) throughput`,
    `${mbps(BIG_MIB * MiB, bigSyncer).toFixed(0)} MiB/s`,
    `${mbps(BIG_MIB * MiB, bigCurl).toFixed(0)} MiB/s (curl)`,
    (bigCurl / bigSyncer).toFixed(2),
    '≥ 0.80',
    check(bigCurl / bigSyncer >= 0.8),
  ]);
  row([
    'big peak RSS',
    `${bigRss.toFixed(0)} MiB`,
    `${Math.max(...big.curl.map((m) => m.maxRssMiB)).toFixed(0)} MiB (curl)`,
    '',
    '< 150 MiB',
    check(bigRss < 150),
  ]);
  row([
    'fan-out: 2,000 jobs published',
    `${fanOut.seconds.toFixed(2)} s`,
    '',
    '',
    '< 5 s',
    check(fanOut.seconds < 5),
  ]);
  row([
    'fan-out with digests pinned (2,000 HEADs)',
    `${fanOut.pinnedSeconds.toFixed(2)} s`,
    '',
    '',
    '',
    '',
  ]);
  for (const name of ['copyJob', 'planApi'] as const) {
    if (!boot) break;
    const ratio = boot[name].ms / boot.hello.ms;
    row([
      `boot: ${name} start to first answer`,
      `${boot[name].ms.toFixed(0)} ms`,
      `${boot.hello.ms.toFixed(0)} ms (hello-world on Storage and Pub/Sub)`,
      ratio.toFixed(2),
      '≤ 1.50',
      check(ratio <= 1.5),
    ]);
    row([
      `boot: ${name} peak RSS at first answer`,
      `${boot[name].rssMiB.toFixed(0)} MiB`,
      `${boot.hello.rssMiB.toFixed(0)} MiB (hello-world)`,
      '',
      '< 128 MiB',
      check(boot[name].rssMiB < 128),
    ]);
  }
  if (signed) {
    say('');
    say(
      `### Signed images (${signed.images}: cosign .sig and .att, an SBOM referrer via the tag schema), referrers on vs --referrers=false`,
    );
    say('');
    row(['measure', 'referrers on', '--referrers=false', 'target', '']);
    row(['---', '---', '---', '---', '---']);
    const per = (n: number) => (n / signed.images).toFixed(2);
    row([
      'cold wall time',
      `${signed.on.cold.seconds.toFixed(2)} s`,
      `${signed.off.cold.seconds.toFixed(2)} s`,
      '',
      '',
    ]);
    row([
      'cold source requests / image',
      per(signed.on.coldSource.total),
      per(signed.off.coldSource.total),
      '',
      '',
    ]);
    row([
      'no-op wall time',
      `${signed.on.noop.seconds.toFixed(2)} s`,
      `${signed.off.noop.seconds.toFixed(2)} s`,
      '',
      '',
    ]);
    const onGets = signed.on.noopSource.manifestGets + signed.on.noopSource.blobGets;
    row([
      'no-op source manifest/blob GETs',
      String(onGets),
      String(signed.off.noopSource.manifestGets + signed.off.noopSource.blobGets),
      '0',
      check(onGets === 0),
    ]);
    row([
      'no-op source requests / image',
      per(signed.on.noopSource.total),
      per(signed.off.noopSource.total),
      '≤ 6',
      check(signed.on.noopSource.total / signed.images <= 6),
    ]);
    row([
      'no-op target writes',
      String(signed.on.noopTarget.writes),
      String(signed.off.noopTarget.writes),
      '0',
      check(signed.on.noopTarget.writes === 0),
    ]);
  }
} finally {
  await Promise.all([source.stop(), target.stop()]);
}

// The boot benchmark: from process start to the first answered request, for
// copyJob (a job whose image is already in the target, against the local
// registries and the Cloud Storage test server) and planApi (a one-image
// plan), each beside a bare Functions Framework hello-world started the same
// way: the real functions-framework command, its own process, the same Node,
// the same environment. Peak RSS (VmHWM) is read when the first answer arrives.

import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jobKey } from '../functions/pipeline/job.ts';
import { type GcsServer, startGcsServer } from '../scripts/local/gcs-server.ts';
import {
  type FunctionProcess,
  firstAnswer,
  pushEnvelope,
  spawnFunction,
} from '../test/support/functions.ts';
import { Layout, push } from '../test/support/images.ts';
import type { TestRegistry } from '../test/support/registry.ts';
import { median } from './measure.ts';

export interface BootFigure {
  readonly ms: number;
  readonly rssMiB: number;
}
export type BootFigures = Record<'hello' | 'copyJob' | 'planApi', BootFigure>;

const ROOT = resolve(import.meta.dirname, '..');
// BENCH_BOOT_APP=DIR measures another built package instead (e.g. an older
// commit's, built with its node_modules linked), for before/after figures.
const APP = process.env.BENCH_BOOT_APP ? resolve(process.env.BENCH_BOOT_APP) : ROOT;

function peakRssMiB(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

/**
 * A directory holding the smallest function that loads the client libraries
 * the design names (@google-cloud/storage, @google-cloud/pubsub), over this
 * repository's node_modules: the baseline a function on them cannot beat.
 */
function helloWorld(): string {
  const dir = mkdtempSync(join(tmpdir(), 'boot-hello-'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module","main":"index.js"}');
  writeFileSync(
    join(dir, 'index.js'),
    [
      "import * as functions from '@google-cloud/functions-framework';",
      "import { Storage } from '@google-cloud/storage';",
      "import { PubSub } from '@google-cloud/pubsub';",
      'const clients = [new Storage(), new PubSub()];',
      "functions.http('hello', (req, res) => res.send(clients.length === 2 ? 'hello' : 'no'));",
      '',
    ].join('\n'),
  );
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/**
 * Expects `npm run build` to have run (the package's main, dist/gcp/index.js,
 * is what Cloud Run loads). `sourceCreds`/`targetCreds` are `user:password`.
 */
export async function benchBoot(
  source: TestRegistry,
  target: TestRegistry,
  creds: { source: string; target: string },
  rounds: number,
): Promise<BootFigures> {
  const gcs = await startGcsServer();
  const prefix = `${target.host}/boot/`;
  const image = `${source.host}/bench/boot:v1`;
  const mirrored = `${prefix}${source.host.replace(':', '_')}/bench/boot:v1`;
  const layout = new Layout();
  layout.tag('v1', layout.image({ layers: [50_000] }));
  await push(layout, 'v1', image, { creds: creds.source });
  await push(layout, 'v1', mirrored, { creds: creds.target });
  const cases = bootCases(bootEnv(source, target, creds, gcs.url, prefix), gcs, image, mirrored);
  const samples: Record<CaseName, BootFigure[]> = { hello: [], copyJob: [], planApi: [] };
  try {
    for (let round = 1; round <= rounds; round++) {
      // Rotate who goes first: the page cache and the CPU boost favour no one.
      const names = Object.keys(cases) as CaseName[];
      const order = names.map((_, i) => names[(i + round) % names.length] as CaseName);
      for (const name of order) {
        const sample = await bootOnce(name, cases[name], `boot-${round}`);
        samples[name].push(sample);
        process.stdout.write(
          `  boot round ${round} ${name.padEnd(8)} ${sample.ms.toFixed(0)} ms, ${sample.rssMiB.toFixed(0)} MiB peak RSS\n`,
        );
      }
    }
  } finally {
    await gcs.close();
  }
  const figure = (name: CaseName): BootFigure => ({
    ms: median(samples[name].map((s) => s.ms)),
    rssMiB: Math.max(...samples[name].map((s) => s.rssMiB)),
  });
  return { hello: figure('hello'), copyJob: figure('copyJob'), planApi: figure('planApi') };
}

/** The functions' environment, as Terraform gives it, with the local Storage server and registries. */
function bootEnv(
  source: TestRegistry,
  target: TestRegistry,
  creds: { target: string },
  storageUrl: string,
  prefix: string,
): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'production',
    METADATA_SERVER_DETECTION: 'none',
    STORAGE_EMULATOR_HOST: storageUrl,
    LOG_EXECUTION_ID: 'true',
    SYNCER_PROJECT: 'bench',
    SYNCER_TARGET_REPO_PREFIX: prefix,
    SYNCER_RUNS_BUCKET: 'runs',
    SYNCER_ALLOWED_REGISTRY: source.host,
    SYNCER_ALLOW_PRIVATE_NETWORKS: [
      source.host,
      target.host,
      ...(source.tokenServer ? [new URL(source.tokenServer.url).host] : []),
    ].join(','),
    SYNCER_SOURCE_CREDENTIALS: JSON.stringify({
      auths: { [target.host]: { auth: Buffer.from(creds.target).toString('base64') } },
    }),
  };
}

/** What is started, asked, and checked: the first answer must be the right one. */
interface BootCase {
  start(): Promise<FunctionProcess>;
  ask(fn: FunctionProcess, runId: string): Promise<Response>;
  check(answer: Response, runId: string): Promise<boolean>;
}

type CaseName = 'hello' | 'copyJob' | 'planApi';

function bootCases(
  env: NodeJS.ProcessEnv,
  gcs: GcsServer,
  image: string,
  mirrored: string,
): Record<CaseName, BootCase> {
  const hello = helloWorld();
  return {
    hello: {
      start: () => spawnFunction(hello, 'hello', { ...env, FUNCTION_TARGET: 'hello' }),
      ask: (fn) => firstAnswer(fn, '/', {}),
      check: async (answer) => (await answer.text()) === 'hello',
    },
    copyJob: {
      start: () => spawnFunction(APP, 'copyJob', { ...env, FUNCTION_TARGET: 'copyJob' }),
      ask: (fn, runId) =>
        // The path is the one an emulator push would use, so an older CloudEvent copyJob works too.
        firstAnswer(fn, '/projects/bench/topics/jobs', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: pushEnvelope({ runId, source: image }, { deliveryAttempt: 1 }),
        }),
      check: async (answer, runId) => {
        const record = gcs.get('runs', `runs/${runId}/results/${jobKey(mirrored)}.json`);
        return answer.status === 204 && JSON.parse(String(record)).status === 'exists';
      },
    },
    planApi: {
      start: () => spawnFunction(APP, 'planApi', { ...env, FUNCTION_TARGET: 'planApi' }),
      ask: (fn) =>
        firstAnswer(fn, '/plan', {
          method: 'POST',
          headers: { 'content-type': 'application/yaml' },
          body: `images:\n- source: ${image}\n`,
        }),
      check: async (answer) => {
        const plan = (await answer.json()) as { results?: { status: string }[] };
        return answer.status === 200 && plan.results?.[0]?.status === 'exists';
      },
    },
  };
}

/** One cold start: from spawn to the first right answer, and the peak RSS by then. */
async function bootOnce(name: CaseName, bootCase: BootCase, runId: string): Promise<BootFigure> {
  const started = performance.now();
  const fn = await bootCase.start();
  try {
    const answer = await bootCase.ask(fn, runId);
    const ms = performance.now() - started;
    const rssMiB = peakRssMiB(fn.child.pid);
    if (!(await bootCase.check(answer, runId)))
      throw new Error(`${name} gave a wrong first answer (${answer.status}):\n${fn.output()}`);
    return { ms, rssMiB };
  } finally {
    await fn.stop();
  }
}

// The deployable package, end to end, as Cloud Run functions builds and runs
// it: the source archived by the same script Terraform runs
// (scripts/package-function-source.sh, from infra/storage.tf), unpacked into a
// clean folder, `npm ci` and the `gcp-build` script run there (what the
// Node.js buildpack does with a package.json that has one), devDependencies
// pruned (the runtime must not need them), and each entry point started under
// that folder's own Functions Framework with exactly the environment
// infra/functions.tf gives it. Only the endpoints differ: local registries, the
// Cloud Storage test server, and loopback allowed as a destination.
//
// npm ci runs with --prefer-offline (the local npm cache), so this takes
// ~30–60 s, most of it npm ci and tsc; nothing else in the suite covers the
// packaging, the build script and the production entry module together.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { jobKey } from '../../functions/pipeline/job.ts';
import { type GcsServer, startGcsServer } from '../../scripts/local/gcs-server.ts';
import { type InfraConfig, loadInfra } from '../../scripts/terraform/config.ts';
import { deployedFunctions } from '../../scripts/terraform/environment.ts';
import { type Pair, SOURCE_PUSHER, startPair, TARGET_WRITER } from '../support/fixture.ts';
import {
  type FunctionProcess,
  firstAnswer,
  pushEnvelope,
  spawnFunction,
  storageFinalizedRequest,
} from '../support/functions.ts';
import { inspectRaw, Layout, push, sha256 } from '../support/images.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const PROJECT = 'deploy-test';

/** The environment of the build tools: this Node first, nothing of the checkout's node_modules. */
function buildEnv(): NodeJS.ProcessEnv {
  const path = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((p) => !p.includes(`node_modules${'/'}.bin`));
  return {
    PATH: [dirname(process.execPath), ...path].join(delimiter),
    HOME: process.env.HOME,
    ...(process.env.npm_config_cache && { npm_config_cache: process.env.npm_config_cache }),
    // The machine's trust and proxy settings (not the checkout's): npm ci may fetch a package's metadata.
    ...Object.fromEntries(
      [
        'NODE_EXTRA_CA_CERTS',
        'HTTPS_PROXY',
        'https_proxy',
        'HTTP_PROXY',
        'http_proxy',
        'NO_PROXY',
        'no_proxy',
      ]
        .filter((name) => process.env[name])
        .map((name) => [name, process.env[name] as string]),
    ),
  };
}

/** Archives the source with Terraform's script and builds it in a clean folder; returns the folder. */
async function packageAndBuild(): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'deploy-package-'));
  // The script reads Terraform's external data query on stdin first.
  const packing = run('sh', [join(ROOT, 'scripts/package-function-source.sh'), join(work, 'out')], {
    env: buildEnv(),
  });
  packing.child.stdin?.end('{}');
  const out = await packing;
  const zip = JSON.parse(out.stdout).path as string;
  const app = join(work, 'app');
  mkdirSync(app);
  await run('unzip', ['-q', zip, '-d', app]);
  const npm = (...args: string[]) =>
    run('npm', [...args, '--no-audit', '--no-fund'], {
      cwd: app,
      env: buildEnv(),
      maxBuffer: 16 * 1024 * 1024,
    });
  await npm('ci', '--prefer-offline');
  await npm('run', 'gcp-build');
  await npm('prune', '--omit=dev');
  return app;
}

describe('the deployed package under the Functions Framework', () => {
  let app: string;
  let pair: Pair;
  let gcs: GcsServer;
  let config: InfraConfig;
  let imageDigest: string;
  const started: Record<string, FunctionProcess> = {};

  before(async () => {
    // allSettled: when the build fails, what did start is still assigned for
    // after() to stop (a registry left running would hold the run open).
    const settled = await Promise.allSettled([
      packageAndBuild(),
      startPair(),
      startGcsServer(),
      loadInfra(),
    ]);
    const [built, paired, served, loaded] = settled;
    if (paired.status === 'fulfilled') pair = paired.value;
    if (served.status === 'fulfilled') gcs = served.value;
    for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
    app = (built as PromiseFulfilledResult<string>).value;
    config = (loaded as PromiseFulfilledResult<InfraConfig>).value;
    const layout = new Layout();
    const image = layout.image({ layers: [30_000] });
    layout.tag('v1', image);
    imageDigest = image.digest;
    await push(layout, 'v1', `${pair.source.host}/team/app:v1`, { creds: SOURCE_PUSHER });

    // Terraform's expressions → their local stand-ins; anything else is its
    // variable's default, and an expression with neither stops the test.
    const standIns: Record<string, string> = {
      'local.target_prefix': `${pair.target.host}/mirror/`,
      'var.project_id': PROJECT,
      // The local source registry is the one allowed (the default list names public ones).
      'join(",", var.allowed_source_registries)': pair.source.host,
      'google_pubsub_topic.jobs.name': 'jobs',
      'google_pubsub_topic.runs.name': 'runs',
      'google_pubsub_topic.dead_letter.name': 'jobs-dead-letter',
      'google_storage_bucket.runs.name': 'runs',
      // The mounted secret: Docker's config.json with the (local) target's credentials.
      'local.credentials_enabled': 'true',
      'local.credentials_mount': pair.dockerConfig,
      // No trusted sources: pull requests only plan (infra/variables.tf default).
      'local.mirrors_early': 'false',
    };
    const functions = deployedFunctions(config, standIns);
    assert.equal(functions.length, 5);
    await Promise.all(
      functions.map(async (fn) => {
        const env = {
          ...fn.env,
          // What Cloud Run sets for every function.
          FUNCTION_TARGET: fn.entryPoint,
          ...(fn.signatureType && { FUNCTION_SIGNATURE_TYPE: fn.signatureType }),
          NODE_ENV: 'production',
          // The local stand-ins for Google's endpoints and the loopback registries.
          STORAGE_EMULATOR_HOST: gcs.url,
          METADATA_SERVER_DETECTION: 'none',
          SYNCER_ALLOW_PRIVATE_NETWORKS: [
            pair.source.host,
            pair.target.host,
            new URL(pair.source.tokenServer?.url as string).host,
          ].join(','),
        };
        started[fn.entryPoint] = await spawnFunction(app, fn.entryPoint, env, {
          framework: join(app, 'node_modules', '.bin', 'functions-framework'),
        });
      }),
    );
  });

  after(async () => {
    await Promise.all(Object.values(started).map((fn) => fn.stop()));
    await Promise.all([pair?.stop(), gcs?.close()]);
  });

  it('copyJob copies the job of a raw Pub/Sub push and records it', async () => {
    const fn = started.copyJob as FunctionProcess;
    const answer = await firstAnswer(fn, '/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: pushEnvelope(
        { runId: 'deploy-1', source: `${pair.source.host}/team/app:v1` },
        { deliveryAttempt: 1 },
      ),
    });
    assert.equal(answer.status, 204, fn.output());
    const target = `${pair.target.host}/mirror/${pair.source.host.replace(':', '_')}/team/app:v1`;
    const record = JSON.parse(
      String(gcs.get('runs', `runs/deploy-1/results/${jobKey(target)}.json`)),
    );
    assert.equal(record.status, 'copied', JSON.stringify(record));
    assert.equal(record.digest, imageDigest);
    assert.equal(record.attempt, 1);
    assert.equal(sha256(await inspectRaw(target, TARGET_WRITER)), imageDigest);
    // Structured lines only: every line the process wrote is JSON.
    for (const line of fn.output().split('\n').filter(Boolean))
      assert.doesNotThrow(() => JSON.parse(line), `unstructured output: ${line}`);
  });

  it('every other entry point starts and serves with its Terraform environment', async () => {
    const plan = await firstAnswer(started.planApi as FunctionProcess, '/plan', {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: `images:\n- source: ${pair.source.host}/team/app:v1\n  tag: elsewhere\n`,
    });
    assert.equal(plan.status, 200, started.planApi?.output());
    assert.equal(
      ((await plan.json()) as { results: { status: string }[] }).results[0]?.status,
      'planned',
    );

    const status = await firstAnswer(started.api as FunctionProcess, '/runs/no-such-run', {});
    assert.equal(status.status, 404, started.api?.output());

    // An object that is not an images file is acknowledged and ignored.
    const ignored = await firstAnswer(
      started.fanOutUpload as FunctionProcess,
      '/',
      storageFinalizedRequest({ bucket: 'images', name: 'notes/readme.txt', generation: 1 }),
    );
    assert.equal(ignored.status, 204, started.fanOutUpload?.output());

    // A request with a malformed runId is acknowledged and ignored, nothing published.
    const request = await firstAnswer(started.fanOutRequest as FunctionProcess, '/', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-id': 'r-1',
        'ce-specversion': '1.0',
        'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
        'ce-source': `//pubsub.googleapis.com/projects/${PROJECT}/topics/requests`,
      },
      body: JSON.stringify({
        message: { data: '', attributes: { runId: 'not a run id' }, messageId: 'r-1' },
        subscription: `projects/${PROJECT}/subscriptions/requests`,
      }),
    });
    assert.equal(request.status, 204, started.fanOutRequest?.output());
  });
});

// `npm run demo:pipeline`: the serverless pipeline as it is deployed, on this
// machine. Starts, on loopback, a source and a target registry, the Pub/Sub
// emulator, the local Cloud Storage server, and every entry point under the
// real Functions Framework (one process each, as each is its own Cloud Run
// service) with the environment Terraform sets (read from infra/*.tf). Then
// it goes in all three ways a team would: an upload to the images bucket (the
// storage event Eventarc delivers), a request message from CI, and POST /sync
// with the `remote` client, as the GitHub workflow does. It shows jobs
// published and copies finishing live, each run's status, and ends with a
// re-run that copies nothing and the request counts that prove it.
// Everything it started is stopped at the end, also on Ctrl-C.

import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMULATOR } from '../test/support/pubsub-emulator.ts';
import { startRegistry, type TestRegistry } from '../test/support/registry.ts';
import { type GcsServer, startGcsServer } from './local/gcs-server.ts';
import { startLocalPipeline } from './local/pipeline.ts';
import { Processes } from './local/processes.ts';
import { seedImages } from './local/seed.ts';

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const say = (text: string) => process.stdout.write(`\n${bold(`== ${text}`)}\n`);
const line = (text: string) => process.stdout.write(`   ${text}\n`);

// Say what is missing before starting anything: without the emulator there is
// no pipeline to show.
if (!existsSync(EMULATOR)) {
  process.stderr.write(
    [
      `demo:pipeline needs the Pub/Sub emulator, and it is not installed at ${EMULATOR}.`,
      'Install google-cloud-cli with its pubsub-emulator component:',
      '  apt-get install google-cloud-cli google-cloud-cli-pubsub-emulator   (Google Cloud apt repository)',
      '  or: gcloud components install pubsub-emulator',
      'or point PUBSUB_EMULATOR_BIN at its cloud-pubsub-emulator launcher. Nothing was started.',
      '',
    ].join('\n'),
  );
  process.exit(1);
}

// The demo's own Pub/Sub client must not look for a metadata server either.
process.env.METADATA_SERVER_DETECTION = 'none';
const processes = new Processes();
processes.stopOnSignals(say);

const PUSHER = 'pusher:demo-push';
const MIRROR = 'mirror:demo-mirror';

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'image-syncer-pipeline-demo-'));
  processes.removeOnStop(dir);
  line(`work folder: ${dir} (removed at the end)`);
  const source = await startRegistry({ kind: 'token', users: { pusher: 'demo-push' } });
  processes.onStop(() => source.stop());
  const target = await startRegistry({ kind: 'basic', users: { mirror: 'demo-mirror' } });
  processes.onStop(() => target.stop());
  const gcs: GcsServer = await startGcsServer();
  processes.onStop(() => gcs.close());
  say(`registries: source ${source.url} (token auth), target ${target.url} (Basic auth)`);
  await seedImages(source.host, PUSHER);
  line('seeded: an OCI index (2 platforms + attestation), a Docker manifest list, single images');

  const pipeline = await startLocalPipeline({
    processes,
    gcs,
    source,
    target,
    targetCredentials: MIRROR,
    secretsDir: mkdtempSync(join(dir, 'secrets-')),
    say,
    line,
  });

  const files = {
    upload: imagesFile(source, ['team/app:1.0', 'team/app-docker:1.0']),
    request: imagesFile(source, ['library/alpine:3.20']),
    sync: imagesFile(source, ['team/tool:2', 'team/worker:0.9']),
  };
  const runs: { way: string; runId: string }[] = [];

  say('1. upload external-images.yaml to the images bucket (the storage event Eventarc delivers)');
  process.stdout.write(indent(files.upload));
  const uploadRun = await pipeline.upload('team-a/external-images.yaml', files.upload);
  runs.push({ way: 'upload', runId: uploadRun });
  await pipeline.follow(uploadRun);

  say('2. publish a request message, as CI would (gcloud pubsub topics publish …-requests)');
  process.stdout.write(indent(files.request));
  const requestRun = await pipeline.publishRequest(files.request, 'ci-demo-1');
  runs.push({ way: 'request', runId: requestRun });
  await pipeline.follow(requestRun);

  say('3. POST /sync with the remote client, as the GitHub workflow does');
  process.stdout.write(indent(files.sync));
  const syncFile = join(dir, 'external-images.yaml');
  writeFileSync(syncFile, files.sync);
  const remote = await pipeline.remoteSync(syncFile, 'workflow-demo-1');
  runs.push({ way: '/sync', runId: 'workflow-demo-1' });
  if (remote.code !== 0) throw new Error(`remote sync exited ${remote.code}:\n${remote.output}`);
  await pipeline.follow('workflow-demo-1');

  say('every run, as GET /runs/{id} answers it');
  for (const run of runs) {
    line(`${run.way}: ${run.runId}  records: gs://${pipeline.runsBucket}/runs/${run.runId}/`);
    process.stdout.write(indent(await pipeline.markdownStatus(run.runId)));
  }

  say('re-run: the three files again in one upload; everything exists, nothing is copied');
  source.clearLog();
  target.clearLog();
  const all = imagesFile(source, [
    'team/app:1.0',
    'team/app-docker:1.0',
    'library/alpine:3.20',
    'team/tool:2',
    'team/worker:0.9',
  ]);
  const rerun = await pipeline.upload('team-a/external-images.yaml', all);
  const status = await pipeline.follow(rerun);
  const sourceLog = await source.settledLog();
  const heads = sourceLog.filter((e) => e.method === 'HEAD').length;
  // The referrers query (a GET of /referrers/, answered 404 here) is not a pull.
  const gets = sourceLog.filter(
    (e) => e.method === 'GET' && /\/(manifests|blobs)\//.test(e.path),
  ).length;
  const writes = (await target.settledLog()).filter(
    (e) => e.method !== 'GET' && e.method !== 'HEAD',
  );
  say(
    `re-run ${rerun}: ${status.counts.exists ?? 0} exists, ${status.counts.copied ?? 0} copied; ` +
      `source saw ${heads} HEAD and ${gets} manifest/blob GETs; target saw ${writes.length} writes`,
  );
  const copiedFirst = runs.length === 3 && pipeline.allCopied(runs.map((r) => r.runId));
  const ok = copiedFirst && status.counts.exists === 5 && gets === 0 && writes.length === 0;
  say(ok ? 'demo:pipeline OK' : 'demo:pipeline FAILED: see above');
  return ok ? 0 : 1;
}

function imagesFile(source: TestRegistry, names: readonly string[]): string {
  return ['images:', ...names.map((n) => `- source: "${source.host}/${n}"`), ''].join('\n');
}

function indent(text: string): string {
  return `${text
    .trimEnd()
    .split('\n')
    .map((l) => `   ${l}`)
    .join('\n')}\n`;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  if (!processes.stopping)
    process.stderr.write(`demo:pipeline failed: ${(error as Error).stack ?? error}\n`);
} finally {
  await processes.stopAll();
}
process.exit(code);

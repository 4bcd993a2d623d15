// `npm run demo`: the main job end to end on this machine. Starts two real
// registries (a source with Docker Hub-style token auth, a target with Basic
// auth), seeds the source with generated images, syncs them with the CLI,
// shows the report, then syncs again to show that nothing is copied twice.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../functions/cli/main.ts';
import { startRegistry } from '../test/support/registry.ts';
import { seedImages } from './local/seed.ts';

const say = (text: string) => process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);

const source = await startRegistry({ kind: 'token', users: { pusher: 'demo-push' } });
const target = await startRegistry({ kind: 'basic', users: { mirror: 'demo-mirror' } });
try {
  say(`source registry ${source.url} (token auth), target registry ${target.url} (Basic auth)`);
  const seeded = await seedImages(source.host, 'pusher:demo-push');
  say('seeded: an OCI index (2 platforms + attestation), a Docker manifest list, single images');

  const dir = mkdtempSync(join(tmpdir(), 'image-syncer-demo-'));
  const imagesFile = join(dir, 'external-images.yaml');
  writeFileSync(
    imagesFile,
    [
      'images:',
      `- source: "${source.host}/team/app:1.0"`,
      `- source: "${source.host}/team/app-docker:1.0"`,
      '- source: "alpine:3.20"            # Docker Hub name, fetched from the local source below',
      `- source: "${source.host}/team/tool@${seeded.digests['team/tool:2']}"`,
      '  tag: "2-pinned"',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      auths: { [target.host]: { auth: Buffer.from('mirror:demo-mirror').toString('base64') } },
    }),
  );
  process.stdout.write(readFileSync(imagesFile, 'utf8'));

  const report = join(dir, 'report.json');
  const args = [
    '-i',
    imagesFile,
    '-r',
    `${target.host}/external/`,
    '--registry-endpoint',
    `docker.io=${source.url}`,
    '--report',
    report,
  ];
  const io = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: { ...process.env, DOCKER_CONFIG: dir },
  };

  say(`image-syncer ${args.join(' ')}`);
  const first = await runCli(args, io);
  say(`exit ${first}; report ${report}:`);
  process.stdout.write(readFileSync(report, 'utf8'));

  source.clearLog();
  target.clearLog();
  say('second run: everything exists, nothing is copied');
  const second = await runCli(args, io);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const sourceLog = source.accessLog();
  const writes = target.accessLog().filter((e) => e.method !== 'GET' && e.method !== 'HEAD');
  say(
    `exit ${second}; source saw ${sourceLog.length} requests (${sourceLog.filter((e) => e.method === 'HEAD').length} HEAD, ` +
      `${sourceLog.filter((e) => e.method === 'GET' && /\/(manifests|blobs)\//.test(e.path)).length} manifest/blob GET); target saw ${writes.length} writes`,
  );
  process.exitCode = first === 0 && second === 0 ? 0 : 1;
} finally {
  await Promise.all([source.stop(), target.stop()]);
}

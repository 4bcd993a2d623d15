// The CLI's contract: flags and their SYNCER_ variables, target credentials
// sent to the target host only and never printed, validate, exit codes.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { runCliCaptured, SOURCE_PUSHER, settledLog } from '../support/fixture.ts';
import { Layout, push } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

const ACCESS_TOKEN = 'ya29.access-token-secret-3';
const JSON_KEY = '{"private_key":"key-secret-4"}';

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCliCaptured(args, { DOCKER_CONFIG: '/nonexistent', ...env });
}

describe('CLI', () => {
  let source: TestRegistry;
  let target: TestRegistry;
  let dir: string;
  let file: string;

  before(async () => {
    const [user, password] = SOURCE_PUSHER.split(':') as [string, string];
    source = await startRegistry({ kind: 'token', users: { [user]: password } });
    target = await startRegistry({
      kind: 'basic',
      users: { oauth2accesstoken: ACCESS_TOKEN, _json_key: JSON_KEY },
    });
    const layout = new Layout();
    layout.tag('v1', layout.image({ layers: [4_000] }));
    await push(layout, 'v1', `${source.host}/team/app:v1`, { creds: SOURCE_PUSHER });
    dir = mkdtempSync(join(tmpdir(), 'cli-'));
    file = join(dir, 'images.yaml');
    writeFileSync(file, `images:\n- source: ${source.host}/team/app:v1\n`);
  });
  after(() => Promise.all([source.stop(), target.stop()]));

  it('sends --access-token to the target as oauth2accesstoken, and to no one else', async () => {
    if (source.tokenServer) source.tokenServer.requests.length = 0;
    const run = await cli(['-i', file, '-r', `${target.host}/a/`, '-a', ACCESS_TOKEN, '--debug']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      /debug \+\d+ms HEAD http:\/\/127\.0\.0\.1:\d+\/v2\/team\/app\/manifests\/v1 → 200/,
    );
    assert.ok(!`${run.stdout}${run.stderr}`.includes(ACCESS_TOKEN), 'the token is never printed');
    const tokenAuth = source.tokenServer?.requests.map((r) => r.authorization).filter(Boolean);
    assert.ok((source.tokenServer?.requests.length ?? 0) > 0);
    assert.deepEqual(tokenAuth, [], 'the source token server never saw credentials');
  });

  it('sends --target-repo-auth-key as _json_key, also from SYNCER_TARGET_REPO_AUTH_KEY', async () => {
    const keyFile = join(dir, 'key.json');
    writeFileSync(keyFile, JSON_KEY);
    const run = await cli(['-i', file, '-r', `${target.host}/b/`], {
      SYNCER_TARGET_REPO_AUTH_KEY: keyFile,
    });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^copied /m);
    assert.ok(!`${run.stdout}${run.stderr}`.includes('key-secret-4'));
  });

  it('fails with access denied, not a crash, without target credentials', async () => {
    target.clearLog();
    const report = join(dir, 'denied.json');
    const run = await cli(['-i', file, '-r', `${target.host}/c/`, '--report', report]);
    assert.equal(run.code, 1);
    const result = JSON.parse(readFileSync(report, 'utf8')).results[0];
    assert.equal(result.status, 'failed');
    assert.match(result.error, /access denied: HEAD .* answered 401/);
  });

  it('validates offline, with a report of valid and invalid entries', async () => {
    source.clearLog();
    const bad = join(dir, 'validate.yaml');
    writeFileSync(bad, 'images:\n- source: alpine:3.20\n- source: ghcr.io/a/b:1\n  tags: x\n');
    const report = join(dir, 'validate.json');
    const run = await cli([
      'validate',
      '-i',
      bad,
      '-r',
      'europe-docker.pkg.dev/p/r/',
      '--report',
      report,
    ]);
    assert.equal(run.code, 2);
    assert.match(
      run.stdout,
      /valid +alpine:3\.20 → europe-docker\.pkg\.dev\/p\/r\/library\/alpine:3\.20/,
    );
    assert.match(
      run.stderr,
      /validate\.yaml:4: images\[1\]\.tags: unknown field \(did you mean "tag"\?\)/,
    );
    assert.deepEqual(JSON.parse(readFileSync(report, 'utf8')), {
      dryRun: true,
      results: [
        {
          source: 'alpine:3.20',
          target: 'europe-docker.pkg.dev/p/r/library/alpine:3.20',
          status: 'valid',
        },
        {
          source: 'ghcr.io/a/b:1',
          target: '',
          status: 'invalid',
          error: `${bad}:4: images[1].tags: unknown field (did you mean "tag"?)`,
          errorCode: 'INVALID_IMAGES_FILE',
          category: 'invalid',
        },
      ],
    });
    const ok = await cli(['validate'], {
      SYNCER_IMAGES_FILE: file,
      SYNCER_TARGET_REPO_PREFIX: 'gcr.io/p/',
    });
    assert.equal(ok.code, 0);
    assert.match(ok.stdout, /gcr\.io\/p\/127\.0\.0\.1_\d+\/team\/app:v1/);
    assert.deepEqual(await settledLog(source), [], 'validate makes no request');
  });

  it("validate warns on entries Renovate's preset would miss or update into a conflict", async () => {
    const images = join(dir, 'renovate.yaml');
    const digest = `sha256:${'1'.repeat(64)}`;
    writeFileSync(
      images,
      `images:\n- source: alpine\n- source: nginx:1.27@${digest}\n  tag: ours\n- source: redis:7.4@${digest}\n`,
    );
    const run = await cli(['validate', '-i', images]);
    assert.equal(run.code, 0, 'warnings do not change the exit status');
    const warnings = run.stderr.split('\n').filter((l) => l.includes("Renovate's preset"));
    assert.equal(warnings.length, 2, run.stderr);
    assert.match(
      warnings[0] ?? '',
      /^warning: .*renovate\.yaml:2: images\[0\]\.source: .*"alpine:latest"/,
    );
    assert.match(
      warnings[1] ?? '',
      /^warning: .*renovate\.yaml:3: images\[1\]\.source: .*would conflict/,
    );
  });

  it('exits 2 on usage errors with a clear message', async () => {
    for (const [args, pattern] of [
      [[], /--images-file \(-i\) is required/],
      [['-i'], /--images-file needs a value/],
      [['--nope'], /unknown flag --nope/],
      [['-i', file, '--concurrency', '0'], /--concurrency: expected a whole number/],
      [['-i', join(dir, 'absent.yaml')], /cannot read images file .*absent\.yaml: ENOENT/],
      [['-i', file, '-r', 'no-host/'], /must start with a registry host/],
      [['-i', file, '--dry-run=maybe'], /--dry-run: expected true or false/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['pin', '-i', file, '--style', 'tags'], /--style: expected renovate or digest, got "tags"/],
    ] as const) {
      const run = await cli([...args]);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, pattern);
    }
  });

  it('runs as the image-syncer binary with the process exit code', async () => {
    const run = promisify(execFile);
    const help = await run(process.execPath, ['bin/image-syncer.js', '--help']);
    assert.match(help.stdout, /SYNCER_DRY_RUN/);
    await assert.rejects(
      run(process.execPath, ['bin/image-syncer.js', 'validate', '-i', join(dir, 'validate.yaml')]),
      (e: unknown) => (e as { code?: number }).code === 2,
    );
  });
  it('stops on Ctrl-C: the stalled download is abandoned, the tag never written, exit 130', async () => {
    const proxy = await startFaultProxy(source.url);
    try {
      // The layer's download stalls, so the copy is mid-flight when interrupted.
      proxy.add({
        method: 'GET',
        path: /\/blobs\/sha256:/,
        faults: [{ kind: 'stall', ms: 60_000 }],
      });
      const images = join(dir, 'interrupt.yaml');
      writeFileSync(images, `images:\n- source: ${proxy.host}/team/app:v1\n`);
      const report = join(dir, 'interrupted.json');
      target.clearLog();
      const child = spawn(
        process.execPath,
        ['bin/image-syncer.js', '-i', images, '-r', `${target.host}/int/`, '-a', ACCESS_TOKEN],
        {
          env: { PATH: process.env.PATH, DOCKER_CONFIG: '/nonexistent', SYNCER_REPORT: report },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk;
      });
      const closed = once(child, 'close');
      for (let i = 0; i < 200 && !proxy.seen.some((s) => s.fault === 'stall'); i++) await sleep(50);
      assert.ok(
        proxy.seen.some((s) => s.fault === 'stall'),
        'the download started',
      );
      child.kill('SIGINT');
      const [code] = await closed;
      assert.equal(code, 130, stderr);
      assert.match(stderr, /SIGINT: stopping/);
      const result = JSON.parse(readFileSync(report, 'utf8')).results[0];
      assert.equal(result.status, 'failed');
      assert.equal(result.errorCode, 'CANCELLED');
      // The client closed the stalled request itself (the stall had 60 s to go).
      for (let i = 0; i < 40 && !proxy.seen.find((s) => s.fault === 'stall')?.abandoned; i++)
        await sleep(50);
      assert.equal(proxy.seen.find((s) => s.fault === 'stall')?.abandoned, true);
      const log = await settledLog(target);
      assert.deepEqual(
        log.filter((e) => e.method === 'PUT' && /\/manifests\//.test(e.path)),
        [],
        'no manifest, so no tag, was written',
      );

      // Any other command (here pin, waiting on a stalled HEAD) exits at the first Ctrl-C.
      proxy.add({ method: 'HEAD', path: /\/manifests\//, faults: [{ kind: 'stall', ms: 60_000 }] });
      const stalls = proxy.seen.filter((s) => s.fault === 'stall').length;
      const pin = spawn(process.execPath, ['bin/image-syncer.js', 'pin', '-i', images], {
        env: { PATH: process.env.PATH, DOCKER_CONFIG: '/nonexistent' },
        stdio: 'ignore',
      });
      const pinClosed = once(pin, 'close');
      for (
        let i = 0;
        i < 200 && proxy.seen.filter((s) => s.fault === 'stall').length === stalls;
        i++
      )
        await sleep(50);
      pin.kill('SIGINT');
      assert.equal((await pinClosed)[0], 130);
      assert.equal(readFileSync(images, 'utf8'), `images:\n- source: ${proxy.host}/team/app:v1\n`);
    } finally {
      await proxy.close();
    }
  });
});

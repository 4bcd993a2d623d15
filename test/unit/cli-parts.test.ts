import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseFlags } from '../../functions/cli/flags.ts';
import { runCli } from '../../functions/cli/main.ts';
import { ProgressDisplay } from '../../functions/cli/progress.ts';
import { GoogleCredentials, isGoogleRegistry } from '../../functions/registry/credentials.ts';
import { envName } from '../../functions/settings/setting.ts';

describe('flags', () => {
  it('names every environment variable SYNCER_ + upper case, dashes as underscores', () => {
    assert.equal(envName('dry-run'), 'SYNCER_DRY_RUN');
    assert.equal(envName('target-repo-prefix'), 'SYNCER_TARGET_REPO_PREFIX');
  });
  it('reads short, long, inline and repeated flags; the command line beats the environment', () => {
    const options = parseFlags(
      [
        '-i',
        'f.yaml',
        '-rgcr.io/p/',
        '--registry-endpoint',
        'docker.io=https://m',
        '--registry-endpoint=ghcr.io=https://g',
        '--concurrency=3',
        '--debug',
      ],
      {
        SYNCER_IMAGES_FILE: 'env.yaml',
        SYNCER_INSECURE_REGISTRY: 'a:5000, b:5000',
        SYNCER_DRY_RUN: 'yes',
      },
    );
    assert.equal(options.imagesFile, 'f.yaml');
    assert.deepEqual(options.targetRepoPrefix, { registry: 'gcr.io', path: 'p' });
    assert.deepEqual(
      options.registryEndpoints,
      new Map([
        ['docker.io', 'https://m'],
        ['ghcr.io', 'https://g'],
      ]),
    );
    assert.deepEqual(options.insecureRegistries, ['a:5000', 'b:5000']);
    assert.equal(options.concurrency, 3);
    assert.equal(options.dryRun, true);
    assert.equal(options.debug, true);
    assert.equal(parseFlags(['--dry-run=false'], { SYNCER_DRY_RUN: 'true' }).dryRun, false);
  });
});

describe('list flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-lists-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'images.yaml');
  writeFileSync(file, 'images:\n- source: alpine:3.20\n');
  const validate = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const out: string[] = [];
    const code = await runCli(['validate', '-i', file, ...args], {
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => out.push(t) },
      env,
    });
    return { code, out: out.join('') };
  };
  // A comma list is also how `docker buildx build --platform` takes platforms
  // (https://docs.docker.com/reference/cli/docker/buildx/build/#platform).
  it('take a comma list in one value, as from the environment, or the flag repeated', async () => {
    for (const [args, env] of [
      [['--require-platforms', 'linux/amd64,linux/arm64'], {}],
      [['--require-platforms=linux/amd64', '--require-platforms', 'linux/arm64'], {}],
      [[], { SYNCER_REQUIRE_PLATFORMS: 'linux/amd64,linux/arm64' }],
    ] as const) {
      const run = await validate([...args], env);
      assert.equal(run.code, 0, `${args.join(' ')}: ${run.out}`);
      assert.match(run.out, /1 image\(s\) valid/);
    }
    const bad = await validate(['--require-platforms', 'linux/amd64,linux/x86_64']);
    assert.equal(bad.code, 2);
    assert.match(bad.out, /--require-platforms: invalid platform "linux\/x86_64"/);
  });
});

describe('progress display', () => {
  it('redraws a status line on a terminal and prints one line per image', () => {
    const out: string[] = [];
    const status: string[] = [];
    const display = new ProgressDisplay(
      { write: (t) => out.push(t) },
      { write: (t) => status.push(t), isTTY: true },
      2,
    );
    display.bytes(3 * 1024 * 1024);
    display.imageFinished({
      source: 'a:1',
      target: 't/a:1',
      status: 'copied',
      digest: `sha256:${'1'.repeat(64)}`,
    });
    display.finish();
    assert.match(status.join(''), /3\.0 MiB copied/);
    assert.match(status.join(''), /1\/2 images/);
    assert.deepEqual(out, ['copied   a:1 → t/a:1 sha256:111111111111\n']);
  });
  it('draws no status line when stderr is not a terminal', () => {
    const status: string[] = [];
    const display = new ProgressDisplay({ write: () => {} }, { write: (t) => status.push(t) }, 1);
    display.bytes(10);
    display.imageFinished({ source: 'a:1', target: 't/a:1', status: 'failed', error: 'boom' });
    assert.deepEqual(status, []);
  });
});

describe('Google credentials', () => {
  it('applies to Artifact Registry and GCR hosts only', () => {
    for (const host of [
      'europe-docker.pkg.dev',
      'us-central1-docker.pkg.dev',
      'gcr.io',
      'eu.gcr.io',
    ])
      assert.ok(isGoogleRegistry(host), host);
    for (const host of ['ghcr.io', 'docker.io', 'notgcr.io', 'pkg.dev.example.com'])
      assert.ok(!isGoogleRegistry(host), host);
  });
  it('sends an access token as the password of oauth2accesstoken', async () => {
    let asked = 0;
    const creds = new GoogleCredentials({
      getAccessToken: async () => {
        asked++;
        return 'ya29.token';
      },
    });
    assert.deepEqual(await creds.credentialFor('europe-docker.pkg.dev'), {
      username: 'oauth2accesstoken',
      password: 'ya29.token',
    });
    assert.equal(await creds.credentialFor('ghcr.io'), undefined);
    assert.equal(asked, 1, 'never asked for a token for a non-Google host');
  });
  it('falls back to anonymous when there are no default credentials', async () => {
    const creds = new GoogleCredentials({
      getAccessToken: async () =>
        Promise.reject(new Error('Could not load the default credentials')),
    });
    assert.equal(await creds.credentialFor('gcr.io'), undefined);
  });
});

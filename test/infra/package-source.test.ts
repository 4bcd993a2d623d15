// scripts/package-function-source.sh, which Terraform runs (infra/storage.tf)
// to archive the functions' source: run for real on a scratch git repository
// holding the files the build needs, tests and infra that it must leave out,
// and untracked files a developer may have lying around (.env, a Docker
// config.json, logs), which must never be uploaded.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { inflateRawSync } from 'node:zlib';
import { loadInfra } from '../../scripts/terraform/config.ts';

const SCRIPT = new URL('../../scripts/package-function-source.sh', import.meta.url).pathname;

/** name → content of every file in a zip, from its central directory. */
function unzip(zip: Buffer): Map<string, string> {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(end >= 0, 'a zip archive');
  const entries = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const files = new Map<string, string>();
  for (let i = 0; i < entries; i++) {
    assert.equal(zip.readUInt32LE(at), 0x02014b50);
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const skip = nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    const local = zip.readUInt32LE(at + 42);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(start, start + size);
    files.set(name, (method === 8 ? inflateRawSync(data) : data).toString('utf8'));
    at += 46 + skip;
  }
  return files;
}

function write(root: string, path: string, content: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), content);
}

function git(root: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {
    cwd: root,
    encoding: 'utf8',
  });
}

function pack(root: string, out: string) {
  // As on a build machine: no git identity or other configuration of ours.
  const result = spawnSync('sh', [join(root, 'scripts/package-function-source.sh'), out], {
    encoding: 'utf8',
    input: '{}',
    env: { PATH: process.env.PATH, HOME: mkdtempSync(join(tmpdir(), 'home-')) },
  });
  return {
    status: result.status,
    stderr: result.stderr,
    result:
      result.status === 0
        ? (JSON.parse(result.stdout) as { path: string; tree: string })
        : undefined,
  };
}

describe('packaging the function source (scripts/package-function-source.sh)', () => {
  let repo: string;
  before(() => {
    repo = mkdtempSync(join(tmpdir(), 'package-source-'));
    git(repo, 'init', '-q');
    for (const [path, content] of Object.entries({
      'package.json': '{"name":"x","scripts":{"gcp-build":"tsc"}}\n',
      'package-lock.json': '{}\n',
      'tsconfig.json': '{}\n',
      'tsconfig.build.json': '{}\n',
      'functions/gcp/index.ts': 'export const committed = 1;\n',
      'test/unit/x.test.ts': 'test\n',
      'infra/main.tf': 'locals {}\n',
      'README.md': 'readme\n',
    }))
      write(repo, path, content);
    mkdirSync(join(repo, 'scripts'));
    copyFileSync(SCRIPT, join(repo, 'scripts/package-function-source.sh'));
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'x');
  });

  it('takes exactly the tracked files the build needs, with their working-tree content', () => {
    // What must never be uploaded, lying in the working tree, untracked.
    write(repo, 'functions/.env', 'TOKEN=secret\n');
    write(repo, 'config.json', '{"auths":{"docker.io":{"auth":"c2VjcmV0"}}}\n');
    write(repo, 'functions/gcp/debug.log', 'log\n');
    write(repo, 'node_modules/x/index.js', 'x\n');
    write(repo, 'functions/gcp/index.ts', 'export const edited = 2;\n');
    const { result, stderr } = pack(repo, join(repo, 'out'));
    assert.ok(result, stderr);
    const files = unzip(readFileSync(result.path));
    assert.deepEqual([...files.keys()].filter((n) => !n.endsWith('/')).sort(), [
      'functions/gcp/index.ts',
      'package-lock.json',
      'package.json',
      'tsconfig.build.json',
      'tsconfig.json',
    ]);
    assert.equal(files.get('functions/gcp/index.ts'), 'export const edited = 2;\n');
    assert.equal(result.path, join(repo, 'out', `image-syncer-${result.tree}.zip`));
  });

  it('is byte for byte the same for the same content, and named anew when it changes', () => {
    const first = pack(repo, join(repo, 'a')).result;
    const second = pack(repo, join(repo, 'b')).result;
    assert.ok(first && second);
    assert.equal(first.tree, second.tree);
    assert.deepEqual(readFileSync(first.path), readFileSync(second.path));
    write(repo, 'functions/gcp/index.ts', 'export const again = 3;\n');
    const third = pack(repo, join(repo, 'c')).result;
    assert.notEqual(third?.tree, first.tree);
    write(repo, 'README.md', 'not packaged, so no new archive\n');
    assert.equal(pack(repo, join(repo, 'd')).result?.tree, third?.tree);
  });

  it('refuses a tracked file that looks like a secret, and a directory that is not a checkout', () => {
    write(repo, 'functions/.env', 'TOKEN=secret\n');
    git(repo, 'add', '-f', 'functions/.env');
    const refused = pack(repo, join(repo, 'e'));
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /refusing to package a secret-looking file: functions\/\.env/);
    git(repo, 'rm', '-q', '--cached', 'functions/.env');
    const bare = mkdtempSync(join(tmpdir(), 'not-a-checkout-'));
    mkdirSync(join(bare, 'scripts'));
    copyFileSync(SCRIPT, join(bare, 'scripts/package-function-source.sh'));
    const outside = pack(bare, join(bare, 'out'));
    assert.equal(outside.status, 1);
    assert.match(outside.stderr, /is not a git checkout: .* \.git must be present/);
  });

  it("is what Terraform uploads as the functions' source, never a zip of the directory", async () => {
    const config = await loadInfra();
    assert.ok(![...config.data.values()].some((d) => d.type === 'archive_file'));
    const external = config.data.get('data.external.source');
    assert.deepEqual(external?.body.program, [
      'sh',
      '${path.module}/../scripts/package-function-source.sh',
      '${path.module}/.build',
    ]);
    const object = config.resources.get('google_storage_bucket_object.source');
    assert.equal(object?.body.source, '${data.external.source.result.path}');
    assert.equal(object?.body.name, 'image-syncer-${data.external.source.result.tree}.zip');
  });
});

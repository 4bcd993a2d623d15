// scripts/package-function-source.sh, which Terraform runs (infra/storage.tf)
// to archive the functions' source: run for real on a scratch git repository
// holding the files the build needs, tests and infra that it must leave out,
// and untracked files a developer may have lying around (.env, a Docker
// config.json, logs), which must never be uploaded; on a copy of it without
// .git, as a build started by a repository trigger may get it
// (GoogleCloudPlatform/cloud-builders#401, #351); and under busybox alone, the
// tools of the hashicorp/terraform image.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
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

interface Packed {
  status: number | null;
  stderr: string;
  result?: { path: string; digest: string };
}

/** Runs the script as Terraform does: `sh SCRIPT OUT` with the query on stdin. */
function pack(root: string, out: string, shell = 'sh', path = process.env.PATH): Packed {
  // As on a build machine: no git identity or other configuration of ours.
  const result = spawnSync(shell, [join(root, 'scripts/package-function-source.sh'), out], {
    encoding: 'utf8',
    input: '{}',
    env: { PATH: path, HOME: mkdtempSync(join(tmpdir(), 'home-')) },
  });
  return {
    status: result.status,
    stderr: result.stderr,
    ...(result.status === 0 && { result: JSON.parse(result.stdout) }),
  };
}

/** The packaged file names, without directory entries. */
const names = (packed: Packed): string[] =>
  [...unzip(readFileSync(packed.result?.path as string)).keys()].sort();

const BUILD_FILES = [
  'functions/gcp/index.ts',
  'package-lock.json',
  'package.json',
  'tsconfig.build.json',
  'tsconfig.json',
];

/** A scratch checkout: the build's files, and tests, infra and docs that stay out. */
function checkout(): string {
  const repo = mkdtempSync(join(tmpdir(), 'package-source-'));
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
  return repo;
}

/** Every file under .git with its size and modification time: what a write would change. */
function gitState(repo: string): string {
  return readdirSync(join(repo, '.git'), { recursive: true, encoding: 'utf8' })
    .sort()
    .map((f) => {
      const s = statSync(join(repo, '.git', f));
      return `${f} ${s.size} ${s.mtimeMs}`;
    })
    .join('\n');
}

describe('packaging the function source (scripts/package-function-source.sh)', () => {
  let repo: string;
  before(() => {
    repo = checkout();
  });

  it('takes exactly the tracked files the build needs, with their working-tree content', () => {
    // What must never be uploaded, lying in the working tree, untracked.
    write(repo, 'functions/.env', 'TOKEN=secret\n');
    write(repo, 'config.json', '{"auths":{"docker.io":{"auth":"c2VjcmV0"}}}\n');
    write(repo, 'functions/gcp/debug.log', 'log\n');
    write(repo, 'node_modules/x/index.js', 'x\n');
    write(repo, 'functions/gcp/index.ts', 'export const edited = 2;\n');
    const packed = pack(repo, join(repo, 'out'));
    assert.ok(packed.result, packed.stderr);
    assert.deepEqual(names(packed), BUILD_FILES);
    const files = unzip(readFileSync(packed.result.path));
    assert.equal(files.get('functions/gcp/index.ts'), 'export const edited = 2;\n');
    assert.equal(packed.result.path, join(repo, 'out', `image-syncer-${packed.result.digest}.zip`));
    assert.match(packed.result.digest, /^[0-9a-f]{64}$/);
    // A valid zip for the real unzip too (Cloud Functions' build unpacks it).
    const check = spawnSync('unzip', ['-tq', packed.result.path], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
  });

  it('is byte for byte the same for the same content, and named anew when it changes', () => {
    const first = pack(repo, join(repo, 'a')).result;
    const second = pack(repo, join(repo, 'b')).result;
    assert.ok(first && second);
    assert.equal(first.digest, second.digest);
    assert.deepEqual(readFileSync(first.path), readFileSync(second.path));
    write(repo, 'functions/gcp/index.ts', 'export const again = 3;\n');
    const third = pack(repo, join(repo, 'c')).result;
    assert.notEqual(third?.digest, first.digest);
    write(repo, 'README.md', 'not packaged, so no new archive\n');
    assert.equal(pack(repo, join(repo, 'd')).result?.digest, third?.digest);
  });

  it('refuses a tracked file that looks like a secret, a symlink, and a missing path', () => {
    write(repo, 'functions/.env', 'TOKEN=secret\n');
    git(repo, 'add', '-f', 'functions/.env');
    const refused = pack(repo, join(repo, 'e'));
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /refusing to package a secret-looking file: functions\/\.env/);
    git(repo, 'rm', '-q', '--cached', 'functions/.env');

    // A symlink would carry whatever it points at (~/.docker/config.json) into the archive.
    symlinkSync('/etc/hostname', join(repo, 'functions/gcp/linked.ts'));
    git(repo, 'add', 'functions/gcp/linked.ts');
    const linked = pack(repo, join(repo, 'f'));
    assert.equal(linked.status, 1);
    assert.match(linked.stderr, /refusing to package a symlink: functions\/gcp\/linked\.ts/);
    git(repo, 'rm', '-q', '--cached', 'functions/gcp/linked.ts');
    rmSync(join(repo, 'functions/gcp/linked.ts'));

    git(repo, 'rm', '-q', '--cached', 'tsconfig.build.json');
    const missing = pack(repo, join(repo, 'g'));
    assert.equal(missing.status, 1);
    assert.match(
      missing.stderr,
      /tsconfig\.build\.json is missing \(looked at the files tracked by git\)/,
    );
    git(repo, 'add', 'tsconfig.build.json');
  });

  it('only reads the checkout: a git process holding its index lock beside it changes nothing', () => {
    // A git command that records the working tree (`git stash create`)
    // refreshes and writes the index when a tracked file is modified, and
    // exits 1 without a word when another git process (a `git status`, a
    // commit) holds .git/index.lock at that moment. Listing with ls-files
    // writes nothing, so the lock held here changes nothing.
    const fresh = checkout();
    write(fresh, 'functions/gcp/index.ts', 'export const modified = 4;\n');
    writeFileSync(join(fresh, '.git/index.lock'), '');
    const before = gitState(fresh);
    const packed = pack(fresh, join(tmpdir(), `locked-${Date.now()}`));
    assert.ok(packed.result, packed.stderr);
    assert.equal(
      unzip(readFileSync(packed.result.path)).get('functions/gcp/index.ts'),
      'export const modified = 4;\n',
    );
    assert.equal(gitState(fresh), before, 'nothing under .git was written');
  });

  it('without .git packages every file under the listed paths, byte for byte as the checkout does', () => {
    const fresh = checkout();
    const fromGit = pack(fresh, join(fresh, 'out')).result;
    assert.ok(fromGit);
    // The same source as a repository trigger's build may get it: no .git.
    const copy = mkdtempSync(join(tmpdir(), 'no-git-'));
    cpSync(fresh, copy, { recursive: true, filter: (src) => !/\/(\.git|out)(\/|$)/.test(src) });
    const plain = pack(copy, join(copy, 'out'));
    assert.ok(plain.result, plain.stderr);
    assert.equal(plain.result.digest, fromGit.digest);
    assert.deepEqual(readFileSync(plain.result.path), readFileSync(fromGit.path));
    // Dependencies never travel; secret-looking files are refused here too.
    write(copy, 'functions/node_modules/x/index.js', 'x\n');
    assert.equal(pack(copy, join(copy, 'b')).result?.digest, fromGit.digest);
    write(copy, 'functions/gcp/.env', 'TOKEN=secret\n');
    const refused = pack(copy, join(copy, 'c'));
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /refusing to package a secret-looking file: functions\/gcp\/\.env/,
    );
  });

  it('runs with busybox alone (the hashicorp/terraform image) and writes the same bytes', () => {
    const busybox = spawnSync('busybox', ['--list'], { encoding: 'utf8' });
    assert.equal(busybox.status, 0, 'busybox is installed (scripts/ensure-deps.sh --tests)');
    const bin = mkdtempSync(join(tmpdir(), 'busybox-bin-'));
    const binary = spawnSync('sh', ['-c', 'command -v busybox'], {
      encoding: 'utf8',
    }).stdout.trim();
    for (const applet of busybox.stdout.split('\n').filter(Boolean))
      symlinkSync(binary, join(bin, applet));
    const fresh = checkout();
    const reference = pack(fresh, join(fresh, 'out')).result;
    rmSync(join(fresh, '.git'), { recursive: true });
    const boxed = pack(fresh, join(fresh, 'boxed'), join(bin, 'sh'), bin);
    assert.ok(boxed.result, boxed.stderr);
    assert.deepEqual(readFileSync(boxed.result.path), readFileSync(reference?.path as string));
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
    assert.equal(object?.body.name, 'image-syncer-${data.external.source.result.digest}.zip');
  });
});

// Each protocol claim of the registry layer, proven against real
// docker-registry servers, with a small front reproducing the public
// registry's documented behaviour where the local registry behaves politely:
//
// - registry.k8s.io 307s every /v2/ request, ping and manifests included, to
//   the registry holding the image (kubernetes/registry.k8s.io,
//   cmd/archeio/docs/request-handling.md); that registry (token auth, like
//   Artifact Registry) challenges on its own.
// - A cross-repository mount is best effort: docker-registry answers 202 with
//   an upload session when `from` lacks the blob (OCI distribution spec,
//   "Mounting a blob from another repository"); Docker Hub and Harbor answer
//   401/403, on which containerd and go-containerregistry upload instead.
// - Artifact Registry with immutable tags refuses a tag PUT with 400
//   MANIFEST_INVALID "cannot update tag … tag immutability"
//   (https://cloud.google.com/artifact-registry/docs/docker/names#versions).
// - Credential helpers are asked once per host per run, only when needed.
// - A registry with broken HEAD headers: the GET by tag that replaces the HEAD
//   treats a malformed announced digest as the hint it is.
// - Tokens refused at once are refreshed once (single flight).
// - A source pinned by sha512 against a registry that answers in sha256:
//   digests are compared within one algorithm, never across.
// (Schema 1 served in front of a real registry is in the zoo's profiles.)

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { syncImages } from '../../functions/engine/sync.ts';
import type { CopyJob } from '../../functions/engine/types.ts';
import { fanOut } from '../../functions/pipeline/fanout.ts';
import { parseReference } from '../../functions/reference/reference.ts';
import { parseTargetPrefix, targetReference } from '../../functions/reference/target.ts';
import { StaticCredentials } from '../../functions/registry/credentials.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { MemoryLogger } from '../../functions/util/logger.ts';
import { runCliCaptured, SOURCE_PUSHER, settledLog, TARGET_WRITER } from '../support/fixture.ts';
import { type Descriptor, inspectRaw, Layout, push, sha256 } from '../support/images.ts';
import { type Front, interceptingProxy, redirectFront, send } from '../support/protocol-proxy.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { memoryRunStore } from '../support/run-stores.ts';

const [writer, writerPassword] = TARGET_WRITER.split(':') as [string, string];
const [pusher, pusherPassword] = SOURCE_PUSHER.split(':') as [string, string];
const targetCreds = { username: writer, password: writerPassword };

let backend: TestRegistry; // token auth: the registry behind registry.k8s.io
let target: TestRegistry; // Basic auth
let front: Front;
const fronts: Front[] = [];
let index: Descriptor;
let shared: Descriptor;
const BACKEND_REPO = 'k8s-artifacts-prod/images/pause';

before(async () => {
  backend = await startRegistry({ kind: 'token', users: { [pusher]: pusherPassword } });
  target = await startRegistry({ kind: 'basic', users: { [writer]: writerPassword } });
  const layout = new Layout();
  shared = layout.layer(40_000);
  const amd64 = layout.image({ layers: [shared, 10_000] });
  const arm64 = layout.image({ layers: [shared, 12_000], architecture: 'arm64' });
  index = layout.index([amd64, arm64, layout.attestation(amd64)]);
  layout.tag('multi', index);
  layout.tag('a', layout.image({ layers: [shared, 3_000] }));
  layout.tag('b', layout.image({ layers: [shared, 4_000] }));
  await push(layout, 'multi', `${backend.host}/${BACKEND_REPO}:3.9`, { creds: SOURCE_PUSHER });
  await push(layout, 'a', `${backend.host}/team/a:1`, { creds: SOURCE_PUSHER });
  await push(layout, 'b', `${backend.host}/team/b:1`, { creds: SOURCE_PUSHER });
  front = await redirectFront(backend.url, (path) =>
    path.replace(/^\/v2\/pause\//, `/v2/${BACKEND_REPO}/`),
  );
  fronts.push(front);
});
after(async () => {
  await Promise.all(fronts.map((f) => f.close()));
  await Promise.all([backend.stop(), target.stop()]);
});

function job(source: string, targetRegistry: string, prefix = 'mirror/'): CopyJob {
  const sourceRef = parseReference(source);
  return {
    source,
    sourceRef,
    target: targetReference(sourceRef, parseTargetPrefix(`${targetRegistry}/${prefix}`)),
  };
}

describe('registry.k8s.io: everything 307 to the registry holding the image', () => {
  it('copies through the redirects; the backend gets only anonymous tokens from its own realm', async () => {
    backend.tokenServer?.requests.splice(0);
    const regs = new Registries({
      credentials: new StaticCredentials([
        [front.host, { username: 'k8s-user', password: 'front-secret' }],
        [target.host, targetCreds],
      ]),
    });
    const [result] = await syncImages([job(`${front.host}/pause:3.9`, target.host)], regs);
    assert.equal(result?.status, 'copied', result?.error);
    assert.equal(result?.digest, index.digest);
    const copied = await inspectRaw(
      `${target.host}/mirror/${front.host.replace(':', '_')}/pause:3.9`,
      TARGET_WRITER,
    );
    assert.equal(sha256(copied), index.digest);
    // The manifest HEAD and the ping went through the front and were redirected.
    assert.ok(front.seen.includes('GET /v2/'));
    assert.ok(front.seen.includes('HEAD /v2/pause/manifests/3.9'));
    const tokenRequests = backend.tokenServer?.requests ?? [];
    assert.ok(tokenRequests.length > 0);
    for (const request of tokenRequests) {
      assert.equal(request.authorization, undefined, 'never the front host’s credentials');
      assert.deepEqual(request.scopes, [`repository:${BACKEND_REPO}:pull`]);
    }
    // A second run: exists, with no manifest GET anywhere.
    backend.clearLog();
    const [again] = await syncImages([job(`${front.host}/pause:3.9`, target.host)], regs);
    assert.equal(again?.status, 'exists');
    const log = await settledLog(backend);
    assert.ok(!log.some((e) => e.method === 'GET' && e.path.includes('/manifests/')));
    await regs.close();
  });

  it('pins the digest in the fan-out through the redirects (no warning)', async () => {
    const logger = new MemoryLogger();
    const published: unknown[] = [];
    const regs = new Registries();
    const { run } = await fanOut(
      {
        runId: 'k8s-pin',
        file: 'external-images.yaml',
        bytes: Buffer.from(
          `images:\n- source: ${front.host}/pause:3.9\n- source: ${front.host}/pause:3.9\n  tag: again\n`,
        ),
        trigger: { type: 'test' },
        dryRun: false,
      },
      {
        prefix: parseTargetPrefix(`${target.host}/mirror/`),
        store: memoryRunStore(),
        publisher: { publish: async (jobs) => void published.push(...jobs) },
        logger,
        registries: regs,
      },
    );
    assert.deepEqual(
      run.jobs.map((j) => j.sourceDigest),
      [index.digest, index.digest],
    );
    assert.ok(!logger.lines.some((l) => l.message === 'could not resolve source digest'));
    await regs.close();
  });
});

describe('a registry with broken HEAD headers', () => {
  it('copies by the GET that HEAD falls back to, not rejecting a duplicated announced digest', async () => {
    // HEAD answers without Content-Length or Docker-Content-Digest, and the GET
    // by tag announces the digest twice (a proxy joining a repeated header):
    // the announcement is a malformed hint, ignored; the bytes are hashed.
    const proxy = await interceptingProxy(backend.url, async (req, res, body) => {
      if (!req.url?.includes('/manifests/') || /manifests\/sha256:/.test(req.url)) return false;
      const answer = await send(backend.url, req.method ?? 'GET', req.url, req.headers, body);
      const headers = { ...answer.headers };
      const announced = String(headers['docker-content-digest']);
      if (req.method === 'HEAD') {
        delete headers['docker-content-digest'];
        delete headers['content-length'];
      } else headers['docker-content-digest'] = `${announced}, ${announced}`;
      res.writeHead(answer.status, headers).end(answer.body);
      return true;
    });
    fronts.push(proxy);
    const regs = new Registries({
      credentials: new StaticCredentials([[target.host, targetCreds]]),
    });
    const [result] = await syncImages(
      [job(`${proxy.host}/${BACKEND_REPO}:3.9`, target.host, 'broken-head/')],
      regs,
    );
    assert.equal(result?.status, 'copied', result?.error);
    assert.equal(result?.digest, index.digest);
    await regs.close();
  });
});

describe('digests of another algorithm', () => {
  it('copies a source pinned by sha512, and a re-run is exists, not a false conflict', async () => {
    // A source that knows its manifests by sha512 too (the OCI image spec
    // registers sha512), in front of the real registry that knows sha256.
    const bytes = await inspectRaw(`${backend.host}/${BACKEND_REPO}:3.9`);
    const sha512 = `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
    const proxy = await interceptingProxy(backend.url, async (req, res) => {
      if (!req.url?.endsWith(`/manifests/${sha512}`)) return false;
      const path = req.url.replace(sha512, index.digest);
      const answer = await send(backend.url, req.method ?? 'GET', path, req.headers);
      res.writeHead(answer.status, answer.headers).end(answer.body);
      return true;
    });
    fronts.push(proxy);
    const regs = new Registries({
      credentials: new StaticCredentials([[target.host, targetCreds]]),
    });
    const pinned = {
      ...job(`${proxy.host}/${BACKEND_REPO}:3.9`, target.host, 'sha512/'),
      sourceDigest: sha512,
    };
    const [first] = await syncImages([pinned], regs);
    assert.equal(first?.status, 'copied', first?.error);
    assert.equal(first?.digest, sha512);
    const [again] = await syncImages([pinned], regs);
    assert.equal(again?.status, 'exists', again?.error);
    await regs.close();
  });
});

describe('tokens', () => {
  it('many requests refused with one expired token share one new token (single flight)', async () => {
    const tokens = backend.tokenServer;
    assert.ok(tokens);
    tokens.requests.splice(0);
    tokens.expireNext(1); // the first token is announced fresh but already expired: every request 401s
    const regs = new Registries();
    const client = regs.client(backend.host);
    const heads = await Promise.all(
      ['3.9', '3.9', '3.9', '3.9', '3.9'].map(() => client.headManifest(BACKEND_REPO, '3.9')),
    );
    assert.ok(heads.every((h) => h?.digest === index.digest));
    assert.equal(tokens.requests.length, 2, 'the refused token, then one new token for all five');
    await regs.close();
  });
});

describe('cross-repository mount, best effort', () => {
  it('docker-registry answers 202 with a session when `from` lacks the blob; the upload continues in it', async () => {
    const regs = new Registries({
      credentials: new StaticCredentials([[target.host, targetCreds]]),
    });
    const client = regs.client(target.host);
    target.clearLog();
    const mount = await client.mountBlob('mount/two', shared.digest, 'no/such-repository');
    assert.equal(mount.mounted, false);
    assert.ok(!mount.mounted && mount.location, 'the 202 opened an upload session');
    await client.copyBlobFrom(regs.client(backend.host), 'team/a', shared, 'mount/two', {
      ...(!mount.mounted && mount.location && { location: mount.location }),
    });
    assert.equal(await client.hasBlob('mount/two', shared.digest), true);
    const log = (await settledLog(target)).filter((e) => e.path.startsWith('/v2/mount/'));
    assert.deepEqual(
      log.filter((e) => e.method !== 'HEAD').map((e) => `${e.method} ${e.status}`),
      ['POST 202', 'PUT 201'],
      'one session, opened by the mount, used by the upload',
    );
    await regs.close();
  });

  for (const status of [401, 403]) {
    it(`uploads instead when the registry refuses the mount with ${status} (Docker Hub, Harbor)`, async () => {
      const proxy = await interceptingProxy(target.url, (req, res) => {
        if (req.method !== 'POST' || !req.url?.includes('mount=')) return false;
        res
          .writeHead(status, { 'content-type': 'application/json' })
          .end(
            '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
          );
        return true;
      });
      fronts.push(proxy);
      const regs = new Registries({
        credentials: new StaticCredentials([[proxy.host, targetCreds]]),
      });
      const prefix = `refused${status}/`;
      const results = await syncImages(
        [
          job(`${backend.host}/team/a:1`, proxy.host, prefix),
          job(`${backend.host}/team/b:1`, proxy.host, prefix),
        ],
        regs,
      );
      assert.deepEqual(
        results.map((r) => r.status),
        ['copied', 'copied'],
        results.map((r) => r.error).join(),
      );
      assert.equal(
        proxy.seen.filter((l) => l.includes('mount=')).length,
        1,
        'the shared layer: one mount asked',
      );
      for (const name of ['a', 'b']) {
        const raw = await inspectRaw(
          `${target.host}/${prefix}${backend.host.replace(':', '_')}/team/${name}:1`,
          TARGET_WRITER,
        );
        assert.equal(sha256(raw), sha256(await inspectRaw(`${backend.host}/team/${name}:1`)));
      }
      await regs.close();
    });
  }
});

describe('Artifact Registry immutable tags', () => {
  it('a tag set by another writer during the copy ends as conflict: the PUT is not retried, the tag keeps the other digest', async () => {
    const otherRef = `${target.host}/immutable/other:1`;
    const layout = new Layout();
    layout.tag('other', layout.image({ layers: [2_000] }));
    await push(layout, 'other', otherRef, { creds: TARGET_WRITER });
    const otherBytes = await inspectRaw(otherRef, TARGET_WRITER);
    const tagPath = `/v2/immutable/${backend.host.replace(':', '_')}/team/a/manifests/1`;
    let puts = 0;
    const proxy = await interceptingProxy(target.url, async (req, res) => {
      if (req.method !== 'PUT' || req.url !== tagPath) return false;
      puts++;
      // Another writer wins the race: its manifest (blobs mounted) goes in first…
      const auth = { authorization: String(req.headers.authorization) };
      for (const blob of JSON.parse(otherBytes.toString()).layers.concat(
        JSON.parse(otherBytes.toString()).config,
      )) {
        await send(
          target.url,
          'POST',
          `${tagPath.replace('/manifests/1', '')}/blobs/uploads/?mount=${blob.digest}&from=immutable/other`,
          auth,
        );
      }
      await send(
        target.url,
        'PUT',
        tagPath,
        { ...auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        otherBytes,
      );
      // …and ours is refused the way Artifact Registry does.
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(
          '{"errors":[{"code":"MANIFEST_INVALID","message":"cannot update tag 1: the repository has enabled tag immutability"}]}',
        );
      return true;
    });
    fronts.push(proxy);
    const regs = new Registries({
      credentials: new StaticCredentials([[proxy.host, targetCreds]]),
    });
    const [result] = await syncImages(
      [job(`${backend.host}/team/a:1`, proxy.host, 'immutable/')],
      regs,
    );
    assert.equal(result?.status, 'conflict', result?.error);
    assert.equal(result?.category, 'conflict');
    assert.equal(result?.targetDigest, sha256(otherBytes));
    assert.equal(puts, 1, 'never retried');
    const now = await inspectRaw(
      `${target.host}${tagPath.replace('/v2/', '/').replace('/manifests/', ':')}`,
      TARGET_WRITER,
    );
    assert.equal(sha256(now), sha256(otherBytes), 'the other writer’s tag is untouched');
    await regs.close();
  });
});

describe('credential helpers against a real Basic-auth registry', () => {
  it('are asked once per host for a whole run, and never for a registry that does not need them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'helper-'));
    const calls = join(dir, 'calls');
    writeFileSync(calls, '');
    writeFileSync(
      join(dir, 'docker-credential-counting'),
      `#!/bin/sh\nread host\necho "$host" >> ${calls}\necho '{"Username":"${writer}","Secret":"${writerPassword}"}'\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ credsStore: 'counting' }));
    const file = join(dir, 'images.yaml');
    writeFileSync(
      file,
      `images:\n- source: ${backend.host}/team/a:1\n- source: ${backend.host}/team/b:1\n- source: ${front.host}/pause:3.9\n`,
    );
    const path = process.env.PATH;
    process.env.PATH = `${dir}:${path}`;
    try {
      const run = await runCliCaptured(['sync', '-i', file, '-r', `${target.host}/helped/`], {
        DOCKER_CONFIG: dir,
      });
      assert.equal(run.code, 0, run.stdout + run.stderr);
    } finally {
      process.env.PATH = path;
    }
    // The token realms of the sources are on other origins (no credentials go
    // there), so only the Basic-auth target needed one: asked once.
    assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), [target.host]);
  });
});

// Registry operations against scripted servers, as transcripts: schema 1
// refused from its HEAD, cross-repository mount as best effort, digests of
// other algorithms, the registry's announced digest, the immutable-tag race.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { BlobTracker } from '../../functions/engine/blobs.ts';
import { copyImage } from '../../functions/engine/copy.ts';
import { Limiter } from '../../functions/engine/limiter.ts';
import { DEFAULT_REFERRERS_OPTIONS } from '../../functions/engine/referrer-options.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { type FakeServer, serverPool } from '../support/fake-server.ts';
import { hash, OCI_MANIFEST, ociManifest } from '../support/manifests.ts';

const fast = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 5_000 };
const { serve, closeAll } = serverPool();
after(closeAll);

const config = Buffer.from('{}');
const layer = randomBytes(3000);
const manifest = ociManifest([layer], config);
const lines = (s: FakeServer) => s.transcript.map((e) => `${e.method} ${e.path.split('?')[0]}`);

/** Copies `host/repository:tag` to `targetHost/targetRepository:tag`, alone in its run. */
function copyOne(
  regs: Registries,
  host: string,
  repository: string,
  tag: string,
  targetHost: string,
  targetRepository: string,
) {
  return copyImage(
    {
      source: `${host}/${repository}:${tag}`,
      sourceRef: { registry: host, repository, tag },
      target: { registry: targetHost, repository: targetRepository, tag },
    },
    { registries: regs, blobs: new BlobTracker(), transfers: new Limiter(2), dryRun: false },
  );
}

describe('schema 1', () => {
  it('is refused right after the HEAD, before any GET, as a permanent failure', async () => {
    for (const type of [
      'application/vnd.docker.distribution.manifest.v1+prettyjws',
      'application/vnd.docker.distribution.manifest.v1+json',
    ]) {
      const source = await serve((req, res) => {
        if (req.url === '/v2/') return void res.writeHead(200).end();
        res
          .writeHead(200, {
            'content-type': type,
            'docker-content-digest': hash(Buffer.from('payload')),
            'content-length': '500',
          })
          .end();
      });
      const regs = new Registries({ retry: fast });
      const result = await copyOne(
        regs,
        source.host,
        'old/image',
        '1',
        source.host,
        'mirror/old/image',
      );
      assert.equal(result.status, 'failed');
      assert.equal(result.errorCode, 'UNSUPPORTED_MEDIA_TYPE');
      assert.equal(result.category, 'unsupported');
      assert.equal(result.retryable, false);
      assert.match(result.error ?? '', /Docker schema 1 manifest, a deprecated format/);
      assert.deepEqual(lines(source), ['GET /v2/', 'HEAD /v2/old/image/manifests/1'], type);
      await regs.close();
    }
  });
});

/** A target registry that answers mounts with `mountStatus`, recording uploads. */
async function mountTarget(mountStatus: number) {
  const uploads: Buffer[] = [];
  const server = await serve((req, res, body) => {
    if (req.url === '/v2/') return void res.writeHead(200).end();
    if (req.method === 'POST' && req.url?.includes('mount=')) {
      if (mountStatus === 202)
        return void res.writeHead(202, { location: '/v2/t2/blobs/uploads/from-mount' }).end();
      return void res
        .writeHead(mountStatus, { 'content-type': 'application/json' })
        .end('{"errors":[{"code":"DENIED","message":"mount refused"}]}');
    }
    if (req.method === 'POST')
      return void res.writeHead(202, { location: '/v2/t2/blobs/uploads/fresh' }).end();
    if (req.method === 'PUT') {
      uploads.push(body);
      return void res.writeHead(201).end();
    }
    res.writeHead(404).end();
  });
  return { server, uploads };
}

describe('cross-repository mount', () => {
  const blob = { digest: hash(layer), size: layer.length, mediaType: 'x' };
  it('falls back to a plain upload on any refusal: 401, 403, 404, 405, 500', async () => {
    const source = await serve((req, res) =>
      req.url === '/v2/' ? res.writeHead(200).end() : res.writeHead(200).end(layer),
    );
    for (const status of [401, 403, 404, 405, 500]) {
      const { server, uploads } = await mountTarget(status);
      const regs = new Registries({ retry: fast });
      const tracker = new BlobTracker();
      const ctx = (targetRepository: string) => ({
        source: regs.client(source.host),
        sourceRepository: 'a/b',
        target: regs.client(server.host),
        targetRepository,
        stats: {
          blobsCopied: 0,
          blobsMounted: 0,
          blobsPresent: 0,
          bytesCopied: 0,
          manifestsPut: 0,
        },
        transfers: new Limiter(2),
      });
      await tracker.ensure(ctx('t1'), blob);
      // The second repository asks for a mount from the first; refused → upload.
      await tracker.ensure(ctx('t2'), blob);
      assert.equal(uploads.length, 2, String(status));
      assert.ok(uploads[1]?.equals(layer));
      assert.equal(
        lines(server).filter((l) => l.startsWith('POST /v2/t2/blobs/uploads/')).length,
        2,
        `${status}: one mount, asked once (never retried), then one fresh session`,
      );
      await regs.close();
    }
  });

  it('continues with the upload session a 202 answer opened', async () => {
    const source = await serve((req, res) =>
      req.url === '/v2/' ? res.writeHead(200).end() : res.writeHead(200).end(layer),
    );
    const { server, uploads } = await mountTarget(202);
    const regs = new Registries({ retry: fast });
    const mount = await regs.client(server.host).mountBlob('t2', blob.digest, 't1');
    assert.deepEqual(mount, {
      mounted: false,
      location: `${server.url}/v2/t2/blobs/uploads/from-mount`,
    });
    await regs
      .client(server.host)
      .copyBlobFrom(regs.client(source.host), 'a/b', blob, 't2', { location: mount.location });
    assert.equal(uploads.length, 1);
    assert.deepEqual(lines(server).slice(-1), ['PUT /v2/t2/blobs/uploads/from-mount']);
    await regs.close();
  });
});

describe('digests', () => {
  it('accepts a tag GET whose announced digest is of another algorithm, or malformed, and names it by it', async () => {
    const announced = [hash(manifest, 'sha512'), `${hash(manifest)}, ${hash(manifest)}`];
    for (const value of announced) {
      const server = await serve((req, res) => {
        if (req.url === '/v2/') return void res.writeHead(200).end();
        res
          .writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': value })
          .end(manifest);
      });
      const regs = new Registries({ retry: fast });
      const got = await regs.client(server.host).getManifest('a/b', 'v1');
      assert.equal(got.digest, value.includes(',') ? hash(manifest) : value);
      await regs.close();
    }
  });

  it('still rejects a tag GET whose well-formed announced digest does not match', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res
        .writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': hash(config) })
        .end(manifest);
    });
    const regs = new Registries({ retry: { attempts: 1 } });
    await assert.rejects(regs.client(server.host).getManifest('a/b', 'v1'), {
      code: 'DIGEST_MISMATCH',
    });
    await regs.close();
  });

  it('compares a sha512-pinned source with a sha256 target within one algorithm: exists, not conflict', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      // Referrers (API or cosign tags): none.
      if (!/\/manifests\/(v1|sha\d+:)/.test(req.url ?? '')) return void res.writeHead(404).end();
      // A registry that knows every manifest by sha256, whatever it was asked by.
      res
        .writeHead(200, {
          'content-type': OCI_MANIFEST,
          'docker-content-digest': hash(manifest),
          'content-length': String(manifest.length),
        })
        .end(req.method === 'GET' ? manifest : undefined);
    });
    const regs = new Registries({ retry: fast });
    const job = (digest: string) => ({
      source: `${server.host}/a/b@${digest}`,
      sourceRef: { registry: server.host, repository: 'a/b', digest },
      target: { registry: server.host, repository: 'm/a/b', tag: 'v1' },
      sourceDigest: digest,
    });
    const ctx = {
      registries: regs,
      blobs: new BlobTracker(),
      transfers: new Limiter(2),
      dryRun: true,
      // This scripted registry answers every path with the manifest: no referrers API to ask.
      referrers: { ...DEFAULT_REFERRERS_OPTIONS, enabled: false },
    };
    const same = await copyImage(job(hash(manifest, 'sha512')), ctx);
    assert.equal(same.status, 'exists', same.error);
    const other = await copyImage(job(hash(config, 'sha512')), ctx);
    assert.equal(other.status, 'conflict');
    await regs.close();
  });
});

describe('Artifact Registry immutable tags', () => {
  it('ends a tag PUT refused because another writer set the tag meanwhile as conflict, never retried, never copied', async () => {
    const otherDigest = hash(Buffer.from('someone else'));
    let tagSet = false;
    const server = await serve((req, res) => {
      const url = req.url ?? '';
      if (url === '/v2/') return void res.writeHead(200).end();
      if (url === '/v2/src/manifests/v1')
        return void res
          .writeHead(200, {
            'content-type': OCI_MANIFEST,
            'docker-content-digest': hash(manifest),
            'content-length': String(manifest.length),
          })
          .end(req.method === 'GET' ? manifest : undefined);
      if (url.startsWith(`/v2/src/manifests/${hash(manifest)}`))
        return void res.writeHead(200, { 'content-type': OCI_MANIFEST }).end(manifest);
      // One registry: blobs mount from the source repository.
      if (url.startsWith('/v2/dst/blobs/uploads/?mount=')) return void res.writeHead(201).end();
      if (url === '/v2/dst/manifests/v1' && req.method === 'HEAD') {
        if (!tagSet) return void res.writeHead(404).end();
        return void res
          .writeHead(200, {
            'content-type': OCI_MANIFEST,
            'docker-content-digest': otherDigest,
            'content-length': '100',
          })
          .end();
      }
      if (url === '/v2/dst/manifests/v1' && req.method === 'PUT') {
        tagSet = true; // another writer won; AR refuses ours with its documented shape
        return void res
          .writeHead(400, { 'content-type': 'application/json' })
          .end(
            '{"errors":[{"code":"MANIFEST_INVALID","message":"cannot update tag v1: the repository has enabled tag immutability"}]}',
          );
      }
      res.writeHead(404).end();
    });
    const regs = new Registries({ retry: fast });
    const result = await copyOne(regs, server.host, 'src', 'v1', server.host, 'dst');
    assert.equal(result.status, 'conflict', result.error);
    assert.equal(result.targetDigest, otherDigest);
    assert.equal(result.category, 'conflict');
    assert.match(result.error ?? '', /set meanwhile by another writer/);
    assert.equal(lines(server).filter((l) => l === 'PUT /v2/dst/manifests/v1').length, 1);
    await regs.close();
  });
});

describe('concurrent writers', () => {
  it('retries a manifest PUT refused for a blob another writer is still committing (MANIFEST_BLOB_UNKNOWN)', async () => {
    let refusals = 1;
    const server = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      if (req.method === 'PUT' && refusals-- > 0)
        return void res
          .writeHead(400, { 'content-type': 'application/json' })
          .end(
            '{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}',
          );
      res.writeHead(201, { 'docker-content-digest': hash(manifest) }).end();
    });
    const regs = new Registries({ retry: fast });
    await regs.client(server.host).putManifest('a/b', 'v1', {
      bytes: manifest,
      mediaType: OCI_MANIFEST,
      digest: hash(manifest),
    });
    assert.equal(lines(server).filter((l) => l.startsWith('PUT')).length, 2);
    await regs.close();
  });
});

describe('an image whose copy fails', () => {
  it('ends only after every transfer it started has ended, so none runs on after it', async () => {
    const events: string[] = [];
    const source = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      // The image, and no referrers or signatures.
      if (req.url === '/v2/a/b/manifests/1' || req.url === `/v2/a/b/manifests/${hash(manifest)}`)
        return void res
          .writeHead(200, {
            'content-type': OCI_MANIFEST,
            'docker-content-digest': hash(manifest),
            'content-length': String(manifest.length),
          })
          .end(req.method === 'HEAD' ? undefined : manifest);
      if (req.url?.includes('/blobs/'))
        return void res.writeHead(200).end(req.url.includes(hash(config)) ? config : layer);
      res.writeHead(404).end();
    });
    // The layer's HEAD is answered only well after the config's upload was
    // refused: a copy that ended on that refusal would end before it.
    const target = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      if (req.method === 'HEAD' && req.url?.includes(hash(layer))) {
        const answer = () => {
          events.push('layer HEAD answered');
          res.writeHead(200).end();
        };
        const wait = setInterval(() => {
          if (!events.includes('config upload refused')) return;
          clearInterval(wait);
          setTimeout(answer, 300);
        }, 5);
        return;
      }
      if (req.method === 'POST') {
        events.push('config upload refused');
        return void res
          .writeHead(403, { 'content-type': 'application/json' })
          .end(
            '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
          );
      }
      res.writeHead(404).end();
    });
    const regs = new Registries({ retry: fast });
    const result = await copyOne(regs, source.host, 'a/b', '1', target.host, 'mirror/a/b');
    events.push('copy ended');
    await regs.close();
    assert.equal(result.status, 'failed', JSON.stringify(result));
    assert.match(result.error ?? '', /denied/);
    assert.deepEqual(events, ['config upload refused', 'layer HEAD answered', 'copy ended']);
  });
});

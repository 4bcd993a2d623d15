// The transport and registry operations against scripted HTTP servers: each
// test reads as a transcript of what was asked and answered.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { UnsupportedMediaTypeError } from '../../functions/errors.ts';
import { StaticCredentials } from '../../functions/registry/credentials.ts';
import { RegistryError } from '../../functions/registry/errors.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { type FakeServer, startFakeServer } from '../support/fake-server.ts';

const fast = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 5_000 };
const servers: FakeServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: `sha256:${'0'.repeat(64)}`,
      size: 2,
    },
    layers: [],
  }),
);
const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;

async function serve(
  handler: Parameters<typeof startFakeServer>[0],
  hostname?: string,
): Promise<FakeServer> {
  const server = await startFakeServer(handler, hostname);
  servers.push(server);
  return server;
}

function registries(extra: ConstructorParameters<typeof Registries>[0] = {}): Registries {
  return new Registries({ retry: fast, ...extra });
}

describe('transport', () => {
  it('retries 503s with backoff, then succeeds', async () => {
    let failures = 2;
    const server = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      if (failures-- > 0) return void res.writeHead(503).end('busy');
      res
        .writeHead(200, {
          'docker-content-digest': manifestDigest,
          'content-type': 'application/vnd.oci.image.manifest.v1+json',
          'content-length': String(manifest.length),
        })
        .end();
    });
    const client = registries().client(server.host);
    const head = await client.headManifest('a/b', 'v1');
    assert.equal(head?.digest, manifestDigest);
    assert.deepEqual(
      server.transcript.map((e) => `${e.method} ${e.path}`),
      [
        'GET /v2/',
        'HEAD /v2/a/b/manifests/v1',
        'HEAD /v2/a/b/manifests/v1',
        'HEAD /v2/a/b/manifests/v1',
      ],
    );
  });

  it('gives up after the policy attempts with the status and the attempts in the error', async () => {
    const server = await serve((req, res) =>
      req.url === '/v2/' ? res.writeHead(200).end() : res.writeHead(502).end(),
    );
    const client = registries().client(server.host);
    await assert.rejects(
      client.getManifest('a/b', 'v1'),
      (e: unknown) =>
        e instanceof RegistryError &&
        e.status === 502 &&
        (e as { attempts?: number }).attempts === 4,
    );
    assert.equal(
      server.transcript.filter((e) => e.method === 'GET' && e.path !== '/v2/').length,
      4,
      'retries do not multiply across layers',
    );
  });

  it('waits as long as Retry-After says on a 429', async () => {
    let limited = true;
    const server = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      if (limited) {
        limited = false;
        return void res
          .writeHead(429, { 'retry-after': '1' })
          .end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
      }
      res
        .writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' })
        .end(manifest);
    });
    const started = Date.now();
    const got = await registries().client(server.host).getManifest('a/b', manifestDigest);
    assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
    assert.equal(got.digest, manifestDigest);
  });

  it('does not retry a 404 or a 403', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res
        .writeHead(req.url?.includes('denied') ? 403 : 404, { 'content-type': 'application/json' })
        .end('{"errors":[{"code":"DENIED","message":"no"}]}');
    });
    const client = registries().client(server.host);
    assert.equal(await client.headManifest('a/b', 'v1'), undefined);
    await assert.rejects(
      client.getManifest('denied/b', 'v1'),
      (e: unknown) => e instanceof RegistryError && e.status === 403 && e.hasCode('DENIED'),
    );
    assert.equal(server.transcript.length, 3);
  });

  it('rejects a manifest whose bytes do not match the digest asked for', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res
        .writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' })
        .end(Buffer.concat([manifest, Buffer.from(' ')]));
    });
    await assert.rejects(
      registries().client(server.host).getManifest('a/b', manifestDigest),
      (e: unknown) => (e as { code?: string }).code === 'DIGEST_MISMATCH',
    );
  });

  it('refuses Docker schema 1 with a clear error', async () => {
    const schema1 = Buffer.from('{"schemaVersion":1,"name":"a/b","tag":"v1","fsLayers":[]}');
    const server = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res
        .writeHead(200, {
          'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws',
        })
        .end(schema1);
    });
    await assert.rejects(
      registries().client(server.host).getManifest('a/b', 'v1'),
      (e: unknown) => e instanceof UnsupportedMediaTypeError && /schema 1/.test(e.message),
    );
  });

  it('fetches a Bearer token once per scope, anonymously unless the realm may see credentials', async () => {
    const tokenServer = await serve((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ token: `t-${tokenServer.transcript.length}`, expires_in: 300 }));
    }, 'localhost');
    const server = await serve((req, res) => {
      if (req.headers.authorization?.startsWith('Bearer ')) {
        return void res
          .writeHead(200, {
            'docker-content-digest': manifestDigest,
            'content-type': 'application/vnd.oci.image.manifest.v1+json',
            'content-length': '10',
          })
          .end();
      }
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="${tokenServer.url}/token",service="svc"`,
        })
        .end();
    });
    const creds = new StaticCredentials([
      [server.host, { username: 'u', password: 'registry-secret' }],
    ]);
    const client = registries({ credentials: creds }).client(server.host);
    await client.headManifest('a/b', 'v1');
    await client.headManifest('a/b', 'v2');
    await client.headManifest('c/d', 'v1');
    assert.deepEqual(
      tokenServer.transcript.map((e) => e.path),
      [
        '/token?service=svc&scope=repository%3Aa%2Fb%3Apull',
        '/token?service=svc&scope=repository%3Ac%2Fd%3Apull',
      ],
    );
    // The realm is on another host (localhost, not 127.0.0.1): the registry's password stays home.
    assert.ok(tokenServer.transcript.every((e) => e.headers.authorization === undefined));
    assert.deepEqual(
      server.transcript.map((e) => e.method),
      ['GET', 'HEAD', 'HEAD', 'HEAD'],
    );
  });

  it('primes one token for many repositories, and falls back per repository on a 401', async () => {
    const tokenServer = await serve((req, res) => {
      const scopes = new URL(req.url ?? '/', 'http://x').searchParams.getAll('scope');
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ token: `t:${scopes.join(' ')}`, expires_in: 300 }));
    });
    const server = await serve((req, res) => {
      const auth = req.headers.authorization ?? '';
      // The registry honours a token only if it names the repository asked for.
      const repo = /^\/v2\/(.+)\/manifests\//.exec(req.url ?? '')?.[1];
      if (
        repo &&
        auth.includes(`repository:${repo}:pull`) &&
        !(repo === 'c/d' && auth.includes('a/b'))
      ) {
        return void res
          .writeHead(200, {
            'docker-content-digest': manifestDigest,
            'content-type': 'application/vnd.oci.image.manifest.v1+json',
            'content-length': '10',
          })
          .end();
      }
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="${tokenServer.url}/token",service="svc"`,
        })
        .end();
    });
    const client = registries().client(server.host);
    await client.transport.prime({
      scopes: ['repository:a/b:pull', 'repository:c/d:pull', 'repository:e/f:pull'],
    });
    assert.equal(tokenServer.transcript.length, 1, 'one token request for three repositories');
    await client.headManifest('a/b', 'v1');
    await client.headManifest('e/f', 'v1');
    assert.equal(tokenServer.transcript.length, 1, 'the primed token served them');
    // This registry refuses the broad token for c/d: a token of its own is fetched.
    assert.ok(await client.headManifest('c/d', 'v1'));
    assert.equal(tokenServer.transcript.length, 2);
    assert.match(tokenServer.transcript[1]?.path ?? '', /scope=repository%3Ac%2Fd%3Apull$/);
  });

  it('follows a blob redirect to another host without the Authorization header', async () => {
    const blob = randomBytes(100_000);
    const blobDigest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const storage = await serve(
      (_req, res) => res.writeHead(200, { 'content-length': String(blob.length) }).end(blob),
      'localhost',
    );
    const source = await serve((req, res) => {
      if (req.url === '/v2/')
        return void res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      res.writeHead(307, { location: `${storage.url}/signed/blob?sig=abc` }).end();
    });
    let uploaded: Buffer = Buffer.alloc(0);
    const target = await serve((req, res, body) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      if (req.method === 'POST')
        return void res.writeHead(202, { location: '/v2/t/blobs/uploads/u1?_state=x' }).end();
      uploaded = body;
      res.writeHead(201).end();
    });
    const regs = registries({
      credentials: new StaticCredentials([
        [source.host, { username: 'u', password: 'source-secret' }],
      ]),
    });
    await regs
      .client(target.host)
      .copyBlobFrom(
        regs.client(source.host),
        'a/b',
        { digest: blobDigest, size: blob.length },
        't',
      );
    assert.ok(uploaded.equals(blob));
    assert.match(String(source.transcript.at(-1)?.headers.authorization), /^Basic /);
    assert.equal(storage.transcript[0]?.headers.authorization, undefined);
    const put = target.transcript.find((e) => e.method === 'PUT');
    assert.equal(
      put?.path,
      `/v2/t/blobs/uploads/u1?_state=x&digest=${encodeURIComponent(blobDigest)}`,
    );
    assert.equal(put?.headers['content-length'], String(blob.length));
  });

  it('starts a streamed copy over (new download, new upload) when the source resets mid-blob', async () => {
    const blob = randomBytes(2_000_000);
    const blobDigest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    let downloads = 0;
    const source = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      downloads++;
      res.writeHead(200, { 'content-length': String(blob.length) });
      if (downloads === 1) {
        res.write(blob.subarray(0, 500_000), () => res.socket?.destroy());
        return;
      }
      res.end(blob);
    });
    const uploads: number[] = [];
    let session = 0;
    const target = await serve((req, res, body) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      if (req.method === 'POST')
        return void res.writeHead(202, { location: `/v2/t/blobs/uploads/s${++session}` }).end();
      uploads.push(body.length);
      const ok = createHash('sha256').update(body).digest('hex') === blobDigest.slice(7);
      res.writeHead(ok ? 201 : 400).end();
    });
    const regs = registries();
    await regs
      .client(target.host)
      .copyBlobFrom(
        regs.client(source.host),
        'a/b',
        { digest: blobDigest, size: blob.length },
        't',
      );
    assert.equal(downloads, 2);
    assert.equal(session, 2, 'a fresh upload session for the second attempt');
    assert.deepEqual(
      uploads.filter((n) => n === blob.length),
      [blob.length],
      'exactly one complete upload',
    );
  });
});

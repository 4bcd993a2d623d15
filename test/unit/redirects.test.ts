// Redirects and per-host auth, and token fetches shared between requests,
// against scripted HTTP servers: each test reads as a transcript.
//
// registry.k8s.io answers every /v2/ request, the ping and manifests included,
// with 307 to the registry that holds the image (kubernetes/registry.k8s.io,
// cmd/archeio/docs/request-handling.md); that registry challenges on its own.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { StaticCredentials } from '../../functions/registry/credentials.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { TokenSource } from '../../functions/registry/token.ts';
import { silentLogger } from '../../functions/util/logger.ts';
import { type FakeServer, serverPool } from '../support/fake-server.ts';
import { hash, ociManifest } from '../support/manifests.ts';

const fast = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 5_000 };
const { serve, closeAll } = serverPool();
after(closeAll);

const manifest = ociManifest([]);
const digest = hash(manifest);
const manifestHeaders = {
  'content-type': 'application/vnd.oci.image.manifest.v1+json',
  'docker-content-digest': digest,
  'content-length': String(manifest.length),
};

/** A token server that hands out `t<N>-<scopes>` and records every request. */
async function tokenServer(hostname = 'localhost'): Promise<FakeServer> {
  let issued = 0;
  return serve((req, res) => {
    const scopes = new URL(req.url ?? '', 'http://x').searchParams.getAll('scope').join(' ');
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token: `t${++issued}-${scopes}`, expires_in: 300 }));
  }, hostname);
}

const lines = (s: FakeServer) => s.transcript.map((e) => `${e.method} ${e.path}`);

describe('redirects', () => {
  it('follows 307 on the ping and on manifest HEAD/GET; the host redirected to gets its own anonymous token', async () => {
    const tokens = await tokenServer();
    // The registry that holds the image: token auth, another host than the one asked.
    const backend = await serve((req, res) => {
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer t')) {
        return void res
          .writeHead(401, {
            'www-authenticate': `Bearer realm="${tokens.url}/token",service="backend"`,
          })
          .end();
      }
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res.writeHead(200, manifestHeaders).end(req.method === 'GET' ? manifest : undefined);
    }, 'localhost');
    // registry.k8s.io: everything 307 to the backend, under another repository path.
    const front = await serve((req, res) => {
      const path = (req.url ?? '').replace(
        /^\/v2\/pause\//,
        '/v2/k8s-artifacts-prod/images/pause/',
      );
      res.writeHead(307, { location: `${backend.url}${path}` }).end();
    });
    const regs = new Registries({
      retry: fast,
      credentials: new StaticCredentials([
        [front.host, { username: 'u', password: 'front-secret' }],
        [backend.host, { username: 'u', password: 'backend-secret' }],
      ]),
    });
    const client = regs.client(front.host);
    const head = await client.headManifest('pause', '3.9');
    assert.equal(head?.digest, digest);
    const got = await client.getManifest('pause', '3.9');
    assert.equal(got.digest, digest);

    assert.deepEqual(lines(front), [
      'GET /v2/',
      'HEAD /v2/pause/manifests/3.9',
      'GET /v2/pause/manifests/3.9',
    ]);
    assert.deepEqual(lines(backend), [
      'GET /v2/',
      'HEAD /v2/k8s-artifacts-prod/images/pause/manifests/3.9',
      'GET /v2/k8s-artifacts-prod/images/pause/manifests/3.9',
    ]);
    // The backend's own challenge, learned from the redirected ping, was answered
    // with an anonymous token for ITS repository path; one token served both requests.
    assert.deepEqual(lines(tokens), [
      'GET /token?service=backend&scope=repository%3Ak8s-artifacts-prod%2Fimages%2Fpause%3Apull',
    ]);
    assert.equal(tokens.transcript[0]?.headers.authorization, undefined, 'anonymous');
    // Credentials only to their own host: none of the front's, and none at all on the backend.
    for (const e of backend.transcript)
      assert.ok(!String(e.headers.authorization ?? '').startsWith('Basic'), e.path);
    assert.ok(front.transcript.every((e) => e.headers.authorization === undefined));
    await regs.close();
  });

  it('answers a 401 on a redirected blob GET with the storage host’s own challenge, never the first host’s token', async () => {
    const tokens = await tokenServer();
    const blob = Buffer.from('blob bytes');
    const blobDigest = hash(blob);
    const storage = await serve((req, res) => {
      if (!req.headers.authorization?.startsWith('Bearer t')) {
        return void res
          .writeHead(401, { 'www-authenticate': `Bearer realm="${tokens.url}/token",service="s"` })
          .end();
      }
      res.writeHead(200, { 'content-length': String(blob.length) }).end(blob);
    }, 'localhost');
    const registry = await serve((req, res) => {
      if (req.url === '/v2/') {
        return void res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"' }).end();
      }
      res.writeHead(307, { location: `${storage.url}/v2/mirror/blobs/${blobDigest}` }).end();
    });
    const target = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      if (req.method === 'POST')
        return void res.writeHead(202, { location: '/v2/t/blobs/uploads/u1' }).end();
      res.writeHead(201).end();
    });
    const regs = new Registries({
      retry: fast,
      credentials: new StaticCredentials([[registry.host, { username: 'u', password: 'reg-pw' }]]),
    });
    await regs
      .client(target.host)
      .copyBlobFrom(
        regs.client(registry.host),
        'a/b',
        { digest: blobDigest, size: blob.length },
        't',
      );
    assert.deepEqual(
      storage.transcript.map((e) => [e.path, e.headers.authorization?.split('-')[0]]),
      [
        [`/v2/mirror/blobs/${blobDigest}`, undefined],
        [`/v2/mirror/blobs/${blobDigest}`, 'Bearer t1'],
      ],
    );
    assert.equal(tokens.transcript[0]?.headers.authorization, undefined);
    assert.match(tokens.transcript[0]?.path ?? '', /scope=repository%3Amirror%3Apull$/);
    await regs.close();
  });
});

describe('token requests', () => {
  it('adds the scope a 401 challenge names to the token request', async () => {
    const tokens = await tokenServer();
    const wanted = 'repository:a/b:pull repository:shared/base:pull';
    const server = await serve((req, res) => {
      if (req.url === '/v2/')
        return void res
          .writeHead(401, { 'www-authenticate': `Bearer realm="${tokens.url}/token"` })
          .end();
      // This registry wants a token that also covers the base repository.
      if (!req.headers.authorization?.endsWith(wanted)) {
        return void res
          .writeHead(401, {
            'www-authenticate': `Bearer realm="${tokens.url}/token",scope="${wanted}"`,
          })
          .end();
      }
      res.writeHead(200, manifestHeaders).end();
    });
    const regs = new Registries({ retry: fast });
    assert.equal((await regs.client(server.host).headManifest('a/b', 'v1'))?.digest, digest);
    assert.deepEqual(
      lines(tokens),
      [
        '/token?scope=repository%3Aa%2Fb%3Apull',
        '/token?scope=repository%3Aa%2Fb%3Apull&scope=repository%3Ashared%2Fbase%3Apull',
      ].map((p) => `GET ${p}`),
    );
    await regs.close();
  });

  it('fetches once for many requests that find the token refused at the same moment', async () => {
    const tokens = await tokenServer();
    let refuse = '';
    const server = await serve((req, res) => {
      const auth = req.headers.authorization ?? '';
      if (req.url === '/v2/' || !auth.startsWith('Bearer ') || auth === refuse) {
        return void res
          .writeHead(401, { 'www-authenticate': `Bearer realm="${tokens.url}/token"` })
          .end();
      }
      res.writeHead(200, manifestHeaders).end();
    });
    const regs = new Registries({ retry: fast });
    const client = regs.client(server.host);
    await client.headManifest('a/b', 'v0');
    refuse = `Bearer t1-repository:a/b:pull`; // the registry now considers it expired
    await Promise.all([1, 2, 3, 4, 5].map((n) => client.headManifest('a/b', `v${n}`)));
    assert.equal(tokens.transcript.length, 2, 'one token, then one new token shared by all five');
    await regs.close();
  });

  it('shares one fetch among concurrent callers that find the cached token expired', async () => {
    const tokens = await tokenServer();
    let now = 1_000_000;
    const source = new TokenSource({
      dispatcher: (await import('../../functions/registry/http.ts')).sharedDispatcher(),
      retry: fast,
      logger: silentLogger,
      headersTimeoutMs: 5_000,
      bodyTimeoutMs: 5_000,
      insecureRegistries: [],
      mayReceiveCredentials: () => false,
      now: () => now,
    });
    const challenge = { scheme: 'bearer' as const, params: { realm: `${tokens.url}/token` } };
    let lookups = 0;
    const lookup = async () => {
      lookups++;
      return undefined;
    };
    const scopes = ['repository:a/b:pull'];
    assert.match(await source.token(challenge, scopes, lookup), /^t1-/);
    now += 400_000; // past expires_in
    const got = await Promise.all(
      [1, 2, 3, 4, 5].map(() => source.token(challenge, scopes, lookup)),
    );
    assert.deepEqual(new Set(got), new Set([`t2-${scopes[0]}`]));
    assert.equal(tokens.transcript.length, 2);
    assert.equal(lookups, 0, 'a realm that may not see credentials never asks for them');
  });
});

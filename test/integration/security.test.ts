// Security properties with hostile peers: a registry whose token realm points
// at a capture server, redirects and realms towards forbidden addresses, an
// allow-list of source registries, and credentials that never show up in any
// output. The network policy is the functions' (closed) unless a test says.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { StaticCredentials } from '../../functions/registry/credentials.ts';
import {
  BlockedDestinationError,
  checkDestination,
  guardedLookup,
  isNonPublicAddress,
} from '../../functions/registry/network-policy.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { type FakeServer, startFakeServer } from '../support/fake-server.ts';
import { runCliCaptured } from '../support/fixture.ts';
import { Layout, push } from '../support/images.ts';
import { startRegistry } from '../support/registry.ts';

const SECRET = 'hunter2-registry-secret';
const servers: FakeServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function serve(handler: Parameters<typeof startFakeServer>[0]): Promise<FakeServer> {
  const server = await startFakeServer(handler);
  servers.push(server);
  return server;
}

/** A registry that sends every client to `realm` for a token. */
function hostileRegistry(realm: () => string) {
  return serve((req, res) => {
    if (req.headers.authorization?.startsWith('Bearer ')) return void res.writeHead(404).end();
    res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm()}",service="evil"` }).end();
  });
}

function dockerConfig(host: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sec-'));
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ auths: { [host]: { username: 'me', password: SECRET } } }),
  );
  return dir;
}

describe('security', () => {
  it('never sends a registry credential to a token realm on another host', async () => {
    const capture = await serve((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"x"}'),
    );
    const evil = await hostileRegistry(() => `${capture.url}/token`);
    const dir = dockerConfig(evil.host);
    const file = join(dir, 'images.yaml');
    writeFileSync(file, `images:\n- source: ${evil.host}/team/app:v1\n`);
    const run = await runCliCaptured(
      ['-i', file, '-r', 'europe-docker.pkg.dev/p/r/', '--dry-run'],
      { DOCKER_CONFIG: dir },
    );
    assert.equal(run.code, 1);
    assert.ok(capture.transcript.length > 0, 'the realm was asked for a token');
    for (const exchange of capture.transcript)
      assert.equal(exchange.headers.authorization, undefined);
    assert.ok(!`${run.stdout}${run.stderr}`.includes(SECRET));
  });

  it('refuses token realms and redirects that lead to forbidden addresses', async () => {
    const capture = await serve((_req, res) => res.writeHead(200).end('{"token":"x"}'));
    const evil = await hostileRegistry(() => `${capture.url}/token`);
    // The registry itself is allowed (as a test registry would be); the capture server is not.
    const registries = new Registries({
      policy: { privateNetworks: [evil.host] },
      credentials: new StaticCredentials([[evil.host, { username: 'me', password: SECRET }]]),
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    });
    await assert.rejects(
      registries.client(evil.host).headManifest('team/app', 'v1'),
      (e: unknown) =>
        e instanceof BlockedDestinationError &&
        /refusing to connect to 127\.0\.0\.1:\d+/.test(e.message),
    );
    assert.equal(capture.transcript.length, 0, 'no request reached the capture server');

    const redirecting = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res
        .writeHead(307, {
          location:
            'http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token',
        })
        .end();
    });
    const target = await serve((req, res) =>
      res.writeHead(req.method === 'POST' ? 202 : 200, { location: '/v2/t/blobs/uploads/1' }).end(),
    );
    const guarded = new Registries({
      policy: { privateNetworks: [redirecting.host, target.host] },
      retry: { attempts: 1 },
    });
    await assert.rejects(
      guarded
        .client(target.host)
        .copyBlobFrom(
          guarded.client(redirecting.host),
          'a/b',
          { digest: `sha256:${'a'.repeat(64)}`, size: 1 },
          't',
        ),
      (e: unknown) => e instanceof BlockedDestinationError && /169\.254\.169\.254/.test(e.message),
    );
    await Promise.all([registries.close(), guarded.close()]);
  });

  it('refuses a public-looking name that resolves to loopback, once, without retrying', async () => {
    const victim = await serve((_req, res) => res.writeHead(200).end());
    const port = new URL(victim.url).port;
    let lookups = 0;
    const registries = new Registries({
      policy: { privateNetworks: false },
      insecureRegistries: [`rebind.example.com:${port}`],
      // DNS answers with the loopback address, as a rebinding attacker's would.
      resolve: (_host, _options, callback) => {
        lookups++;
        callback(null, [{ address: '127.0.0.1', family: 4 }]);
      },
      retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 },
    });
    await assert.rejects(
      registries.client(`rebind.example.com:${port}`).headManifest('team/app', 'v1'),
      (e: unknown) =>
        e instanceof BlockedDestinationError && /resolves to 127\.0\.0\.1/.test(e.message),
    );
    assert.equal(lookups, 1, 'a refused destination is final: no retry');
    assert.equal(victim.transcript.length, 0);
    await registries.close();
  });

  it('blocks metadata, loopback and private destinations, by literal and after DNS resolution', async () => {
    const closed = { privateNetworks: false } as const;
    for (const url of [
      'http://169.254.169.254/',
      'http://metadata.google.internal/',
      'http://localhost:5000/',
      'http://10.1.2.3/',
      'http://[::1]:80/',
      'http://[::ffff:127.0.0.1]/',
      'http://192.168.0.1/',
    ]) {
      assert.throws(() => checkDestination(closed, new URL(url)), BlockedDestinationError, url);
    }
    assert.doesNotThrow(() =>
      checkDestination(closed, new URL('https://registry-1.docker.io/v2/')),
    );
    assert.doesNotThrow(() =>
      checkDestination({ privateNetworks: ['127.0.0.1:5000'] }, new URL('http://127.0.0.1:5000/')),
    );
    assert.throws(
      () =>
        checkDestination(
          { privateNetworks: ['127.0.0.1:5000'] },
          new URL('http://127.0.0.1:5001/'),
        ),
      BlockedDestinationError,
    );
    assert.ok(isNonPublicAddress('100.64.1.1') && !isNonPublicAddress('8.8.8.8'));
    // A name resolving to loopback is refused once resolved (the resolver, not the name, decides).
    const resolved = await new Promise<unknown>((resolve) =>
      guardedLookup(closed)('localhost', { all: true }, (error, addresses) =>
        resolve(error ?? addresses),
      ),
    );
    assert.ok(resolved instanceof BlockedDestinationError, String(resolved));
    const allowed = await new Promise<unknown>((resolve) =>
      guardedLookup({ privateNetworks: ['127.0.0.0/8'] })(
        'localhost',
        { all: true },
        (error, addresses) => resolve(error ?? addresses),
      ),
    );
    assert.ok(
      Array.isArray(allowed) &&
        allowed.some((a) => (a as { address: string }).address === '127.0.0.1'),
    );
  });

  it('mirrors only from allowed registries, rejecting the file before any request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'allow-'));
    const file = join(dir, 'images.yaml');
    writeFileSync(file, 'images:\n- source: ghcr.io/org/tool:1\n- source: evil.example.com/x:1\n');
    const run = await runCliCaptured(
      [
        '-i',
        file,
        '-r',
        '127.0.0.1:9/m/',
        '--allowed-registry',
        'ghcr.io',
        '--allowed-registry',
        '*.pkg.dev',
      ],
      {},
    );
    assert.equal(run.code, 2);
    assert.match(
      run.stderr,
      /images\.yaml:3: images\[1\]\.source: registry evil\.example\.com is not on this deployment's allow-list/,
    );
  });

  it('keeps credentials out of every output of a run that uses them', async () => {
    const source = await startRegistry({ kind: 'token', users: { pusher: SECRET } });
    const target = await startRegistry({ kind: 'basic', users: { writer: SECRET } });
    try {
      const layout = new Layout();
      layout.tag('v1', layout.image({ layers: [2_000] }));
      await push(layout, 'v1', `${source.host}/team/app:v1`, { creds: `pusher:${SECRET}` });
      const dir = mkdtempSync(join(tmpdir(), 'secret-'));
      writeFileSync(
        join(dir, 'config.json'),
        JSON.stringify({
          auths: {
            [source.host]: { username: 'pusher', password: SECRET },
            [target.host]: { auth: Buffer.from(`writer:${SECRET}`).toString('base64') },
          },
        }),
      );
      writeFileSync(
        join(dir, 'images.yaml'),
        `images:\n- source: ${source.host}/team/app:v1\n- source: ${source.host}/team/absent:v1\n`,
      );
      const outputs: string[] = [];
      for (const extra of [[], ['--access-token', SECRET]]) {
        const report = join(dir, `report-${extra.length}.json`);
        const run = await runCliCaptured(
          [
            '-i',
            join(dir, 'images.yaml'),
            '-r',
            `${target.host}/m${extra.length}/`,
            '--debug',
            '--report',
            report,
            ...extra,
          ],
          { DOCKER_CONFIG: dir },
        );
        outputs.push(run.stdout, run.stderr, readFileSync(report, 'utf8'));
      }
      const all = outputs.join('\n');
      assert.match(all, /debug \+\d+ms GET http/, 'the debug log ran');
      for (const secret of [
        SECRET,
        Buffer.from(`writer:${SECRET}`).toString('base64'),
        Buffer.from(`pusher:${SECRET}`).toString('base64'),
      ]) {
        assert.ok(!all.includes(secret), `found ${secret.slice(0, 6)}… in the output`);
      }
    } finally {
      await Promise.all([source.stop(), target.stop()]);
    }
  });
});

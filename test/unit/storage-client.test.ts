// The Cloud Storage JSON API client against scripted servers (transcripts of
// what it asked and what it was told), then against the Storage test server
// (scripts/local/gcs-server.ts) for what a round trip proves. Each behaviour
// cites the API page it follows (https://cloud.google.com/storage/docs/...):
// retry-strategy (408/429/5xx retried, the rest not), request-preconditions
// (412 conditionNotMet), json_api/v1/objects/list (pages behind
// nextPageToken), xml-api/reference-headers#xgooghash (md5 of a download).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { codeOf, isTransient } from '../../functions/failures.ts';
import {
  StorageApiError,
  StorageClient,
  storageOrigin,
} from '../../functions/gcp/storage-client.ts';
import { startGcsServer } from '../../scripts/local/gcs-server.ts';
import { type FakeServer, serverPool } from '../support/fake-server.ts';

const fast = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 5 };
const { serve, closeAll } = serverPool();
after(closeAll);

const lines = (s: FakeServer) => s.transcript.map((e) => `${e.method} ${e.path}`);
const md5 = (data: string) => createHash('md5').update(data).digest('base64');

function apiError(code: number, reason: string) {
  return JSON.stringify({ error: { code, message: `said ${reason}`, errors: [{ reason }] } });
}

describe('Cloud Storage client, scripted', () => {
  it('reads an object by its percent-encoded name, with the token as Bearer', async () => {
    const server = await serve((_req, res) =>
      res.writeHead(200, { 'x-goog-hash': `crc32c=AAAAAA==,md5=${md5('{"a":1}')}` }).end('{"a":1}'),
    );
    const client = new StorageClient({
      endpoint: server.url,
      accessToken: async () => 'ya29.token',
      retry: fast,
    });
    const bytes = await client.download('runs', 'runs/r 1/run.json', '17');
    assert.equal(bytes?.toString(), '{"a":1}');
    assert.deepEqual(lines(server), [
      'GET /storage/v1/b/runs/o/runs%2Fr%201%2Frun.json?alt=media&generation=17',
    ]);
    assert.equal(server.transcript[0]?.headers.authorization, 'Bearer ya29.token');
  });

  it('sends no Authorization without a token (an emulator), and a 404 is "no such object"', async () => {
    const server = await serve((_req, res) => res.writeHead(404).end(apiError(404, 'notFound')));
    const client = new StorageClient({ endpoint: server.url, retry: fast });
    assert.equal(await client.download('b', 'o'), undefined);
    assert.equal(await client.metadata('b', 'o'), undefined);
    assert.deepEqual(lines(server), [
      'GET /storage/v1/b/b/o/o?alt=media',
      'GET /storage/v1/b/b/o/o',
    ]);
    assert.equal(server.transcript[0]?.headers.authorization, undefined);
  });

  it('retries 503 and 429 with backoff, then succeeds', async () => {
    const answers = [503, 429, 200];
    const server = await serve((_req, res) => {
      const status = answers.shift() ?? 500;
      res.writeHead(status).end(status === 200 ? '{"name":"o","generation":"5"}' : '');
    });
    const client = new StorageClient({ endpoint: server.url, retry: fast });
    assert.equal((await client.metadata('b', 'o'))?.generation, '5');
    assert.equal(server.transcript.length, 3);
  });

  it('a 412 (conditionNotMet) is answered once, never retried, with its status and reason', async () => {
    const server = await serve((_req, res) =>
      res.writeHead(412).end(apiError(412, 'conditionNotMet')),
    );
    const client = new StorageClient({ endpoint: server.url, retry: fast });
    const error = await client
      .upload('b', 'o', '{}', { contentType: 'application/json', ifGenerationMatch: '0' })
      .then(
        () => assert.fail('a precondition failure must throw'),
        (e: unknown) => e,
      );
    assert.ok(error instanceof StorageApiError);
    assert.equal(error.status, 412);
    assert.equal(error.reason, 'conditionNotMet');
    assert.equal(codeOf(error), 'STORAGE_ERROR');
    assert.equal(isTransient(error), false);
    assert.deepEqual(lines(server), [
      'POST /upload/storage/v1/b/b/o?uploadType=multipart&ifGenerationMatch=0',
    ]);
  });

  it('a 403 fails at once with the API message; a 500 that persists fails after every attempt', async () => {
    const denied = await serve((_req, res) => res.writeHead(403).end(apiError(403, 'forbidden')));
    await assert.rejects(
      new StorageClient({ endpoint: denied.url, retry: fast }).list('b', { prefix: 'runs/' }),
      /Cloud Storage GET \/storage\/v1\/b\/b\/o answered 403 forbidden: said forbidden/,
    );
    assert.equal(denied.transcript.length, 1);
    const broken = await serve((_req, res) => res.writeHead(500).end('<html>oops</html>'));
    const error = await new StorageClient({ endpoint: broken.url, retry: fast })
      .download('b', 'o')
      .then(
        () => assert.fail('must throw'),
        (e: unknown) => e,
      );
    assert.equal(codeOf(error), 'STORAGE_UNAVAILABLE');
    assert.equal(broken.transcript.length, fast.attempts);
  });

  it('bytes that do not match the announced md5 are read again, then refused', async () => {
    const server = await serve((_req, res) =>
      res.writeHead(200, { 'x-goog-hash': `md5=${md5('{"a":1}')}` }).end('{"a":2}'),
    );
    const client = new StorageClient({ endpoint: server.url, retry: fast });
    await assert.rejects(client.download('b', 'o'), (e: unknown) => {
      assert.equal(codeOf(e), 'DIGEST_MISMATCH');
      return true;
    });
    assert.equal(server.transcript.length, fast.attempts);
  });

  it('a connection refused is a transient network error', async () => {
    const server = await serve((_req, res) => res.end());
    const { url } = server;
    await server.close();
    const error = await new StorageClient({ endpoint: url, retry: fast }).download('b', 'o').then(
      () => assert.fail('must throw'),
      (e: unknown) => e,
    );
    assert.equal(codeOf(error), 'NETWORK_ERROR');
    assert.equal(isTransient(error), true);
  });

  it('STORAGE_EMULATOR_HOST may be host:port or a URL', () => {
    assert.equal(storageOrigin('127.0.0.1:9023'), 'http://127.0.0.1:9023');
    assert.equal(storageOrigin('https://gcs.test:443/'), 'https://gcs.test');
  });
});

describe('Cloud Storage client, against the Storage test server', () => {
  it('uploads with custom metadata and a precondition, reads back bytes and generation', async () => {
    const gcs = await startGcsServer();
    try {
      const client = new StorageClient({ endpoint: gcs.url, retry: fast });
      const first = await client.upload('runs', 'runs/r/a.json', '{"n":1}', {
        contentType: 'application/json',
        metadata: { syncerOutcome: 'pending' },
        ifGenerationMatch: '0',
      });
      const info = await client.metadata('runs', 'runs/r/a.json');
      assert.equal(info?.generation, first.generation);
      assert.deepEqual(info?.metadata, { syncerOutcome: 'pending' });
      await client.upload('runs', 'runs/r/a.json', '{"n":2}', {
        contentType: 'application/json',
        ifGenerationMatch: first.generation,
      });
      await assert.rejects(
        client.upload('runs', 'runs/r/a.json', '{"n":3}', {
          contentType: 'application/json',
          ifGenerationMatch: first.generation,
        }),
        (e: unknown) => e instanceof StorageApiError && e.status === 412,
      );
      assert.equal((await client.download('runs', 'runs/r/a.json'))?.toString(), '{"n":2}');
      assert.equal(
        (await client.download('runs', 'runs/r/a.json', first.generation))?.toString(),
        '{"n":1}',
      );
    } finally {
      await gcs.close();
    }
  });

  it('lists every page: 2,001 records behind two nextPageTokens, and matchGlob within a segment', async () => {
    const gcs = await startGcsServer();
    try {
      for (let i = 0; i < 2001; i++) gcs.put('runs', `runs/big/results/${i}.json`, '{}');
      gcs.put('runs', 'runs/big/run.json', '{}');
      gcs.put('runs', 'runs/other/run.json', '{}');
      const client = new StorageClient({ endpoint: gcs.url, retry: fast });
      const results = await client.list('runs', { prefix: 'runs/big/results/' });
      assert.equal(results.length, 2001);
      assert.equal(new Set(results.map((r) => r.name)).size, 2001);
      const lists = gcs.requests.filter((r) => r.method === 'GET' && r.path.includes('/o?'));
      assert.equal(lists.length, 3);
      const runs = await client.list('runs', { prefix: 'runs/', matchGlob: 'runs/*/run.json' });
      assert.deepEqual(runs.map((r) => r.name).sort(), [
        'runs/big/run.json',
        'runs/other/run.json',
      ]);
    } finally {
      await gcs.close();
    }
  });
});

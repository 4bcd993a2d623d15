// The run records' Cloud Storage adapter, through Google's own client
// (@google-cloud/storage), against the Storage test server
// (scripts/local/gcs-server.ts), which answers as the JSON API does. Each
// behaviour cites the page it follows (https://cloud.google.com/storage/docs/...):
// request-preconditions (412 conditionNotMet, 0 = only if absent),
// retry-strategy (a conditional write is retried after a 503, an unconditional
// one is not), transcoding (a gzip-stored object is validated as stored, then
// decompressed), data-validation (crc32c checked both ways),
// json_api/v1/objects/list (pages behind nextPageToken; `fields` trims them).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { codeOf, isTransient } from '../../functions/failures.ts';
import type { GcsObjectStore } from '../../functions/gcp/gcs-object-store.ts';
import { PreconditionFailedError } from '../../functions/pipeline/object-store.ts';
import { crc32c, type GcsServer, startGcsServer } from '../../scripts/local/gcs-server.ts';
import { testBucket } from '../support/run-stores.ts';

describe('Cloud Storage through @google-cloud/storage (test server)', () => {
  let gcs: GcsServer;
  let store: GcsObjectStore;

  before(async () => {
    gcs = await startGcsServer();
    store = testBucket(gcs.url, 'runs');
  });
  after(() => gcs.close());

  const requestsFor = (name: string) =>
    gcs.requests.filter((r) => decodeURIComponent(r.path).includes(name));

  it('the crc32c of the test server is CRC-32C (Castagnoli)', () => {
    // The check value of CRC-32C over "123456789" is 0xE3069283 (RFC 3720, B.4).
    assert.equal(
      crc32c(Buffer.from('123456789')),
      Buffer.from('e3069283', 'hex').toString('base64'),
    );
  });

  it('creates once (ifGenerationMatch=0), reads bytes and generation in one request, refuses a stale write', async () => {
    const generation = await store.write('runs/a/run.json', '{"v":1}', { ifGenerationMatch: '0' });
    await assert.rejects(
      store.write('runs/a/run.json', '{"v":2}', { ifGenerationMatch: '0' }),
      PreconditionFailedError,
    );
    const before = requestsFor('runs/a/run.json').length;
    const read = await store.read('runs/a/run.json');
    assert.equal(requestsFor('runs/a/run.json').length, before + 1, 'one media GET');
    assert.deepEqual(read, { bytes: Buffer.from('{"v":1}'), generation });
    const next = await store.write('runs/a/run.json', '{"v":3}', { ifGenerationMatch: generation });
    assert.notEqual(next, generation);
    await assert.rejects(
      store.write('runs/a/run.json', '{"v":4}', { ifGenerationMatch: generation }),
      PreconditionFailedError,
    );
    assert.equal(String(gcs.get('runs', 'runs/a/run.json')), '{"v":3}');
  });

  it('sends the crc32c of what it uploads, so the service itself refuses altered bytes', async () => {
    await store.write('runs/b/x.json', '{"hello":"world"}', {
      ifGenerationMatch: '0',
      metadata: { syncerOutcome: 'final' },
    });
    const upload = requestsFor('uploadType=multipart').at(-1)?.uploaded;
    assert.equal(upload?.crc32c, crc32c(Buffer.from('{"hello":"world"}')));
    assert.deepEqual(upload?.metadata, { syncerOutcome: 'final' });
  });

  it('a missing object reads as undefined', async () => {
    assert.equal(await store.read('runs/none.json'), undefined);
  });

  it('retries a conditional write after a 503; never an unconditional one', async () => {
    const isUpload = ({ method, path }: { method: string; path: string }) =>
      method === 'POST' && path.includes('/upload/');
    gcs.fail(1, 503, isUpload);
    await store.write('runs/c/claim.json', '{}', { ifGenerationMatch: '0' });
    assert.deepEqual(
      requestsFor('uploadType=multipart')
        .slice(-2)
        .map((r) => r.status),
      [503, 200],
    );
    gcs.fail(1, 503, isUpload);
    const error = await store.write('runs/c/free.json', '{}').then(
      () => assert.fail('an unconditional write was retried'),
      (e: unknown) => e,
    );
    assert.equal(codeOf(error), 'STORAGE_UNAVAILABLE');
    assert.ok(isTransient(error));
    assert.equal(gcs.get('runs', 'runs/c/free.json'), undefined);
  });

  it('retries a read after a 503 itself, leaving no unhandled rejection behind (google-cloud-node#8670)', async () => {
    const unhandled: unknown[] = [];
    const record = (error: unknown) => unhandled.push(error);
    process.on('unhandledRejection', record);
    process.on('uncaughtException', record);
    try {
      gcs.put('runs', 'runs/d/run.json', '{"d":1}');
      gcs.fail(2, 503, ({ name }) => name === 'runs/d/run.json');
      const read = await store.read('runs/d/run.json');
      assert.equal(read?.bytes.toString(), '{"d":1}');
      assert.deepEqual(
        requestsFor('runs/d/run.json').map((r) => r.status),
        [503, 503, 200],
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', record);
      process.off('uncaughtException', record);
    }
  });

  it('reads a gzip-stored object decompressed, validated against the stored bytes', async () => {
    const yaml = 'images:\n- source: alpine:3.20\n';
    gcs.put('runs', 'team/external-images.yaml', gzipSync(yaml), { contentEncoding: 'gzip' });
    const read = await store.read('team/external-images.yaml');
    assert.equal(read?.bytes.toString('utf8'), yaml);
  });

  it('refuses bytes altered in flight (crc32c) and reads them again', async () => {
    gcs.put('runs', 'team/altered.yaml', 'images: []\n');
    gcs.corrupt(1);
    assert.equal((await store.read('team/altered.yaml'))?.bytes.toString(), 'images: []\n');
    assert.equal(requestsFor('team/altered.yaml').length, 2);
    gcs.corrupt(4);
    await assert.rejects(store.read('team/altered.yaml'), (e: unknown) => {
      assert.equal(codeOf(e), 'STORAGE_UNAVAILABLE');
      assert.match(String((e as Error).message), /did not match the data from the server/);
      return true;
    });
  });

  it('lists across pages with names and metadata only (a partial response)', async () => {
    for (let i = 0; i < 2001; i++)
      gcs.put('runs', `runs/big/results/${String(i).padStart(4, '0')}.json`, '{}');
    const before = gcs.requests.length;
    // A page after the first meets a 503: the listing starts over, and is whole.
    gcs.fail(1, 503, ({ method, path }) => method === 'GET' && path.includes('pageToken'));
    const listed = await store.list('runs/big/results/');
    const served = gcs.requests.slice(before);
    assert.equal(listed.length, 2001);
    assert.equal(new Set(listed.map((o) => o.name)).size, 2001);
    assert.deepEqual(
      served.map((r) => r.status),
      [200, 503, 200, 200, 200],
      'pages of 1,000; the listing retried after the 503',
    );
    const pages = served.filter((r) => r.status === 200);
    assert.ok(pages.every((p) => p.path.includes('fields=')));
    // Without `fields` an item is ~600 bytes; with it, well under 150.
    assert.ok(pages[0] && pages[0].bytes / 1000 < 150, `${pages[0]?.bytes} bytes a page`);
    assert.ok(listed.every((o) => /^\d+$/.test(o.generation) && o.created !== ''));
  });
});

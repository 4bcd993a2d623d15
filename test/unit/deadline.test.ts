// The job deadline cancels the copy (pipeline/deadline.ts): the signal reaches
// every request and blob stream, nothing is written after it fired (no blob,
// no manifest, no record from the cancelled copy), and the deadline itself
// leaves a record: `retrying`, or `deadLettered` on the last delivery attempt,
// so a job that always outruns its deadline is never dead-lettered silently.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { handleCopyJob, TransientJobError } from '../../functions/pipeline/copy-job.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { MemoryLogger } from '../../functions/util/logger.ts';
import { type FakeServer, serverPool } from '../support/fake-server.ts';
import { hash, ociManifest } from '../support/manifests.ts';
import { memoryRunStore } from '../support/run-stores.ts';

const { serve, closeAll } = serverPool();
after(closeAll);

const layers = [randomBytes(200_000), randomBytes(1000)];
const config = Buffer.from('{}');
const manifest = ociManifest(layers, config);

/**
 * A source whose largest blob stalls after its first bytes and only resumes
 * 1.3 s later, after the deadline: an abandoned (not cancelled) copy would
 * then finish and write its manifest over whatever the redelivery did.
 */
async function stallingSource(): Promise<FakeServer> {
  return serve((req, res) => {
    const url = req.url ?? '';
    if (url === '/v2/') return void res.writeHead(200).end();
    if (url.includes('/manifests/'))
      return void res
        .writeHead(200, {
          'content-type': 'application/vnd.oci.image.manifest.v1+json',
          'docker-content-digest': hash(manifest),
          'content-length': String(manifest.length),
        })
        .end(req.method === 'GET' ? manifest : undefined);
    const blob = [...layers, config].find((b) => url.endsWith(hash(b)));
    if (!blob) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': String(blob.length) });
    if (blob === layers[0]) {
      res.write(blob.subarray(0, 1000));
      setTimeout(() => res.end(blob.subarray(1000)), 1300);
      return;
    }
    res.end(blob);
  });
}

async function recordingTarget(): Promise<FakeServer> {
  return serve((req, res) => {
    if (req.url === '/v2/') return void res.writeHead(200).end();
    if (req.method === 'HEAD') return void res.writeHead(404).end();
    if (req.method === 'POST')
      return void res.writeHead(202, { location: `/v2/m/blobs/uploads/${Math.random()}` }).end();
    res.writeHead(201).end();
  });
}

describe('job deadline', { concurrency: 2 }, () => {
  for (const attempt of [1, 3]) {
    it(`cancels the copy, writes nothing after it, and records ${attempt === 3 ? 'deadLettered on the last attempt' : 'retrying'}`, {
      timeout: 15_000,
    }, async () => {
      const source = await stallingSource();
      const target = await recordingTarget();
      const store = memoryRunStore();
      const logger = new MemoryLogger();
      const registries = new Registries({ retry: { attempts: 2, baseDelayMs: 5 } });
      const started = Date.now();
      await assert.rejects(
        handleCopyJob(
          {
            data: Buffer.from(
              JSON.stringify({ runId: 'r-1', source: `${source.host}/team/app:v1` }),
            ),
            messageId: 'm-1',
            attempt,
          },
          {
            prefix: parseTargetPrefix(`${target.host}/m/`),
            store,
            registries,
            logger,
            maxDeliveryAttempts: 3,
            concurrency: 1, // the small layer waits for the stalled one: it must never start
            deadlineSeconds: 1,
          },
        ),
        (e: unknown) => e instanceof TransientJobError && /still running after 1 s/.test(e.message),
      );
      assert.ok(Date.now() - started < 4_000, 'the deadline ends the delivery');
      const seen = target.transcript.length;
      const records = await store.readResults('r-1');
      assert.equal(records.length, 1);
      assert.equal(records[0]?.status, 'failed');
      assert.equal(records[0]?.errorCode, 'JOB_DEADLINE');
      assert.equal(records[0]?.category, 'network');
      assert.equal(records[0]?.attempt, attempt);
      assert.equal(attempt === 3 ? records[0]?.deadLettered : records[0]?.retrying, true);
      // After the cancellation: nothing more reaches the target, the record stays.
      await sleep(1000);
      assert.equal(target.transcript.length, seen, 'no request after the cancellation');
      assert.ok(
        !target.transcript.some((e) => e.path.includes('/manifests/') && e.method === 'PUT'),
      );
      assert.ok(!target.transcript.some((e) => e.path.endsWith(hash(layers[1] as Buffer))));
      assert.deepEqual(await store.readResults('r-1'), records);
      assert.ok(logger.lines.some((l) => l.message.startsWith('job deadline reached')));
      await registries.close();
    });
  }
});

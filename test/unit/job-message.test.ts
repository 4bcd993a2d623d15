// The job message, byte for byte (the contract between the fan-out and the
// copy function: docs/pipeline.md, "The job message"): what the fan-out
// publishes through the Pub/Sub publisher for entries using every field, and
// what the copy function accepts and refuses. Messages still in the topic are
// read by whatever copy function runs next, so their order and spelling are pinned.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PubSub } from '@google-cloud/pubsub';
import { PubSubJobPublisher } from '../../functions/gcp/publisher.ts';
import { fanOut } from '../../functions/pipeline/fanout.ts';
import { InvalidJobError, parseJob } from '../../functions/pipeline/job.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { silentLogger } from '../../functions/util/logger.ts';
import { memoryRunStore } from '../support/run-stores.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;

/** A Pub/Sub client whose topic keeps what it is asked to publish. */
function capturingPubSub() {
  const published: { data: Buffer; attributes: Record<string, string> }[] = [];
  const topic = {
    publishMessage: async (message: { data: Buffer; attributes: Record<string, string> }) => {
      published.push(message);
      return String(published.length);
    },
  };
  return { pubsub: { topic: () => topic } as unknown as PubSub, published };
}

describe('the job message', () => {
  it('is published as docs/pipeline.md specifies: only the fields with something to say, in its order', async () => {
    const { pubsub, published } = capturingPubSub();
    const file = [
      'platforms: [linux/amd64]',
      'images:',
      '- source: alpine:3.20',
      `- source: busybox@${DIGEST}`,
      '  tag: pinned',
      '  requireSignature: true',
      '  platforms: [linux/arm64, linux/amd64]',
      '- source: ghcr.io/a/b:1',
      '  requireSignature: false',
      '  platforms: []',
      '',
    ].join('\n');
    await fanOut(
      { runId: 'r-1', file: 'f.yaml', bytes: Buffer.from(file), trigger: {}, dryRun: true },
      {
        prefix: parseTargetPrefix('mirror.example/x/'),
        store: memoryRunStore(),
        publisher: new PubSubJobPublisher(pubsub, 'jobs'),
        logger: silentLogger,
      },
    );
    assert.deepEqual(
      published.map((m) => m.data.toString('utf8')),
      [
        '{"runId":"r-1","source":"alpine:3.20","dryRun":true,"platforms":["linux/amd64"]}',
        `{"runId":"r-1","source":"busybox@${DIGEST}","tag":"pinned","sourceDigest":"${DIGEST}","requireSignature":true,"dryRun":true,"platforms":["linux/arm64","linux/amd64"]}`,
        '{"runId":"r-1","source":"ghcr.io/a/b:1","requireSignature":false,"dryRun":true,"platforms":[]}',
      ],
    );
    assert.deepEqual(published[1]?.attributes, {
      runId: 'r-1',
      source: `busybox@${DIGEST}`,
      dryRun: 'true',
      runJobs: '3',
    });
  });

  it('is read back as published, and refused with the reason when a field is wrong', () => {
    const job = parseJob(
      Buffer.from(
        `{"runId":"r-1","source":"busybox@${DIGEST}","tag":"pinned","sourceDigest":"${DIGEST}","requireSignature":true,"dryRun":true,"platforms":["linux/arm64"]}`,
      ),
    );
    assert.deepEqual(job, {
      runId: 'r-1',
      source: `busybox@${DIGEST}`,
      tag: 'pinned',
      sourceDigest: DIGEST,
      requireSignature: true,
      dryRun: true,
      platforms: ['linux/arm64'],
    });
    for (const [text, reason] of [
      ['{"runId":"r-1","source":"alpine:3","target":"x/y:1"}', /unknown field "target"/],
      [
        '{"runId":"r-1","source":"alpine:3","requireSignature":"yes"}',
        /requireSignature must be a boolean/,
      ],
      ['{"runId":"r-1","source":"alpine:3","platforms":["linux/x86_64"]}', /x86_64/],
      ['{"runId":"r-1","source":"alpine:3","dryRun":1}', /dryRun must be a boolean/],
      ['{"runId":"r-1","source":"alpine:3","tag":"-x"}', /tag malformed/],
      ['{"source":"alpine:3"}', /runId missing/],
    ] as const) {
      assert.throws(
        () => parseJob(Buffer.from(text)),
        (error: unknown) => error instanceof InvalidJobError && reason.test(error.message),
        text,
      );
    }
  });
});

// The event adapters with a runtime of plain parts: a redelivered request
// message starts no second run, a copy that outlasts its deadline hands the
// delivery back to Pub/Sub, and the copy function, under the real Functions
// Framework, takes Pub/Sub's raw push body itself: the delivery attempt reaches
// the record, the status code is the acknowledgement, nothing unstructured is
// written, and every way a delivery ends leaves a record.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../functions/gcp/config.ts';
import { onSyncRequested } from '../../functions/gcp/fanout-events.ts';
import { copyJobDeps } from '../../functions/gcp/job-push.ts';
import { registerFunctions } from '../../functions/gcp/register.ts';
import type { Runtime } from '../../functions/gcp/runtime.ts';
import { handleCopyJob, TransientJobError } from '../../functions/pipeline/copy-job.ts';
import { type JobMessage, jobKey } from '../../functions/pipeline/job.ts';
import type { MemoryObjectStore } from '../../functions/pipeline/memory-object-store.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { MemoryLogger } from '../../functions/util/logger.ts';
import { type FakeServer, startFakeServer } from '../support/fake-server.ts';
import { pushEnvelope, serveFunction } from '../support/functions.ts';
import { memoryRunStore } from '../support/run-stores.ts';

const servers: FakeServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

function runtime(env: Record<string, string> = {}) {
  const config = loadConfig({
    SYNCER_TARGET_REPO_PREFIX: '127.0.0.1:9/mirror/',
    SYNCER_ALLOWED_REGISTRY: '*',
    SYNCER_ALLOW_PRIVATE_NETWORKS: 'true',
    SYNCER_PIN_DIGESTS: 'false',
    ...env,
  });
  const store = memoryRunStore();
  const published: JobMessage[] = [];
  const logger = new MemoryLogger();
  const registries = new Registries({ policy: config.policy, retry: { attempts: 1 } });
  const rt: Runtime = {
    config,
    logger,
    readObject: () => assert.fail('only gs:// requests need Cloud Storage'),
    store: () => store,
    publisher: () => ({ publish: async (jobs) => void published.push(...jobs) }),
    registries: () => registries,
  };
  return { rt, store, published, logger, registries };
}

const message = (data: string, messageId: string) => ({
  id: messageId,
  data: { message: { data: Buffer.from(data).toString('base64'), messageId } },
});

describe('CloudEvent adapters', () => {
  it('gives a request message without a runId one from its message id, so a redelivery is a no-op', async () => {
    const { rt, store, published } = runtime();
    const yaml = 'images:\n- source: alpine:3.20\n- source: ghcr.io/a/b:1\n';
    await onSyncRequested(message(yaml, 'm-123'), rt);
    await onSyncRequested(message(yaml, 'm-123'), rt);
    assert.equal(published.length, 2, 'two images, published once');
    const [runId] = (store.objects as MemoryObjectStore).names().map((k) => k.split('/')[1]);
    assert.match(runId ?? '', /^msg-[0-9a-f]{20}$/);
    await onSyncRequested(message(yaml, 'm-124'), rt);
    assert.equal(published.length, 4, 'another message is another run');
  });

  it('hands a copy that outlasts its deadline back to Pub/Sub', async () => {
    // A source that never answers: only the deadline can end the delivery.
    const stalled = await startFakeServer((req, res) => {
      if (req.url === '/v2/') res.writeHead(200).end();
    });
    servers.push(stalled);
    const { rt, logger, registries } = runtime({ SYNCER_JOB_DEADLINE_SECONDS: '1' });
    const job = JSON.stringify({ runId: 'slow-run', source: `${stalled.host}/team/app:v1` });
    const started = Date.now();
    await assert.rejects(
      handleCopyJob({ data: Buffer.from(job), messageId: 'm-9' }, copyJobDeps(rt)),
      (e: unknown) => e instanceof TransientJobError && /still running after 1 s/.test(e.message),
    );
    assert.ok(Date.now() - started < 3_000);
    assert.ok(
      logger.lines.some(
        (l) => l.message === 'job deadline reached; handing the message back to Pub/Sub',
      ),
    );
    stalled.close();
    await registries.close().catch(() => {});
  });

  it('records a copy that outlasts its deadline, dead-lettered on the last attempt', async () => {
    // Without a record, a job that always runs past its deadline would reach
    // the dead-letter topic with nothing saying so, and its run never finish.
    const stalled = await startFakeServer((req, res) => {
      if (req.url === '/v2/') res.writeHead(200).end();
    });
    servers.push(stalled);
    const { rt, store, registries } = runtime({
      SYNCER_JOB_DEADLINE_SECONDS: '1',
      SYNCER_MAX_DELIVERY_ATTEMPTS: '5',
    });
    const job = JSON.stringify({ runId: 'slow-run', source: `${stalled.host}/team/app:v1` });
    const delivery = (attempt: number) =>
      handleCopyJob(
        { data: Buffer.from(job), messageId: `m-${attempt}`, attempt },
        copyJobDeps(rt),
      );
    const only = async () => {
      const results = await store.readResults('slow-run');
      assert.equal(results.length, 1, 'one record for the job');
      return results[0];
    };
    await assert.rejects(delivery(4), TransientJobError);
    const retrying = await only();
    assert.equal(retrying?.retrying, true);
    assert.equal(retrying?.deadLettered, undefined);
    assert.equal(retrying?.attempt, 4);
    assert.equal(retrying?.errorCode, 'JOB_DEADLINE');
    await assert.rejects(delivery(5), TransientJobError);
    const last = await only();
    assert.equal(last?.deadLettered, true);
    assert.equal(last?.attempt, 5);
    assert.equal(last?.status, 'failed');
    stalled.close();
    await registries.close().catch(() => {});
  });
});

describe('copyJob as the Pub/Sub push endpoint (real Functions Framework)', () => {
  // A source registry that is always busy: every copy fails transiently.
  async function busySource(): Promise<FakeServer> {
    const busy = await startFakeServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"errors":[]}');
    });
    servers.push(busy);
    return busy;
  }

  /**
   * Everything written outside the structured logger while `run` runs: the
   * Framework's warnings go through console to stderr. (stdout is the test
   * runner's own channel here, and the functions log through `logger`.)
   */
  async function unstructuredOutput(run: () => Promise<void>): Promise<string[]> {
    const written: string[] = [];
    const originals = {
      err: process.stderr.write,
      warn: console.warn,
      error: console.error,
      log: console.log,
      info: console.info,
    };
    const capture = (chunk: unknown) => {
      written.push(String(chunk));
      return true;
    };
    process.stderr.write = capture as typeof process.stderr.write;
    console.warn =
      console.error =
      console.log =
      console.info =
        (...args: unknown[]) => capture(args.join(' '));
    try {
      await run();
    } finally {
      process.stderr.write = originals.err;
      Object.assign(console, {
        warn: originals.warn,
        error: originals.error,
        log: originals.log,
        info: originals.info,
      });
    }
    return written;
  }

  async function copyFunction(env: Record<string, string> = {}) {
    const parts = runtime({ SYNCER_MAX_DELIVERY_ATTEMPTS: '5', ...env });
    await registerFunctions(parts.rt, 'copyJob');
    const fn = await serveFunction('copyJob');
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(fn.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    return { ...parts, fn, post };
  }

  it('records the delivery attempt Pub/Sub sends, and dead-letters on the last one', async () => {
    // https://cloud.google.com/pubsub/docs/push: the wrapped body carries
    // deliveryAttempt when the subscription has a dead-letter policy; any
    // status but 102/200/201/202/204 is a negative acknowledgement.
    const busy = await busySource();
    const { store, fn, post, registries } = await copyFunction();
    try {
      const job = { runId: 'push-run', source: `${busy.host}/team/app:v1` };
      const key = jobKey(`127.0.0.1:9/mirror/${busy.host.replace(':', '_')}/team/app:v1`);
      const unstructured = await unstructuredOutput(async () => {
        const third = await post(pushEnvelope(job, { deliveryAttempt: 3 }));
        assert.equal(third.status, 503, 'a transient failure is handed back');
        const record = (await store.readResult('push-run', key))?.value;
        assert.equal(record?.attempt, 3, 'the attempt Pub/Sub counted, not one counted here');
        assert.equal(record?.retrying, true);

        const last = await post(pushEnvelope(job, { deliveryAttempt: 5 }));
        assert.equal(last.status, 503);
        const deadLettered = (await store.readResult('push-run', key))?.value;
        assert.equal(deadLettered?.attempt, 5);
        assert.equal(deadLettered?.deadLettered, true);
      });
      assert.deepEqual(unstructured, [], 'no unstructured line per delivery');
    } finally {
      await fn.close();
      await registries.close().catch(() => {});
    }
  });

  it('acknowledges a permanent outcome with 204 and records it', async () => {
    const { store, fn, post, logger } = await copyFunction();
    try {
      const answer = await post(
        pushEnvelope(
          { runId: 'bad-run', source: 'alpine:3', target: 'x.io/y:1' },
          {
            messageId: 'm-bad',
            deliveryAttempt: 1,
          },
        ),
      );
      assert.equal(answer.status, 204);
      const [record] = await store.readResults('bad-run');
      assert.equal(record?.status, 'invalid');
      assert.match(record?.error ?? '', /unknown field "target"/);
      assert.ok(
        logger.lines.some((l) => l.message === 'invalid job message acknowledged without retry'),
      );
    } finally {
      await fn.close();
    }
  });

  it('takes the same data as a CloudEvent, binary or structured', async () => {
    const { store, fn, post } = await copyFunction();
    try {
      const envelope = JSON.parse(
        pushEnvelope({ runId: 'ce-run', source: 'alpine:3', prefix: 'x/' }, { messageId: 'ce-1' }),
      );
      const binary = await post(JSON.stringify(envelope), {
        'ce-id': 'ce-1',
        'ce-specversion': '1.0',
        'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
        'ce-source': '//pubsub.googleapis.com/projects/p/topics/jobs',
      });
      assert.equal(binary.status, 204);
      const structured = await post(
        JSON.stringify({
          specversion: '1.0',
          id: 'ce-2',
          type: 'google.cloud.pubsub.topic.v1.messagePublished',
          source: '//pubsub.googleapis.com/projects/p/topics/jobs',
          data: { ...envelope, message: { ...envelope.message, messageId: 'ce-2' } },
        }),
        { 'content-type': 'application/cloudevents+json' },
      );
      assert.equal(structured.status, 204);
      // Both deliveries name the same planned job: one record, under its key.
      const records = await store.readResults('ce-run');
      assert.equal(records.length, 1);
      assert.equal(records[0]?.key, jobKey('127.0.0.1:9/mirror/library/alpine:3'));
    } finally {
      await fn.close();
    }
  });

  it('refuses what is not a push envelope with a 400 and a log line, and records nothing', async () => {
    const { store, fn, post, logger } = await copyFunction();
    try {
      for (const [body, type] of [
        ['not json', 'text/plain'],
        ['{"data": "eA=="}', 'application/json'],
        ['{"message": {"data": "eA=="}}', 'application/json'],
      ] as const) {
        const answer = await post(body, { 'content-type': type });
        assert.equal(answer.status, 400, body);
        assert.match(((await answer.json()) as { error: string }).error, /push envelope|messageId/);
      }
      const get = await fetch(fn.url);
      assert.equal(get.status, 400);
      assert.equal(
        logger.lines.filter(
          (l) => l.message === 'request to the copy function is not a Pub/Sub push; refused',
        ).length,
        4,
      );
      assert.deepEqual((store.objects as MemoryObjectStore).names(), []);
    } finally {
      await fn.close();
    }
  });

  it('hands back a delivery whose record cannot be written, saying so in the log', async () => {
    const { fn, post, logger, store } = await copyFunction();
    store.writeResult = async () => {
      throw new Error('runs bucket unreachable');
    };
    try {
      const answer = await post(
        pushEnvelope(
          { runId: 'lost', source: 'alpine:3', target: 'x.io/y:1' },
          { messageId: 'm-lost', deliveryAttempt: 2 },
        ),
      );
      assert.equal(answer.status, 500);
      const line = logger.lines.find(
        (l) => l.message === 'job delivery failed; Pub/Sub will redeliver',
      );
      assert.equal(line?.fields?.messageId, 'm-lost');
      assert.equal(line?.fields?.deliveryAttempt, 2);
      assert.match(String(line?.fields?.error), /runs bucket unreachable/);
    } finally {
      await fn.close();
    }
  });
});

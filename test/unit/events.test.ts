// The CloudEvent adapters with a runtime of plain parts: a redelivered request
// message starts no second run, and a copy that outlasts its deadline hands
// the delivery back to Pub/Sub.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Storage } from '@google-cloud/storage';
import { loadConfig } from '../../functions/gcp/config.ts';
import { onCopyJob, onSyncRequested } from '../../functions/gcp/events.ts';
import type { Runtime } from '../../functions/gcp/runtime.ts';
import { TransientJobError } from '../../functions/pipeline/copy-job.ts';
import type { JobMessage } from '../../functions/pipeline/job.ts';
import { MemoryRunStore } from '../../functions/pipeline/run-store.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { MemoryLogger } from '../../functions/util/logger.ts';
import { type FakeServer, startFakeServer } from '../support/fake-server.ts';

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
  const store = new MemoryRunStore();
  const published: JobMessage[] = [];
  const logger = new MemoryLogger();
  const registries = new Registries({ policy: config.policy, retry: { attempts: 1 } });
  const rt: Runtime = {
    config,
    logger,
    storage: undefined as unknown as Storage, // only gs:// requests need it
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
    const [runId] = [...store.objects.keys()].map((k) => k.split('/')[1]);
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
      onCopyJob(message(job, 'm-9'), rt),
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
});

// Run records under concurrency: job records written by compare-and-swap with
// Cloud Storage generation preconditions, and the run-completed claim created
// with ifGenerationMatch=0. The same cases run against the in-memory store and
// against GcsRunStore talking to the Storage test server, whose precondition
// behaviour follows https://cloud.google.com/storage/docs/request-preconditions
// (412 conditionNotMet on a mismatch, 0 = only if no live object exists).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GcsRunStore } from '../../functions/gcp/gcs-run-store.ts';
import { StorageClient } from '../../functions/gcp/storage-client.ts';
import { recordResult, supersedes } from '../../functions/pipeline/record-result.ts';
import {
  CLAIM_LEASE_MS,
  completeRunIfDone,
  type RunCompletedEvent,
  type RunEventPublisher,
} from '../../functions/pipeline/run-completed.ts';
import {
  type JobResultRecord,
  MemoryRunStore,
  PreconditionFailedError,
  type RunRecord,
  type RunStore,
} from '../../functions/pipeline/run-store.ts';
import { MemoryLogger } from '../../functions/util/logger.ts';
import { type GcsServer, startGcsServer } from '../../scripts/local/gcs-server.ts';

const BUCKET = 'runs-bucket';

function result(runId: string, key: string, fields: Partial<JobResultRecord>): JobResultRecord {
  return {
    key,
    runId,
    source: `docker.io/library/${key}:1`,
    target: `mirror.example/${key}:1`,
    status: 'copied',
    finishedAt: new Date().toISOString(),
    ...fields,
  };
}

function run(runId: string, keys: string[]): RunRecord {
  return {
    runId,
    createdAt: new Date(Date.now() - 5_000).toISOString(),
    trigger: { type: 'http' },
    file: 'request body',
    dryRun: false,
    state: 'published',
    jobs: keys.map((key) => ({
      key,
      source: `docker.io/library/${key}:1`,
      target: `mirror.example/${key}:1`,
    })),
  };
}

/** A store whose next read of a job record waits for `release`: a delivery that read, then stalled. */
function stalledOnce(store: RunStore): {
  store: RunStore;
  read: Promise<void>;
  release: () => void;
} {
  const read = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  let first = true;
  const readResultVersion: RunStore['readResultVersion'] = async (runId, key) => {
    const value = await store.readResultVersion(runId, key);
    if (first) {
      first = false;
      read.resolve();
      await gate.promise;
    }
    return value;
  };
  const wrapper = new Proxy(store, {
    get: (target, name) =>
      name === 'readResultVersion'
        ? readResultVersion
        : (target[name as keyof RunStore] as (...a: unknown[]) => unknown).bind(target),
  });
  return { store: wrapper, read: read.promise, release: () => gate.resolve() };
}

class CountingPublisher implements RunEventPublisher {
  readonly events: RunCompletedEvent[] = [];
  failures = 0;
  async publishRunCompleted(event: RunCompletedEvent): Promise<string> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('publish failed (injected)');
    }
    this.events.push(event);
    return String(this.events.length);
  }
}

describe('which outcome a job record keeps', () => {
  const retry = (attempt: number) =>
    result('r', 'k', { status: 'failed', retrying: true, attempt });
  it('orders outcomes: copied > exists > ended failure > pending retry', () => {
    const copied = result('r', 'k', { status: 'copied' });
    const exists = result('r', 'k', { status: 'exists' });
    const dead = result('r', 'k', { status: 'failed', deadLettered: true, attempt: 5 });
    assert.ok(supersedes(copied, exists) && !supersedes(exists, copied));
    assert.ok(supersedes(exists, dead) && !supersedes(dead, exists));
    assert.ok(supersedes(dead, retry(4)) && !supersedes(retry(4), dead));
    assert.ok(!supersedes(retry(9), copied), 'a late retry never reopens an ended job');
    assert.ok(supersedes(retry(3), retry(2)) && !supersedes(retry(2), retry(3)));
    assert.ok(!supersedes(exists, result('r', 'k', { status: 'exists' })), 'the first stays');
  });
});

for (const kind of ['memory', 'gcs'] as const) {
  describe(`run records with generation preconditions (${kind} store)`, () => {
    let gcs: GcsServer | undefined;
    let store: RunStore;
    before(async () => {
      if (kind === 'memory') {
        store = new MemoryRunStore();
        return;
      }
      gcs = await startGcsServer();
      store = new GcsRunStore(new StorageClient({ endpoint: gcs.url }), BUCKET);
    });
    after(() => gcs?.close());

    it('a create-only write (ifGenerationMatch 0) succeeds once; a stale generation is refused', async () => {
      const first = await store.writeResult(result('p', 'a', {}), { ifGenerationMatch: '0' });
      await assert.rejects(
        store.writeResult(result('p', 'a', { status: 'exists' }), { ifGenerationMatch: '0' }),
        PreconditionFailedError,
      );
      const second = await store.writeResult(result('p', 'a', { status: 'exists' }), {
        ifGenerationMatch: first,
      });
      assert.ok(BigInt(second) > BigInt(first), 'a new generation');
      await assert.rejects(
        store.writeResult(result('p', 'a', {}), { ifGenerationMatch: first }),
        (error: PreconditionFailedError) => error.code === 'PRECONDITION_FAILED',
      );
      const kept = await store.readResultVersion('p', 'a');
      assert.equal(kept?.value.status, 'exists');
      assert.equal(kept?.generation, second);
      if (!gcs) return;
      // On the wire: the precondition is the JSON API's ifGenerationMatch query parameter…
      assert.ok(gcs.requests.some((r) => /[?&]ifGenerationMatch=0(&|$)/.test(r.path)));
      // …and a mismatch is 412 with reason conditionNotMet, as the service answers.
      const refused = await fetch(
        `${gcs.url}/upload/storage/v1/b/${BUCKET}/o?uploadType=media&name=runs/p/results/a.json&ifGenerationMatch=${first}`,
        { method: 'POST', body: '{}' },
      );
      assert.equal(refused.status, 412);
      const body = (await refused.json()) as { error: { errors: { reason: string }[] } };
      assert.equal(body.error.errors[0]?.reason, 'conditionNotMet');
    });

    it('a delivery that read before a better outcome was written cannot replace it', async () => {
      await recordResult(
        store,
        result('late', 'k', { status: 'failed', retrying: true, attempt: 1 }),
      );
      const refusedBefore = gcs?.preconditionFailures() ?? 0;
      const stalled = stalledOnce(store);
      // The slow delivery read the attempt-1 record and wants to write its own retry…
      const late = recordResult(
        stalled.store,
        result('late', 'k', { status: 'failed', retrying: true, attempt: 2 }),
      );
      await stalled.read;
      // …meanwhile another delivery copied the image.
      assert.equal((await recordResult(store, result('late', 'k', {}))).written, true);
      stalled.release();
      const outcome = await late;
      assert.equal(outcome.written, false);
      assert.equal(outcome.record.status, 'copied');
      assert.equal((await store.readResult('late', 'k'))?.status, 'copied');
      if (gcs)
        assert.equal(gcs.preconditionFailures(), refusedBefore + 1, 'the stale write got 412');
    });

    it('concurrent writers of one job: the best outcome wins whatever the order', async () => {
      for (let round = 0; round < 3; round++) {
        const key = `race-${round}`;
        const writers = [
          result('race', key, { status: 'failed', retrying: true, attempt: 1 }),
          result('race', key, { status: 'failed', retrying: true, attempt: 2 }),
          result('race', key, { status: 'exists' }),
          result('race', key, { status: 'copied' }),
          result('race', key, { status: 'exists' }),
          result('race', key, { status: 'failed', deadLettered: true, attempt: 5 }),
        ];
        if (round % 2) writers.reverse();
        const logger = new MemoryLogger();
        const outcomes = await Promise.all(writers.map((w) => recordResult(store, w, logger)));
        assert.equal((await store.readResult('race', key))?.status, 'copied');
        assert.ok(outcomes.some((o) => o.written && o.record.status === 'copied'));
      }
    });

    it('the run-completed claim: many concurrent last jobs, exactly one message', async () => {
      const runId = `done-${kind}`;
      await store.writeRun(run(runId, ['a', 'b', 'c']));
      await store.writeResult(result(runId, 'a', {}));
      await store.writeResult(result(runId, 'b', { status: 'exists' }));
      await store.writeResult(
        result(runId, 'c', {
          status: 'failed',
          deadLettered: true,
          errorCode: 'NETWORK',
          error: 'answered 503',
        }),
      );
      const events = new CountingPublisher();
      const logger = new MemoryLogger();
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, () => completeRunIfDone(runId, { store, logger, events })),
      );
      assert.equal(outcomes.filter((o) => o === 'published').length, 1, outcomes.join());
      assert.equal(events.events.length, 1);
      const event = events.events[0] as RunCompletedEvent;
      assert.deepEqual(event.counts, { copied: 1, exists: 1, failed: 1 });
      assert.equal(event.outcome, 'failed');
      assert.equal(event.deadLettered, 1);
      assert.deepEqual(event.categories, { internal: 1 });
      assert.equal(event.problems[0]?.errorCode, 'NETWORK');
      assert.equal(logger.lines.filter((l) => l.message === 'run completed').length, 1);
      const marker = await store.readCompletion(runId);
      assert.equal(marker?.value.state, 'published');
      assert.equal(marker?.value.messageId, '1');
      assert.equal(await completeRunIfDone(runId, { store, logger, events }), 'already');
    });

    it('no message while a job is pending; a failed publish hands the claim to the next delivery', async () => {
      const runId = `retry-${kind}`;
      await store.writeRun(run(runId, ['a', 'b']));
      await store.writeResult(result(runId, 'a', {}));
      await store.writeResult(result(runId, 'b', { status: 'failed', retrying: true, attempt: 1 }));
      const events = new CountingPublisher();
      const deps = { store, logger: new MemoryLogger(), events };
      assert.equal(await completeRunIfDone(runId, deps), 'pending');
      await store.writeResult(result(runId, 'b', {}));
      events.failures = 1;
      await assert.rejects(completeRunIfDone(runId, deps), /publish failed/);
      assert.equal(await completeRunIfDone(runId, deps), 'published');
      assert.equal(await completeRunIfDone(runId, deps), 'already');
      assert.equal(events.events.length, 1);
    });

    it('a claim whose holder died is taken over after the lease, not before', async () => {
      const runId = `lease-${kind}`;
      await store.writeRun(run(runId, ['a']));
      await store.writeResult(result(runId, 'a', {}));
      const stuck = (await completeRunIfDone(runId, { store, logger: new MemoryLogger() })) && 0;
      assert.equal(stuck, 0);
      // Simulate a holder that crashed after claiming: put the marker back to `claimed`.
      const marker = await store.readCompletion(runId);
      assert.ok(marker);
      await store.writeCompletion(
        { ...marker.value, state: 'claimed', claimedAt: new Date().toISOString() },
        { ifGenerationMatch: marker.generation },
      );
      const events = new CountingPublisher();
      const deps = { store, logger: new MemoryLogger(), events };
      assert.equal(await completeRunIfDone(runId, deps), 'already');
      const later = { ...deps, now: () => Date.now() + CLAIM_LEASE_MS + 1 };
      const both = await Promise.all([
        completeRunIfDone(runId, later),
        completeRunIfDone(runId, later),
      ]);
      assert.deepEqual([...both].sort(), ['already', 'published']);
      assert.equal(events.events.length, 1);
    });

    it('lists recent runs newest first', async () => {
      const runs = await store.listRuns(2);
      assert.equal(runs.length, 2);
      assert.ok(runs.every((r) => r.jobs.length > 0));
    });
  });
}

// Job records under concurrency: written by compare-and-swap with Cloud
// Storage generation preconditions. The same cases run against the memory
// store and against Cloud Storage (the library and the Storage test server),
// whose precondition behaviour follows
// https://cloud.google.com/storage/docs/request-preconditions (412
// conditionNotMet on a mismatch, 0 = only if no live object exists).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PreconditionFailedError } from '../../functions/pipeline/object-store.ts';
import { recordResult, supersedes } from '../../functions/pipeline/record-result.ts';
import type { JobResultRecord } from '../../functions/pipeline/records.ts';
import { ABSENT, type RunStore } from '../../functions/pipeline/run-store.ts';
import { MemoryLogger } from '../../functions/util/logger.ts';
import {
  openRunStore,
  plannedRun,
  result,
  STORE_KINDS,
  type TestRunStore,
} from '../support/run-stores.ts';

/** A store whose next read of a job record waits for `release`: a delivery that read, then stalled. */
function stalledOnce(store: RunStore): {
  store: RunStore;
  read: Promise<void>;
  release: () => void;
} {
  const read = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  let first = true;
  const readResult: RunStore['readResult'] = async (runId, key) => {
    const value = await store.readResult(runId, key);
    if (first) {
      first = false;
      read.resolve();
      await gate.promise;
    }
    return value;
  };
  const wrapper = new Proxy(store, {
    get: (target, name) =>
      name === 'readResult'
        ? readResult
        : (target[name as keyof RunStore] as (...a: unknown[]) => unknown).bind(target),
  });
  return { store: wrapper, read: read.promise, release: () => gate.resolve() };
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

for (const kind of STORE_KINDS) {
  describe(`run records with generation preconditions (${kind} store)`, () => {
    let opened: TestRunStore;
    let store: RunStore;
    before(async () => {
      opened = await openRunStore(kind);
      store = opened.store;
    });
    after(() => opened.close());

    it('a create (ifGenerationMatch 0) succeeds once; a stale generation is refused', async () => {
      const first = await store.writeResult(result('p', 'a'), ABSENT);
      await assert.rejects(
        store.writeResult(result('p', 'a', { status: 'exists' }), ABSENT),
        PreconditionFailedError,
      );
      const second = await store.writeResult(result('p', 'a', { status: 'exists' }), first);
      assert.ok(BigInt(second) > BigInt(first), 'a new generation');
      await assert.rejects(
        store.writeResult(result('p', 'a'), first),
        (error: PreconditionFailedError) => error.code === 'PRECONDITION_FAILED',
      );
      const kept = await store.readResult('p', 'a');
      assert.equal(kept?.value.status, 'exists');
      assert.equal(kept?.generation, second);
      const gcs = opened.gcs;
      if (!gcs) return;
      // On the wire: the precondition is the JSON API's ifGenerationMatch query parameter…
      assert.ok(gcs.requests.some((r) => /[?&]ifGenerationMatch=0(&|$)/.test(r.path)));
      // …a mismatch is 412 with reason conditionNotMet, as the service answers…
      assert.ok(gcs.requests.some((r) => r.status === 412));
      // …and the outcome is in the record's metadata, for listings.
      const [summary] = await store.listResults('p');
      assert.deepEqual(summary, { key: 'a', final: true, status: 'exists' });
    });

    it('a delivery that read before a better outcome was written cannot replace it', async () => {
      await recordResult(
        store,
        result('late', 'k', { status: 'failed', retrying: true, attempt: 1 }),
      );
      const refusedBefore = opened.gcs?.preconditionFailures() ?? 0;
      const stalled = stalledOnce(store);
      // The slow delivery read the attempt-1 record and wants to write its own retry…
      const late = recordResult(
        stalled.store,
        result('late', 'k', { status: 'failed', retrying: true, attempt: 2 }),
      );
      await stalled.read;
      // …meanwhile another delivery copied the image.
      assert.equal((await recordResult(store, result('late', 'k'))).written, true);
      stalled.release();
      const outcome = await late;
      assert.equal(outcome.written, false);
      assert.equal(outcome.record.status, 'copied');
      assert.equal((await store.readResult('late', 'k'))?.value.status, 'copied');
      if (opened.gcs)
        assert.equal(
          opened.gcs.preconditionFailures(),
          refusedBefore + 1,
          'the stale write got 412',
        );
    });

    it('concurrent writers of one job: the best outcome wins whatever the order', async () => {
      for (let round = 0; round < 3; round++) {
        const key = `race-${round}`;
        const writers: JobResultRecord[] = [
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
        assert.equal((await store.readResult('race', key))?.value.status, 'copied');
        assert.ok(outcomes.some((o) => o.written && o.record.status === 'copied'));
      }
    });

    it('a run record is created once; listing shows the newest runs first', async () => {
      const at = (iso: string, runId: string, keys: string[]) => ({
        ...plannedRun(runId, keys),
        createdAt: iso,
      });
      await store.writeRun(at('2026-01-01T00:00:00Z', 'older', ['a']), ABSENT);
      const generation = await store.writeRun(at('2026-01-02T00:00:00Z', 'newer', ['b']), ABSENT);
      await assert.rejects(
        store.writeRun(plannedRun('newer', ['x']), ABSENT),
        PreconditionFailedError,
      );
      assert.equal((await store.readRun('newer'))?.generation, generation);
      const runs = await store.listRuns(2);
      assert.deepEqual(
        runs.map((r) => r.runId),
        ['newer', 'older'],
      );
    });
  });
}

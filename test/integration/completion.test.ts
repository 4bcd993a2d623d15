// A run's completion (pipeline/completion.ts): detected from its shards at a
// cost per job that does not grow with the run, announced at least once and
// never lost whatever delivery dies when. The same cases run against the
// memory store and against Cloud Storage (the library, the Storage test
// server). Listings after writes are strongly consistent
// (https://cloud.google.com/storage/docs/consistency), which is what the
// shard check relies on; the test server answers in that order too.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type CompletionDeps,
  completeRunIfDone,
  RunCompletingError,
  shardDigits,
  shardPlans,
  writeShardPlans,
} from '../../functions/pipeline/completion.ts';
import type { JobResultRecord, RunCompletedEvent } from '../../functions/pipeline/records.ts';
import type { RunEventPublisher } from '../../functions/pipeline/run-completed.ts';
import { ABSENT, type RunStore } from '../../functions/pipeline/run-store.ts';
import { MemoryLogger } from '../../functions/util/logger.ts';
import {
  keyOf,
  openRunStore,
  plannedRun,
  result,
  STORE_KINDS,
  type TestRunStore,
} from '../support/run-stores.ts';

class CountingPublisher implements RunEventPublisher {
  readonly events: RunCompletedEvent[] = [];
  failures = 0;
  /** Set: the publish waits for this before it is acknowledged. */
  gate: Promise<void> | undefined;
  async publishRunCompleted(event: RunCompletedEvent): Promise<string> {
    await this.gate;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('publish failed (injected)');
    }
    this.events.push(event);
    return String(this.events.length);
  }
}

describe('shards of a run', () => {
  it('about 64 planned jobs a shard, one more hex digit per 16 times as many jobs', () => {
    assert.deepEqual(
      [1, 64, 1_000, 1_024, 1_025, 10_000, 16_384, 16_385].map(shardDigits),
      [1, 1, 1, 1, 2, 2, 2, 3],
    );
    const keys = Array.from({ length: 2_000 }, (_, i) => keyOf(`img-${i}`));
    const plans = shardPlans(plannedRun('r', keys));
    assert.equal(plans.length, 256);
    assert.ok(plans.every((p) => p.shards === 256 && p.keys.every((k) => k.startsWith(p.shard))));
    assert.equal(
      plans.reduce((n, p) => n + p.keys.length, 0),
      2_000,
    );
  });
});

for (const kind of STORE_KINDS) {
  describe(`run completion (${kind} store)`, () => {
    let opened: TestRunStore;
    let store: RunStore;
    before(async () => {
      opened = await openRunStore(kind);
      store = opened.store;
    });
    after(() => opened.close());

    /** The fan-out's part: the run record and its shard plans. */
    async function plan(runId: string, jobs: number): Promise<string[]> {
      const keys = Array.from({ length: jobs }, (_, i) => keyOf(`${runId}-${i}`));
      const run = plannedRun(runId, keys);
      await store.writeRun(run, ABSENT);
      await writeShardPlans(store, run);
      return keys;
    }

    /** A copy function's part for one job: its final record, then the check. */
    async function end(
      runId: string,
      key: string,
      deps: CompletionDeps,
      fields: Partial<JobResultRecord> = {},
      runJobs?: number,
    ) {
      const current = await store.readResult(runId, key);
      await store.writeResult(result(runId, key, fields), current?.generation ?? ABSENT);
      return completeRunIfDone({ runId, key, ...(runJobs && { runJobs }) }, deps);
    }

    it('announces once, after the last of its jobs, whatever order they end in', async () => {
      const keys = await plan('order', 150);
      const events = new CountingPublisher();
      const deps = { store, logger: new MemoryLogger(), events };
      const shuffled = [...keys].sort(() => Math.random() - 0.5);
      const outcomes: string[] = [];
      for (const key of shuffled.slice(0, -1))
        outcomes.push(await end('order', key, deps, {}, keys.length));
      assert.ok(
        outcomes.every((o) => o === 'pending'),
        'nothing before the last job',
      );
      assert.equal(
        await end('order', shuffled.at(-1) as string, deps, {}, keys.length),
        'published',
      );
      assert.equal(events.events.length, 1);
      assert.equal(events.events[0]?.images, 150);
      assert.deepEqual(events.events[0]?.counts, { copied: 150 });
      assert.equal((await store.readCompletion('order'))?.messageId, '1');
    });

    it('many last jobs at once: exactly one message, the others acknowledged or handed back', async () => {
      const keys = await plan('race', 12);
      for (const key of keys) await store.writeResult(result('race', key), ABSENT);
      await store.writeResult(
        result('race', keys[0] as string, {
          status: 'failed',
          deadLettered: true,
          errorCode: 'NETWORK_ERROR',
          category: 'network',
          error: 'answered 503',
        }),
        (await store.readResult('race', keys[0] as string))?.generation as string,
      );
      const events = new CountingPublisher();
      const logger = new MemoryLogger();
      const outcomes = await Promise.all(
        keys.map((key) =>
          completeRunIfDone({ runId: 'race', key, runJobs: 12 }, { store, logger, events }).catch(
            (error: unknown) => (error instanceof RunCompletingError ? 'handed back' : error),
          ),
        ),
      );
      assert.equal(outcomes.filter((o) => o === 'published').length, 1, outcomes.join());
      assert.ok(
        outcomes.every((o) =>
          ['published', 'already', 'handed back', 'pending'].includes(o as string),
        ),
      );
      assert.equal(events.events.length, 1);
      const event = events.events[0] as RunCompletedEvent;
      assert.deepEqual(event.counts, { copied: 11, failed: 1 });
      assert.equal(event.outcome, 'failed');
      assert.equal(event.deadLettered, 1);
      assert.deepEqual(event.categories, { network: 1 });
      assert.equal(event.problems[0]?.errorCode, 'NETWORK_ERROR');
      assert.equal(logger.lines.filter((l) => l.message === 'run completed').length, 1);
    });

    it('a pending job, or a record nobody planned, does not complete the run', async () => {
      const [a, b] = await plan('open', 2);
      const events = new CountingPublisher();
      const deps = { store, logger: new MemoryLogger(), events };
      assert.equal(await end('open', a as string, deps, {}, 2), 'pending');
      // A record under a key of the run's shard that no plan names (a forged job).
      const stray = `${(b as string).slice(0, 1)}${'0'.repeat(23)}`;
      assert.equal(await end('open', stray, deps, {}, 2), 'pending');
      assert.equal(
        await end('open', b as string, deps, { status: 'failed', retrying: true }, 2),
        'pending',
      );
      assert.equal(events.events.length, 0);
      assert.equal(await end('open', b as string, deps, {}, 2), 'published');
      assert.equal(events.events[0]?.images, 2, 'the stray record is not an image of the run');
    });

    it('a claimer that died before publishing: later deliveries hand back until its lease ends, then announce', async () => {
      const [only] = await plan('dead', 1);
      await store.writeResult(result('dead', only as string), ABSENT);
      // The claimer died between its claim and the publish: its claim stands.
      await store.writeClaim(
        {
          runId: 'dead',
          claimId: 'the-dead-one',
          claimedAt: new Date().toISOString(),
          leaseUntil: new Date(Date.now() + 120_000).toISOString(),
        },
        ABSENT,
      );
      const events = new CountingPublisher();
      const deps = { store, logger: new MemoryLogger(), events };
      const job = { runId: 'dead', key: only as string, runJobs: 1 };
      await assert.rejects(completeRunIfDone(job, deps), RunCompletingError);
      assert.equal(events.events.length, 0, 'not acknowledged as done: handed back');
      const later = { ...deps, now: () => Date.now() + 120_001 };
      const both = await Promise.all(
        [1, 2].map(() => completeRunIfDone(job, later).catch((e: unknown) => (e as Error).name)),
      );
      assert.deepEqual([...both].sort(), ['RunCompletingError', 'published'].sort(), both.join());
      assert.equal(events.events.length, 1);
      assert.equal(await completeRunIfDone(job, deps), 'already');
    });

    it('a failed publish hands the claim back at once: the next delivery announces', async () => {
      const [only] = await plan('retry', 1);
      const events = new CountingPublisher();
      events.failures = 1;
      const deps = { store, logger: new MemoryLogger(), events };
      await assert.rejects(end('retry', only as string, deps, {}, 1), /publish failed/);
      assert.equal(
        await completeRunIfDone({ runId: 'retry', key: only as string }, deps),
        'published',
      );
      assert.equal(events.events.length, 1);
    });

    it('a publish that outlives the claim is abandoned: no message goes out after the lease', async () => {
      const [only] = await plan('slow', 1);
      const events = new CountingPublisher();
      const release = Promise.withResolvers<void>();
      events.gate = release.promise;
      const deps = { store, logger: new MemoryLogger(), events, leaseMs: 400 };
      await assert.rejects(end('slow', only as string, deps, {}, 1), /claim ran out/);
      release.resolve();
      assert.equal(await store.readCompletion('slow'), undefined);
    });

    it('a run planned without shard plans, or a job without the run size, still completes', async () => {
      const keys = Array.from({ length: 3 }, (_, i) => keyOf(`legacy-${i}`));
      await store.writeRun(plannedRun('legacy', keys), ABSENT);
      const events = new CountingPublisher();
      const deps = { store, logger: new MemoryLogger(), events };
      const outcomes = [];
      for (const key of keys) outcomes.push(await end('legacy', key, deps));
      assert.deepEqual(outcomes, ['pending', 'pending', 'published']);
    });

    if (kind === 'gcs')
      it('completed.json meeting a 503 is retried by the client: one message, no second claim', async () => {
        const [only] = await plan('flaky', 1);
        const events = new CountingPublisher();
        const deps = { store, logger: new MemoryLogger(), events };
        opened.gcs?.fail(1, 503, ({ name }) => name === 'runs/flaky/completed.json');
        assert.equal(await end('flaky', only as string, deps, {}, 1), 'published');
        assert.equal(events.events.length, 1);
        assert.equal(
          await completeRunIfDone({ runId: 'flaky', key: only as string }, deps),
          'already',
        );
      });
  });
}

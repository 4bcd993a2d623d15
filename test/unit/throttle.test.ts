// Client-side throttling (registry/throttle.ts) on a virtual clock: in any
// window of T seconds at most T × rate + 1 requests, and writes under their
// own rate, however many callers ask at once. Artifact Registry counts
// requests and writes per minute (https://cloud.google.com/artifact-registry/quotas);
// these are the bounds infra/README.md "Sizing" multiplies by the instances.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Clock, Throttle } from '../../functions/registry/throttle.ts';

/** Time moves only when every caller is waiting; each sleeper wakes at its own time. */
function virtualClock(): Clock & { run(): Promise<void> } {
  let now = 0;
  const sleepers: { at: number; wake: () => void }[] = [];
  return {
    now: () => now,
    sleep: (ms) =>
      new Promise<void>((wake) => {
        sleepers.push({ at: now + ms, wake });
      }),
    async run() {
      for (;;) {
        await new Promise((resolve) => setImmediate(resolve));
        if (sleepers.length === 0) return;
        sleepers.sort((a, b) => a.at - b.at);
        const next = sleepers.shift() as { at: number; wake: () => void };
        now = Math.max(now, next.at);
        next.wake();
      }
    },
  };
}

/** The most `times` that fall into any window [t, t + windowMs). */
function busiestWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[i] as number) - (sorted[j] as number) >= windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

async function send(
  throttle: Throttle,
  clock: ReturnType<typeof virtualClock>,
  methods: readonly string[],
) {
  const sent: { method: string; at: number }[] = [];
  const all = Promise.all(
    methods.map(async (method) => {
      await throttle.take(method);
      sent.push({ method, at: clock.now() });
    }),
  );
  await clock.run();
  await all;
  return sent;
}

describe('client-side throttle', () => {
  it('a burst of 600 requests at 10 a second: never more than 10 in a second, 600 in a minute', async () => {
    const clock = virtualClock();
    const throttle = new Throttle({ requestsPerSecond: 10, writesPerSecond: 0 }, clock);
    const sent = await send(throttle, clock, Array(600).fill('HEAD'));
    const times = sent.map((s) => s.at);
    assert.equal(sent.length, 600);
    assert.ok(busiestWindow(times, 1000) <= 10 + 1, `${busiestWindow(times, 1000)} in a second`);
    assert.ok(busiestWindow(times, 60_000) <= 600 + 1);
    assert.ok(Math.max(...times) < 60_000, 'and no slower than the rate');
    assert.equal(throttle.counts.waited, 599, 'only the first went at once');
  });

  it('writes keep their own, lower rate inside the request rate', async () => {
    const clock = virtualClock();
    const throttle = new Throttle({ requestsPerSecond: 20, writesPerSecond: 3 }, clock);
    const methods: string[] = Array.from({ length: 300 }, (_, i) =>
      i % 3 === 0 ? 'PUT' : i % 3 === 1 ? 'POST' : 'GET',
    );
    const sent = await send(throttle, clock, methods);
    const writes = sent.filter((s) => s.method !== 'GET').map((s) => s.at);
    const all = sent.map((s) => s.at);
    assert.equal(writes.length, 200);
    assert.ok(
      busiestWindow(writes, 1000) <= 3 + 1,
      `${busiestWindow(writes, 1000)} writes in a second`,
    );
    assert.ok(busiestWindow(all, 1000) <= 20 + 1);
    assert.deepEqual(throttle.counts, { requests: 300, writes: 200, waited: 299 });
  });

  it('a fraction of a request a second (a big deployment’s share) spaces them seconds apart', async () => {
    const clock = virtualClock();
    const throttle = new Throttle({ requestsPerSecond: 0.5, writesPerSecond: 0 }, clock);
    const times = (await send(throttle, clock, Array(5).fill('GET'))).map((s) => s.at);
    assert.deepEqual(times, [0, 2000, 4000, 6000, 8000]);
  });

  it('a request sent below the rate does not wait', async () => {
    let now = 0;
    const throttle = new Throttle(
      { requestsPerSecond: 2, writesPerSecond: 1 },
      { now: () => now, sleep: async () => assert.fail('waited') },
    );
    for (const method of ['PUT', 'GET', 'PUT'] as const) {
      await throttle.take(method);
      now += 1000;
    }
    assert.equal(throttle.counts.waited, 0);
  });
});

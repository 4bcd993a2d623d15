import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allEnded, Limiter, mapLimited } from '../../functions/engine/limiter.ts';

describe('Limiter', () => {
  it('runs at most `limit` tasks at once', async () => {
    let running = 0;
    let peak = 0;
    await mapLimited([...Array(20).keys()], 3, async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 2));
      running--;
    });
    assert.equal(peak, 3);
  });

  it('starts waiting tasks highest priority first, then in arrival order', async () => {
    const limiter = new Limiter(1);
    const order: string[] = [];
    let release: () => void = () => {};
    const blocker = limiter.run(() => new Promise<void>((resolve) => (release = resolve)));
    const queued = [
      limiter.run(async () => void order.push('small-a'), 10),
      limiter.run(async () => void order.push('large'), 1_000),
      limiter.run(async () => void order.push('small-b'), 10),
      limiter.run(async () => void order.push('medium'), 100),
    ];
    release();
    await Promise.all([blocker, ...queued]);
    assert.deepEqual(order, ['large', 'medium', 'small-a', 'small-b']);
  });

  it('frees the slot when a task fails', async () => {
    const limiter = new Limiter(1);
    await assert.rejects(limiter.run(async () => Promise.reject(new Error('boom'))));
    assert.equal(await limiter.run(async () => 'next'), 'next');
  });
});

describe('allEnded', () => {
  it('gives every value, in order, once all have succeeded', async () => {
    assert.deepEqual(await allEnded([Promise.resolve(1), Promise.resolve(2)]), [1, 2]);
  });

  it('throws the first failure only once every other promise has ended', async () => {
    const order: string[] = [];
    let finish: () => void = () => undefined;
    const slow = new Promise<void>((resolve) => {
      finish = resolve;
    }).then(() => {
      order.push('slow ended');
    });
    const failing = Promise.reject(new Error('first'));
    const later = Promise.resolve().then(() => {
      throw new Error('second');
    });
    const all = allEnded([slow, failing, later]).catch((error: Error) => {
      order.push(`threw ${error.message}`);
    });
    // Both failures have happened by now; the slow promise has not ended.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, []);
    finish();
    await all;
    assert.deepEqual(order, ['slow ended', 'threw first']);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Limiter, mapLimited } from '../../functions/engine/limiter.ts';

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

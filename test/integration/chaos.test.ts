// Run bookkeeping through dying instances (test/support/chaos.ts): 500 images
// through the Pub/Sub emulator into copy functions under the real Functions
// Framework, SIGKILLed at random moments and restarted, and once exactly
// between the claim of the run's announcement and its publish. Whatever died
// when: every image ends with exactly one final record, the run is announced
// (at least once, every message with the run's id), nothing is dead-lettered,
// and the run page says done.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runChaos } from '../support/chaos.ts';

const IMAGES = 500;

describe(`chaos: copy instances killed during a ${IMAGES}-image run`, () => {
  it('ends every image once, announces the run, dead-letters nothing', {
    timeout: 240_000,
  }, async () => {
    const outcome = await runChaos({
      images: IMAGES,
      instances: 2,
      killEveryMs: [1500, 3000],
      timeoutMs: 180_000,
      say: (line) => process.stdout.write(`# ${line}\n`),
    });
    process.stdout.write(
      `# chaos: ${IMAGES} images in ${outcome.seconds.toFixed(1)} s, ${outcome.kills} random kills (${outcome.killsBeforeClaim} before the last job ended), claimer killed: ${outcome.claimerKilled}; pushes answered ${JSON.stringify(outcome.pushes)}; ${outcome.messages.length} run-completed message(s)\n`,
    );
    assert.ok(outcome.killsBeforeClaim >= 1, 'an instance died at a random moment mid-run');
    assert.equal(outcome.claimerKilled, true, 'the claimer died between claim and publish');
    assert.ok((outcome.pushes[503] ?? 0) + (outcome.pushes[429] ?? 0) > 0, 'deliveries were lost');

    assert.equal(outcome.plannedKeys.length, IMAGES);
    assert.equal(outcome.records.size, IMAGES, 'one record per image, none other');
    for (const key of outcome.plannedKeys) {
      const record = outcome.records.get(key);
      // `exists`: an instance killed after writing the tag but before recording it.
      assert.ok(record?.final, `${key} ended`);
      assert.ok(['copied', 'exists'].includes(record?.status ?? ''), `${key}: ${record?.status}`);
    }
    assert.equal(outcome.targetTags, IMAGES, 'every image is in the target');

    assert.ok(outcome.messages.length >= 1, 'the run is announced');
    for (const message of outcome.messages) {
      assert.equal(message.attributes.runId, outcome.runId);
      assert.equal(message.data.images, IMAGES);
      const { copied = 0, exists = 0, ...others } = message.data.counts;
      assert.equal(copied + exists, IMAGES);
      assert.deepEqual(others, {});
    }
    assert.equal(outcome.deadLetters, 0, 'nothing dead-lettered');
    assert.equal(outcome.status.phase, 'done');
    assert.equal(outcome.status.done, true);
    const { copied = 0, exists = 0 } = outcome.status.counts;
    assert.equal(copied + exists, IMAGES);
  });
});

// The Cloud Storage cost of a run's records (infra/README.md, "Cost per run"):
// the formulas stated there, read from the README itself, against the reads,
// writes and listings a run really makes, through the same code the functions
// run (the fan-out's records, then for every job the copy function's read,
// record and shard check, and the announcement), in the memory store, which
// counts every request.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { completeRunIfDone, shardPlans } from '../../functions/pipeline/completion.ts';
import { fanOut } from '../../functions/pipeline/fanout.ts';
import { MemoryObjectStore } from '../../functions/pipeline/memory-object-store.ts';
import { recordResult } from '../../functions/pipeline/record-result.ts';
import type { JobResultRecord, RunCompletedEvent } from '../../functions/pipeline/records.ts';
import { RunStore } from '../../functions/pipeline/run-store.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { silentLogger } from '../../functions/util/logger.ts';
import { evaluateNumber } from '../../scripts/terraform/arithmetic.ts';

type Kind = 'read' | 'write' | 'list';

/** The README's `| operation | class | requests per run |` rows: the formula of each kind. */
function statedFormulas(): Record<Kind, string> {
  const readme = readFileSync(new URL('../../infra/README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Cost per run'));
  const rows = [...section.matchAll(/^\| (read|write|list) \| [AB] \| `([^`]+)` \|$/gm)];
  assert.equal(rows.length, 3, 'the README states a formula for reads, writes and listings');
  return Object.fromEntries(rows.map((m) => [m[1], m[2]])) as Record<Kind, string>;
}

/** One run of `images` jobs, `problems` of them failing, each ending once; the requests it made. */
async function runOnce(images: number, problems: number) {
  const objects = new MemoryObjectStore();
  const store = new RunStore(objects);
  const messages: RunCompletedEvent[] = [];
  const events = { publishRunCompleted: async (e: RunCompletedEvent) => String(messages.push(e)) };
  // The fan-out, as the functions run it (digests not pinned: no registry here).
  const file = `images:\n${Array.from({ length: images }, (_, i) => `- source: ghcr.io/acme/app-${i}:v1\n`).join('')}`;
  const { run } = await fanOut(
    { runId: 'cost', file: 'request body', bytes: Buffer.from(file), trigger: {}, dryRun: false },
    {
      prefix: parseTargetPrefix('europe-docker.pkg.dev/acme/mirror/'),
      store,
      publisher: { publish: async () => undefined },
      logger: silentLogger,
    },
  );
  assert.equal(run.jobs.length, images);
  // Each copy function delivery, in a fixed order scattered over the run's
  // shards: job i * 7919 mod N, a permutation as long as the prime 7919 does not divide N.
  const order = run.jobs.map((_, i) => run.jobs[(i * 7919) % images] as (typeof run.jobs)[number]);
  assert.equal(new Set(order).size, images, 'every job once');
  for (const [i, job] of order.entries()) {
    const previous = (await store.readResult(run.runId, job.key)) ?? null;
    const record: JobResultRecord = {
      key: job.key,
      runId: run.runId,
      source: job.source,
      target: job.target,
      finishedAt: new Date().toISOString(),
      ...(i < problems
        ? { status: 'failed', errorCode: 'SOURCE_NOT_FOUND', category: 'not-found' }
        : { status: 'copied' }),
    };
    await recordResult(store, record, silentLogger, previous);
    await completeRunIfDone(
      { runId: run.runId, key: job.key, runJobs: images },
      { store, logger: silentLogger, events },
    );
  }
  return { requests: objects.requests, shards: shardPlans(run).length, messages };
}

describe('the Cloud Storage cost of a run (infra/README.md)', () => {
  for (const [images, problems] of [
    [1, 0],
    [300, 7],
    [2_000, 150],
  ] as const) {
    it(`${images} images, ${problems} of them failing: reads, writes and listings as stated`, async () => {
      const { requests, shards, messages } = await runOnce(images, problems);
      assert.equal(messages.length, 1);
      const bound: Record<string, number> = { N: images, S: shards, P: problems };
      const formulas = statedFormulas();
      for (const kind of ['read', 'write', 'list'] as const) {
        // The memory store lists in one request what Cloud Storage pages by 1,000.
        const pages = kind === 'list' ? Math.ceil(images / 1000) - 1 : 0;
        const stated = evaluateNumber(formulas[kind], (name) => bound[name]);
        assert.equal(requests[kind] + pages, stated, `${kind}s: ${formulas[kind]}`);
      }
    });
  }
});

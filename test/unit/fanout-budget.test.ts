// The fan-out against a scripted registry that announces a pull budget the way
// Docker Hub does (ratelimit-* headers on manifest HEADs, docker/docs
// content/manuals/docker-hub/usage/pulls.md): a run that cannot fit is
// refused with its numbers and publishes nothing; a tight one is published in
// paced batches; a target tag that exists costs nothing. The same against a
// real registry: test/integration/pipeline-budget.test.ts.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { fanOut } from '../../functions/pipeline/fanout.ts';
import type { BudgetedRunRecord } from '../../functions/pipeline/fanout-budget.ts';
import type { JobMessage } from '../../functions/pipeline/job.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { silentLogger } from '../../functions/util/logger.ts';
import { memoryRunStore } from '../support/run-stores.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('fan-out and the pull budget', () => {
  let server: Server;
  let host: string;
  let remaining = 0;
  const existing = new Set<string>();
  const gets: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      const path = req.url ?? '';
      if (req.method !== 'HEAD') {
        gets.push(path);
        return void res.writeHead(405).end();
      }
      if (path.startsWith('/v2/mirror/')) {
        // The target: a tag exists only when the test says so.
        if (!existing.has(path)) return void res.writeHead(404).end();
        return void res
          .writeHead(200, {
            'docker-content-digest': DIGEST,
            'content-type': 'application/vnd.oci.image.manifest.v1+json',
            'content-length': '500',
          })
          .end();
      }
      res
        .writeHead(200, {
          'docker-content-digest': DIGEST,
          'content-type': 'application/vnd.oci.image.manifest.v1+json',
          'content-length': '500',
          'ratelimit-limit': '100;w=21600',
          'ratelimit-remaining': `${remaining};w=21600`,
          'docker-ratelimit-source': '192.0.2.9',
        })
        .end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    host = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(() => server.close());

  async function run(runId: string, margin: number, images: number) {
    const registries = new Registries({ retry: { attempts: 1 } });
    const store = memoryRunStore();
    const batches: JobMessage[][] = [];
    const lines = Array.from({ length: images }, (_, i) => `- source: ${host}/team/app:v${i}`);
    const outcome = await fanOut(
      {
        runId,
        file: 'f.yaml',
        bytes: Buffer.from(`images:\n${lines.join('\n')}\n`),
        trigger: { type: 'test' },
        dryRun: false,
      },
      {
        prefix: parseTargetPrefix(`${host}/mirror/`),
        store,
        publisher: { publish: async (jobs) => void batches.push([...jobs]) },
        logger: silentLogger,
        registries,
        pullBudgetMargin: margin,
        pace: { batch: 2, pauseMs: 5 },
      },
    );
    await registries.close();
    return { outcome, batches, record: (await store.readRun(runId))?.value as BudgetedRunRecord };
  }

  it('refuses a run whose pulls exceed what remains minus the margin; nothing published, the numbers recorded', async () => {
    remaining = 5;
    const { outcome, batches, record } = await run('r-refused', 2, 4);
    assert.equal(outcome.outcome, 'invalid');
    assert.deepEqual(batches, []);
    assert.equal(record.state, 'refused');
    assert.deepEqual(record.jobs, []);
    assert.deepEqual(record.refusal?.registries, [
      {
        registry: host,
        estimatedPulls: 4,
        remaining: 5,
        limit: 100,
        windowSeconds: 21600,
        countedAgainst: '192.0.2.9',
      },
    ]);
    assert.match(
      record.errors?.[0]?.message ?? '',
      /an estimated 4 pulls; 5 of 100 pulls per 6 h remaining/,
    );
    assert.deepEqual(gets, [], 'only HEADs: the check spends no pull');
  });

  it('publishes a run that fits only just in paced batches; an existing target tag costs nothing', async () => {
    remaining = 8;
    existing.add(`/v2/mirror/127.0.0.1_${host.split(':')[1]}/team/app/manifests/v0`);
    const { outcome, batches, record } = await run('r-tight', 2, 5);
    assert.equal(outcome.outcome, 'published');
    assert.equal(record.state, 'published');
    assert.equal(record.paced, true);
    assert.equal(record.pullBudget?.[0]?.estimatedPulls, 4, 'v0 exists in the target');
    assert.deepEqual(
      batches.map((b) => b.length),
      [2, 2, 1],
    );
  });

  it('publishes at once when the budget is ample', async () => {
    remaining = 100;
    const { batches, record } = await run('r-ample', 2, 5);
    assert.equal(record.paced, undefined);
    assert.deepEqual(
      batches.map((b) => b.length),
      [5],
    );
  });
});

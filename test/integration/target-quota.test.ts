// The target's quota, against a real docker-registry behind a fault proxy.
// Artifact Registry answers 429 once a project's requests or writes pass its
// per-minute quota (https://cloud.google.com/artifact-registry/quotas); a
// promoter that treated those as failures stopped a region
// (kubernetes/registry.k8s.io#153). Here a 429 from the target is a rate limit:
// the copy function hands the delivery back until Retry-After, and it never
// counts towards dead-lettering. And every request to the target passes
// through the client-side throttle that keeps a deployment under its share.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { handleCopyJob } from '../../functions/pipeline/copy-job.ts';
import {
  RateLimitedJobError,
  type RetryBookkeeping,
} from '../../functions/pipeline/rate-limited-job.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { StaticCredentials } from '../../functions/registry/credentials.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { MemoryLogger } from '../../functions/util/logger.ts';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import { type Pair, SOURCE_PUSHER, startPair, TARGET_WRITER } from '../support/fixture.ts';
import { Layout, push } from '../support/images.ts';
import { memoryRunStore } from '../support/run-stores.ts';

describe('the target registry’s quota', () => {
  let pair: Pair;
  let proxy: FaultProxy;

  before(async () => {
    pair = await startPair();
    proxy = await startFaultProxy(pair.target.url);
    const layout = new Layout();
    layout.tag('v1', layout.image({ layers: [30_000] }));
    for (const name of ['quota', 'paced'])
      await push(layout, 'v1', `${pair.source.host}/team/${name}:v1`, { creds: SOURCE_PUSHER });
  });
  after(() => Promise.all([proxy?.close(), pair?.stop()]));

  function deps(throttled: boolean) {
    const [username, password] = TARGET_WRITER.split(':') as [string, string];
    const registries = new Registries({
      // The target is reached through the proxy; its logical name stays the registry's.
      endpoints: new Map([[pair.target.host, proxy.url]]),
      credentials: new StaticCredentials([[proxy.host, { username, password }]]),
      retry: { attempts: 2, baseDelayMs: 5, maxRateLimitWaitMs: 100 },
      ...(throttled && {
        throttles: new Map([[pair.target.host, { requestsPerSecond: 500, writesPerSecond: 200 }]]),
      }),
    });
    return {
      prefix: parseTargetPrefix(`${pair.target.host}/mirror/`),
      store: memoryRunStore(),
      registries,
      logger: new MemoryLogger(),
      maxDeliveryAttempts: 3,
      deadLetter: async () => assert.fail('a rate limit is never dead-lettered'),
    };
  }

  const job = (name: string) =>
    Buffer.from(
      JSON.stringify({ runId: 'quota-run', source: `${pair.source.host}/team/${name}:v1` }),
    );

  it('a 429 from the target hands the delivery back until Retry-After, counting no failure', async () => {
    proxy.add({
      method: 'PUT',
      path: /\/manifests\//,
      faults: [{ kind: 'status', status: 429, headers: { 'retry-after': '30' } }],
    });
    const d = deps(false);
    const before = Date.now();
    await assert.rejects(
      handleCopyJob({ data: job('quota'), attempt: 1 }, d),
      (error: unknown) => error instanceof RateLimitedJobError,
    );
    const [record] = (await d.store.readResults('quota-run')) as RetryBookkeeping[];
    assert.equal(record?.retrying, true);
    assert.equal(record?.rateLimited, true);
    assert.equal(record?.failures, 0, 'rate limits are not failures');
    assert.equal(record?.category, 'rate-limited');
    // The target's own Retry-After (30 s), not a default wait.
    const retryAt = Date.parse(record?.retryAt ?? '');
    assert.ok(retryAt >= before + 29_000 && retryAt <= Date.now() + 31_000, record?.retryAt);
    // A redelivery before retryAt is handed straight back, without a request.
    const requests = proxy.seen.length;
    await assert.rejects(handleCopyJob({ data: job('quota'), attempt: 2 }, d), RateLimitedJobError);
    assert.equal(proxy.seen.length, requests);
    await d.registries.close();
  });

  it('every request to the target passes the throttle, writes counted as writes', async () => {
    const d = deps(true);
    const seenBefore = proxy.seen.length;
    const record = await handleCopyJob({ data: job('paced'), attempt: 1 }, d);
    assert.equal(record?.status, 'copied');
    const seen = proxy.seen.slice(seenBefore);
    const throttle = d.registries.throttles.get(pair.target.host);
    assert.ok(throttle, 'the target is throttled, by its logical name');
    assert.equal(throttle.counts.requests, seen.length);
    assert.equal(
      throttle.counts.writes,
      seen.filter((s) => ['PUT', 'POST', 'PATCH', 'DELETE'].includes(s.method)).length,
    );
    assert.ok(throttle.counts.writes >= 2, 'at least the blob uploads and the manifest');
    assert.equal(d.registries.throttles.get(pair.source.host), undefined, 'the source is not');
    await d.registries.close();
  });
});

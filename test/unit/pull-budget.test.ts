// The Docker Hub pull budget, piece by piece: reading the headers Hub sends
// (docker/docs content/manuals/docker-hub/usage/pulls.md, "View pull rate and
// limit"; the `N;w=SECONDS` quota policy of draft-polli-ratelimit-headers-04),
// estimating a copy's pulls from a free HEAD, deciding refusal and pace, and the
// copy function's own tally that keeps 429s from dead-lettering a job. The same
// behaviour against a real registry: test/integration/hub-budget.test.ts and
// pipeline-budget.test.ts.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { estimatePulls, MIN_DESCRIPTOR_BYTES } from '../../functions/engine/pull-estimate.ts';
import { OCI_INDEX, OCI_MANIFEST } from '../../functions/oci/media-types.ts';
import { publishPaced } from '../../functions/pipeline/fanout-budget.ts';
import {
  checkPullBudget,
  describeBudget,
  isBudgetTight,
} from '../../functions/pipeline/pull-budget.ts';
import {
  afterTransientFailure,
  earlyRedelivery,
} from '../../functions/pipeline/rate-limited-job.ts';
import type { JobResultRecord } from '../../functions/pipeline/records.ts';
import { RegistryError } from '../../functions/registry/errors.ts';
import { budgetWaitMs, parseRateLimit, RateLimits } from '../../functions/registry/rate-limit.ts';
import { DEFAULT_RETRY_POLICY, withRetry } from '../../functions/registry/retry.ts';

const HUB = {
  'ratelimit-limit': '100;w=21600',
  'ratelimit-remaining': '20;w=21600',
  'docker-ratelimit-source': '192.0.2.1',
};

describe('pull budget headers', () => {
  it("reads Docker Hub's documented example", () => {
    assert.deepEqual(parseRateLimit(HUB, 5), {
      limit: 100,
      remaining: 20,
      windowSeconds: 21600,
      source: '192.0.2.1',
      at: 5,
    });
  });
  it('reads a bare number and ratelimit-reset; ignores absent or malformed headers', () => {
    const reading = parseRateLimit({
      'ratelimit-limit': '60',
      'ratelimit-remaining': '0',
      'ratelimit-reset': '30',
    });
    assert.equal(reading?.windowSeconds, 0);
    assert.equal(reading?.resetSeconds, 30);
    assert.equal(parseRateLimit({}), undefined);
    assert.equal(
      parseRateLimit({ 'ratelimit-limit': 'lots', 'ratelimit-remaining': '1' }),
      undefined,
    );
  });
  it('waits until the window resets when a 429 names no time', () => {
    assert.equal(budgetWaitMs({ ...HUB, 'ratelimit-remaining': '0;w=21600' }), 21_600_000);
    assert.equal(
      budgetWaitMs({ ...HUB, 'ratelimit-remaining': '0;w=21600', 'ratelimit-reset': '7' }),
      7_000,
    );
    assert.equal(budgetWaitMs(HUB), undefined, 'budget left: nothing to wait for');
  });
  it('keeps the latest reading per registry and logs each one at debug', () => {
    const lines: string[] = [];
    const limits = new RateLimits({ debug: (m) => lines.push(m), info: () => {}, warn: () => {} });
    limits.observe('docker.io', HUB, 'HEAD /v2/library/alpine/manifests/3');
    limits.observe('docker.io', { ...HUB, 'ratelimit-remaining': '19;w=21600' }, 'GET /v2/x');
    limits.observe('ghcr.io', {}, 'GET /v2/y');
    assert.equal(limits.reading('docker.io')?.remaining, 19);
    assert.deepEqual(
      limits.readings().map(([registry]) => registry),
      ['docker.io'],
    );
    assert.match(
      lines[1] ?? '',
      /pull budget after GET \/v2\/x: docker\.io: 19 of 100 pulls per 6 h remaining \(counted against 192\.0\.2\.1\)/,
    );
    limits.observe(
      'docker.io',
      { ...HUB, 'ratelimit-remaining': '0;w=21600', 'retry-after': '30' },
      'GET /v2/z',
    );
    const notBefore = limits.notBefore('docker.io') ?? 0;
    assert.ok(notBefore > Date.now() + 25_000 && notBefore <= Date.now() + 30_000);
  });
});

function index(
  children: number,
  annotated: boolean,
): { mediaType: string; size: number; children: number } {
  const manifests = Array.from({ length: children }, (_, i) => ({
    mediaType: OCI_MANIFEST,
    digest: `sha256:${createHash('sha256').update(String(i)).digest('hex')}`,
    size: 400 + i,
    ...(annotated && {
      platform: { architecture: 'amd64', os: 'linux' },
      annotations: { 'org.opencontainers.image.revision': 'abcdef' },
    }),
  }));
  const bytes = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests });
  return { mediaType: OCI_INDEX, size: Buffer.byteLength(bytes), children };
}

describe('estimating pulls from a HEAD', () => {
  it('costs one GET for a single manifest', () => {
    assert.equal(estimatePulls({ mediaType: OCI_MANIFEST, size: 5000 }), 1);
  });
  it('bounds an index from above by its size, exactly for the most compact descriptors', () => {
    for (const n of [1, 2, 5, 16]) {
      const compact = index(n, false);
      // The bound is exact up to the index's own mediaType field.
      assert.ok(estimatePulls(compact) >= 1 + n, `compact ${n}`);
      assert.ok(estimatePulls(compact) <= 2 + n, `compact ${n} within one`);
      const annotated = index(n, true);
      assert.ok(estimatePulls(annotated) >= 1 + n, `annotated ${n}`);
    }
    assert.equal(MIN_DESCRIPTOR_BYTES, 153);
  });
});

describe('refusing and pacing a run', () => {
  const budget = {
    registry: 'docker.io',
    estimatedPulls: 50,
    remaining: 55,
    limit: 100,
    windowSeconds: 21600,
  };
  it('refuses a run whose estimate exceeds what remains minus the margin, with the numbers', () => {
    assert.equal(checkPullBudget([budget], 5), undefined);
    const refusal = checkPullBudget([budget], 10);
    assert.equal(refusal?.margin, 10);
    assert.deepEqual(refusal?.registries, [budget]);
    assert.match(
      refusal?.message ?? '',
      /docker\.io: an estimated 50 pulls; 55 of 100 pulls per 6 h remaining/,
    );
    assert.equal(
      checkPullBudget([{ registry: 'ghcr.io', estimatedPulls: 10_000 }], 10),
      undefined,
      'no budget announced',
    );
  });
  it('is tight when the run would spend more than half of what is available', () => {
    assert.equal(isBudgetTight([budget], 0), true);
    assert.equal(isBudgetTight([{ ...budget, estimatedPulls: 20 }], 0), false);
    assert.match(
      describeBudget({ registry: 'quay.io', estimatedPulls: 1 }),
      /an estimated 1 pull; no pull limit announced/,
    );
  });
  it('publishes a tight run in batches with a pause between them', async () => {
    const batches: number[] = [];
    const jobs = Array.from({ length: 5 }, (_, i) => ({ runId: 'r', source: `a/b:${i}` }));
    const started = Date.now();
    await publishPaced(async (b) => void batches.push(b.length), jobs, true, {
      batch: 2,
      pauseMs: 30,
    });
    assert.deepEqual(batches, [2, 2, 1]);
    assert.ok(Date.now() - started >= 55);
    batches.length = 0;
    await publishPaced(async (b) => void batches.push(b.length), jobs, false);
    assert.deepEqual(batches, [5]);
  });
});

describe("the copy function's own tally", () => {
  const record = (fields: Record<string, unknown>): JobResultRecord =>
    ({
      key: 'k',
      runId: 'r',
      source: 's',
      target: 't',
      status: 'failed',
      finishedAt: '',
      ...fields,
    }) as JobResultRecord;
  const limited = { errorCode: 'TOO_MANY_REQUESTS', error: 'answered 429' } as const;
  const network = { errorCode: 'NETWORK_ERROR', error: 'reset' } as const;

  it('a 429 waits until the registry says, and counts no failure', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const step = afterTransientFailure(
      limited,
      record({ retrying: true, failures: 1, attempt: 4 }),
      {
        maxFailures: 2,
        deliveryAttempt: undefined,
        notBefore: now + 90_000,
        now,
      },
    );
    assert.equal(step.rateLimited, true);
    assert.equal(step.last, false);
    assert.deepEqual(step.fields, {
      attempt: 5,
      failures: 1,
      rateLimited: true,
      retryAt: '2026-01-01T00:01:30.000Z',
      retrying: true,
    });
  });
  it('other transient failures count, and the one that reaches the limit dead-letters', () => {
    const first = afterTransientFailure(network, undefined, {
      maxFailures: 2,
      deliveryAttempt: undefined,
      notBefore: undefined,
    });
    assert.deepEqual(first.fields, { attempt: 1, failures: 1, retrying: true });
    const second = afterTransientFailure(network, record({ ...first.fields }), {
      maxFailures: 2,
      deliveryAttempt: 8,
      notBefore: undefined,
    });
    assert.equal(second.last, true);
    assert.deepEqual(second.fields, { attempt: 8, failures: 2, deadLettered: true });
    // No tally yet: the deliveries before left no record because Cloud Run
    // refused them (429, every instance busy) or their instance died. None
    // was a failure this function saw; delivery 8 failing once is failure 1.
    const untallied = afterTransientFailure(network, undefined, {
      maxFailures: 5,
      deliveryAttempt: 8,
      notBefore: undefined,
    });
    assert.equal(untallied.last, false);
    assert.deepEqual(untallied.fields, { attempt: 8, failures: 1, retrying: true });
    // Without SYNCER_DEAD_LETTER_TOPIC the subscription counts: its last attempt is the last, 429 or not.
    for (const failure of [network, limited]) {
      const pubsubLast = afterTransientFailure(
        failure,
        record({ retrying: true, failures: 1, attempt: 4 }),
        {
          maxFailures: 5,
          deliveryAttempt: 5,
          notBefore: undefined,
          subscriptionCounts: true,
        },
      );
      assert.equal(pubsubLast.last, true);
      assert.equal(pubsubLast.fields.deadLettered, true);
    }
  });
  it('hands an early redelivery straight back, and lets a timely one try', () => {
    const waiting = record({
      retrying: true,
      rateLimited: true,
      retryAt: '2026-01-01T00:01:30.000Z',
    });
    assert.match(
      earlyRedelivery(waiting, Date.parse('2026-01-01T00:01:00Z'))?.message ?? '',
      /waiting until 2026-01-01T00:01:30.000Z/,
    );
    assert.equal(earlyRedelivery(waiting, Date.parse('2026-01-01T00:02:00Z')), undefined);
    assert.equal(earlyRedelivery(record({ status: 'copied' })), undefined);
  });
});

describe('retrying a 429', () => {
  const tooMany = () =>
    new RegistryError({ method: 'GET', url: '/v2/x', status: 429, retryAfterMs: 1 });
  it('waits out more 429s than the policy has attempts, without spending them', async () => {
    let calls = 0;
    const result = await withRetry(
      { ...DEFAULT_RETRY_POLICY, attempts: 2, maxRateLimitWaitMs: 1_000 },
      async () => {
        calls++;
        if (calls <= 5) throw tooMany();
        return 'ok';
      },
    );
    assert.equal(result, 'ok');
    assert.equal(calls, 6);
  });
  it('without a bound (library default), a 429 is retried within the attempts like any transient failure', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry({ ...DEFAULT_RETRY_POLICY, attempts: 3 }, async () => {
        calls++;
        throw tooMany();
      }),
      (e: unknown) => e instanceof RegistryError && e.status === 429,
    );
    assert.equal(calls, 3);
  });
  it('gives the 429 back once the waits would pass maxRateLimitWaitMs', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry({ ...DEFAULT_RETRY_POLICY, maxRateLimitWaitMs: 3 }, async () => {
        calls++;
        throw tooMany();
      }),
      (e: unknown) => e instanceof RegistryError && e.status === 429,
    );
    assert.equal(calls, 4);
  });
});

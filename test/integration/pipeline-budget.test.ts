// Docker Hub's pull budget across the fan-out, on the real Pub/Sub emulator
// with the functions under the Functions Framework: the fan-out refuses a run
// that cannot fit (nothing published, the numbers in the run record); a copy
// that meets a 429 hands its delivery back until the window resets without
// spending the attempts that lead to the dead-letter topic; other transient
// failures are counted by the function itself, which dead-letters the job at
// its own limit (functions/pipeline/rate-limited-job.ts). The budget is the
// Hub profile of test/support/hub-budget-proxy.ts (docker/docs
// content/manuals/docker-hub/usage/pulls.md).

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PubSub } from '@google-cloud/pubsub';
import type { GcsServer } from '../../scripts/local/gcs-server.ts';
import { type Pair, runCliCaptured, SOURCE_PUSHER } from '../support/fixture.ts';
import { type HubBudgetProxy, startHubBudgetProxy } from '../support/hub-budget-proxy.ts';
import { Layout, push } from '../support/images.ts';
import { listenOnLoopback } from '../support/listen.ts';
import {
  type Endpoint,
  type Pipeline,
  RUNS_BUCKET,
  startPipeline,
  until,
} from '../support/pipeline-fixture.ts';

/** The function's own limit of counted (non-rate-limited) failures. */
const MAX_FAILURES = 1;
/** The jobs subscription's retry backoff, at its least and most. */
const BACKOFF_SECONDS = 1;

/** Answers the /v2/ ping, then drops every other connection: a transient network fault. */
function deadRegistry(): Promise<Endpoint> {
  return listenOnLoopback(
    createServer((req, res) => {
      if (req.url === '/v2/') res.writeHead(200).end('{}');
      else req.socket.destroy();
    }),
  );
}

async function seed(pair: Pair): Promise<void> {
  const layout = new Layout();
  layout.tag('a', layout.image({ layers: [1_000] }));
  layout.tag('b', layout.image({ layers: [1_000] }));
  const amd64 = layout.image({ layers: [1_000] });
  layout.tag(
    'multi',
    layout.index([amd64, layout.image({ layers: [1_000], architecture: 'arm64' })]),
  );
  await Promise.all([
    push(layout, 'a', `${pair.source.host}/team/a:v1`, { creds: SOURCE_PUSHER }),
    push(layout, 'b', `${pair.source.host}/team/b:v1`, { creds: SOURCE_PUSHER }),
    push(layout, 'multi', `${pair.source.host}/team/multi:v1`, { creds: SOURCE_PUSHER }),
  ]);
}

describe('Docker Hub pull budget (pipeline on the emulator)', () => {
  let pipeline: Pipeline<{ 'hub.example': HubBudgetProxy; 'dead.example': Endpoint }>;
  let pair: Pair;
  let hub: HubBudgetProxy;
  let gcs: GcsServer;
  let pubsub: PubSub;
  let fns: Pipeline<never>['fns'];

  const record = (runId: string, tag: string) => {
    const name = gcs
      .list(RUNS_BUCKET, `runs/${runId}/results/`)
      .find((n) => JSON.parse(String(gcs.get(RUNS_BUCKET, n))).target.endsWith(`:${tag}`));
    return name ? JSON.parse(String(gcs.get(RUNS_BUCKET, name))) : undefined;
  };
  const deadLettered = (runId: string) => pipeline.tapped('jobs-dead-letter', runId)[0];

  before(async () => {
    pipeline = await startPipeline({
      project: 'image-syncer-budget',
      functions: ['fanOutUpload', 'copyJob', 'api'],
      registries: async (pair) => ({
        'hub.example': await startHubBudgetProxy(pair.source.url, {
          limit: 100,
          windowSeconds: 60,
        }),
        'dead.example': await deadRegistry(),
      }),
      seed,
      env: {
        SYNCER_RETRY_ATTEMPTS: '1',
        SYNCER_PULL_BUDGET_MARGIN: '1',
        SYNCER_RATE_LIMIT_WAIT_SECONDS: '0',
        SYNCER_MAX_DELIVERY_ATTEMPTS: String(MAX_FAILURES),
        SYNCER_DEAD_LETTER_TOPIC: 'jobs-dead-letter',
      },
      // As infra must set it: the subscription's own limit high, a backstop only.
      jobsPush: {
        minimumBackoffSeconds: BACKOFF_SECONDS,
        maximumBackoffSeconds: BACKOFF_SECONDS,
        maxDeliveryAttempts: 100,
      },
    });
    ({ pair, gcs, pubsub, fns } = pipeline);
    hub = pipeline.registries['hub.example'];
  });

  after(() => pipeline?.stop());

  it('refuses a run that cannot fit: nothing published, the numbers in the run record and /runs', async () => {
    hub.reset({ limit: 4, windowSeconds: 60 });
    const { runId } = await pipeline.upload(
      'team/external-images.yaml',
      'images:\n- source: hub.example/team/multi:v1\n- source: hub.example/team/a:v1\n',
    );
    const status = (await (await fetch(`${fns.api?.url}/runs/${runId}`)).json()) as {
      done: boolean;
      state: string;
      images: unknown[];
      errors: { message: string }[];
      refusal: { margin: number; registries: Record<string, unknown>[] };
    };
    assert.equal(status.done, true);
    assert.equal(status.state, 'refused');
    assert.deepEqual(status.images, []);
    assert.equal(status.refusal.margin, 1);
    const [budget] = status.refusal.registries;
    // multi: the index and its 2 platforms (at most, from the HEAD); a: 1.
    assert.ok(Number(budget?.estimatedPulls) >= 4, JSON.stringify(budget));
    assert.deepEqual(
      { ...budget, estimatedPulls: 0 },
      {
        registry: 'hub.example',
        estimatedPulls: 0,
        remaining: 4,
        limit: 4,
        windowSeconds: 60,
        countedAgainst: '127.0.0.1',
      },
    );
    assert.match(
      status.errors[0]?.message ?? '',
      /pull budget: .*hub\.example: an estimated \d+ pulls; 4 of 4 pulls per 60 s remaining/,
    );
    assert.equal(hub.pulls(), 0, 'the check costs HEADs only');

    // POST /plan says the same before anyone tries: the estimate beside the budget its HEADs read.
    const file = 'images:\n- source: hub.example/team/multi:v1\n- source: hub.example/team/a:v1\n';
    const plan = (await (
      await fetch(`${fns.api?.url}/plan`, {
        method: 'POST',
        headers: { 'content-type': 'application/yaml' },
        body: file,
      })
    ).json()) as { pulls: Record<string, unknown>[]; results: { pulls?: number }[] };
    assert.deepEqual(plan.pulls, [budget]);
    assert.equal(
      plan.results.reduce((sum, r) => sum + (r.pulls ?? 0), 0),
      budget?.estimatedPulls,
    );
    const markdown = await (
      await fetch(`${fns.api?.url}/plan`, {
        method: 'POST',
        headers: { 'content-type': 'application/yaml', accept: 'text/markdown' },
        body: file,
      })
    ).text();
    assert.match(
      markdown,
      /\*\*Pull budget\*\*\n\n- hub\.example: an estimated \d+ pulls; 4 of 4 pulls per 60 s remaining/,
    );
    assert.equal(hub.pulls(), 0, 'a plan spends no pull');

    // The reusable workflow's client: the refusal fails the job (1), it is not a bad file (2).
    const remote = await runCliCaptured(
      [
        'remote',
        'sync',
        '-i',
        pair.writeFile('remote.yaml', file),
        '--url',
        fns.api?.url as string,
      ],
      {},
    );
    assert.equal(remote.code, 1, remote.stdout + remote.stderr);
    assert.match(
      remote.stderr,
      /error: .*pull budget: .*hub\.example: an estimated \d+ pulls; 4 of 4/,
    );
    await pipeline.drain('jobs');
    assert.deepEqual(pipeline.tapped('jobs', runId), [], 'nothing published');
  });

  it('a 429 hands the delivery back until the window resets, without spending counted attempts', async () => {
    hub.reset({ limit: 1, windowSeconds: 4, retryAfter: true });
    const failures = fns.copyJob?.calls.failures ?? 0;
    const jobs = pubsub.topic('jobs');
    for (const [source, tag] of [
      ['hub.example/team/a:v1', 'budget-a'],
      ['hub.example/team/b:v1', 'budget-b'],
    ])
      await jobs.publishMessage({
        data: Buffer.from(JSON.stringify({ runId: 'hub-run', source, tag })),
      });
    // The one that met the 429 says so while it waits.
    const waiting = await until('a rate-limited record', () =>
      [record('hub-run', 'budget-a'), record('hub-run', 'budget-b')].find((r) => r?.rateLimited),
    );
    assert.equal(waiting.retrying, true);
    assert.equal(waiting.category, 'rate-limited');
    assert.ok(Date.parse(waiting.retryAt) > Date.now() - 1000);
    const done = await until('both copied', () => {
      const both = [record('hub-run', 'budget-a'), record('hub-run', 'budget-b')];
      return both.every((r) => r?.status === 'copied') ? both : undefined;
    });
    const handedBack = (fns.copyJob?.calls.failures ?? 0) - failures;
    assert.ok(
      handedBack > MAX_FAILURES,
      `${handedBack} deliveries handed back, beyond the limit of ${MAX_FAILURES}`,
    );
    assert.ok(done.every((r) => !r.deadLettered && !r.failures));
    assert.ok(hub.refused() >= 1);
    assert.ok(!deadLettered('hub-run'));
  });

  it('other transient failures are counted, and the function dead-letters the job at its own limit', async () => {
    const calls = fns.copyJob?.calls.count ?? 0;
    const messageId = await pubsub.topic('jobs').publishMessage({
      data: Buffer.from(JSON.stringify({ runId: 'dl-run', source: 'dead.example/team/a:v1' })),
    });
    // The job goes to the dead-letter topic first and is recorded after
    // (copy-job.ts, afterTransient): wait for both.
    const message = await until('the dead letter', () => deadLettered('dl-run'));
    const kept = await until('its record', () => record('dl-run', 'v1'));
    assert.equal(kept.deadLettered, true);
    assert.equal(kept.failures, MAX_FAILURES);
    assert.equal(kept.category, 'network');
    // Published by the function, not forwarded by Pub/Sub: the operator tells the two apart
    // (README, Operations, "Find a dead letter").
    assert.equal(message.attributes.deadLetteredBy, 'copyJob');
    assert.equal(message.attributes.CloudPubSubDeadLetterSourceSubscription, undefined);
    // Acknowledged by the function itself: no delivery after the last counted one,
    // though a handed-back one would have come again within the retry backoff.
    await sleep((BACKOFF_SECONDS + 0.5) * 1000);
    assert.equal((fns.copyJob?.calls.count ?? 0) - calls, MAX_FAILURES);
    // The delivery that dead-lettered the job was answered 2xx: a push
    // subscription's acknowledgement (https://cloud.google.com/pubsub/docs/push).
    const statuses = (fns.copyJob?.deliveries ?? [])
      .filter((d) => d.messageId === messageId)
      .map((d) => d.status);
    assert.equal(statuses.length, MAX_FAILURES, `${statuses}`);
    const last = statuses.at(-1) ?? 0;
    assert.ok(last >= 200 && last < 300, `the last delivery was answered ${last}`);
  });
});

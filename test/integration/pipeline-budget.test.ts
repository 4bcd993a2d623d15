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
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PubSub, type Subscription } from '@google-cloud/pubsub';
import { loadConfig } from '../../functions/gcp/config.ts';
import { storageRunId } from '../../functions/gcp/fanout-events.ts';
import { registerFunctions } from '../../functions/gcp/register.ts';
import { createRuntime } from '../../functions/gcp/runtime.ts';
import { MemoryLogger } from '../../functions/util/logger.ts';
import { type GcsServer, startGcsServer } from '../../scripts/local/gcs-server.ts';
import {
  type Pair,
  pairFunctionEnv,
  runCliCaptured,
  SOURCE_PUSHER,
  startPair,
} from '../support/fixture.ts';
import { type FunctionServer, sendStorageFinalized, serveFunction } from '../support/functions.ts';
import { type HubBudgetProxy, startHubBudgetProxy } from '../support/hub-budget-proxy.ts';
import { Layout, push } from '../support/images.ts';
import { freePort } from '../support/ports.ts';
import { type PubSubEmulator, startPubSubEmulator } from '../support/pubsub-emulator.ts';

const PROJECT = 'image-syncer-budget';
const RUNS_BUCKET = 'runs';
const IMAGES_BUCKET = 'images';
/** The function's own limit of counted (non-rate-limited) failures. */
const MAX_FAILURES = 1;

describe('Docker Hub pull budget (pipeline on the emulator)', () => {
  let pair: Pair;
  let hub: HubBudgetProxy;
  let dead: Server;
  let gcs: GcsServer;
  let emulator: PubSubEmulator;
  let pubsub: PubSub;
  let fns: Record<string, FunctionServer>;
  const subscriptions: Subscription[] = [];
  const published: { runId: string }[] = [];
  const deadLettered: { runId: string; source: string; attributes: Record<string, string> }[] = [];
  const logs = new MemoryLogger();

  const record = (runId: string, tag: string) => {
    const name = gcs
      .list(RUNS_BUCKET, `runs/${runId}/results/`)
      .find((n) => JSON.parse(String(gcs.get(RUNS_BUCKET, n))).target.endsWith(`:${tag}`));
    return name ? JSON.parse(String(gcs.get(RUNS_BUCKET, name))) : undefined;
  };

  async function until<T>(what: string, probe: () => T | undefined, ms = 30_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = probe();
      if (value) return value;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  before(async () => {
    const t0 = Date.now();
    [pair, gcs, emulator] = await Promise.all([
      startPair(),
      startGcsServer(),
      startPubSubEmulator(),
    ]);
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
    if (process.env.DEBUG_TIMING) console.error('started', Date.now() - t0);
    hub = await startHubBudgetProxy(pair.source.url, { limit: 100, windowSeconds: 60 });
    // Answers the /v2/ ping, then drops every other connection: a transient network fault.
    dead = createServer((req, res) => {
      if (req.url === '/v2/') res.writeHead(200).end('{}');
      else req.socket.destroy();
    });
    const deadPort = await freePort();
    await new Promise<void>((resolve) => dead.listen(deadPort, '127.0.0.1', resolve));

    process.env.PUBSUB_EMULATOR_HOST = emulator.host;
    process.env.METADATA_SERVER_DETECTION = 'none';
    const env = {
      ...pairFunctionEnv(pair, {
        storage: gcs.url,
        project: PROJECT,
        hosts: [hub.host, `127.0.0.1:${deadPort}`],
      }),
      SYNCER_JOBS_TOPIC: 'jobs',
      SYNCER_RUNS_BUCKET: RUNS_BUCKET,
      SYNCER_RETRY_ATTEMPTS: '1',
      SYNCER_REGISTRY_ENDPOINT: `hub.example=${hub.url},dead.example=http://127.0.0.1:${deadPort}`,
      SYNCER_ALLOWED_REGISTRY: 'hub.example,dead.example',
      SYNCER_PULL_BUDGET_MARGIN: '1',
      SYNCER_RATE_LIMIT_WAIT_SECONDS: '0',
      SYNCER_MAX_DELIVERY_ATTEMPTS: String(MAX_FAILURES),
      SYNCER_DEAD_LETTER_TOPIC: 'jobs-dead-letter',
    };
    await registerFunctions(createRuntime(loadConfig(env), logs));
    fns = {};
    for (const name of ['fanOutUpload', 'copyJob', 'api']) fns[name] = await serveFunction(name);

    pubsub = new PubSub({ projectId: PROJECT });
    const [jobs] = await pubsub.createTopic('jobs');
    const [deadLetters] = await pubsub.createTopic('jobs-dead-letter');
    const [keep] = await deadLetters.createSubscription('jobs-dead-letter-keep');
    keep.on('message', (message) => {
      deadLettered.push({ ...JSON.parse(message.data.toString()), attributes: message.attributes });
      message.ack();
    });
    // As infra must set it: the subscription's own limit high, a backstop only.
    await jobs.createSubscription('jobs-push', {
      pushConfig: { pushEndpoint: `${fns.copyJob?.url}/projects/${PROJECT}/topics/jobs` },
      ackDeadlineSeconds: 60,
      retryPolicy: { minimumBackoff: { seconds: 1 }, maximumBackoff: { seconds: 1 } },
      deadLetterPolicy: { deadLetterTopic: deadLetters.name, maxDeliveryAttempts: 100 },
    });
    const [tap] = await jobs.createSubscription('jobs-tap');
    tap.on('message', (message) => {
      published.push(JSON.parse(message.data.toString()));
      message.ack();
    });
    subscriptions.push(keep, tap);
    if (process.env.DEBUG_TIMING) console.error('ready', Date.now() - t0);
  });

  after(async () => {
    await Promise.all(subscriptions.map((s) => s.close()));
    await pubsub?.close();
    await Promise.all(Object.values(fns ?? {}).map((f) => f.close()));
    dead?.close();
    await hub?.close();
    await Promise.all([pair?.stop(), gcs?.close(), emulator?.stop()]);
  });

  it('refuses a run that cannot fit: nothing published, the numbers in the run record and /runs', async () => {
    hub.reset({ limit: 4, windowSeconds: 60 });
    const name = 'team/external-images.yaml';
    const generation = gcs.put(
      IMAGES_BUCKET,
      name,
      'images:\n- source: hub.example/team/multi:v1\n- source: hub.example/team/a:v1\n',
    );
    const response = await sendStorageFinalized(fns.fanOutUpload as FunctionServer, {
      bucket: IMAGES_BUCKET,
      name,
      generation,
    });
    assert.equal(response.status, 204, await response.text());
    const runId = storageRunId(IMAGES_BUCKET, name, String(generation));
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
    await sleep(500);
    assert.deepEqual(
      published.filter((j) => j.runId === runId),
      [],
      'nothing published',
    );
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
    assert.ok(!deadLettered.some((j) => j.runId === 'hub-run'));
  });

  it('other transient failures are counted, and the function dead-letters the job at its own limit', async () => {
    const calls = fns.copyJob?.calls.count ?? 0;
    await pubsub.topic('jobs').publishMessage({
      data: Buffer.from(JSON.stringify({ runId: 'dl-run', source: 'dead.example/team/a:v1' })),
    });
    await until('the dead letter', () => deadLettered.find((j) => j.runId === 'dl-run'));
    const kept = record('dl-run', 'v1');
    assert.equal(kept.deadLettered, true);
    assert.equal(kept.failures, MAX_FAILURES);
    assert.equal(kept.category, 'network');
    // Published by the function, not forwarded by Pub/Sub: the operator tells the two apart
    // (README, Operations, "Find a dead letter").
    const message = deadLettered.find((j) => j.runId === 'dl-run');
    assert.equal(message?.attributes.deadLetteredBy, 'copyJob');
    assert.equal(message?.attributes.CloudPubSubDeadLetterSourceSubscription, undefined);
    // Acknowledged by the function itself: no delivery after the last counted one.
    await sleep(1_500);
    assert.equal((fns.copyJob?.calls.count ?? 0) - calls, MAX_FAILURES);
  });
});

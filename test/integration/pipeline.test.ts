// The serverless pipeline end to end: the functions under the real Functions
// Framework, the real Pub/Sub emulator pushing job messages into the copy
// function, real docker-registry source and target, and a Cloud Storage test
// server for run records and uploaded images files (test/support/pipeline-fixture.ts).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PubSub } from '@google-cloud/pubsub';
import type { MemoryLogger } from '../../functions/util/logger.ts';
import type { GcsServer } from '../../scripts/local/gcs-server.ts';
import { type FaultProxy, type Rule, startFaultProxy } from '../support/fault-proxy.ts';
import {
  type Pair,
  runCliCaptured,
  SOURCE_PUSHER,
  settledLog,
  TARGET_WRITER,
  writes,
} from '../support/fixture.ts';
import { type FunctionServer, sendStorageFinalized } from '../support/functions.ts';
import { inspectRaw, Layout, push, sha256 } from '../support/images.ts';
import {
  IMAGES_BUCKET,
  type Pipeline,
  RUNS_BUCKET,
  startPipeline,
  type Uploaded,
  until,
} from '../support/pipeline-fixture.ts';

// The jobs push subscription's timing. Pub/Sub sends an unacknowledged message
// again after a negative acknowledgement (a non-2xx answer), once the retry
// backoff has passed, or when its ack deadline expires
// (https://cloud.google.com/pubsub/docs/push). So a message answered 2xx, and
// not delivered again once ACK_DEADLINE + MAX_BACKOFF have passed since, was
// acknowledged for good. 10 s is the smallest ack deadline Pub/Sub allows.
const ACK_DEADLINE_SECONDS = 10;
const MAX_BACKOFF_SECONDS = 2;

/** Answers the next `count` manifest requests of each method given with 503. */
function failManifests(proxy: FaultProxy, count: number, methods: string[]): Rule[] {
  const rules = methods.map((method) => ({
    method,
    path: /\/manifests\//,
    faults: Array.from({ length: count }, () => ({ kind: 'status' as const, status: 503 })),
  }));
  for (const rule of rules) proxy.add(rule);
  return rules;
}

describe('serverless pipeline on the emulators', () => {
  let pipeline: Pipeline<{ 'flaky.example': FaultProxy }>;
  let pair: Pair;
  let gcs: GcsServer;
  let pubsub: PubSub;
  let fns: Pipeline<never>['fns'];
  let logs: MemoryLogger;
  /** The first test's upload, whose event the next test sends again. */
  let first: Uploaded;
  let digests: Record<string, string>;

  const api = (path: string, init?: RequestInit) => pipeline.api(path, init);
  const waitForRun = (runId: string, timeoutMs?: number) => pipeline.waitForRun(runId, timeoutMs);

  /** The job messages published for a run (seen by the jobs topic's tap). */
  const publishedFor = (runId: string) => pipeline.tapped('jobs', runId);

  /** The ids of the `count` job messages published for a run. */
  async function publishedIds(runId: string, count: number): Promise<string[]> {
    const jobs = await until(`${count} jobs published for ${runId}`, () => {
      const seen = publishedFor(runId);
      return seen.length >= count && seen;
    });
    assert.equal(jobs.length, count, `jobs published for ${runId}`);
    return jobs.map((j) => j.messageId);
  }

  /**
   * Message ids that were acknowledged and must never be delivered again. The
   * last test checks them once the ack deadline and the retry backoff have
   * passed since the last of their answers, so the check cannot pass by
   * looking too early; the tests in between give that time for free.
   */
  const acknowledgedOnce = new Set<string>();

  const acknowledges = (status: number) => status >= 200 && status < 300;

  /**
   * How many times a message was handed back (503) although its job had
   * ended: another delivery held the claim to announce the run, and a
   * redelivery stays pending until the run is announced
   * (functions/pipeline/completion.ts, "Announcing"). Each is logged.
   */
  const handedBackForAnnouncement = (messageId: string) =>
    logs.lines.filter(
      (l) =>
        l.message === 'run announcement pending; delivery handed back' &&
        l.fields?.messageId === messageId,
    ).length;

  /** Waits until each message id has an acknowledged (2xx) delivery; returns every delivery of them. */
  function acknowledgedDeliveries(messageIds: readonly string[], timeoutMs = 30_000) {
    return until(
      `an acknowledged delivery of ${messageIds.join(', ')}`,
      () => {
        const seen = (fns.copyJob?.deliveries ?? []).filter((d) =>
          messageIds.includes(d.messageId),
        );
        return (
          messageIds.every((id) =>
            seen.some((d) => d.messageId === id && acknowledges(d.status)),
          ) && seen
        );
      },
      timeoutMs,
    );
  }

  /**
   * Each message acknowledged once, by its last delivery so far; a delivery
   * before it may only have been handed back for the run's announcement.
   * Remembered for the last check.
   */
  function expectAcknowledgedOnce(deliveries: readonly { messageId: string; status: number }[]) {
    for (const id of new Set(deliveries.map((d) => d.messageId))) {
      const statuses = deliveries.filter((d) => d.messageId === id).map((d) => d.status);
      const last = statuses.pop() as number;
      assert.ok(acknowledges(last), `message ${id} answered ${last}`);
      assert.deepEqual(
        statuses,
        statuses.map(() => 503),
        `message ${id}: only hand-backs before its acknowledgement`,
      );
      assert.equal(
        handedBackForAnnouncement(id),
        statuses.length,
        `message ${id}: each hand-back waited for the run's announcement`,
      );
      acknowledgedOnce.add(id);
    }
  }

  async function seed(pair: Pair): Promise<void> {
    const layout = new Layout();
    const base = layout.layer(200_000);
    const amd64 = layout.image({ layers: [base, 30_000] });
    const arm64 = layout.image({ layers: [base, 40_000], architecture: 'arm64' });
    const index = layout.index([amd64, arm64, layout.attestation(amd64)]);
    layout.tag('multi', index);
    const single = layout.image({ layers: [20_000] });
    layout.tag('single', single);
    const other = layout.image({ layers: [25_000] });
    layout.tag('other', other);
    await push(layout, 'multi', `${pair.source.host}/team/multi:v1`, { creds: SOURCE_PUSHER });
    await push(layout, 'single', `${pair.source.host}/team/single:v1`, { creds: SOURCE_PUSHER });
    await push(layout, 'other', `${pair.source.host}/team/flaky:v1`, { creds: SOURCE_PUSHER });
    await push(layout, 'other', `${pair.source.host}/team/conflicting:v1`, {
      creds: SOURCE_PUSHER,
    });
    // The target already holds another image under the conflicting tag.
    await push(
      layout,
      'single',
      `${pair.target.host}/mirror/${pair.source.host.replace(':', '_')}/team/conflicting:v1`,
      { creds: TARGET_WRITER },
    );
    digests = { multi: index.digest, single: single.digest, other: other.digest };
  }

  before(async () => {
    pipeline = await startPipeline({
      project: 'image-syncer-test',
      functions: ['fanOutUpload', 'fanOutRequest', 'copyJob', 'api', 'planApi'],
      registries: async (pair) => ({ 'flaky.example': await startFaultProxy(pair.source.url) }),
      seed,
      env: { SYNCER_RETRY_ATTEMPTS: '1', SYNCER_INSECURE_REGISTRY: '' },
      jobsPush: {
        ackDeadlineSeconds: ACK_DEADLINE_SECONDS,
        maximumBackoffSeconds: MAX_BACKOFF_SECONDS,
        maxDeliveryAttempts: 5,
      },
    });
    ({ pair, gcs, pubsub, fns, logs } = pipeline);
  });

  after(() => pipeline?.stop());

  it('uploads → fan-out → every image copied and recorded, run done', async () => {
    const file = [
      'images:',
      `- source: ${pair.source.host}/team/multi:v1`,
      `- source: ${pair.source.host}/team/single:v1`,
      `- source: ${pair.source.host}/team/conflicting:v1`,
      `- source: ${pair.source.host}/team/absent:v1`,
      '',
    ].join('\n');
    first = await pipeline.upload('team-a/external-images.yaml', file);
    const { runId } = first;
    const status = await waitForRun(runId);
    const byName = Object.fromEntries(status.images.map((i) => [i.source.split('/').at(-1), i]));
    assert.equal(byName['multi:v1']?.status, 'copied');
    assert.equal(byName['multi:v1']?.digest, digests.multi);
    assert.equal(byName['single:v1']?.status, 'copied');
    assert.equal(byName['conflicting:v1']?.status, 'conflict');
    assert.equal(byName['absent:v1']?.status, 'failed');
    assert.match(byName['absent:v1']?.error ?? '', /source not found/);
    assert.deepEqual(status.counts, { copied: 2, conflict: 1, failed: 1 });
    const hostPath = pair.source.host.replace(':', '_');
    assert.equal(
      sha256(
        await inspectRaw(`${pair.target.host}/mirror/${hostPath}/team/multi:v1`, TARGET_WRITER),
      ),
      digests.multi,
    );
    // A conflict and a missing source are permanent: acknowledged once, never
    // redelivered (checked for good by the last test, after the ack deadline).
    expectAcknowledgedOnce(await acknowledgedDeliveries(await publishedIds(runId, 4)));
  });

  it('a redelivered upload event starts no second run; a new upload of the same file copies nothing', async () => {
    const name = 'team-a/external-images.yaml';
    const before = publishedFor(first.runId).length;
    const again = await sendStorageFinalized(fns.fanOutUpload as FunctionServer, {
      bucket: IMAGES_BUCKET,
      name,
      generation: first.generation,
    });
    assert.equal(again.status, 204);
    await pipeline.drain('jobs');
    assert.equal(publishedFor(first.runId).length, before, 'no job published twice');

    pair.target.clearLog();
    const { runId } = await pipeline.upload(name, String(gcs.get(IMAGES_BUCKET, name)));
    const status = await waitForRun(runId);
    assert.deepEqual(status.counts, { exists: 2, conflict: 1, failed: 1 });
    assert.deepEqual(writes(await settledLog(pair.target)), []);
    // Jobs carry the digest the fan-out pinned.
    const pinned = publishedFor(runId).find((j) =>
      String(j.data?.source).endsWith('/team/multi:v1'),
    );
    assert.equal(pinned?.data?.sourceDigest, digests.multi);
  });

  it('an invalid file publishes no job and records its errors with line and field', async () => {
    pair.target.clearLog();
    const { runId } = await pipeline.upload(
      'team-b/external-images.yaml',
      `images:\n- source: ${pair.source.host}/team/single:v1\n- source: ${pair.source.host}/team/Bad:v1\n`,
    );
    const status = await waitForRun(runId);
    assert.equal(status.state, 'invalid');
    assert.match(JSON.stringify(status.errors), /"line":3,"field":"images\[1\]\.source"/);
    await pipeline.drain('jobs');
    assert.deepEqual(publishedFor(runId), []);
    assert.deepEqual(writes(await settledLog(pair.target)), []);
  });

  it('ignores objects that are not images files', async () => {
    const calls = fns.fanOutUpload?.calls.count ?? 0;
    const { runId } = await pipeline.upload('notes/readme.txt', 'hello');
    assert.equal(fns.fanOutUpload?.calls.count, calls + 1);
    assert.ok(logs.lines.some((l) => l.message === 'object is not an images file; ignored'));
    assert.equal((await api(`/runs/${runId}`)).status, 404);
  });

  it('a transient registry failure is redelivered by Pub/Sub and then succeeds', async () => {
    // The fan-out's HEAD and the copy's first HEAD both meet a 503 (one attempt each, by config).
    const [heads] = failManifests(pipeline.registries['flaky.example'], 2, ['HEAD']);
    const failuresBefore = fns.copyJob?.calls.failures ?? 0;
    const { runId } = await pipeline.upload(
      'team-c/external-images.yaml',
      'images:\n- source: flaky.example/team/flaky:v1\n',
    );
    const status = await waitForRun(runId);
    assert.equal(status.images[0]?.status, 'copied', JSON.stringify(status));
    assert.equal(
      status.images[0]?.target,
      `${pair.target.host}/mirror/flaky.example/team/flaky:v1`,
    );
    assert.equal(heads?.faults.length, 0, 'both 503s were answered');
    assert.equal(
      (fns.copyJob?.calls.failures ?? 0) - failuresBefore,
      1,
      'one failed delivery, then the redelivery',
    );
    assert.equal(
      sha256(
        await inspectRaw(`${pair.target.host}/mirror/flaky.example/team/flaky:v1`, TARGET_WRITER),
      ),
      digests.other,
    );
  });

  it('two deliveries of one job leave one correct image and a copied record', async () => {
    const jobs = pubsub.topic('jobs');
    const job = Buffer.from(
      JSON.stringify({
        runId: 'dup-run',
        source: `${pair.source.host}/team/single:v1`,
        tag: 'dup',
      }),
    );
    const ids = await Promise.all([
      jobs.publishMessage({ data: job }),
      jobs.publishMessage({ data: job }),
    ]);
    expectAcknowledgedOnce(await acknowledgedDeliveries(ids));
    const hostPath = pair.source.host.replace(':', '_');
    assert.equal(
      sha256(
        await inspectRaw(`${pair.target.host}/mirror/${hostPath}/team/single:dup`, TARGET_WRITER),
      ),
      digests.single,
    );
    const records = gcs.list(RUNS_BUCKET, 'runs/dup-run/results/');
    assert.equal(records.length, 1);
    const record = JSON.parse(String(gcs.get(RUNS_BUCKET, records[0] as string)));
    assert.equal(record.status, 'copied');
  });

  it('acknowledges job messages that are not valid jobs, without redelivery', async () => {
    const jobs = pubsub.topic('jobs');
    const ids = [
      await jobs.publishMessage({ data: Buffer.from('not json') }),
      await jobs.publishMessage({
        data: Buffer.from(
          JSON.stringify({ runId: 'evil-run', source: 'alpine:3', target: 'elsewhere.io/x:1' }),
        ),
      }),
      // No source; a prefix of its own; an absurd size; a source outside the allow-list.
      await jobs.publishMessage({ data: Buffer.from(JSON.stringify({ runId: 'evil-run' })) }),
      await jobs.publishMessage({
        data: Buffer.from(
          JSON.stringify({ runId: 'evil-run', source: 'alpine:3', prefix: 'elsewhere.io/' }),
        ),
      }),
      await jobs.publishMessage({
        data: Buffer.from(
          JSON.stringify({ runId: 'evil-run', source: 'alpine:3', pad: 'x'.repeat(200_000) }),
        ),
      }),
      await jobs.publishMessage({
        data: Buffer.from(JSON.stringify({ runId: 'evil-run', source: 'ghcr.io/a/b:1' })),
      }),
    ];
    // All acknowledged: none is delivered again (the last test makes sure, after the ack deadline).
    expectAcknowledgedOnce(await acknowledgedDeliveries(ids));
    const records = gcs
      .list(RUNS_BUCKET, 'runs/evil-run/')
      .map((name) => JSON.parse(String(gcs.get(RUNS_BUCKET, name))));
    // Recorded under the key of the target they name, where they name a run and
    // a source: the two alpine jobs share one record (the first stays), the
    // one outside the allow-list has its own. The rest are only logged.
    assert.equal(records.length, 2);
    assert.ok(records.every((r) => r.status === 'invalid'));
    const errors = records.map((r) => r.error).join('\n');
    assert.match(errors, /unknown field "(target|prefix)"/);
    assert.match(errors, /registry ghcr\.io is not on this deployment's allow-list/);
    const acknowledged = logs.lines
      .filter((l) => l.message === 'invalid job message acknowledged without retry')
      .map((l) => String(l.fields?.error));
    for (const pattern of [
      /unknown field "target"/,
      /unknown field "prefix"/,
      /source missing/,
      /limit is 16384/,
    ]) {
      assert.ok(
        acknowledged.some((e) => pattern.test(e)),
        `${pattern} in ${acknowledged.join(' | ')}`,
      );
    }
    assert.ok(acknowledged.some((e) => /not JSON/.test(e)));
  });

  it('a job that keeps failing goes to the dead-letter topic after the last attempt, and the run says so', async () => {
    const failing = failManifests(pipeline.registries['flaky.example'], 1_000, ['HEAD', 'GET']);
    try {
      const { runId } = await pipeline.upload(
        'team-d/external-images.yaml',
        'images:\n- source: flaky.example/team/flaky:v1\n  tag: doomed\n',
      );
      const status = await waitForRun(runId, 90_000);
      const image = status.images[0] as (typeof status.images)[number];
      assert.equal(image.status, 'failed');
      assert.equal(image.deadLettered, true);
      assert.match(image.error ?? '', /answered 503/);
      // Five deliveries, each handed back (503). Pub/Sub's push body says which
      // attempt each is when the subscription has a dead-letter policy; the
      // emulator leaves deliveryAttempt out, so here the function counts them
      // itself (test/unit/events.test.ts proves Pub/Sub's count wins when sent).
      const [job] = await publishedIds(runId, 1);
      // The fifth record is written before its 503 is answered, so the run can
      // read as done a moment before the endpoint has counted that answer.
      const ofJob = () => (fns.copyJob?.deliveries ?? []).filter((d) => d.messageId === job);
      await until('five answered deliveries', () => ofJob().length >= 5, 5_000);
      const attempts = ofJob().map((d, i) => [d.deliveryAttempt ?? i + 1, d.status]);
      assert.deepEqual(
        attempts,
        [1, 2, 3, 4, 5].map((n) => [n, 503]),
      );
      const [recordName] = gcs.list(RUNS_BUCKET, `runs/${runId}/results/`);
      const record = JSON.parse(String(gcs.get(RUNS_BUCKET, recordName as string)));
      assert.equal(record.attempt, 5);
      const deadLettered = await until(
        'the message on the dead-letter topic',
        () => pipeline.tapped('jobs-dead-letter', runId)[0],
        20_000,
      );
      // Forwarded by the subscription, Pub/Sub adds attributes naming where it came from
      // (https://cloud.google.com/pubsub/docs/handling-failures); the function's own dead
      // letters say deadLetteredBy=copyJob instead (pipeline-budget.test.ts).
      const forwarded = deadLettered.attributes;
      assert.match(forwarded.CloudPubSubDeadLetterSourceSubscription ?? '', /jobs-push$/);
      assert.equal(forwarded.deadLetteredBy, undefined);
    } finally {
      for (const rule of failing) rule.faults.length = 0;
    }
  });

  it('POST /plan shows a missing required platform and explains a conflict', async () => {
    const file = [
      'images:',
      `- source: ${pair.source.host}/team/single:v1`,
      '  tag: needs-arm',
      '  platforms: [linux/arm64]',
      `- source: ${pair.source.host}/team/conflicting:v1`,
      '',
    ].join('\n');
    const plan = (await (
      await fetch(`${fns.planApi?.url}/plan`, {
        method: 'POST',
        headers: { 'content-type': 'application/yaml' },
        body: file,
      })
    ).json()) as {
      results: {
        status: string;
        errorCode?: string;
        platforms?: { missing: string[]; available: string[] };
        drift?: { pin: { source: string }; targetDigest: string };
      }[];
    };
    const [refused, conflict] = plan.results;
    assert.equal(refused?.errorCode, 'PLATFORM_MISSING');
    assert.deepEqual(refused?.platforms?.missing, ['linux/arm64']);
    assert.deepEqual(refused?.platforms?.available, ['linux/amd64']);
    assert.equal(conflict?.status, 'conflict');
    assert.equal(
      conflict?.drift?.pin.source,
      `${pair.source.host}/team/conflicting@${conflict?.drift?.targetDigest}`,
    );
    const markdown = await (
      await fetch(`${fns.planApi?.url}/plan`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', accept: 'text/markdown' },
        body: file,
      })
    ).text();
    assert.match(markdown, /\| failed \|.*required platform linux\/arm64 missing/);
    assert.match(
      markdown,
      /Keep what the mirror holds[\s\S]*```yaml\n- source: ".*team\/conflicting@sha256:/,
    );
  });

  it('POST /plan answers the dry-run plan and never writes', async () => {
    pair.target.clearLog();
    const file = [
      'images:',
      `- source: ${pair.source.host}/team/multi:v1`,
      `- source: ${pair.source.host}/team/single:v1`,
      '  tag: fresh',
      `- source: ${pair.source.host}/team/conflicting:v1`,
      '',
    ].join('\n');
    const plan = (await (
      await fetch(`${fns.planApi?.url}/plan`, {
        method: 'POST',
        headers: { 'content-type': 'application/yaml' },
        body: file,
      })
    ).json()) as {
      results: { status: string; digest?: string }[];
    };
    assert.deepEqual(
      plan.results.map((r) => r.status),
      ['exists', 'planned', 'conflict'],
    );
    assert.equal(plan.results[1]?.digest, digests.single);
    const markdown = await fetch(`${fns.planApi?.url}/plan`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', accept: 'text/markdown' },
      body: file,
    });
    assert.match(markdown.headers.get('content-type') ?? '', /text\/markdown/);
    assert.match(await markdown.text(), /\| planned \| `.*team\/single:v1` \|/);
    const invalid = await fetch(`${fns.planApi?.url}/plan`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'images:\n- source: A\n',
    });
    assert.equal(invalid.status, 422);
    assert.equal(
      ((await invalid.json()) as { results: { status: string }[] }).results[0]?.status,
      'invalid',
    );
    const refused = await fetch(`${fns.planApi?.url}/sync`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: file,
    });
    assert.equal(refused.status, 403);
    assert.deepEqual(writes(await settledLog(pair.target)), []);
  });

  it('POST /sync starts a run that GET /runs follows to the end', async () => {
    const response = await api('/sync?runId=ci-42', {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: `images:\n- source: ${pair.source.host}/team/single:v1\n  tag: via-http\n`,
    });
    assert.equal(response.status, 202);
    const body = (await response.json()) as { runId: string; jobs: { target: string }[] };
    assert.equal(body.runId, 'ci-42');
    assert.match(body.jobs[0]?.target ?? '', /team\/single:via-http$/);
    const status = await waitForRun('ci-42');
    assert.deepEqual(status.counts, { copied: 1 });
    const markdown = await api('/runs/ci-42', { headers: { accept: 'text/markdown' } });
    assert.match(await markdown.text(), /\*\*1\*\* copied/);
    // The same run id in the header: the run exists, nothing starts again.
    const again = await api('/sync', {
      method: 'POST',
      headers: { 'content-type': 'application/yaml', 'x-syncer-run-id': 'ci-42' },
      body: `images:\n- source: ${pair.source.host}/team/single:v1\n  tag: via-http\n`,
    });
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { runId: string }).runId, 'ci-42');
  });

  it('a request message from CI naming a gs:// file runs under its runId', async () => {
    gcs.put(
      IMAGES_BUCKET,
      'ci/images.yaml',
      `images:\n- source: ${pair.source.host}/team/single:v1\n  tag: via-pubsub\n`,
    );
    await pubsub.topic('requests').publishMessage({
      data: Buffer.from(JSON.stringify({ imagesFile: `gs://${IMAGES_BUCKET}/ci/images.yaml` })),
      attributes: { runId: 'ci-pubsub-7' },
    });
    const status = await waitForRun('ci-pubsub-7');
    assert.deepEqual(status.counts, { copied: 1 });
  });

  it('remote plan, sync and status drive the HTTP functions and write the job summary', async () => {
    const file = pair.writeFile(
      'remote.yaml',
      `images:\n- source: ${pair.source.host}/team/single:v1\n  tag: via-remote\n- source: ${pair.source.host}/team/conflicting:v1\n`,
    );
    const summary = `${pair.dir}/step-summary.md`;
    const env = { GITHUB_STEP_SUMMARY: summary };
    const plan = await runCliCaptured(
      ['remote', 'plan', '-i', file, '--url', fns.planApi?.url as string],
      env,
    );
    assert.equal(plan.code, 1, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /^planned +.*team\/single:v1 → .*single:via-remote/m);
    assert.match(plan.stdout, /^CONFLICT .*team\/conflicting:v1/m);

    const sync = await runCliCaptured(
      ['remote', 'sync', '-i', file, '--url', fns.api?.url as string, '--run-id', 'remote-1'],
      env,
    );
    assert.equal(sync.code, 1, sync.stdout + sync.stderr);
    assert.match(sync.stdout, /^copied +.*single:via-remote/m);
    const status = await runCliCaptured(
      ['remote', 'status', '--run-id', 'remote-1', '--url', fns.api?.url as string],
      {},
    );
    assert.equal(status.code, 1);
    assert.match(status.stdout, /^copied +/m);

    const clean = pair.writeFile(
      'remote-clean.yaml',
      `images:\n- source: ${pair.source.host}/team/single:v1\n  tag: via-remote\n`,
    );
    const again = await runCliCaptured(
      ['remote', 'sync', '-i', clean, '--url', fns.api?.url as string],
      env,
    );
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /^exists +/m);

    const markdown = readFileSync(summary, 'utf8');
    assert.equal(markdown.match(/^### image-syncer/gm)?.length, 3);
    assert.match(markdown, /\| conflict \| `.*conflicting:v1` \|/);

    const invalid = pair.writeFile('remote-bad.yaml', 'images:\n- source: Nope\n');
    assert.equal(
      (
        await runCliCaptured(
          ['remote', 'plan', '-i', invalid, '--url', fns.planApi?.url as string],
          {},
        )
      ).code,
      2,
    );
    const refused = await runCliCaptured(
      ['remote', 'sync', '-i', clean, '--url', fns.planApi?.url as string],
      {},
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /answered 403: this endpoint only plans/);
  });

  it('logs structured lines that follow a run and never hold a secret', () => {
    const copied = logs.lines.find((l) => l.message === 'job copied');
    assert.ok(
      copied?.fields?.runId &&
        copied.fields.target &&
        copied.fields.digest &&
        typeof copied.fields.durationMs === 'number',
      JSON.stringify(copied),
    );
    const secret = TARGET_WRITER.split(':')[1] as string;
    const encoded = Buffer.from(TARGET_WRITER).toString('base64');
    const all = JSON.stringify(logs.lines);
    assert.ok(!all.includes(secret) && !all.includes(encoded), 'no credential in any log line');
    const records = gcs
      .list(RUNS_BUCKET, 'runs/')
      .map((name) => String(gcs.get(RUNS_BUCKET, name)))
      .join('\n');
    assert.ok(
      !records.includes(secret) && !records.includes(encoded),
      'no credential in any run record',
    );
  });

  it('answers bad HTTP input with a 4xx and a message, never a stack trace', async () => {
    const cases: [string, RequestInit, number, RegExp][] = [
      [
        '/plan',
        { method: 'POST', headers: { 'content-type': 'image/png' }, body: 'x' },
        415,
        /content type image\/png/,
      ],
      [
        '/plan',
        {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: 'x'.repeat(1024 * 1024 + 1),
        },
        413,
        /limit is 1048576/,
      ],
      [
        '/plan',
        { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '' },
        400,
        /empty body/,
      ],
      ['/plan', { method: 'GET' }, 405, /use POST/],
      ['/runs/..%2Fsecret', {}, 400, /malformed runId/],
      ['/runs/no-such-run', {}, 404, /no run no-such-run/],
      ['/nowhere', {}, 404, /routes are/],
      [
        '/sync?runId=bad id',
        { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'images: []' },
        400,
        /malformed runId/,
      ],
    ];
    for (const [path, init, status, pattern] of cases) {
      const response = await api(path, init);
      const text = await response.text();
      assert.equal(response.status, status, `${path}: ${text}`);
      assert.match(text, pattern);
      assert.doesNotMatch(text, /at .*\.ts:\d+/);
    }
  });
  it('never delivers an acknowledged job message again, once the ack deadline has passed', async () => {
    const ids = [...acknowledgedOnce];
    assert.ok(ids.length >= 12, `the earlier tests acknowledged their messages (${ids.length})`);
    const all = fns.copyJob?.deliveries ?? [];
    const lastAnswer = Math.max(
      ...all.filter((d) => acknowledgedOnce.has(d.messageId)).map((d) => d.answeredAt),
    );
    // Any redelivery of these would have come by now: their ack deadline and
    // the longest retry backoff have passed since the last answer (plus slack
    // for the emulator's push loop).
    const settled = lastAnswer + (ACK_DEADLINE_SECONDS + MAX_BACKOFF_SECONDS + 2) * 1000;
    if (Date.now() < settled) await sleep(settled - Date.now());
    for (const id of ids) {
      const deliveries = all.filter((d) => d.messageId === id);
      const acks = deliveries.filter((d) => acknowledges(d.status));
      assert.equal(acks.length, 1, `message ${id} acknowledged ${acks.length} times`);
      assert.equal(deliveries.at(-1), acks[0], `message ${id} delivered after its acknowledgement`);
    }
  });
});

// Operations on the emulators: the run-completed message on the runs topic
// (exactly once per run, under duplicate and redelivered job deliveries) and a
// run in a browser (headless Chromium driven by playwright-core against the api
// function under the real Functions Framework, records in the Storage test
// server, jobs pushed by the real Pub/Sub emulator: test/support/pipeline-fixture.ts).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PubSub } from '@google-cloud/pubsub';
import { type BrowserContext, chromium } from 'playwright-core';
import { CATEGORY_ACTIONS } from '../../functions/failures.ts';
import { jobKey } from '../../functions/pipeline/job.ts';
import { RUN_COMPLETED, type RunCompletedEvent } from '../../functions/pipeline/records.ts';
import { ABSENT, RunStore } from '../../functions/pipeline/run-store.ts';
import type { MemoryLogger } from '../../functions/util/logger.ts';
import { CONTENT_SECURITY_POLICY } from '../../functions/views/run-page.ts';
import type { GcsServer } from '../../scripts/local/gcs-server.ts';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import { type Pair, SOURCE_PUSHER } from '../support/fixture.ts';
import { Layout, push } from '../support/images.ts';
import { type Pipeline, RUNS_BUCKET, startPipeline, until } from '../support/pipeline-fixture.ts';
import { testBucket } from '../support/run-stores.ts';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
/** Screenshots for a person to look at, beside the test output (ignored by git). */
const OUTPUT = new URL('../../test-output/', import.meta.url);

async function seed(pair: Pair): Promise<void> {
  const layout = new Layout();
  const single = layout.image({ layers: [20_000] });
  layout.tag('single', single);
  for (const name of ['a', 'b', 'c'])
    await push(layout, 'single', `${pair.source.host}/team/${name}:v1`, { creds: SOURCE_PUSHER });
}

function launchBrowser(profile: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 720 },
  });
}

describe('operations: run-completed messages and the run page', () => {
  let pipeline: Pipeline<{ 'ops.example': FaultProxy }>;
  let pair: Pair;
  let gcs: GcsServer;
  let proxy: FaultProxy;
  let pubsub: PubSub;
  let logs: MemoryLogger;
  let browser: BrowserContext;
  let profile: string;

  const api = (path: string, init?: RequestInit) => pipeline.api(path, init);
  /**
   * Deliveries of a run's jobs that have finished: each ends with one `job
   * <status>` line, or, for a job whose record was already final, `job already ended`.
   */
  const finishedDeliveries = (runId: string) =>
    logs.lines.filter(
      (l) =>
        l.fields?.runId === runId &&
        /^job (copied|exists|planned|conflict|failed|already ended)( |;|$)/.test(l.message),
    ).length;
  /** The run-completed messages of a run on the runs topic. */
  const completionsOf = (runId: string) =>
    pipeline
      .tapped('runs', runId)
      .map((m) => ({ data: m.data as unknown as RunCompletedEvent, attributes: m.attributes }));
  const drainRunsTopic = () => pipeline.drain('runs');

  before(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
    // Both awaited and each kept, so that `after` stops what started whatever else failed.
    const started = await Promise.allSettled([
      startPipeline({
        project: 'image-syncer-ops',
        functions: ['copyJob', 'api'],
        registries: async (pair) => ({ 'ops.example': await startFaultProxy(pair.source.url) }),
        seed,
        env: { SYNCER_RUNS_TOPIC: 'runs', SYNCER_RETRY_ATTEMPTS: '1' },
      }).then((started) => {
        pipeline = started;
      }),
      launchBrowser(profile).then((launched) => {
        browser = launched;
      }),
    ]);
    for (const result of started) if (result.status === 'rejected') throw result.reason;
    ({ pair, gcs, pubsub, logs } = pipeline);
    proxy = pipeline.registries['ops.example'];
  });

  after(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await pipeline?.stop();
  });

  it('publishes one run-completed message for a run with duplicate and redelivered jobs', async () => {
    // The first copy of team/b meets a 503: Pub/Sub redelivers that job.
    proxy.add({
      method: 'GET',
      path: /\/v2\/team\/b\/manifests\//,
      faults: [{ kind: 'status', status: 503 }],
    });
    const images = ['a', 'b', 'c'].map((n) => `ops.example/team/${n}:v1`);
    const response = await api('/sync?runId=ops-1', {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: `images:\n${images.map((s) => `- source: ${s}\n`).join('')}`,
    });
    assert.equal(response.status, 202, await response.text());
    // Every job delivered twice more, at once: duplicates racing the originals.
    const jobs = pubsub.topic('jobs');
    await Promise.all(
      images.flatMap((source) =>
        [1, 2].map(() =>
          jobs.publishMessage({ data: Buffer.from(JSON.stringify({ runId: 'ops-1', source })) }),
        ),
      ),
    );
    // 3 jobs + 6 duplicates + 1 redelivery after the 503.
    await until('every delivery of run ops-1 finished', () => finishedDeliveries('ops-1') >= 10);
    assert.equal(proxy.seen.filter((s) => s.fault).length, 1, 'the 503 was injected');
    assert.ok(
      logs.lines.some((l) => l.fields?.runId === 'ops-1' && /transiently/.test(l.message)),
      'one delivery failed and was redelivered',
    );
    // A redelivery long after the run completed changes nothing either.
    await jobs.publishMessage({
      data: Buffer.from(JSON.stringify({ runId: 'ops-1', source: images[0] })),
    });
    await until('the late redelivery finished', () => finishedDeliveries('ops-1') >= 11);
    await drainRunsTopic();

    const messages = completionsOf('ops-1');
    assert.equal(messages.length, 1, 'exactly one run-completed message');
    const message = messages[0] as { data: RunCompletedEvent; attributes: Record<string, string> };
    assert.equal(message.data.type, RUN_COMPLETED);
    assert.deepEqual(message.data.counts, { copied: 3 }, JSON.stringify(message.data.problems));
    assert.equal(message.data.outcome, 'succeeded');
    assert.equal(message.data.images, 3);
    assert.deepEqual(message.data.categories, {});
    assert.ok(message.data.durationMs >= 0);
    assert.deepEqual(message.attributes, {
      type: RUN_COMPLETED,
      runId: 'ops-1',
      outcome: 'succeeded',
      dryRun: 'false',
    });
    assert.equal(logs.lines.filter((l) => l.message === 'run completed').length, 1);
    const marker = JSON.parse(String(gcs.get(RUNS_BUCKET, 'runs/ops-1/completed.json')));
    assert.equal(marker.state, 'published');
  });

  it('a run with a missing image completes as failed, its problem counted by category', async () => {
    const response = await api('/sync?runId=ops-2', {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: 'images:\n- source: ops.example/team/a:v1\n  tag: second\n- source: ops.example/team/absent:v1\n',
    });
    assert.equal(response.status, 202, await response.text());
    await until('both jobs of ops-2 finished', () => finishedDeliveries('ops-2') >= 2);
    await drainRunsTopic();
    const messages = completionsOf('ops-2');
    assert.equal(messages.length, 1);
    const event = messages[0]?.data as RunCompletedEvent;
    assert.equal(event.outcome, 'failed');
    assert.equal(messages[0]?.attributes.outcome, 'failed');
    assert.deepEqual(event.counts, { copied: 1, failed: 1 });
    assert.deepEqual(event.categories, { 'not-found': 1 });
    assert.equal(event.problems[0]?.source, 'ops.example/team/absent:v1');
    assert.equal(event.problems[0]?.errorCode, 'SOURCE_NOT_FOUND');
  });

  it('shows an open run in a browser: every row, the progress, refreshing, nothing foreign', async () => {
    // A run with one job copied, one failed (auth), one conflict explained by its drift, one pending.
    const store = new RunStore(testBucket(gcs.url, RUNS_BUCKET));
    const target = (n: string) => `${pair.target.host}/mirror/ops.example/team/${n}:v1`;
    const hostile = '<script>document.title="owned"</script><img src=x onerror=alert(1)>';
    const names = ['a', 'b', 'c', 'd'];
    await store.writeRun(
      {
        runId: 'ops-open',
        createdAt: new Date().toISOString(),
        trigger: { type: 'http' },
        file: 'request body',
        dryRun: false,
        state: 'published',
        jobs: names.map((n) => ({
          key: jobKey(target(n)),
          source: `ops.example/team/${n}:v1`,
          target: target(n),
        })),
      },
      ABSENT,
    );
    const record = (n: string) => ({
      runId: 'ops-open',
      finishedAt: new Date().toISOString(),
      key: jobKey(target(n)),
      source: `ops.example/team/${n}:v1`,
      target: target(n),
    });
    const [held, served] = [`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`];
    await store.writeResult(
      {
        ...record('a'),
        status: 'copied',
        digest: `sha256:${'a'.repeat(64)}`,
      },
      ABSENT,
    );
    await store.writeResult(
      {
        ...record('b'),
        status: 'failed',
        errorCode: 'UNAUTHORIZED',
        category: 'auth',
        error: `access denied ${hostile}`,
      },
      ABSENT,
    );
    await store.writeResult(
      {
        ...record('c'),
        status: 'conflict',
        errorCode: 'TAG_CONFLICT',
        category: 'conflict',
        digest: held,
        error: 'the mirror holds other bytes under this tag',
        drift: {
          targetDigest: held,
          sourceDigest: served,
          added: ['linux/riscv64'],
          removed: [],
          changed: ['linux/amd64'],
          pin: { source: `ops.example/team/c@${held}`, tag: 'v1' },
          newTag: { source: 'ops.example/team/c:v1', tag: 'v1-222222222222' },
        },
      },
      ABSENT,
    );

    const page = await browser.newPage();
    const answer = await page.goto(`${pipeline.fns.api?.url}/runs/ops-open`);
    assert.equal(answer?.status(), 200);
    assert.equal(answer?.headers()['content-security-policy'], CONTENT_SECURITY_POLICY);
    assert.match(answer?.headers()['content-type'] ?? '', /^text\/html/);
    assert.equal(await page.locator('#state').textContent(), 'in progress');
    assert.equal(await page.locator('#progress').getAttribute('value'), '3');
    assert.equal(await page.locator('#progress').getAttribute('max'), '4');
    assert.match((await page.locator('#progress-text').textContent()) ?? '', /3 of 4 images ended/);
    const rows = await page.locator('#images tbody tr').evaluateAll((trs) =>
      trs.map((tr) =>
        // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what a person sees
        Array.from(tr.querySelectorAll('td'), (td) => td.innerText.trim()),
      ),
    );
    assert.equal(rows.length, 4);
    assert.deepEqual(rows[0]?.slice(0, 2), ['copied', '']);
    assert.match(rows[0]?.[3] ?? '', /^sha256:a{64}$/);
    assert.deepEqual(rows[1]?.slice(0, 2), ['failed', 'auth']);
    assert.equal(rows[1]?.[5], CATEGORY_ACTIONS.auth, 'the fix for the category');
    assert.equal(rows[1]?.[6], `UNAUTHORIZED · access denied ${hostile}`, 'markup shown as text');
    assert.deepEqual(rows[2]?.slice(0, 2), ['conflict', 'conflict']);
    assert.match(rows[2]?.[4] ?? '', /changed linux\/amd64; added linux\/riscv64/);
    assert.match(rows[2]?.[4] ?? '', new RegExp(`mirror ${held} ?, source ${served}`));
    assert.match(rows[2]?.[5] ?? '', new RegExp(`source: "ops.example/team/c@${held}"`));
    assert.match(rows[2]?.[5] ?? '', /tag: "v1-222222222222"/);
    assert.equal(rows[3]?.[0], 'pending');
    assert.equal(await page.locator('script, img').count(), 0, 'no element from record values');
    assert.notEqual(await page.title(), 'owned');
    assert.equal(
      await page.locator('meta[http-equiv="refresh"]').getAttribute('content'),
      '5',
      'the open run refreshes itself',
    );
    assert.equal(
      await page.evaluate(() => getComputedStyle(document.body).margin),
      '24px',
      'the inline style applied under the CSP',
    );
    await page.screenshot({ path: new URL('run-open.png', OUTPUT).pathname, fullPage: true });
    // Every job ended, no run-completed message out yet: completing, not done.
    await store.writeResult({ ...record('d'), status: 'exists' }, ABSENT);
    await page.reload();
    assert.equal(await page.locator('#state').textContent(), 'completing');
    const status = (await (await api('/runs/ops-open')).json()) as { phase: string; done: boolean };
    assert.deepEqual([status.phase, status.done], ['completing', false]);
    await page.close();
  });

  it('shows a finished run and the recent runs; JSON and Markdown stay as they were', async () => {
    const page = await browser.newPage();
    await page.goto(`${pipeline.fns.api?.url}/runs`);
    const listed = await page.locator('#runs tbody tr td:first-child').allInnerTexts();
    assert.ok(
      ['ops-1', 'ops-2', 'ops-open'].every((r) => listed.includes(r)),
      listed.join(),
    );
    assert.match(
      (await page.locator('tr', { hasText: 'ops-2' }).locator('.outcome').textContent()) ?? '',
      /failed: 1 copied, 1 failed/,
    );
    assert.match(
      (await page.locator('tr', { hasText: 'ops-1' }).locator('.outcome').textContent()) ?? '',
      /succeeded: 3 copied/,
    );
    await page.screenshot({ path: new URL('runs.png', OUTPUT).pathname, fullPage: true });
    await page.locator('a', { hasText: 'ops-1' }).click();
    await page.waitForURL(/\/runs\/ops-1$/);
    assert.equal(await page.locator('#state').textContent(), 'done');
    assert.equal(await page.locator('#progress').count(), 0, 'no progress bar once done');
    assert.equal(
      await page.locator('meta[http-equiv="refresh"]').count(),
      0,
      'no refresh once done',
    );
    const statuses = await page.locator('#images tbody td.status').allInnerTexts();
    assert.deepEqual(statuses, ['copied', 'copied', 'copied']);
    await page.screenshot({ path: new URL('run-done.png', OUTPUT).pathname, fullPage: true });
    await page.close();

    const json = await api('/runs/ops-1');
    assert.match(json.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(((await json.json()) as { counts: unknown }).counts, { copied: 3 });
    const any = await api('/runs/ops-1', { headers: { accept: '*/*' } });
    assert.match(any.headers.get('content-type') ?? '', /application\/json/);
    const markdown = await api('/runs/ops-1', { headers: { accept: 'text/markdown' } });
    assert.match(await markdown.text(), /\*\*3\*\* copied/);
    const list = (await (await api('/runs')).json()) as {
      runs: { runId: string; completed?: { outcome: string } }[];
    };
    assert.equal(list.runs.find((r) => r.runId === 'ops-1')?.completed?.outcome, 'succeeded');
    assert.equal(list.runs.find((r) => r.runId === 'ops-open')?.completed, undefined);
  });
});

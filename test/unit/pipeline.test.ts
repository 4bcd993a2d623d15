import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../functions/errors.ts';
import { globToRegExp, loadConfig } from '../../functions/gcp/config.ts';
import { fanOut, type JobPublisher } from '../../functions/pipeline/fanout.ts';
import { InvalidJobError, type JobMessage, parseJob } from '../../functions/pipeline/job.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { silentLogger } from '../../functions/util/logger.ts';
import { runStatus } from '../../functions/views/status.ts';
import { memoryRunStore } from '../support/run-stores.ts';

const job = (value: unknown) => Buffer.from(JSON.stringify(value));
const DIGEST = `sha256:${'d'.repeat(64)}`;

describe('job messages', () => {
  it('accepts the documented fields', () => {
    assert.deepEqual(
      parseJob(
        job({ runId: 'r-1', source: 'alpine:3', tag: 'x', sourceDigest: DIGEST, dryRun: true }),
      ),
      {
        runId: 'r-1',
        source: 'alpine:3',
        tag: 'x',
        sourceDigest: DIGEST,
        dryRun: true,
      },
    );
  });
  const rejected: [unknown, RegExp][] = [
    [{ runId: 'r', source: 'alpine:3', target: 'evil.io/x:1' }, /unknown field "target"/],
    [{ runId: 'r', source: 'alpine:3', prefix: 'evil.io/' }, /unknown field "prefix"/],
    [{ runId: '../r', source: 'alpine:3' }, /runId missing or malformed/],
    [{ runId: 'r' }, /source missing/],
    [{ runId: 'r', source: 'UPPER:1' }, /lowercase/],
    [{ runId: 'r', source: 'alpine:3', sourceDigest: 'sha256:x' }, /sourceDigest malformed/],
    [{ runId: 'r', source: 'alpine:3', dryRun: 'yes' }, /dryRun must be a boolean/],
    [[1, 2], /not a JSON object/],
  ];
  for (const [value, pattern] of rejected) {
    it(`rejects ${JSON.stringify(value)}`, () =>
      assert.throws(
        () => parseJob(job(value)),
        (e: unknown) => e instanceof InvalidJobError && pattern.test(e.message),
      ));
  }
  it('rejects non-JSON and absurd sizes, keeping the runId when it is readable', () => {
    assert.throws(() => parseJob(Buffer.from('{nope')), /not JSON/);
    assert.throws(() => parseJob(Buffer.alloc(20_000, 0x20)), /limit is 16384/);
    assert.throws(
      () => parseJob(job({ runId: 'r-9', source: 'alpine:3', target: 'x' })),
      (e: unknown) => (e as InvalidJobError).runId === 'r-9',
    );
  });
});

describe('function configuration', () => {
  const base = { SYNCER_TARGET_REPO_PREFIX: 'europe-docker.pkg.dev/p/r/' };
  it('names missing or bad variables', () => {
    assert.throws(
      () => loadConfig({}),
      (e: unknown) =>
        e instanceof ConfigError && /SYNCER_TARGET_REPO_PREFIX is required/.test(e.message),
    );
    assert.throws(
      () => loadConfig({ ...base }, 'fanOutUpload'),
      /SYNCER_JOBS_TOPIC and SYNCER_RUNS_BUCKET required by the fanOutUpload function/,
    );
    assert.throws(
      () => loadConfig({ ...base, SYNCER_DRY_RUN: 'perhaps' }),
      /SYNCER_DRY_RUN: expected true or false/,
    );
    assert.throws(
      () => loadConfig({ ...base, SYNCER_MAX_DELIVERY_ATTEMPTS: '0' }),
      /SYNCER_MAX_DELIVERY_ATTEMPTS: expected a whole number/,
    );
    assert.throws(
      () => loadConfig({ ...base, SYNCER_REGISTRY_ENDPOINT: 'docker.io' }),
      /SYNCER_REGISTRY_ENDPOINT: .*REGISTRY=URL/,
    );
    assert.throws(
      () => loadConfig({ ...base, SYNCER_SOURCE_CREDENTIALS_FILE: '/nonexistent/creds.json' }),
      /SYNCER_SOURCE_CREDENTIALS_FILE: cannot read/,
    );
  });
  it('reads what each function needs', () => {
    const config = loadConfig(
      { ...base, SYNCER_RUNS_BUCKET: 'b', SYNCER_DRY_RUN: 'true', GOOGLE_CLOUD_PROJECT: 'p1' },
      'copyJob',
    );
    assert.equal(config.runsBucket, 'b');
    assert.equal(config.dryRun, true);
    assert.equal(config.project, 'p1');
    assert.equal(config.maxDeliveryAttempts, 5);
  });
  it('matches images files by glob on the base name', () => {
    const yaml = globToRegExp('*.yaml');
    assert.ok(yaml.test('external-images.yaml') && yaml.test('team/external-images.yaml'));
    assert.ok(!yaml.test('external-images.yaml.bak') && !yaml.test('x.yml'));
    assert.ok(globToRegExp('teams/*/images.yaml').test('teams/a/images.yaml'));
  });
});

describe('fan-out', () => {
  const prefix = parseTargetPrefix('mirror.example.io/external/');
  const file = Buffer.from(
    `images:\n- source: alpine:3\n- source: busybox@${DIGEST}\n  tag: pinned\n`,
  );
  const input = {
    runId: 'run-1',
    file: 'f.yaml',
    bytes: file,
    trigger: { type: 'test' },
    dryRun: false,
  };

  it('records the plan, publishes, and does nothing on a repeat', async () => {
    const store = memoryRunStore();
    const sent: JobMessage[][] = [];
    const publisher: JobPublisher = { publish: async (jobs) => void sent.push([...jobs]) };
    const first = await fanOut(input, { prefix, store, publisher, logger: silentLogger });
    assert.equal(first.outcome, 'published');
    assert.deepEqual(sent[0], [
      { runId: 'run-1', source: 'alpine:3' },
      { runId: 'run-1', source: `busybox@${DIGEST}`, tag: 'pinned', sourceDigest: DIGEST },
    ]);
    assert.equal((await store.readRun('run-1'))?.value.state, 'published');
    const again = await fanOut(input, { prefix, store, publisher, logger: silentLogger });
    assert.equal(again.outcome, 'repeat');
    assert.equal(sent.length, 1);
  });

  it('leaves a run publishing when a publish fails, and republishes the same jobs on redelivery', async () => {
    const store = memoryRunStore();
    let fail = true;
    const sent: JobMessage[][] = [];
    const publisher: JobPublisher = {
      publish: async (jobs) => {
        if (fail) throw new Error('3 of 2 jobs not published');
        sent.push([...jobs]);
      },
    };
    await assert.rejects(fanOut(input, { prefix, store, publisher, logger: silentLogger }));
    assert.equal((await store.readRun('run-1'))?.value.state, 'publishing');
    fail = false;
    const retry = await fanOut(
      { ...input, bytes: Buffer.from('images: []\n') },
      { prefix, store, publisher, logger: silentLogger },
    );
    assert.equal(retry.outcome, 'published');
    assert.equal(sent[0]?.length, 2, 'the recorded plan wins over anything new');
  });

  it('publishes nothing for an invalid file and records every problem', async () => {
    const store = memoryRunStore();
    let published = 0;
    const outcome = await fanOut(
      { ...input, bytes: Buffer.from('images:\n- source: A\n- sorce: b\n') },
      { prefix, store, publisher: { publish: async () => void published++ }, logger: silentLogger },
    );
    assert.equal(outcome.outcome, 'invalid');
    assert.equal(published, 0);
    const status = runStatus(outcome.run, []);
    assert.equal(status.done, true);
    assert.deepEqual(
      status.errors?.map((e) => `${e.line} ${e.field}`),
      ['2 images[0].source', '3 images[1].sorce'],
    );
  });
});

// The pull request flow through the pipeline on this machine: a deployment
// that trusts some sources (SYNCER_TRUSTED_SOURCES) mirrors those entries of a
// pull request's images file while it is open, through the fan-out and the
// copy function, and plans the rest; a fork's pull request mirrors nothing
// early; a job that claims to be early for an untrusted source is refused and
// recorded; after the merge the early images are `exists`, and the run names
// the pull request that mirrored them. Real docker-registry source and target,
// the Pub/Sub emulator, the functions under the Functions Framework
// (test/support/pipeline-fixture.ts). What reaches the target is read with
// skopeo, independently of image-syncer's own client.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jobKey } from '../../functions/pipeline/job.ts';
import { SOURCE_PUSHER, TARGET_WRITER } from '../support/fixture.ts';
import { inspectRaw, Layout, push, sha256 } from '../support/images.ts';
import { type Pipeline, RUNS_BUCKET, startPipeline, until } from '../support/pipeline-fixture.ts';

const COMMIT = 'c0ffee'.padEnd(40, '0');
const IMAGES = ['trusted/app:v1', 'trusted/tool:v2', 'other/lib:v1'];

describe('the pull request flow: trusted images mirrored before merge', () => {
  let pipeline: Pipeline<Record<never, never>>;
  let source: string;
  let digests: Record<string, string>;

  before(async () => {
    pipeline = await startPipeline({
      project: 'image-syncer-pr',
      functions: ['copyJob', 'api', 'planApi'],
      env: (pair) => ({ SYNCER_TRUSTED_SOURCES: `${pair.source.host}/trusted/*` }),
      seed: async (pair) => {
        const layout = new Layout();
        layout.tag('v1', layout.image({ layers: [20_000] }));
        for (const image of IMAGES)
          await push(layout, 'v1', `${pair.source.host}/${image}`, { creds: SOURCE_PUSHER });
      },
    });
    source = pipeline.pair.source.host;
    digests = {};
    for (const image of IMAGES) digests[image] = sha256(await inspectRaw(`${source}/${image}`));
  });
  after(() => pipeline?.stop());

  const target = (image: string) =>
    `${pipeline.pair.target.host}/mirror/${source.replace(':', '_')}/${image}`;
  /** The target's manifest digest for `image`, or undefined when the tag is not there. */
  const mirrored = (image: string) =>
    inspectRaw(target(image), TARGET_WRITER).then(sha256, () => undefined);
  const file = (...images: string[]) =>
    `images:\n${images.map((i) => `- source: ${source}/${i}\n`).join('')}`;
  const plan = (body: string, query: string, accept = 'application/json') =>
    fetch(`${pipeline.fns.planApi?.url}/plan?${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/yaml', accept },
      body,
    });
  const pullRequest = (number: number, fork: boolean) =>
    `pullRequest=${number}&repository=acme/app&commit=${COMMIT}&fork=${fork}`;
  const record = (runId: string, image: string) =>
    JSON.parse(
      String(pipeline.gcs.get(RUNS_BUCKET, `runs/${runId}/results/${jobKey(target(image))}.json`)),
    );

  it('mirrors only the trusted entries of an open pull request, and plans the rest', async () => {
    const response = await plan(file('trusted/app:v1', 'other/lib:v1'), pullRequest(12, false));
    assert.equal(response.status, 200, await response.clone().text());
    const runId = response.headers.get('x-syncer-early-run');
    assert.ok(runId, 'an early run is named');
    const answer = (await response.json()) as {
      early: { runId: string };
      results: {
        source: string;
        status: string;
        mirroredEarly?: { trustedBy: string; reference: string };
      }[];
    };
    assert.equal(answer.early.runId, runId);
    const [trusted, untrusted] = answer.results;
    assert.deepEqual(trusted?.mirroredEarly, {
      trustedBy: `${source}/trusted/*`,
      reference: `${target('trusted/app:v1').replace(/:v1$/, '')}@${digests['trusted/app:v1']}`,
    });
    assert.equal(untrusted?.status, 'planned');
    assert.equal(untrusted?.mirroredEarly, undefined);

    const run = await pipeline.waitForRun(runId);
    assert.deepEqual(run.counts, { copied: 1 });
    assert.equal(await mirrored('trusted/app:v1'), digests['trusted/app:v1']);
    assert.equal(await mirrored('other/lib:v1'), undefined, 'the untrusted entry is not written');
    // The record says which pull request, at which commit, under which pattern.
    assert.deepEqual(record(runId, 'trusted/app:v1').early, {
      repository: 'acme/app',
      number: 12,
      commit: COMMIT,
      fork: false,
      trustedBy: `${source}/trusted/*`,
    });
    // The same pull request planned again (a re-run): the image is there, nothing is copied twice.
    const again = await plan(file('trusted/app:v1'), pullRequest(12, false));
    assert.equal(again.headers.get('x-syncer-early-run'), null);
    const replanned = (await again.json()) as { results: { status: string }[] };
    assert.equal(replanned.results[0]?.status, 'exists');
  });

  it('refuses and records a job that claims to be early for a source the deployment does not trust', async () => {
    const forged = {
      runId: 'forged-run',
      source: `${source}/other/lib:v1`,
      early: { repository: 'acme/app', number: 13, commit: COMMIT, fork: false, trustedBy: '**' },
    };
    await pipeline.pubsub
      .topic('jobs')
      .publishMessage({ data: Buffer.from(JSON.stringify(forged)) });
    const refused = await until('the forged job recorded', () => {
      const text = pipeline.gcs.get(
        RUNS_BUCKET,
        `runs/forged-run/results/${jobKey(target('other/lib:v1'))}.json`,
      );
      return text && JSON.parse(String(text));
    });
    assert.equal(refused.status, 'invalid');
    assert.equal(refused.errorCode, 'UNTRUSTED_SOURCE');
    assert.equal(refused.category, 'blocked');
    assert.match(refused.error, /is not a trusted source of this deployment/);
    assert.equal(refused.early.number, 13);
    assert.equal(await mirrored('other/lib:v1'), undefined, 'never copied');
  });

  it('mirrors nothing early for a pull request from a fork', async () => {
    const response = await plan(file('trusted/tool:v2'), pullRequest(14, true));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-syncer-early-run'), null);
    const answer = (await response.json()) as { notEarly?: string; results: { status: string }[] };
    assert.match(answer.notEarly ?? '', /from a fork may not mirror early/);
    assert.equal(answer.results[0]?.status, 'planned');
    await pipeline.drain('jobs');
    // Nothing published: the jobs tap, which saw every message up to the
    // drain's marker, carried no job for the image.
    const published = pipeline.taps.jobs.filter(
      (m) => m.data?.source === `${source}/trusted/tool:v2`,
    );
    assert.deepEqual(published, []);
    assert.equal(await mirrored('trusted/tool:v2'), undefined);
  });

  it("says in the pull request's summary what is mirrored early, by digest, and what is only planned", async () => {
    const response = await plan(
      file('trusted/tool:v2', 'other/lib:v1'),
      pullRequest(15, false),
      'text/markdown',
    );
    assert.equal(response.status, 200);
    const markdown = await response.text();
    const reference = `${target('trusted/tool:v2').replace(/:v2$/, '')}@${digests['trusted/tool:v2']}`;
    assert.ok(
      markdown.includes(
        `| mirrored early (trusted: ${source}/trusted/*) | \`${source}/trusted/tool:v2\``,
      ),
      markdown,
    );
    assert.ok(markdown.includes(`\`${reference}\``), 'the mirrored image, by digest');
    assert.match(markdown, /\| planned \| `[^`]*other\/lib:v1`/);
    const runId = response.headers.get('x-syncer-early-run') as string;
    assert.match(markdown, new RegExp(`mirrored early in run ${runId}`));
    await pipeline.waitForRun(runId);
    assert.equal(await mirrored('trusted/tool:v2'), digests['trusted/tool:v2']);
  });

  it('after the merge, the early image exists and the run names the pull request that mirrored it', async () => {
    const response = await pipeline.api('/sync?runId=merge-12', {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: file('trusted/app:v1', 'other/lib:v1'),
    });
    assert.equal(response.status, 202, await response.text());
    const run = await pipeline.waitForRun('merge-12');
    assert.deepEqual(run.counts, { exists: 1, copied: 1 });
    const early = record('merge-12', 'trusted/app:v1');
    assert.equal(early.status, 'exists');
    assert.deepEqual(
      [early.mirroredBy.repository, early.mirroredBy.number, early.mirroredBy.commit],
      ['acme/app', 12, COMMIT],
    );
    assert.equal(record('merge-12', 'other/lib:v1').mirroredBy, undefined);
    const markdown = await (
      await pipeline.api('/runs/merge-12', { headers: { accept: 'text/markdown' } })
    ).text();
    assert.match(markdown, /mirrored early by acme\/app#12 at c0ffee000000/);
  });
});

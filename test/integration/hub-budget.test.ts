// Docker Hub's pull budget, for the CLI, against a real registry behind a
// proxy that behaves as Hub documents (test/support/hub-budget-proxy.ts;
// docker/docs content/manuals/docker-hub/usage/pulls.md): manifest GETs are
// counted per client address, HEADs are free, every manifest answer carries
// ratelimit-limit / ratelimit-remaining / docker-ratelimit-source, and a GET
// over the limit is answered 429.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Pair, SOURCE_PUSHER, startPair } from '../support/fixture.ts';
import { type HubBudgetProxy, startHubBudgetProxy } from '../support/hub-budget-proxy.ts';
import { Layout, push } from '../support/images.ts';

describe('Docker Hub pull budget (CLI)', () => {
  let pair: Pair;
  let hub: HubBudgetProxy;
  let file: string;
  let mirror = 0;

  /** The CLI with docker.io served by the budget proxy, into a fresh target path each time. */
  const sync = (args: string[]) =>
    pair.cli([
      '-i',
      file,
      '-r',
      `${pair.target.host}/mirror-${++mirror}/`,
      '--registry-endpoint',
      `docker.io=${hub.url}`,
      ...args,
    ]);

  before(async () => {
    pair = await startPair();
    const layout = new Layout();
    const amd64 = layout.image({ layers: [3_000] });
    const arm64 = layout.image({ layers: [3_000], architecture: 'arm64' });
    layout.tag('multi', layout.index([amd64, arm64, layout.attestation(amd64)]));
    layout.tag('single', layout.image({ layers: [2_000] }));
    layout.tag('other', layout.image({ layers: [2_000] }));
    await Promise.all([
      push(layout, 'multi', `${pair.source.host}/team/multi:v1`, { creds: SOURCE_PUSHER }),
      push(layout, 'single', `${pair.source.host}/team/single:v1`, { creds: SOURCE_PUSHER }),
      push(layout, 'other', `${pair.source.host}/team/other:v1`, { creds: SOURCE_PUSHER }),
    ]);
    hub = await startHubBudgetProxy(pair.source.url, { limit: 100, windowSeconds: 60 });
    file = pair.writeFile(
      'hub.yaml',
      'images:\n- source: team/multi:v1\n- source: team/single:v1\n- source: team/other:v1\n',
    );
  });
  after(async () => {
    await hub?.close();
    await pair?.stop();
  });

  it('plans with HEADs only: the estimate beside the budget, not one pull spent; the sync costs no more', async () => {
    hub.reset({ limit: 100, windowSeconds: 60 });
    const plan = await sync(['--dry-run']);
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    const line =
      /^pull budget: docker\.io: an estimated (\d+) pulls; 100 of 100 pulls per 60 s remaining \(counted against 127\.0\.0\.1\)$/m.exec(
        plan.stdout,
      );
    assert.ok(line, plan.stdout);
    assert.equal(hub.pulls(), 0, 'a plan spends no pull');
    assert.ok(hub.heads() >= 3);
    const estimate = Number(line[1]);
    // One GET for the index and one per child (2 platforms + 1 attestation), one each for the others.
    const real = 4 + 1 + 1;
    assert.ok(estimate >= real && estimate <= real + 3, `estimate ${estimate} for ${real} pulls`);

    const copy = await sync([]);
    assert.equal(copy.code, 0, copy.stdout + copy.stderr);
    assert.equal(hub.pulls('127.0.0.1'), real);
    assert.ok(hub.pulls() <= estimate);
    assert.match(
      copy.stdout,
      new RegExp(`^pull budget: docker\\.io: ${100 - real} of 100 pulls per 60 s remaining`, 'm'),
    );
  });

  it('waits out the 429s of a spent budget (Retry-After) and copies everything; --debug shows the budget per request', async () => {
    hub.reset({ limit: 2, windowSeconds: 2, retryAfter: true });
    const run = await sync(['--debug']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.stdout.match(/^copied /gm)?.length, 3, run.stdout);
    assert.ok(hub.refused() > 0, 'the budget ran out on the way');
    assert.match(
      run.stderr,
      /debug \+\d+ms pull budget after GET http:\/\/127\.0\.0\.1:\d+\/v2\/team\/\w+\/manifests\/\S+: docker\.io: \d of 2 pulls per 2 s remaining \(counted against 127\.0\.0\.1\)/,
    );
    assert.match(run.stderr, /debug \+\d+ms GET \S+\/manifests\/\S+ → 429/);
    assert.match(run.stdout, /^pull budget: docker\.io: \d of 2 pulls per 2 s remaining/m);
  });

  it('without Retry-After, waits until the window resets', async () => {
    hub.reset({ limit: 3, windowSeconds: 2, retryAfter: false });
    const started = Date.now();
    const run = await sync([]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.stdout.match(/^copied /gm)?.length, 3, run.stdout);
    // Each pull over the budget waited the window once (a blind backoff would ask again and again).
    assert.ok(hub.refused() > 0 && hub.refused() <= 4, `${hub.refused()} refused`);
    // 6 pulls at 3 per 2 s window: at least one window had to pass.
    assert.ok(Date.now() - started >= 1_500, `${Date.now() - started} ms`);
  });
});

// Docker Hub's pull budget, for the CLI, against a real registry behind a
// proxy that behaves as Hub documents (test/support/hub-budget-proxy.ts;
// docker/docs content/manuals/docker-hub/usage/pulls.md): manifest GETs are
// counted per client address, HEADs are free, every manifest answer carries
// ratelimit-limit / ratelimit-remaining / docker-ratelimit-source, and a GET
// over the limit is answered 429.
//
// And the failure categories (functions/failures.ts) beside each failed
// image's code, in the CLI line, the summary and the JSON report: one image of
// each kind that can be produced against real registries on this machine
// (platform-missing and unsigned come with the platform and signature checks;
// internal is a bug and cannot be produced on purpose). One file, one set of
// registries: both need the same ones.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import { type Pair, SOURCE_PUSHER, startPair, TARGET_WRITER } from '../support/fixture.ts';
import { type HubBudgetProxy, startHubBudgetProxy } from '../support/hub-budget-proxy.ts';
import { Layout, push } from '../support/images.ts';
import { listenOnFreePort } from '../support/ports.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

interface ReportEntry {
  source: string;
  status: string;
  errorCode?: string;
  category?: string;
  error?: string;
}

describe('Docker Hub pull budget and failure categories (CLI)', () => {
  let pair: Pair;
  let hub: HubBudgetProxy;
  let locked: TestRegistry;
  let corrupt: FaultProxy;
  let dead: Server;
  let deadPort: number;
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
    [pair, locked] = await Promise.all([
      startPair(),
      startRegistry({ kind: 'basic', users: { owner: 'owner-secret-5' } }),
    ]);
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
      // The target already holds another image under single's tag: a conflict.
      push(layout, 'other', `${pair.target.host}/mirror/team/single:v1`, { creds: TARGET_WRITER }),
    ]);
    hub = await startHubBudgetProxy(pair.source.url, { limit: 100, windowSeconds: 60 });
    file = pair.writeFile(
      'hub.yaml',
      'images:\n- source: team/multi:v1\n- source: team/single:v1\n- source: team/other:v1\n',
    );
    corrupt = await startFaultProxy(pair.source.url);
    corrupt.add({
      method: 'GET',
      path: /\/manifests\/sha256:/,
      faults: Array.from({ length: 20 }, () => ({ kind: 'corrupt' as const, offset: 10 })),
    });
    // Answers the /v2/ ping, then drops every other connection: a network fault, not an answer.
    dead = createServer((req, res) => {
      if (req.url === '/v2/') res.writeHead(200).end('{}');
      else req.socket.destroy();
    });
    deadPort = await listenOnFreePort(dead);
  });
  after(async () => {
    dead?.close();
    await Promise.all([hub?.close(), corrupt?.close()]);
    await Promise.all([pair?.stop(), locked?.stop()]);
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
    // A window of 3 s holds the run's 6 pulls even on a loaded machine, so the
    // budget does run out on the way (with 1 s it could reset before the 4th).
    hub.reset({ limit: 3, windowSeconds: 3, retryAfter: true });
    const run = await sync(['--debug']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.stdout.match(/^copied /gm)?.length, 3, run.stdout);
    assert.ok(hub.refused() > 0, 'the budget ran out on the way');
    assert.match(
      run.stderr,
      /debug \+\d+ms pull budget after GET http:\/\/127\.0\.0\.1:\d+\/v2\/team\/\w+\/manifests\/\S+: docker\.io: \d of 3 pulls per 3 s remaining \(counted against 127\.0\.0\.1\)/,
    );
    assert.match(run.stderr, /debug \+\d+ms GET \S+\/manifests\/\S+ → 429/);
    assert.match(run.stdout, /^pull budget: docker\.io: \d of 3 pulls per 3 s remaining/m);
  });

  it('without Retry-After, waits until the window resets', async () => {
    hub.reset({ limit: 3, windowSeconds: 3, retryAfter: false });
    const started = Date.now();
    const run = await sync([]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.stdout.match(/^copied /gm)?.length, 3, run.stdout);
    // Each pull over the budget waited the window once (a blind backoff would ask again and again).
    assert.ok(hub.refused() > 0 && hub.refused() <= 4, `${hub.refused()} refused`);
    // 6 pulls at 3 per 3 s window: the refused ones waited for the window to reset.
    assert.ok(Date.now() - started >= 2400, `${Date.now() - started} ms`);
  });

  it('names the category beside the code of each failed image, in the line, the summary and the report', async () => {
    hub.reset({ limit: 0, windowSeconds: 60 });
    const file = pair.writeFile(
      'kinds.yaml',
      [
        'images:',
        `- source: ${pair.source.host}/team/absent:v1`, // not-found
        `- source: hub.example/team/single:v1`, // rate-limited: the budget is 0
        `- source: ${locked.host}/team/single:v1`, // auth: no credentials for it
        `- source: dead.example/team/single:v1`, // network: the connection drops
        `- source: corrupt.example/team/single:v1`, // digest-mismatch: every manifest GET corrupted
        `- source: team/single:v1`, // conflict: docker.io, served by the source
        '',
      ].join('\n'),
    );
    const report = `${pair.dir}/kinds.json`;
    const run = await pair.cli([
      '-i',
      file,
      '-r',
      `${pair.target.host}/mirror/`,
      '--report',
      report,
      '--rate-limit-wait-seconds',
      '1',
      '--registry-endpoint',
      `hub.example=${hub.url}`,
      '--registry-endpoint',
      `dead.example=http://127.0.0.1:${deadPort}`,
      '--registry-endpoint',
      `corrupt.example=${corrupt.url}`,
      '--registry-endpoint',
      `docker.io=${pair.source.url}`,
    ]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const results = (JSON.parse(readFileSync(report, 'utf8')) as { results: ReportEntry[] })
      .results;
    const kind = (r: ReportEntry) => [r.status, r.category, r.errorCode];
    assert.deepEqual(results.map(kind), [
      ['failed', 'not-found', 'SOURCE_NOT_FOUND'],
      ['failed', 'rate-limited', 'TOO_MANY_REQUESTS'],
      ['failed', 'auth', 'UNAUTHORIZED'],
      ['failed', 'network', 'NETWORK_ERROR'],
      ['failed', 'digest-mismatch', 'DIGEST_MISMATCH'],
      ['conflict', 'conflict', 'TAG_CONFLICT'],
    ]);
    assert.match(
      run.stdout,
      /^FAILED +hub\.example\/team\/single:v1 → .*\n +\[rate-limited \(TOO_MANY_REQUESTS\)\] rate limited: /m,
    );
    assert.match(
      run.stdout,
      /^FAILED +dead\.example\/team\/single:v1 → .*\n +\[network \(NETWORK_ERROR\)\] /m,
    );
    assert.match(run.stdout, /^CONFLICT team\/single:v1 → .*\n +\[conflict \(TAG_CONFLICT\)\] /m);
    assert.match(
      run.stdout,
      /^5 failed, 1 conflict \(.*\); problems: (\d+ [a-z-]+(, )?){6}$/m,
      'the summary counts problems by category',
    );
    assert.ok(hub.refused() > 0);
  });

  it('a destination the network policy refuses is blocked; a bad entry is invalid', async () => {
    const file = pair.writeFile(
      'blocked.yaml',
      `images:\n- source: ${pair.source.host}/team/single:v1\n`,
    );
    const report = `${pair.dir}/blocked.json`;
    const blocked = await pair.cli([
      '-i',
      file,
      '-r',
      `${pair.target.host}/mirror/`,
      '--allow-private-networks=false',
      '--report',
      report,
    ]);
    assert.equal(blocked.code, 1, blocked.stdout + blocked.stderr);
    const [entry] = (JSON.parse(readFileSync(report, 'utf8')) as { results: ReportEntry[] })
      .results;
    assert.deepEqual([entry?.category, entry?.errorCode], ['blocked', 'BLOCKED_DESTINATION']);

    const bad = pair.writeFile('bad.yaml', 'images:\n- source: Not/Valid:1\n');
    const invalid = await pair.cli(['validate', '-i', bad, '--report', report]);
    assert.equal(invalid.code, 2);
    const [problem] = (JSON.parse(readFileSync(report, 'utf8')) as { results: ReportEntry[] })
      .results;
    assert.deepEqual([problem?.category, problem?.errorCode], ['invalid', 'INVALID_IMAGES_FILE']);
  });
});

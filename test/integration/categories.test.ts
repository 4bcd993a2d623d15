// Every failed image says what kind of failure it is (functions/failures.ts)
// beside its code, in the CLI line, the summary and the JSON report: one image
// of each kind that can be produced against real registries on this machine.
// (platform-missing and unsigned come with the platform and signature checks;
// internal is a bug and cannot be produced on purpose.)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import { type Pair, SOURCE_PUSHER, startPair, TARGET_WRITER } from '../support/fixture.ts';
import { type HubBudgetProxy, startHubBudgetProxy } from '../support/hub-budget-proxy.ts';
import { Layout, push } from '../support/images.ts';
import { freePort } from '../support/ports.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

interface ReportEntry {
  source: string;
  status: string;
  errorCode?: string;
  category?: string;
  error?: string;
}

describe('failure categories (CLI)', () => {
  let pair: Pair;
  let locked: TestRegistry;
  let hub: HubBudgetProxy;
  let corrupt: FaultProxy;
  let dead: Server;
  let deadPort: number;

  before(async () => {
    [pair, locked] = await Promise.all([
      startPair(),
      startRegistry({ kind: 'basic', users: { owner: 'owner-secret-5' } }),
    ]);
    const layout = new Layout();
    layout.tag('a', layout.image({ layers: [1_000] }));
    layout.tag('b', layout.image({ layers: [1_000] }));
    await Promise.all([
      push(layout, 'a', `${pair.source.host}/team/a:v1`, { creds: SOURCE_PUSHER }),
      // The target already holds another image under a's tag.
      push(layout, 'b', `${pair.target.host}/mirror/team/a:v1`, { creds: TARGET_WRITER }),
    ]);
    hub = await startHubBudgetProxy(pair.source.url, { limit: 0, windowSeconds: 60 });
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
    deadPort = await freePort();
    await new Promise<void>((resolve) => dead.listen(deadPort, '127.0.0.1', resolve));
  });
  after(async () => {
    dead?.close();
    await Promise.all([hub?.close(), corrupt?.close()]);
    await Promise.all([pair?.stop(), locked?.stop()]);
  });

  it('names the category beside the code of each failed image, in the line, the summary and the report', async () => {
    const file = pair.writeFile(
      'kinds.yaml',
      [
        'images:',
        `- source: ${pair.source.host}/team/absent:v1`, // not-found
        `- source: hub.example/team/a:v1`, // rate-limited: the budget is 0
        `- source: ${locked.host}/team/a:v1`, // auth: no credentials for it
        `- source: dead.example/team/a:v1`, // network: the connection drops
        `- source: corrupt.example/team/a:v1`, // digest-mismatch: every manifest GET corrupted
        `- source: team/a:v1`, // conflict: docker.io, served by the source
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
      /^FAILED +hub\.example\/team\/a:v1 → .*\n +\[rate-limited \(TOO_MANY_REQUESTS\)\] rate limited: /m,
    );
    assert.match(
      run.stdout,
      /^FAILED +dead\.example\/team\/a:v1 → .*\n +\[network \(NETWORK_ERROR\)\] /m,
    );
    assert.match(run.stdout, /^CONFLICT team\/a:v1 → .*\n +\[conflict \(TAG_CONFLICT\)\] /m);
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
      `images:\n- source: ${pair.source.host}/team/a:v1\n`,
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

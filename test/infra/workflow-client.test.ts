// The reusable workflow's last step, the only one that talks to the HTTP API,
// run for real (bash, curl, jq) against a stand-in API on loopback that answers
// as functions/gcp/http-api.ts does, with the Markdown of the real
// markdownTable: plans, syncs followed to the end, refusals, failures and a
// timeout, the token sent only as a Bearer header and never printed.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EntryResult } from '../../functions/views/entries.ts';
import { markdownTable } from '../../functions/views/markdown.ts';
import { runStepAsync, type Step, steps } from './workflow-steps.ts';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.id-token-for-the-test.signature';

interface Seen {
  method: string;
  url: string;
  authorization?: string;
  accept?: string;
  contentType?: string;
  body: string;
}

type Answer = { status: number; type?: string; body: string; headers?: Record<string, string> };
type Handler = (req: Seen) => Answer;

const json = (status: number, body: unknown): Answer => ({ status, body: JSON.stringify(body) });
const markdown = (status: number, body: string): Answer => ({
  status,
  type: 'text/markdown; charset=utf-8',
  body,
});

const planned: EntryResult[] = [
  { source: 'docker.io/library/alpine:3.20', target: 'mirror/alpine:3.20', status: 'planned' },
  { source: 'ghcr.io/acme/tool:1', target: 'mirror/tool:1', status: 'exists', digest: 'sha256:aa' },
];
const conflicted: EntryResult[] = [
  ...planned,
  { source: 'quay.io/x/y:1', target: 'mirror/y:1', status: 'conflict', error: 'tag moved' },
];

async function body(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

describe('the workflow calls the HTTP API (curl, against a stand-in)', () => {
  const client = steps.at(-1) as Step;
  let server: Server;
  let url: string;
  let handler: Handler;
  const seen: Seen[] = [];
  const imagesFile = join(mkdtempSync(join(tmpdir(), 'images-')), 'external-images.yaml');
  writeFileSync(imagesFile, 'images:\n- source: alpine:3.20\n');

  before(async () => {
    server = createServer(async (req, res) => {
      const request: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        ...(req.headers.authorization && { authorization: req.headers.authorization }),
        ...(req.headers.accept && { accept: req.headers.accept }),
        ...(req.headers['content-type'] && { contentType: req.headers['content-type'] }),
        body: await body(req),
      };
      seen.push(request);
      const answer = handler(request);
      res
        .writeHead(answer.status, {
          'content-type': answer.type ?? 'application/json',
          ...answer.headers,
        })
        .end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  const run = (command: 'plan' | 'sync', timeout = '30', extra: Record<string, string> = {}) => {
    seen.length = 0;
    return runStepAsync(client, {
      ...extra,
      ID_TOKEN: TOKEN,
      URL: `${url}/`,
      COMMAND: command,
      IMAGES_FILE: imagesFile,
      RUN_ID: 'gh-200-16432198765-1',
      TIMEOUT: timeout,
      DEBUG: 'true',
      POLL_SECONDS: '0.05',
    });
  };

  it('plans: the server’s Markdown in the summary, the file as the body, the token as a Bearer header only', async () => {
    handler = () => markdown(200, markdownTable('image-syncer plan (dry run)', planned));
    const result = await run('plan');
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.equal(result.summary, markdownTable('image-syncer plan (dry run)', planned));
    assert.deepEqual(
      seen.map((r) => [r.method, r.url, r.authorization, r.accept, r.contentType, r.body]),
      [
        [
          'POST',
          '/plan',
          `Bearer ${TOKEN}`,
          'text/markdown',
          'application/yaml',
          'images:\n- source: alpine:3.20\n',
        ],
      ],
    );
    assert.ok(!(result.stdout + result.stderr + result.summary).includes(TOKEN), 'never printed');
  });

  it('fails a plan with a conflict, and an invalid images file', async () => {
    handler = () => markdown(200, markdownTable('image-syncer plan (dry run)', conflicted));
    const conflict = await run('plan');
    assert.equal(conflict.status, 1);
    assert.match(conflict.stdout, /::error::the plan has conflicts, failures or invalid entries/);
    assert.match(conflict.summary, /\| conflict \| `quay\.io\/x\/y:1`/);
    handler = () =>
      markdown(
        422,
        markdownTable('image-syncer plan (dry run)', [], ['line 2: images[0].source: required']),
      );
    const invalid = await run('plan');
    assert.equal(invalid.status, 1);
    assert.match(invalid.stdout, /::error::the images file is invalid/);
    assert.match(invalid.summary, /line 2: images\[0\]\.source: required/);
  });

  it('on a pull request, says which one it is, and follows the run mirroring its trusted images', async () => {
    const early: EntryResult[] = [
      {
        source: 'ghcr.io/acme/tool:2',
        target: 'mirror/tool:2',
        status: 'copied',
        digest: 'sha256:cc',
        early: {
          repository: 'acme/app',
          number: 12,
          commit: 'a'.repeat(40),
          fork: false,
          trustedBy: 'ghcr.io/acme/*',
        },
      },
    ];
    let polls = 0;
    handler = (req) => {
      if (req.method === 'POST')
        return {
          ...markdown(
            200,
            markdownTable('image-syncer plan: trusted images mirrored early', planned),
          ),
          headers: { 'x-syncer-early-run': 'pr-12-0123456789abcdef' },
        };
      if (req.accept === 'text/markdown')
        return markdown(200, markdownTable('image-syncer run pr-12-0123456789abcdef', early));
      polls++;
      return json(200, { runId: 'pr-12-0123456789abcdef', done: polls >= 2, images: early });
    };
    const pullRequest = {
      PR_NUMBER: '12',
      PR_REPOSITORY: 'acme/app',
      PR_COMMIT: 'a'.repeat(40),
      PR_FORK: 'false',
    };
    const result = await run('plan', '30', pullRequest);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.equal(
      seen[0]?.url,
      `/plan?pullRequest=12&repository=acme/app&commit=${'a'.repeat(40)}&fork=false`,
    );
    assert.deepEqual(
      seen.slice(1).map((r) => r.url),
      Array(3).fill('/runs/pr-12-0123456789abcdef'),
    );
    assert.match(result.summary, /trusted images mirrored early/);
    assert.match(result.summary, /early mirror \(trusted: ghcr\.io\/acme\/\*\) for acme\/app#12/);
    // An early copy that failed fails the pull request's check.
    handler = (req) =>
      req.method === 'POST'
        ? {
            ...markdown(200, markdownTable('plan', planned)),
            headers: { 'x-syncer-early-run': 'pr-12-x' },
          }
        : req.accept === 'text/markdown'
          ? markdown(200, markdownTable('run', [{ ...early[0], status: 'failed' } as EntryResult]))
          : json(200, { done: true, images: [{ ...early[0], status: 'failed' }] });
    const failed = await run('plan', '30', pullRequest);
    assert.equal(failed.status, 1);
    assert.match(failed.stdout, /::error::1 image\(s\) were not mirrored/);
  });

  it('syncs: starts the run by its id, follows it until done, summarises it from the server', async () => {
    let polls = 0;
    const images: EntryResult[] = [
      {
        source: 'docker.io/library/alpine:3.20',
        target: 'mirror/alpine:3.20',
        status: 'copied',
        digest: 'sha256:bb',
      },
    ];
    handler = (req) => {
      if (req.method === 'POST')
        return json(202, { runId: 'gh-200-16432198765-1', state: 'published', jobs: images });
      if (req.accept === 'text/markdown')
        return markdown(200, markdownTable('image-syncer run gh-200-16432198765-1', images));
      polls++;
      return json(200, { runId: 'gh-200-16432198765-1', done: polls >= 3, images });
    };
    const result = await run('sync');
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.equal(seen[0]?.url, '/sync?runId=gh-200-16432198765-1');
    assert.equal(polls, 3, 'polled until done');
    assert.match(
      result.stdout,
      /copied\tdocker\.io\/library\/alpine:3\.20 -> mirror\/alpine:3\.20\tsha256:bb/,
    );
    assert.equal(result.summary, markdownTable('image-syncer run gh-200-16432198765-1', images));
    assert.ok(seen.every((r) => r.authorization === `Bearer ${TOKEN}`));
  });

  it('fails a sync with a failed image, a refused run, a refused token and a run that does not finish', async () => {
    const failed: EntryResult[] = [
      {
        source: 'quay.io/x/y:1',
        target: 'mirror/y:1',
        status: 'failed',
        error: 'manifest unknown',
      },
    ];
    handler = (req) =>
      req.method === 'POST'
        ? json(202, { runId: 'r1', state: 'published', jobs: failed })
        : req.accept === 'text/markdown'
          ? markdown(200, markdownTable('image-syncer run r1', failed))
          : json(200, { runId: 'r1', done: true, images: failed });
    const withFailure = await run('sync');
    assert.equal(withFailure.status, 1);
    assert.match(withFailure.stdout, /::error::1 image\(s\) were not mirrored/);

    handler = () =>
      json(422, {
        runId: 'r2',
        state: 'refused',
        errors: ['docker.io: 3 pulls left, the run needs 40'],
      });
    const refused = await run('sync');
    assert.equal(refused.status, 1);
    assert.match(refused.stdout, /::error::the run was refused \(above\): refused/);
    assert.match(refused.summary, /- docker\.io: 3 pulls left, the run needs 40/);

    handler = () =>
      json(403, { error: 'this endpoint only plans; /sync is served by the writer function' });
    const forbidden = await run('sync');
    assert.equal(forbidden.status, 1);
    assert.match(forbidden.stdout, /::error::POST \/sync answered 403: this endpoint only plans/);

    handler = (req) =>
      req.method === 'POST'
        ? json(202, { runId: 'r3', state: 'published', jobs: [] })
        : req.accept === 'text/markdown'
          ? markdown(200, markdownTable('image-syncer run r3 (in progress)', []))
          : json(200, { runId: 'r3', done: false, images: [] });
    const slow = await run('sync', '1');
    assert.equal(slow.status, 1);
    assert.match(
      slow.stdout,
      /::error::run r3 did not finish within 1 s; follow it: GET http:\/\/127\.0\.0\.1:\d+\/runs\/r3/,
    );
    assert.match(slow.summary, /in progress/);
  });
});

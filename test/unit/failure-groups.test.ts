// Failure categories where runs are read: /runs/{id} images carry the code,
// the category and the action; the Markdown summary groups problems by
// category with the action that fixes each (functions/failures.ts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CATEGORY_ACTIONS } from '../../functions/failures.ts';
import type { JobResultRecord, RunRecord } from '../../functions/pipeline/records.ts';
import { markdownTable } from '../../functions/views/markdown.ts';
import { runStatus } from '../../functions/views/status.ts';

const run: RunRecord = {
  runId: 'r',
  createdAt: '',
  trigger: {},
  file: 'f.yaml',
  dryRun: false,
  state: 'published',
  jobs: ['a', 'b', 'c', 'd', 'e'].map((k) => ({
    key: k,
    source: `x/${k}:1`,
    target: `t/x/${k}:1`,
  })),
};
const result = (key: string, fields: Partial<JobResultRecord>): JobResultRecord => ({
  key,
  runId: 'r',
  source: `x/${key}:1`,
  target: `t/x/${key}:1`,
  status: 'failed',
  finishedAt: '',
  ...fields,
});

describe('failure categories in run status and Markdown', () => {
  const status = runStatus(run, [
    result('a', {
      errorCode: 'SOURCE_NOT_FOUND',
      category: 'not-found',
      error: 'source not found',
    }),
    // A record written before categories existed: the category comes from its code.
    result('b', { errorCode: 'UNAUTHORIZED', error: 'access denied' }),
    result('c', {
      errorCode: 'SOURCE_NOT_FOUND',
      category: 'not-found',
      error: 'source not found',
    }),
    result('d', { status: 'copied', digest: 'sha256:1' }),
    {
      ...result('e', {
        errorCode: 'TOO_MANY_REQUESTS',
        category: 'rate-limited',
        error: 'answered 429',
      }),
      retrying: true,
      rateLimited: true,
      retryAt: '2030-01-01T00:00:00.000Z',
    } as JobResultRecord,
  ]);

  it('gives each failed image its code, category and action; a pending one its wait', () => {
    const [a, b, , d, e] = status.images;
    assert.deepEqual(
      [a?.errorCode, a?.category, a?.action],
      ['SOURCE_NOT_FOUND', 'not-found', CATEGORY_ACTIONS['not-found']],
    );
    assert.deepEqual([b?.category, b?.action], ['auth', CATEGORY_ACTIONS.auth]);
    assert.equal(d?.category, undefined);
    assert.equal(e?.status, 'pending');
    assert.equal(e?.category, 'rate-limited');
    assert.match(
      e?.error ?? '',
      /^rate limited, waiting until 2030-01-01T00:00:00.000Z: answered 429/,
    );
  });

  it('groups the Markdown problems by category, most first, with the action that fixes each', () => {
    const markdown = markdownTable('run r', status.images);
    assert.match(
      markdown,
      /\| failed \| `x\/a:1` \| `t\/x\/a:1` \| not-found \(SOURCE_NOT_FOUND\): source not found \|/,
    );
    const section = markdown.slice(markdown.indexOf('**Problems by category'));
    assert.deepEqual(
      section.split('\n').filter((l) => l.startsWith('- ')),
      [
        `- **not-found** (2): ${CATEGORY_ACTIONS['not-found']}. \`x/a:1\`, \`x/c:1\``,
        `- **auth** (1): ${CATEGORY_ACTIONS.auth}. \`x/b:1\``,
      ],
    );
  });
});

// Hostile and broken images files, each through the CLI against real
// registries and through the fan-out core: each is rejected with its file and
// line, and nothing is requested, published or copied.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fanOut } from '../../functions/pipeline/fanout.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { silentLogger } from '../../functions/util/logger.ts';
import { type Pair, settledLog, startPair } from '../support/fixture.ts';
import { memoryRunStore } from '../support/run-stores.ts';

const figures = { tried: 0, rejected: 0, requests: 0, published: 0 };

function aliasBomb(): string {
  let text = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
  for (let i = 1; i <= 12; i++)
    text += `a${i}: &a${i} [${Array(9)
      .fill(`*a${i - 1}`)
      .join(',')}]\n`;
  return `${text}images: []\n`;
}

describe('hostile images files', () => {
  let pair: Pair;
  let dir: string;
  before(async () => {
    pair = await startPair();
    dir = mkdtempSync(join(tmpdir(), 'hostile-'));
  });
  after(async () => {
    await pair.stop();
    process.stdout.write(
      `# hostile inputs: ${figures.tried} tried, ${figures.rejected} rejected with file and line; ${figures.requests} registry requests made, ${figures.published} jobs published\n`,
    );
  });

  const cases: [string, string | Buffer, number, RegExp][] = [
    [
      'invalid YAML',
      'images:\n- source: alpine:3\n  tag: x: y\n',
      3,
      /invalid YAML: Nested mappings/,
    ],
    ['an unclosed flow sequence', 'images:\n  - source: [oops\n', 3, /invalid YAML: Flow sequence/],
    [
      'a mapping where a string belongs',
      'images:\n- source: {a: 1}\n',
      2,
      /images\[0\]\.source: must be a string/,
    ],
    ['a string where the list belongs', 'images: "alpine:3"\n', 1, /images: must be a list/],
    ['an empty file', '', 1, /file is empty/],
    ['a file over 1 MiB', `images:\n${'# padding\n'.repeat(110_000)}`, 1, /limit is 1048576/],
    [
      'ten thousand and one entries',
      `images:\n${'- source: alpine:3\n'.repeat(10_001)}`,
      1,
      /10001 entries; the limit is 10000/,
    ],
    [
      'deep nesting',
      `images:\n- source: ${'['.repeat(5_000)}${']'.repeat(5_000)}\n`,
      2,
      /invalid YAML/,
    ],
    [
      'moderately deep nesting',
      `images:\n- source: ${'['.repeat(40)}${']'.repeat(40)}\n`,
      1,
      /nested \d+ levels deep; the limit is 16/,
    ],
    ['a billion-laughs alias bomb', aliasBomb(), 2, /108 aliases; the limit is 100/],
    [
      'bytes that are not UTF-8',
      Buffer.concat([
        Buffer.from('images:\n- source: "'),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('"\n'),
      ]),
      2,
      /not valid UTF-8/,
    ],
    [
      'path traversal',
      'images:\n- source: ghcr.io/../../etc/passwd:1\n',
      2,
      /invalid path component "\.\."/,
    ],
    [
      'traversal in the tag',
      'images:\n- source: alpine:3\n  tag: "../x"\n',
      3,
      /images\[0\]\.tag: invalid tag/,
    ],
    ['upper case', 'images:\n- source: Library/Alpine:3\n', 2, /must be lowercase/],
    ['whitespace', 'images:\n- source: "alpine :3"\n', 2, /whitespace or control characters/],
    [
      'control characters',
      'images:\n- source: "alp\\x01ine:3"\n',
      2,
      /whitespace or control characters/,
    ],
    ['an over-long name', `images:\n- source: ghcr.io/${'a'.repeat(300)}:1\n`, 2, /limit is 255/],
    [
      'a digest without a tag',
      `images:\n- source: alpine@sha256:${'a'.repeat(64)}\n`,
      2,
      /tag: required when the source is a digest/,
    ],
    [
      'a typo in a key',
      'images:\n- source: alpine:3\n  tags: x\n',
      3,
      /unknown field \(did you mean "tag"\?\)/,
    ],
  ];

  for (const [name, content, line, pattern] of cases) {
    it(`rejects ${name}, at line ${line}, copying and publishing nothing`, async () => {
      figures.tried++;
      const file = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
      writeFileSync(file, content);
      pair.source.clearLog();
      pair.target.clearLog();
      const run = await pair.cli(['-i', file, '-r', `${pair.target.host}/hostile/`]);
      assert.equal(run.code, 2);
      const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      assert.match(run.stderr, new RegExp(`${escaped}:${line}: `), run.stderr.slice(0, 500));
      assert.match(run.stderr, pattern);
      const requests =
        (await settledLog(pair.source)).length + (await settledLog(pair.target)).length;
      figures.requests += requests;
      assert.equal(requests, 0);

      let published = 0;
      const outcome = await fanOut(
        { runId: 'hostile', file, bytes: Buffer.from(content), trigger: {}, dryRun: false },
        {
          prefix: parseTargetPrefix('europe-docker.pkg.dev/p/r/'),
          store: memoryRunStore(),
          publisher: {
            publish: async (jobs) => {
              published += jobs.length;
            },
          },
          logger: silentLogger,
        },
      );
      figures.published += published;
      assert.equal(outcome.outcome, 'invalid');
      assert.equal(published, 0);
      assert.equal(outcome.run.errors?.[0]?.line, line);
      figures.rejected++;
    });
  }
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImagesFileError } from '../../functions/images-file/diagnostics.ts';
import {
  checkImagesFile,
  MAX_ENTRIES,
  parseImagesFile,
} from '../../functions/images-file/parse.ts';
import { formatReference } from '../../functions/reference/reference.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';

const prefix = parseTargetPrefix('gcr.example.io/mirror/');
const parse = (text: string | Buffer) =>
  parseImagesFile('external-images.yaml', Buffer.from(text), prefix);
const problems = (text: string | Buffer) => {
  try {
    parse(text);
  } catch (error) {
    assert.ok(error instanceof ImagesFileError);
    return error.diagnostics.map((d) => `${d.line}|${d.field}|${d.message}`);
  }
  assert.fail('expected the file to be rejected');
};

const DIGEST = `sha256:${'c'.repeat(64)}`;

describe('images file', () => {
  it('reads the seed README example', () => {
    const file = parse(`images:
- source: "bitnami/keycloak-gatekeeper:9.0.3"
- source: "busybox@${DIGEST}"
  tag: "1.32.0-v1"
- source: "postgres@${DIGEST}"
  tag: "v20230508-11.19-alpine3.17"
`);
    assert.deepEqual(
      file.entries.map((e) => [e.line, e.source, formatReference(e.target)]),
      [
        [
          2,
          'bitnami/keycloak-gatekeeper:9.0.3',
          'gcr.example.io/mirror/bitnami/keycloak-gatekeeper:9.0.3',
        ],
        [3, `busybox@${DIGEST}`, 'gcr.example.io/mirror/library/busybox:1.32.0-v1'],
        [
          5,
          `postgres@${DIGEST}`,
          'gcr.example.io/mirror/library/postgres:v20230508-11.19-alpine3.17',
        ],
      ],
    );
  });

  it('reports every problem at once with line and field', () => {
    const found = problems(`images:
- source: "ghcr.io/a/b:1"
  tags: "x"
- source: "Alpine:3"
- tag: "v1"
- source: "busybox@${DIGEST}"
- source: "ok:1"
  tag: "-bad"
- "just a string"
extra: 1
`);
    assert.deepEqual(found, [
      '10|extra|unknown field',
      '3|images[0].tags|unknown field (did you mean "tag"?)',
      '4|images[1].source|invalid image reference "Alpine:3": repository name must be lowercase ("Alpine")',
      '5|images[2].source|missing',
      '6|images[3].tag|required when the source is a digest: it names the tag in the target',
      '8|images[4].tag|invalid tag "-bad": 1 to 128 characters of A-Z, a-z, 0-9, "_", "." or "-", not starting with "." or "-"',
      '9|images[5]|must be a mapping with a "source" (and optionally a "tag")',
    ]);
  });

  it('names the file in every message', () => {
    assert.throws(() => parse('images: 3\n'), /external-images\.yaml:1: images: must be a list/);
  });

  it('accepts legacy keys with a warning and ignores them', () => {
    const file = parse(
      'targetRepoPrefix: "elsewhere.io/x/"\nimages:\n- source: alpine:3\n  amd64Only: true\n',
    );
    assert.equal(
      formatReference(file.entries[0]?.target ?? { registry: '', repository: '' }),
      'gcr.example.io/mirror/library/alpine:3',
    );
    assert.deepEqual(
      file.warnings.map((w) => `${w.line}|${w.field}`),
      ['1|targetRepoPrefix', '4|images[0].amd64Only'],
    );
  });

  it('merges exact duplicates and rejects two sources for one target', () => {
    const merged = parse('images:\n- source: alpine:3\n- source: docker.io/library/alpine:3\n');
    assert.equal(merged.entries.length, 1);
    assert.match(merged.warnings[0]?.message ?? '', /duplicate of the entry on line 2/);
    assert.deepEqual(
      problems(`images:\n- source: alpine:3\n- source: alpine@${DIGEST}\n  tag: "3"\n`),
      [
        '3|images[1]|target gcr.example.io/mirror/library/alpine:3 is also the target of "alpine:3" on line 2; give one of them another tag',
      ],
    );
  });

  it('keeps numeric-looking tags as written', () => {
    const file = parse(`images:\n- source: busybox@${DIGEST}\n  tag: 1.10\n`);
    assert.equal(file.entries[0]?.target.tag, '1.10');
  });

  it('rejects empty, non-mapping, invalid YAML and duplicate keys', () => {
    assert.match(problems('')[0] ?? '', /file is empty/);
    assert.match(problems('- a\n- b\n')[0] ?? '', /mapping with an "images" list/);
    assert.match(problems('images:\n  - source: [unclosed\n')[0] ?? '', /invalid YAML/);
    assert.deepEqual(problems('images: []\nimages: []\n'), [
      '2|images|duplicate field (first on line 1)',
    ]);
    assert.deepEqual(problems('images:\n- source: a:1\n  source: b:1\n'), [
      '3|images[0].source|duplicate field (first on line 2)',
    ]);
    assert.match(problems('nothing: here\n').join(), /images\|missing/);
  });

  it('rejects non-UTF-8 bytes, naming the line', () => {
    const bytes = Buffer.concat([
      Buffer.from('images:\n- source: alpine:3\n- source: "'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"\n'),
    ]);
    assert.deepEqual(problems(bytes), ['3||not valid UTF-8 text']);
  });

  it('defuses alias bombs without expanding them', () => {
    let bomb = 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
    for (let i = 1; i <= 12; i++)
      bomb += `l${i}: &l${i} [${Array(9)
        .fill(`*l${i - 1}`)
        .join(',')}]\n`;
    bomb += 'images: []\n';
    assert.deepEqual(problems(bomb), ['2||invalid YAML: 108 aliases; the limit is 100']);
  });

  it('limits size and entries', () => {
    assert.match(problems(Buffer.alloc(1024 * 1024 + 1, 0x20))[0] ?? '', /limit is 1048576/);
    const many = `images:\n${'- source: alpine:3\n'.repeat(MAX_ENTRIES + 1)}`;
    assert.match(problems(many)[0] ?? '', /10001 entries; the limit is 10000/);
  });

  it('lists every entry for the validate report, valid or not', () => {
    const check = checkImagesFile(
      'f.yaml',
      Buffer.from('images:\n- source: alpine:3\n- source: BAD\n'),
      prefix,
    );
    assert.deepEqual(check.listed, [
      { index: 0, line: 2, source: 'alpine:3' },
      { index: 1, line: 3, source: 'BAD' },
    ]);
    assert.equal(check.entries.length, 1);
    assert.equal(check.problems.length, 1);
  });
});

// `image-syncer pin`'s text edits: every byte outside the pinned sources stays
// as it was (comments, quoting, order, blank lines, line endings), and the
// pinned file maps to the same targets.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  formatDiff,
  type PinStyle,
  pinText,
  planPins,
  unpinnedEntries,
} from '../../functions/cli/pin-edit.ts';
import { presetDependencies } from '../../functions/cli/renovate-preset.ts';
import { checkImagesFile } from '../../functions/images-file/parse.ts';
import { formatReference } from '../../functions/reference/reference.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { digest, name, tag } from '../support/references.ts';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const prefix = parseTargetPrefix('gcr.example.io/mirror/');
const targets = (text: string) => {
  const check = checkImagesFile('f.yaml', Buffer.from(text), prefix);
  assert.deepEqual(check.problems, []);
  return check.entries.map((e) => formatReference(e.target));
};

/** A file with comments, blank lines, three quoting styles, an own tag and a pinned entry. */
const COMMENTED = `# mirrored for the platform team
images:
  # the base image
  - source: "alpine:3.20" # keep in step with CI
  - source: 'ghcr.io/org/tool'

  - source: busybox:1.36
    tag: "1.36-ours"   # our own name
  - source: "nginx@${B}"
    tag: "1.27"
`;

/** Pins every entry of `text`; the result must map to the same targets and leave nothing unpinned. */
function pin(text: string, digests: Record<string, string>, style: PinStyle = 'digest') {
  const plans = planPins(text, unpinnedEntries(text), style);
  const pinned = pinText(text, plans, new Map(Object.entries(digests)));
  assert.deepEqual(targets(pinned.text), targets(text), `${style}:\n${pinned.text}`);
  assert.deepEqual(unpinnedEntries(pinned.text), [], pinned.text);
  return { ...pinned, plans };
}

describe('pin edits, --style digest', () => {
  it('pins block entries keeping comments, quotes and order, adding the target tag', () => {
    const text = COMMENTED;
    const { text: out, hunks } = pin(text, {
      'alpine:3.20': A,
      'ghcr.io/org/tool': B,
      'busybox:1.36': A,
    });
    assert.equal(
      out,
      `# mirrored for the platform team
images:
  # the base image
  - source: "alpine@${A}" # keep in step with CI
    tag: "3.20"
  - source: 'ghcr.io/org/tool@${B}'
    tag: 'latest'

  - source: busybox@${A}
    tag: "1.36-ours"   # our own name
  - source: "nginx@${B}"
    tag: "1.27"
`,
    );
    assert.equal(
      formatDiff('f.yaml', hunks),
      `--- f.yaml
+++ f.yaml (pinned)
@@ -4,1 +4,2 @@
-  - source: "alpine:3.20" # keep in step with CI
+  - source: "alpine@${A}" # keep in step with CI
+    tag: "3.20"
@@ -5,1 +6,2 @@
-  - source: 'ghcr.io/org/tool'
+  - source: 'ghcr.io/org/tool@${B}'
+    tag: 'latest'
@@ -7,1 +9,1 @@
-  - source: busybox:1.36
+  - source: busybox@${A}
`,
    );
  });

  it('quotes a plain tag that would not read back as a string, and keeps plain where it does', () => {
    const { text: out } = pin('images:\n- source: a/b:1.10\n- source: a/c:v1.2\n', {
      'a/b:1.10': A,
      'a/c:v1.2': B,
    });
    assert.equal(
      out,
      `images:\n- source: a/b@${A}\n  tag: "1.10"\n- source: a/c@${B}\n  tag: v1.2\n`,
    );
    assert.deepEqual(targets(out), [
      'gcr.example.io/mirror/a/b:1.10',
      'gcr.example.io/mirror/a/c:v1.2',
    ]);
  });

  it('handles flow mappings, CRLF line endings and a last line without a newline', () => {
    const flow = pin('images: [{source: a/b:1}, {source: "a/c:2", tag: x}]\n', {
      'a/b:1': A,
      'a/c:2': B,
    });
    assert.equal(
      flow.text,
      `images: [{source: a/b@${A}, tag: "1"}, {source: "a/c@${B}", tag: x}]\n`,
    );
    assert.equal(flow.hunks.length, 1, 'two entries on one line are one hunk');
    const crlf = pin('images:\r\n- source: a/b:1 # c\r\n- source: a/c:2', {
      'a/b:1': A,
      'a/c:2': B,
    });
    assert.equal(
      crlf.text,
      `images:\r\n- source: a/b@${A} # c\r\n  tag: "1"\r\n- source: a/c@${B}\r\n  tag: "2"`,
    );
    assert.deepEqual(targets(crlf.text), [
      'gcr.example.io/mirror/a/b:1',
      'gcr.example.io/mirror/a/c:2',
    ]);
  });

  it('finds nothing to pin in a pinned file, and keeps registry ports in the name', () => {
    assert.deepEqual(unpinnedEntries(`images:\n- source: a/b:1@${A}\n`), []);
    const { text: out } = pin('images:\n- source: reg.example.com:5000/a/b:1\n', {
      'reg.example.com:5000/a/b:1': A,
    });
    assert.equal(out, `images:\n- source: reg.example.com:5000/a/b@${A}\n  tag: "1"\n`);
  });

  it('pins a source YAML would read as a number by its text, as the file check does', () => {
    assert.deepEqual(
      unpinnedEntries('images:\n- source: 0\n- source: 123:4\n').map((e) => e.source),
      ['0', '123:4'],
    );
    const { text: out } = pin('images:\n- source: 0\n', { '0': A });
    assert.equal(out, `images:\n- source: 0@${A}\n  tag: latest\n`);
  });

  it('replaces a block scalar source up to its last line, not into the next key', () => {
    // A block scalar's range ends after its line break: replacing all of it
    // glued the next key onto the source's line (invalid YAML, pin refused).
    const text = `images:\n- source: >-\n    alpine:3.19\n  tag: x # ours\n- source: |-\n    busybox:1\n`;
    const { text: out } = pin(text, { 'alpine:3.19': A, 'busybox:1': B });
    assert.equal(
      out,
      `images:\n- source: "alpine@${A}"\n  tag: x # ours\n- source: "busybox@${B}"\n  tag: "1"\n`,
    );
  });
});

describe('pin edits, --style renovate (the default)', () => {
  it('writes name:tag@digest with no tag:, and keeps an entry whose own tag differs in the digest form', () => {
    const text = COMMENTED;
    const { text: out, plans } = pin(
      text,
      { 'alpine:3.20': A, 'ghcr.io/org/tool': B, 'busybox:1.36': A },
      'renovate',
    );
    assert.equal(
      out,
      `# mirrored for the platform team
images:
  # the base image
  - source: "alpine:3.20@${A}" # keep in step with CI
  - source: 'ghcr.io/org/tool:latest@${B}'

  - source: busybox@${A}
    tag: "1.36-ours"   # our own name
  - source: "nginx@${B}"
    tag: "1.27"
`,
    );
    assert.deepEqual(
      plans.map((p) => [p.entry.index, p.form]),
      [
        [0, 'renovate'],
        [1, 'renovate'],
        [2, 'digest'],
      ],
    );
    assert.match(
      plans[2]?.note ?? '',
      /^is pinned as busybox@sha256:… and keeps its tag: .*its tag: 1\.36-ours is not the source's tag 1\.36/,
    );
  });

  it('drops a tag: that repeats the source tag, keeping its comment and the line endings', () => {
    const text = [
      'images:',
      '- source: a/b:1',
      '  tag: "1"',
      '- source: a/c:2 # c',
      "  tag: '2'   # same as upstream",
      '- platforms: [linux/amd64]',
      '  tag: latest',
      '  source: a/d',
      '- source: a/e:5',
      '  tag: "5"',
    ].join('\r\n');
    const { text: out, hunks } = pin(
      text,
      { 'a/b:1': A, 'a/c:2': B, 'a/d': A, 'a/e:5': B },
      'renovate',
    );
    assert.equal(
      out,
      [
        'images:',
        `- source: a/b:1@${A}`,
        `- source: a/c:2@${B} # c`,
        '  # same as upstream',
        '- platforms: [linux/amd64]',
        `  source: a/d:latest@${A}`,
        `- source: a/e:5@${B}`,
      ].join('\r\n'),
    );
    assert.equal(
      formatDiff('f.yaml', hunks),
      [
        '--- f.yaml',
        '+++ f.yaml (pinned)',
        '@@ -2,2 +2,1 @@',
        '-- source: a/b:1',
        '-  tag: "1"',
        `+- source: a/b:1@${A}`,
        '@@ -4,2 +3,2 @@',
        '-- source: a/c:2 # c',
        "-  tag: '2'   # same as upstream",
        `+- source: a/c:2@${B} # c`,
        '+  # same as upstream',
        '@@ -7,2 +6,1 @@',
        '-  tag: latest',
        '-  source: a/d',
        `+  source: a/d:latest@${A}`,
        '@@ -9,2 +7,1 @@',
        '-- source: a/e:5',
        '-  tag: "5"',
        `+- source: a/e:5@${B}`,
        '',
      ].join('\n'),
    );
  });

  it('drops a repeated tag from flow mappings, and keeps one sharing the line of the dash', () => {
    const text = 'images: [{source: a/b:1, tag: "1"}, {tag: "2", source: "a/c:2"}]\n';
    const flow = pin(text, { 'a/b:1': A, 'a/c:2': B }, 'renovate');
    assert.equal(flow.text, `images: [{source: a/b:1@${A}}, {source: "a/c:2@${B}"}]\n`);

    const dash = 'images:\n- tag: "1"\n  source: a/b:1\n';
    const kept = pin(dash, { 'a/b:1': A }, 'renovate');
    assert.equal(kept.text, `images:\n- tag: "1"\n  source: a/b@${A}\n`);
    assert.match(kept.plans[0]?.note ?? '', /shares a line/);
  });
});

// Files of every layout pin edits: block entries with the source first or
// after another key, flow mappings, three quoting styles, comments, an own
// tag: that repeats the source's or names another, CRLF, no final newline.
const entry = fc.record({
  name,
  sourceTag: fc.option(tag, { nil: undefined }),
  ownTag: fc.constantFrom('none', 'same', 'other'),
  otherTag: tag,
  quote: fc.constantFrom('', "'", '"'),
  layout: fc.constantFrom('source-first', 'tag-first', 'after-platforms', 'flow'),
  comment: fc.boolean(),
});
type Entry = typeof entry extends fc.Arbitrary<infer T> ? T : never;

const ownTag = (e: Entry) =>
  ({ none: undefined, same: e.sourceTag ?? 'latest', other: e.otherTag })[e.ownTag];

function entryText(e: Entry, eol: string): string {
  const source = `${e.quote}${e.name}${e.sourceTag ? `:${e.sourceTag}` : ''}${e.quote}`;
  const own = ownTag(e);
  const tagPair = own === undefined ? [] : [`tag: "${own}"${e.comment ? ' # ours' : ''}`];
  const sourcePair = `source: ${source}${e.comment ? ' # upstream' : ''}`;
  if (e.layout === 'flow')
    return `- {${[`source: ${source}`, ...tagPair.map((t) => t.replace(' # ours', ''))].join(', ')}}`;
  const pairs =
    e.layout === 'tag-first'
      ? [...tagPair, sourcePair]
      : e.layout === 'after-platforms'
        ? ['platforms: [linux/amd64]', ...tagPair, sourcePair]
        : [sourcePair, ...tagPair];
  return pairs.map((p, i) => `${i === 0 ? '- ' : '  '}${p}`).join(eol);
}

/**
 * The form an entry takes, from how it was generated: the digest form where the
 * style asks for it, or where the entry's own tag: differs from its source's
 * tag (a Renovate update would conflict), or shares the line of the list's
 * `- ` (it cannot be removed without taking the dash).
 */
function expectedForm(e: Entry, style: PinStyle): PinStyle {
  if (style === 'digest') return 'digest';
  const own = ownTag(e);
  if (own === undefined) return 'renovate';
  return own !== (e.sourceTag ?? 'latest') || e.layout === 'tag-first' ? 'digest' : 'renovate';
}

describe('pin round trips, both styles', () => {
  it('validate, map to the same targets, pin everything, in the form the style asks, read by the preset', () => {
    const file = fc.record({
      entries: fc.array(entry, { minLength: 1, maxLength: 6 }),
      digests: fc.array(digest, { minLength: 6, maxLength: 6 }),
      crlf: fc.boolean(),
      finalNewline: fc.boolean(),
    });
    fc.assert(
      fc.property(file, ({ entries, digests, crlf, finalNewline }) => {
        const eol = crlf ? '\r\n' : '\n';
        const text = `images:${eol}${entries.map((e) => entryText(e, eol)).join(eol)}${finalNewline ? eol : ''}`;
        const before = checkImagesFile('f.yaml', Buffer.from(text), prefix);
        fc.pre(before.problems.length === 0); // two entries on one target: not this test's subject
        const unpinned = unpinnedEntries(text);
        const resolved = new Map(unpinned.map((u, i) => [u.source, digests[i % 6] as string]));
        for (const style of ['renovate', 'digest'] as const) {
          const { text: out, plans } = pin(text, Object.fromEntries(resolved), style);
          assert.doesNotMatch(out, /\n[ \t]*\r?\n/, 'no line left blank'); // the input has none
          const read = presetDependencies(out);
          for (const plan of plans) {
            const generated = entries[plan.entry.index] as Entry;
            assert.equal(plan.form, expectedForm(generated, style), out);
            assert.equal(Boolean(plan.note), style === 'renovate' && plan.form === 'digest', out);
            // Renovate's preset reads every entry pinned in its form, with the digest.
            const pinned = resolved.get(plan.entry.source);
            const seen = read.some(
              (d) => d.currentDigest === pinned && d.currentValue === plan.entry.sourceTag,
            );
            if (plan.form === 'renovate') assert.ok(seen, `not read by Renovate's preset:\n${out}`);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

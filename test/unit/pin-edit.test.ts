// `image-syncer pin`'s text edits: every byte outside the pinned sources stays
// as it was (comments, quoting, order, blank lines, line endings), and the
// pinned file maps to the same targets.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDiff, pinText, unpinnedEntries } from '../../functions/cli/pin-edit.ts';
import { checkImagesFile } from '../../functions/images-file/parse.ts';
import { formatReference } from '../../functions/reference/reference.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const prefix = parseTargetPrefix('gcr.example.io/mirror/');
const targets = (text: string) => {
  const check = checkImagesFile('f.yaml', Buffer.from(text), prefix);
  assert.deepEqual(check.problems, []);
  return check.entries.map((e) => formatReference(e.target));
};

function pin(text: string, digests: Record<string, string>) {
  const entries = unpinnedEntries(text);
  return pinText(text, entries, new Map(Object.entries(digests)));
}

describe('pin edits', () => {
  it('pins block entries keeping comments, quotes and order, adding the target tag', () => {
    const text = `# mirrored for the platform team
images:
  # the base image
  - source: "alpine:3.20" # keep in step with CI
  - source: 'ghcr.io/org/tool'

  - source: busybox:1.36
    tag: "1.36-ours"   # our own name
  - source: "nginx@${B}"
    tag: "1.27"
`;
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
    assert.deepEqual(targets(out), targets(text));
    assert.deepEqual(unpinnedEntries(out), []);
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

  it('replaces a block scalar source up to its last line, not into the next key', () => {
    // A block scalar's range ends after its line break: replacing all of it
    // glued the next key onto the source's line (invalid YAML, pin refused).
    const text = `images:\n- source: >-\n    alpine:3.19\n  tag: x # ours\n- source: |-\n    busybox:1\n`;
    const { text: out } = pin(text, { 'alpine:3.19': A, 'busybox:1': B });
    assert.equal(
      out,
      `images:\n- source: "alpine@${A}"\n  tag: x # ours\n- source: "busybox@${B}"\n  tag: "1"\n`,
    );
    assert.deepEqual(targets(out), targets(text));
  });
});

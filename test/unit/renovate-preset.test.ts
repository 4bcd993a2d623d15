// The Renovate preset as `validate` applies it (functions/cli/renovate-preset.ts):
// its patterns are the preset file's own, read the way RE2 and JavaScript
// agree on, and validate's warnings name every entry Renovate would miss or
// update into a conflict. That Renovate itself reads the same is
// test/integration/renovate.test.ts.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  PRESET_FILE,
  presetDependencies,
  presetPatterns,
  renovateWarnings,
} from '../../functions/cli/renovate-preset.ts';
import { formatDiagnostic } from '../../functions/images-file/diagnostics.ts';
import { checkImagesFile } from '../../functions/images-file/parse.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { D1, RENOVATE_CASES } from '../support/renovate-cases.ts';

const prefix = parseTargetPrefix('gcr.example.io/mirror/');

function warningsOf(text: string) {
  const check = checkImagesFile('f.yaml', Buffer.from(text), prefix);
  assert.deepEqual(check.problems.map(formatDiagnostic), [], 'a file the parser accepts');
  return renovateWarnings('f.yaml', text, check.entries);
}

describe('the Renovate preset, as validate reads it', () => {
  it('uses the patterns of the preset file itself, in what RE2 reads as JavaScript does', () => {
    const preset = JSON.parse(readFileSync(PRESET_FILE, 'utf8'));
    const manager = preset.customManagers[0];
    assert.deepEqual(presetPatterns(), manager.matchStrings);
    assert.equal(manager.customType, 'regex');
    assert.equal(manager.datasourceTemplate, 'docker');
    // RE2 has no lookaround, no backreferences and no possessive or atomic
    // groups (github.com/google/re2/wiki/Syntax); Renovate falls back to
    // RegExp only where RE2 is missing, so the patterns must mean the same in both.
    for (const pattern of manager.matchStrings as string[]) {
      assert.doesNotMatch(pattern, /\(\?[=!]|\(\?<[=!]|\\[1-9]|\\k<|\(\?>|[*+?}][+]/, pattern);
      new RegExp(pattern, 'g');
    }
  });

  it('reads name:tag and name:tag@digest in any quoting, and replaces only the reference', () => {
    const text = `images:\n- source: "ghcr.io/a/b:1.2@${D1}" # pinned\n- source: 'alpine:3.20'\n`;
    assert.deepEqual(presetDependencies(text), [
      {
        depName: 'ghcr.io/a/b',
        currentValue: '1.2',
        currentDigest: D1,
        replaceString: `ghcr.io/a/b:1.2@${D1}`,
        offset: text.indexOf('ghcr.io'),
      },
      {
        depName: 'alpine',
        currentValue: '3.20',
        replaceString: 'alpine:3.20',
        offset: text.indexOf('alpine'),
      },
    ]);
  });

  it('does not take part of a source for the whole: a port is no tag, a digest must be whole', () => {
    const text = `images:\n- source: reg.example.com:5000/a@${D1}\n  tag: x\n- source: a/b:1@sha256:abc\n`;
    assert.deepEqual(presetDependencies(text), []);
  });

  for (const c of RENOVATE_CASES) {
    it(`warns on what the preset would miss or update into a conflict: ${c.path}`, () => {
      const warnings = warningsOf(c.text);
      assert.deepEqual(
        warnings.map((w) => w.line),
        c.warnings.map(([line]) => line),
        warnings.map(formatDiagnostic).join('\n'),
      );
      c.warnings.forEach(([, pattern], i) => {
        assert.match(warnings[i]?.message ?? '', pattern);
      });
      assert.deepEqual(
        presetDependencies(c.text).map((d) => [d.depName, d.currentValue, d.currentDigest]),
        c.reads.map(([n, v, d]) => [n, v, d]),
      );
    });
  }

  it('says so when the preset cannot be read, instead of passing silently', () => {
    const text = 'images:\n- source: a\n';
    const check = checkImagesFile('f.yaml', Buffer.from(text), prefix);
    const missing = () => {
      throw new Error(`cannot read ${PRESET_FILE}: ENOENT`);
    };
    assert.deepEqual(
      renovateWarnings('f.yaml', text, check.entries, missing).map(formatDiagnostic),
      [
        `f.yaml:1: entries not checked against Renovate's preset: cannot read ${PRESET_FILE}: ENOENT`,
      ],
    );
    assert.equal(renovateWarnings('f.yaml', text, check.entries).length, 1, 'a:latest advice');
  });
});

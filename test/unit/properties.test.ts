// Property-based tests of the reference parser and target naming: whatever
// valid reference fast-check builds, parse and format round-trip, every target
// is a valid reference inside the prefix, and distinct sources never share a
// target unnoticed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidReferenceError } from '../../functions/errors.ts';
import { checkImagesFile } from '../../functions/images-file/parse.ts';
import { formatReference, parseReference } from '../../functions/reference/reference.ts';
import {
  formatTargetPrefix,
  parseTargetPrefix,
  targetReference,
} from '../../functions/reference/target.ts';
import { digest, domain, hubFirst, path, reference, tag } from '../support/references.ts';

const prefix = parseTargetPrefix('europe-docker.pkg.dev/kyma-project/prod/external/');
const PREFIX = formatTargetPrefix(prefix);

function parses(text: string): boolean {
  try {
    parseReference(text);
    return true;
  } catch (error) {
    if (!(error instanceof InvalidReferenceError)) throw error;
    return false;
  }
}

describe('reference and target properties', () => {
  it('parse → format → parse is stable', () => {
    fc.assert(
      fc.property(reference, (text) => {
        const parsed = parseReference(text);
        const formatted = formatReference(parsed);
        assert.deepEqual(parseReference(formatted), parsed);
        assert.equal(formatReference(parseReference(formatted)), formatted);
      }),
      { numRuns: 2_000, endOnFailure: true },
    );
  });

  it('every target is a valid reference inside the prefix, with a tag', () => {
    fc.assert(
      fc.property(reference, fc.option(tag, { nil: undefined }), (text, entryTag) => {
        const source = parseReference(text);
        let target: ReturnType<typeof targetReference>;
        try {
          target = targetReference(source, prefix, entryTag);
        } catch (error) {
          // Only names that grow past the length limit may be refused.
          assert.match((error as Error).message, /limit is 255/);
          return;
        }
        const formatted = formatReference(target);
        assert.ok(formatted.startsWith(PREFIX), formatted);
        assert.ok(!formatted.slice(PREFIX.length).split(/[/:]/).includes('..'));
        assert.ok(target.tag);
        assert.deepEqual(parseReference(formatted), target);
      }),
      { numRuns: 2_000, endOnFailure: true },
    );
  });

  it('never lets two distinct sources share a target unnoticed', () => {
    // Pairs built to collide: one repository, two different images (a tag and
    // a digest), forced onto one target tag by the entries' own `tag`.
    const collision = fc.record({
      domain: fc.option(domain, { nil: undefined }),
      first: hubFirst,
      tagA: tag,
      hex: digest,
      shared: tag,
    });
    fc.assert(
      fc.property(collision, ({ domain: d, first, tagA, hex, shared }) => {
        const name = `${d ? `${d}/` : ''}${first}`;
        const file = `images:\n- source: "${name}:${tagA}"\n  tag: "${shared}"\n- source: "${name}@${hex}"\n  tag: "${shared}"\n`;
        const check = checkImagesFile('f.yaml', Buffer.from(file), prefix);
        assert.ok(
          check.problems.some((p) => /is also the target of/.test(p.message)),
          file,
        );
        assert.equal(check.entries.length, 1);
      }),
      { numRuns: 1_000, endOnFailure: true },
    );
    // And random pairs: equal targets only for equal canonical sources (merged), else a problem.
    fc.assert(
      fc.property(reference, reference, (a, b) => {
        let ta: string;
        let tb: string;
        try {
          ta = formatReference(targetReference(parseReference(a), prefix, 'x'));
          tb = formatReference(targetReference(parseReference(b), prefix, 'x'));
        } catch {
          return;
        }
        if (ta !== tb || formatReference(parseReference(a)) === formatReference(parseReference(b)))
          return;
        const file = `images:\n- source: "${a}"\n  tag: x\n- source: "${b}"\n  tag: x\n`;
        assert.ok(checkImagesFile('f.yaml', Buffer.from(file), prefix).problems.length > 0, file);
      }),
      { numRuns: 2_000, endOnFailure: true },
    );
  });

  it('rejects references with upper case paths, traversal, whitespace or control characters', () => {
    const hostile = fc.oneof(
      fc
        .tuple(path, fc.constantFrom('..', '.', '-x', 'x-', 'A', 'x y', 'x\u0000', 'x\t'))
        .map(([p, bad]) => `${p}/${bad}`),
      fc.tuple(path, fc.stringMatching(/^[A-Z]{1,4}$/)).map(([p, upper]) => `${p}${upper}`),
      fc.tuple(path, fc.constantFrom(' ', '\n', '\u007f', '\u0085')).map(([p, c]) => `${p}${c}`),
    );
    fc.assert(
      fc.property(hostile, (text) => assert.equal(parses(text), false, JSON.stringify(text))),
      { numRuns: 1_000 },
    );
  });
});

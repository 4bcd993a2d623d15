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

const alnum = fc.stringMatching(/^[a-z0-9]{1,8}$/);
const separator = fc.constantFrom('.', '_', '__', '-', '--');
const component = fc
  .tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 2 }))
  .map(([head, rest]) => head + rest.map(([s, a]) => s + a).join(''));
const path = fc.array(component, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
const domainLabel = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
const host = fc.oneof(
  fc.array(domainLabel, { minLength: 2, maxLength: 3 }).map((labels) => labels.join('.')),
  fc.constant('localhost'),
  fc
    .tuple(fc.integer({ min: 1, max: 255 }), fc.integer({ min: 0, max: 255 }))
    .map(([a, b]) => `10.${a}.${b}.1`),
);
const domain = fc.oneof(
  host,
  fc.tuple(host, fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}:${p}`),
);
const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((hex) => `sha256:${hex}`);
// Without a domain, the first component must not look like one (a `.`, a `:`
// or `localhost` makes it a registry host, as Docker reads it).
const hubFirst = fc
  .stringMatching(/^[a-z0-9]{1,8}([_-][a-z0-9]{1,8}){0,2}$/)
  .filter((c) => c !== 'localhost');
const reference = fc
  .record({
    domain: fc.option(domain, { nil: undefined }),
    first: hubFirst,
    path: fc.option(path, { nil: undefined }),
    tag: fc.option(tag, { nil: undefined }),
    digest: fc.option(digest, { nil: undefined }),
  })
  .map(
    (r) =>
      `${r.domain ? `${r.domain}/` : ''}${r.first}${r.path ? `/${r.path}` : ''}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`,
  )
  .filter((r) => r.length < 200);
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

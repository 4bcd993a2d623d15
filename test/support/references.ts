// fast-check arbitraries of valid image references, as the distribution
// grammar allows them: hosts with and without ports, Docker Hub names,
// multi-component paths with every separator, tags and sha256 digests.

import fc from 'fast-check';

const alnum = fc.stringMatching(/^[a-z0-9]{1,8}$/);
const separator = fc.constantFrom('.', '_', '__', '-', '--');
const component = fc
  .tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 2 }))
  .map(([head, rest]) => head + rest.map(([s, a]) => s + a).join(''));
export const path = fc
  .array(component, { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join('/'));
const domainLabel = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
const host = fc.oneof(
  fc.array(domainLabel, { minLength: 2, maxLength: 3 }).map((labels) => labels.join('.')),
  fc.constant('localhost'),
  fc
    .tuple(fc.integer({ min: 1, max: 255 }), fc.integer({ min: 0, max: 255 }))
    .map(([a, b]) => `10.${a}.${b}.1`),
);
export const domain = fc.oneof(
  host,
  fc.tuple(host, fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}:${p}`),
);
export const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
export const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((hex) => `sha256:${hex}`);
// Without a domain, the first component must not look like one (a `.`, a `:`
// or `localhost` makes it a registry host, as Docker reads it).
export const hubFirst = fc
  .stringMatching(/^[a-z0-9]{1,8}([_-][a-z0-9]{1,8}){0,2}$/)
  .filter((c) => c !== 'localhost');
/** A repository name: an optional registry host (with or without a port), then a path. */
export const name = fc
  .record({
    domain: fc.option(domain, { nil: undefined }),
    first: hubFirst,
    path: fc.option(path, { nil: undefined }),
  })
  .map((r) => `${r.domain ? `${r.domain}/` : ''}${r.first}${r.path ? `/${r.path}` : ''}`);
export const reference = fc
  .record({
    name,
    tag: fc.option(tag, { nil: undefined }),
    digest: fc.option(digest, { nil: undefined }),
  })
  .map((r) => `${r.name}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`)
  .filter((r) => r.length < 200);

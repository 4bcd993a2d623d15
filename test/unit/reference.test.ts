import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidReferenceError } from '../../functions/errors.ts';
import { formatReference, parseReference } from '../../functions/reference/reference.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  const cases: [string, string][] = [
    ['alpine', 'docker.io/library/alpine'],
    ['alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['docker.io/alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['index.docker.io/library/alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['registry-1.docker.io/bitnami/x:1', 'docker.io/bitnami/x:1'],
    [
      'bitnami/postgres-exporter:0.8.0-debian-10-r28',
      'docker.io/bitnami/postgres-exporter:0.8.0-debian-10-r28',
    ],
    ['ghcr.io/a/b:1', 'ghcr.io/a/b:1'],
    ['GHCR.io/a/b:1', 'ghcr.io/a/b:1'],
    ['localhost/x', 'localhost/x'],
    ['localhost:5000/x/y:z', 'localhost:5000/x/y:z'],
    ['127.0.0.1:5000/a__b/c-d/e.f:T_1', '127.0.0.1:5000/a__b/c-d/e.f:T_1'],
    [`busybox@${DIGEST}`, `docker.io/library/busybox@${DIGEST}`],
    [`busybox:1.36@${DIGEST}`, `docker.io/library/busybox:1.36@${DIGEST}`],
    ['[::1]:5000/x:1', '[::1]:5000/x:1'],
  ];
  for (const [input, expected] of cases) {
    it(`normalises ${input}`, () => assert.equal(formatReference(parseReference(input)), expected));
  }

  it('splits tag and digest', () => {
    const ref = parseReference(`gcr.io/distroless/static:nonroot@${DIGEST}`);
    assert.deepEqual(ref, {
      registry: 'gcr.io',
      repository: 'distroless/static',
      tag: 'nonroot',
      digest: DIGEST,
    });
  });

  const rejected: [string, RegExp][] = [
    ['', /empty/],
    ['Alpine:3', /lowercase/],
    ['bitnami/Keycloak:1', /lowercase/],
    ['alpine:3 ', /whitespace/],
    ['al\u0007pine', /control/],
    ['a//b', /empty component/],
    ['/alpine', /empty component/],
    ['alpine/', /empty component/],
    ['ghcr.io/../etc/passwd', /invalid path component "\.\."/],
    ['a..b/c', /invalid registry host|invalid path component/],
    ['a/-b', /invalid path component/],
    ['a/b_', /invalid path component/],
    ['a/b___c', /invalid path component/],
    ['alpine:-x', /invalid tag/],
    [`alpine:${'x'.repeat(129)}`, /invalid tag/],
    ['alpine@sha256:abc', /invalid digest/],
    [`alpine@sha256:${'A'.repeat(64)}`, /invalid digest/],
    [`alpine@md5:${'a'.repeat(32)}`, /invalid digest/],
    ['host:99999/x', /invalid registry port/],
    ['-bad.io/x', /invalid registry host/],
    [`ghcr.io/${'a/'.repeat(130)}b`, /limit is 255/],
  ];
  for (const [input, pattern] of rejected) {
    it(`rejects ${JSON.stringify(input.slice(0, 40))}`, () => {
      assert.throws(
        () => parseReference(input),
        (error: unknown) =>
          error instanceof InvalidReferenceError &&
          error.code === 'INVALID_REFERENCE' &&
          pattern.test(error.message),
      );
    });
  }
});

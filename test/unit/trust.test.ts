// Trusted-source patterns (reference/trust.ts): matched against repository
// names as the reference grammar normalises them, never as raw strings.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { earlyTrust } from '../../functions/pipeline/early-mirror.ts';
import { parseReference } from '../../functions/reference/reference.ts';
import { parseTrustPattern, trustedBy } from '../../functions/reference/trust.ts';

const trusts = (pattern: string, source: string) =>
  trustedBy([parseTrustPattern(pattern)], parseReference(source)) !== undefined;

describe('trusted-source patterns', () => {
  it('matches one path component with *, never a longer or a neighbouring name', () => {
    assert.ok(trusts('ghcr.io/sap/*', 'ghcr.io/sap/app:1.2'));
    assert.ok(trusts('ghcr.io/sap/*', `ghcr.io/sap/app@sha256:${'a'.repeat(64)}`));
    assert.ok(
      !trusts('ghcr.io/sap/*', 'ghcr.io/sapper/x:1'),
      'a prefix of the text is not the path',
    );
    assert.ok(!trusts('ghcr.io/sap/*', 'ghcr.io/sap/a/b:1'), '* is one component');
    assert.ok(!trusts('ghcr.io/sap/*', 'ghcr.io/sap:1'), '* is not zero components');
    assert.ok(!trusts('ghcr.io/sap/*', 'ghcr.io.evil.com/sap/x:1'), 'the host is the host');
    assert.ok(!trusts('ghcr.io/sap/*', 'docker.io/sap/x:1'));
  });

  it('matches one or more components with **', () => {
    const releases = 'europe-docker.pkg.dev/some-project/releases/**';
    assert.ok(trusts(releases, 'europe-docker.pkg.dev/some-project/releases/a:1'));
    assert.ok(trusts(releases, 'europe-docker.pkg.dev/some-project/releases/a/b/c:1'));
    assert.ok(!trusts(releases, 'europe-docker.pkg.dev/some-project/releases:1'));
    assert.ok(!trusts(releases, 'europe-docker.pkg.dev/some-project/releases-old/a:1'));
    assert.ok(trusts('ghcr.io/**/tools', 'ghcr.io/org/team/tools:1'));
    assert.ok(!trusts('ghcr.io/**/tools', 'ghcr.io/tools:1'));
  });

  it('normalises Docker Hub names on both sides', () => {
    for (const source of ['alpine:3', 'docker.io/alpine:3', 'index.docker.io/library/alpine:3'])
      for (const pattern of [
        'docker.io/library/*',
        'library/*',
        'docker.io/library/alpine',
        'alpine',
      ])
        assert.ok(trusts(pattern, source), `${pattern} trusts ${source}`);
    assert.ok(trusts('bitnami/*', 'docker.io/bitnami/redis:7'));
    assert.ok(!trusts('docker.io/library/*', 'bitnami/redis:7'));
  });

  it('refuses what is not a pattern, naming why', () => {
    for (const [pattern, reason] of [
      ['*/sap/x', /a host is never a wildcard/],
      ['*.io/sap/x', /a host is never a wildcard/],
      ['**', /a host is never a wildcard/],
      ['ghcr.io/sap-*', /whole path component/],
      ['ghcr.io/sap/x:1', /without a tag or digest/],
      [`ghcr.io/sap/x@sha256:${'a'.repeat(64)}`, /without a tag or digest/],
      ['ghcr.io/sap/../x', /invalid path component/],
      ['ghcr.io/SAP/*', /lowercase/],
    ] as const)
      assert.throws(() => parseTrustPattern(pattern), reason, pattern);
  });

  it('a source the grammar refuses is never trusted, whatever the pattern', () => {
    assert.throws(() => parseReference('ghcr.io/sap/../x:1'));
  });
});

describe('who may mirror early', () => {
  const trust = { patterns: [parseTrustPattern('ghcr.io/acme/*')], forks: false };
  const app = parseReference('ghcr.io/acme/app:1');

  it('the repository’s own pull request, for a trusted source: the pattern that trusts it', () => {
    assert.deepEqual(earlyTrust(trust, { fork: false }, app), { pattern: 'ghcr.io/acme/*' });
  });

  it('a fork’s pull request only when the deployment allows forks', () => {
    assert.match(
      (earlyTrust(trust, { fork: true }, app) as { refusal: string }).refusal,
      /from a fork may not mirror early/,
    );
    assert.deepEqual(earlyTrust({ ...trust, forks: true }, { fork: true }, app), {
      pattern: 'ghcr.io/acme/*',
    });
  });

  it('nothing, with no trusted source or an untrusted one', () => {
    assert.ok('refusal' in earlyTrust({ patterns: [], forks: true }, { fork: false }, app));
    assert.match(
      (
        earlyTrust(trust, { fork: false }, parseReference('ghcr.io/other/app:1')) as {
          refusal: string;
        }
      ).refusal,
      /ghcr\.io\/other\/app is not a trusted source/,
    );
  });
});

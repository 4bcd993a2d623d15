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

  it('the grammar refuses a source with a dot-dot component before any pattern sees it', () => {
    assert.throws(() => parseReference('ghcr.io/sap/../x:1'), /invalid path component/);
  });

  it('a component spelled like a wildcard placeholder is a literal, never a wildcard', () => {
    for (const literal of ['x0trustone', 'x0trustany']) {
      const pattern = parseTrustPattern(`ghcr.io/${literal}/app`);
      assert.deepEqual(pattern.components, [literal, 'app']);
      assert.ok(!trusts(`ghcr.io/${literal}/app`, 'ghcr.io/evil/app:1'), literal);
      assert.ok(!trusts(`ghcr.io/${literal}/app`, 'ghcr.io/a/b/app:1'), literal);
      assert.ok(trusts(`ghcr.io/${literal}/app`, `ghcr.io/${literal}/app:1`), literal);
      assert.ok(!trusts(literal, 'docker.io/library/evil:1'), literal);
    }
  });

  it('keeps wildcards where they were written, beside literal placeholder text', () => {
    const pattern = parseTrustPattern('x0trustone/*');
    assert.deepEqual(pattern.components, ['x0trustone', '*']);
    assert.ok(trusts('x0trustone/*', 'docker.io/x0trustone/app:1'));
    assert.ok(!trusts('x0trustone/*', 'docker.io/evil/app:1'));
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

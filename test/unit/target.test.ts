import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../functions/errors.ts';
import { formatReference, parseReference } from '../../functions/reference/reference.ts';
import { parseTargetPrefix, targetReference } from '../../functions/reference/target.ts';

const prefix = parseTargetPrefix('europe-docker.pkg.dev/kyma-project/prod/external/');
const target = (source: string, tag?: string) =>
  formatReference(targetReference(parseReference(source), prefix, tag));
const P = 'europe-docker.pkg.dev/kyma-project/prod/external';

describe('target naming', () => {
  it('keeps Docker Hub paths, adding library/ for official images', () => {
    assert.equal(target('alpine:3.20'), `${P}/library/alpine:3.20`);
    assert.equal(target('bitnami/x:1'), `${P}/bitnami/x:1`);
  });

  it('maps every Docker Hub spelling to one target', () => {
    const spellings = [
      'alpine:3.20',
      'library/alpine:3.20',
      'docker.io/alpine:3.20',
      'docker.io/library/alpine:3.20',
      'index.docker.io/library/alpine:3.20',
      'registry-1.docker.io/library/alpine:3.20',
    ];
    assert.deepEqual(
      new Set(spellings.map((s) => target(s))),
      new Set([`${P}/library/alpine:3.20`]),
    );
  });

  it('puts other registries under their host', () => {
    assert.equal(target('ghcr.io/a/b:1'), `${P}/ghcr.io/a/b:1`);
    assert.equal(
      target('gcr.io/distroless/static:nonroot'),
      `${P}/gcr.io/distroless/static:nonroot`,
    );
  });

  it('joins a port to its host with an underscore', () => {
    assert.equal(target('registry.example.com:5000/a/b:1'), `${P}/registry.example.com_5000/a/b:1`);
    assert.equal(target('localhost:5000/a'), `${P}/localhost_5000/a:latest`);
  });

  it('picks the entry tag, else the source tag, else latest', () => {
    assert.equal(target('alpine:3.20', 'mine'), `${P}/library/alpine:mine`);
    assert.equal(target('alpine'), `${P}/library/alpine:latest`);
    assert.equal(target(`alpine:3.20@sha256:${'b'.repeat(64)}`), `${P}/library/alpine:3.20`);
  });

  it('accepts a prefix with or without the trailing slash', () => {
    assert.deepEqual(parseTargetPrefix('127.0.0.1:5000/mirror'), {
      registry: '127.0.0.1:5000',
      path: 'mirror',
    });
    assert.deepEqual(parseTargetPrefix('127.0.0.1:5000/'), {
      registry: '127.0.0.1:5000',
      path: '',
    });
    assert.equal(
      formatReference(
        targetReference(parseReference('a/b:1'), parseTargetPrefix('localhost:5000')),
      ),
      'localhost:5000/a/b:1',
    );
  });

  it('rejects prefixes without a registry host or with bad paths', () => {
    assert.throws(() => parseTargetPrefix('mirror/'), ConfigError);
    assert.throws(() => parseTargetPrefix('gcr.io/Bad/'), ConfigError);
    assert.throws(() => parseTargetPrefix(''), ConfigError);
  });

  it('rejects targets that grow too long', () => {
    const long = `ghcr.io/${'a'.repeat(200)}:1`;
    assert.throws(() => target(long), /limit is 255/);
  });

  it('refuses IPv6 literal hosts, which have no valid target path', () => {
    assert.throws(() => target('[::1]:5000/x:1'), /IPv6/);
  });
});

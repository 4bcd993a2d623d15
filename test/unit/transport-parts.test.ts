import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { DigestMismatchError } from '../../functions/errors.ts';
import { DigestVerifier, digestOf } from '../../functions/oci/digest.ts';
import { parseChallenge } from '../../functions/registry/challenge.ts';
import {
  DockerConfigCredentials,
  normaliseConfigKey,
} from '../../functions/registry/credentials.ts';
import { endpointFor, parseEndpointFlag } from '../../functions/registry/endpoint.ts';
import { RegistryError, RegistryNetworkError } from '../../functions/registry/errors.ts';
import { redactUrl } from '../../functions/registry/redact.ts';
import {
  DEFAULT_RETRY_POLICY,
  isRetryable,
  parseRetryAfter,
  retryDelay,
  withRetry,
} from '../../functions/registry/retry.ts';

describe('WWW-Authenticate', () => {
  it('parses Docker Hub style Bearer challenges', () => {
    assert.deepEqual(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      ),
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/alpine:pull',
        },
      },
    );
  });
  it('parses Basic, bare tokens and escapes', () => {
    assert.deepEqual(parseChallenge('Basic realm="Registry \\"R\\""'), {
      scheme: 'basic',
      params: { realm: 'Registry "R"' },
    });
    assert.deepEqual(parseChallenge('bearer realm=https://x/t, service=s'), {
      scheme: 'bearer',
      params: { realm: 'https://x/t', service: 's' },
    });
    assert.equal(parseChallenge('Negotiate abc'), undefined);
    assert.equal(parseChallenge(undefined), undefined);
  });
});

describe('retry', () => {
  const err = (status: number, retryAfterMs?: number) =>
    new RegistryError({ method: 'GET', url: 'u', status, retryAfterMs });
  it('retries only transient failures', () => {
    for (const status of [408, 429, 500, 502, 503, 504])
      assert.ok(isRetryable(err(status)), String(status));
    for (const status of [400, 401, 403, 404, 501])
      assert.ok(!isRetryable(err(status)), String(status));
    assert.ok(isRetryable(new RegistryNetworkError('GET', 'u', new Error('reset'))));
    assert.ok(isRetryable(new DigestMismatchError('x', 'a', 'b')));
    assert.ok(!isRetryable(new Error('plain')));
  });
  it('honours Retry-After in seconds and as a date, capped', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(retryDelay(DEFAULT_RETRY_POLICY, 1, err(429, 2_000)), 2_000);
    assert.equal(
      retryDelay(DEFAULT_RETRY_POLICY, 1, err(429, 3_600_000)),
      DEFAULT_RETRY_POLICY.maxRetryAfterMs,
    );
  });
  it('backs off exponentially with jitter within bounds', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(
      retryDelay(policy, 1, err(500), () => 0),
      50,
    );
    assert.equal(
      retryDelay(policy, 3, err(500), () => 1),
      400,
    );
    assert.equal(
      retryDelay(policy, 10, err(500), () => 1),
      1000,
    );
  });
  it('stops after the policy attempts and records how many were made', async () => {
    let calls = 0;
    const policy = { ...DEFAULT_RETRY_POLICY, attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };
    await assert.rejects(
      withRetry(policy, async () => {
        calls++;
        throw err(503);
      }),
      (e: unknown) => e instanceof RegistryError && (e as { attempts?: number }).attempts === 3,
    );
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(
      withRetry(policy, async () => {
        calls++;
        throw err(404);
      }),
    );
    assert.equal(calls, 1);
  });
});

describe('DigestVerifier', () => {
  const data = Buffer.alloc(200_000, 7);
  const digest = digestOf(data);
  const collect = async (verifier: DigestVerifier, input: Buffer) => {
    const out: Buffer[] = [];
    await pipeline(
      Readable.from([input.subarray(0, 70_000), input.subarray(70_000)]),
      verifier,
      async (source) => {
        for await (const chunk of source) out.push(chunk as Buffer);
      },
    );
    return Buffer.concat(out);
  };
  it('passes correct bytes through unchanged', async () => {
    assert.ok((await collect(new DigestVerifier('b', digest, data.length), data)).equals(data));
  });
  it('fails on a wrong digest and withholds the last chunk', async () => {
    const corrupt = Buffer.from(data);
    corrupt[199_999] = 8;
    const released: Buffer[] = [];
    const verifier = new DigestVerifier('b', digest, data.length);
    await assert.rejects(
      pipeline(
        Readable.from([corrupt.subarray(0, 70_000), corrupt.subarray(70_000)]),
        verifier,
        async (source) => {
          for await (const chunk of source) released.push(chunk as Buffer);
        },
      ),
      DigestMismatchError,
    );
    assert.ok(Buffer.concat(released).length < data.length, 'the final bytes must not be released');
  });
  it('fails on a short or long body', async () => {
    await assert.rejects(
      collect(new DigestVerifier('b', digest, data.length + 1), data),
      /SIZE|expected 200001 bytes/,
    );
    await assert.rejects(
      collect(new DigestVerifier('b', digest, data.length - 1), data),
      /more than the expected/,
    );
  });
});

describe('endpoints, redaction, credentials', () => {
  it('uses HTTPS except for loopback and insecure hosts', () => {
    assert.equal(endpointFor('docker.io').href, 'https://registry-1.docker.io/');
    assert.equal(endpointFor('ghcr.io').href, 'https://ghcr.io/');
    assert.equal(endpointFor('127.0.0.1:5000').href, 'http://127.0.0.1:5000/');
    assert.equal(endpointFor('localhost:5000').href, 'http://localhost:5000/');
    assert.equal(
      endpointFor('reg.internal:5000', { insecureRegistries: ['reg.internal:5000'] }).href,
      'http://reg.internal:5000/',
    );
    assert.throws(
      () =>
        endpointFor('docker.io', {
          endpoints: new Map([['docker.io', 'http://mirror.example.com']]),
        }),
      /refusing plain HTTP/,
    );
  });
  it('parses --registry-endpoint and maps Hub spellings', () => {
    assert.deepEqual(parseEndpointFlag('index.docker.io=https://mirror.gcr.io/'), [
      'docker.io',
      'https://mirror.gcr.io',
    ]);
    assert.throws(() => parseEndpointFlag('docker.io'), /REGISTRY=URL/);
    assert.throws(() => parseEndpointFlag('docker.io=https://u:p@mirror'), /credentials/);
  });
  it('drops userinfo and query strings from URLs', () => {
    assert.equal(
      redactUrl('https://user:secret@host/v2/x?X-Goog-Signature=abc'),
      'https://host/v2/x?…',
    );
  });
  it("reads Docker's config.json, including Hub's v1 key", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dockercfg-'));
    const file = join(dir, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('hubuser:hub:pw').toString('base64') },
          'ghcr.io': { username: 'gh', password: 'ghpw' },
        },
      }),
    );
    const creds = new DockerConfigCredentials(file);
    assert.deepEqual(await creds.credentialFor('registry-1.docker.io'), {
      username: 'hubuser',
      password: 'hub:pw',
    });
    assert.deepEqual(await creds.credentialFor('ghcr.io'), { username: 'gh', password: 'ghpw' });
    assert.equal(await creds.credentialFor('quay.io'), undefined);
    assert.equal(
      await new DockerConfigCredentials(join(dir, 'absent.json')).credentialFor('ghcr.io'),
      undefined,
    );
    assert.equal(normaliseConfigKey('https://Index.Docker.io/v1/'), 'index.docker.io');
  });
  it('asks a credential helper named in credHelpers, with the host on stdin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'credhelper-'));
    const helper = join(dir, 'docker-credential-testhelper');
    // The docker-credential-helpers protocol: `get`, the server on stdin, JSON on stdout.
    writeFileSync(
      helper,
      '#!/bin/sh\nread host\n[ "$1" = get ] && [ "$host" = "helped.example.com" ] && echo \'{"Username":"bot","Secret":"from-helper"}\'\n',
      { mode: 0o755 },
    );
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ credHelpers: { 'helped.example.com': 'testhelper' } }),
    );
    const path = process.env.PATH;
    process.env.PATH = `${dir}:${path}`;
    try {
      const creds = new DockerConfigCredentials(join(dir, 'config.json'));
      assert.deepEqual(await creds.credentialFor('helped.example.com'), {
        username: 'bot',
        password: 'from-helper',
      });
      assert.equal(await creds.credentialFor('other.example.com'), undefined);
    } finally {
      process.env.PATH = path;
    }
  });
});

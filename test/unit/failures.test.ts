// The one failure classification: every code has a category, a transience and
// an action, and the three places that act on it (retry, the copy result, the
// job's ack-or-redeliver) agree because they all ask it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { copyImage, failureReason } from '../../functions/engine/copy.ts';
import {
  DigestMismatchError,
  ERROR_CODES,
  SyncerError,
  UnsupportedMediaTypeError,
} from '../../functions/errors.ts';
import {
  CATEGORY_ACTIONS,
  classify,
  classifyCode,
  FAILURE_CATEGORIES,
} from '../../functions/failures.ts';
import { RegistryError, RegistryNetworkError } from '../../functions/registry/errors.ts';
import { BlockedDestinationError } from '../../functions/registry/network-policy.ts';
import { isRetryable } from '../../functions/registry/retry.ts';

const status = (s: number, extra: { staleToken?: boolean } = {}) =>
  new RegistryError({ method: 'GET', url: 'https://r/v2/a/manifests/1', status: s, ...extra });

describe('failure classification', () => {
  it('classifies every code, and every category has an action', () => {
    for (const code of ERROR_CODES) {
      const c = classifyCode(code);
      assert.ok(FAILURE_CATEGORIES.includes(c.category), code);
      assert.equal(typeof c.transient, 'boolean', code);
    }
    for (const category of FAILURE_CATEGORIES) assert.ok(CATEGORY_ACTIONS[category].length > 10);
  });

  it('reads as a table: error → code, category, transient', () => {
    const table: [unknown, string, string, boolean][] = [
      [status(401), 'UNAUTHORIZED', 'auth', false],
      [status(403), 'DENIED', 'auth', false],
      [status(404), 'NOT_FOUND', 'not-found', false],
      [status(408), 'REQUEST_TIMEOUT', 'network', true],
      [status(429), 'TOO_MANY_REQUESTS', 'rate-limited', true],
      [status(500), 'REGISTRY_UNAVAILABLE', 'network', true],
      [status(503), 'REGISTRY_UNAVAILABLE', 'network', true],
      [status(501), 'REGISTRY_UNSUPPORTED', 'unsupported', false],
      [status(400), 'REGISTRY_ERROR', 'internal', false],
      [status(401, { staleToken: true }), 'STALE_TOKEN', 'auth', true],
      [
        new RegistryError({
          method: 'PUT',
          url: 'u',
          status: 400,
          errors: [{ code: 'MANIFEST_BLOB_UNKNOWN' }],
        }),
        'MANIFEST_BLOB_UNKNOWN',
        'internal',
        true,
      ],
      [new RegistryNetworkError('GET', 'u', new Error('reset')), 'NETWORK_ERROR', 'network', true],
      [new DigestMismatchError('x', 'a', 'b'), 'DIGEST_MISMATCH', 'digest-mismatch', true],
      [
        new UnsupportedMediaTypeError('m', 'schema 1'),
        'UNSUPPORTED_MEDIA_TYPE',
        'unsupported',
        false,
      ],
      [new BlockedDestinationError('u is metadata'), 'BLOCKED_DESTINATION', 'blocked', false],
      [new SyncerError('TAG_CONFLICT', 'x'), 'TAG_CONFLICT', 'conflict', false],
      [new DOMException('aborted', 'AbortError'), 'CANCELLED', 'network', true],
      [new Error('plain'), 'INTERNAL', 'internal', false],
    ];
    for (const [error, code, category, transient] of table) {
      const f = classify(error);
      assert.deepEqual(
        [f.code, f.category, f.transient],
        [code, category, transient],
        (error as Error).message,
      );
      // registry/retry.ts asks the same question
      assert.equal(isRetryable(error), transient, code);
    }
  });

  it('names the cause first and says how many attempts were made', () => {
    const e = Object.assign(status(403), { attempts: 1 });
    assert.match(classify(e).message, /^access denied: GET .* answered 403 \(after 1 attempts\)$/);
    assert.match(classify(status(429)).message, /^rate limited: /);
    assert.equal(classify(status(403)).action, CATEGORY_ACTIONS.auth);
  });

  it('failed and conflict copy results carry the category', async () => {
    assert.deepEqual(failureReason(status(429)), {
      error: `rate limited: ${status(429).message}`,
      errorCode: 'TOO_MANY_REQUESTS',
      category: 'rate-limited',
      retryable: true,
    });
    // A registry that refuses everything: the failed result is classified.
    const result = await copyImage(
      {
        source: 'r.invalid/a:1',
        sourceRef: { registry: 'r.invalid', repository: 'a', tag: '1' },
        target: { registry: 't.invalid', repository: 'a', tag: '1' },
      },
      {
        registries: {
          client: () => ({
            headManifest: async () => {
              throw status(404);
            },
          }),
        } as never,
        blobs: {} as never,
        transfers: {} as never,
        dryRun: true,
      },
    );
    assert.equal(result.status, 'failed');
    assert.equal(result.category, 'not-found');
    assert.equal(result.errorCode, 'NOT_FOUND');
  });
});

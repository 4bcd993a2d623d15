// The bounded body reader behind manifest and config reads: whole bodies up to
// the limit, and a body that streams past it is cut off with the caller's error.

import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { readBounded } from '../../functions/registry/bounded-body.ts';
import type { TransportResponse } from '../../functions/registry/transport.ts';

const body = (...chunks: string[]) =>
  Readable.from(chunks.map((c) => Buffer.from(c))) as unknown as TransportResponse['body'];

describe('readBounded', () => {
  it('returns the whole body when it fits, the limit included', async () => {
    const bytes = await readBounded(body('abc', 'def'), 6, () => new Error('too large'));
    assert.equal(bytes.toString(), 'abcdef');
  });

  it('stops at the chunk that passes the limit, destroying the stream', async () => {
    const stream = body('abc', 'defg', 'never read');
    await assert.rejects(
      readBounded(stream, 6, () => new Error('too large')),
      /too large/,
    );
    assert.equal((stream as unknown as Readable).destroyed, true);
  });
});

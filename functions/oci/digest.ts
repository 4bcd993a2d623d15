// Content digests (`algorithm:hex`). The OCI image spec registers sha256 and
// sha512, each with lower-case hex of a fixed length. Everything image-syncer
// fetches is hashed by the tool itself and compared with the digest it was
// asked for: a registry's word (Docker-Content-Digest) is only a hint.

import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DigestMismatchError, SyncerError } from '../errors.ts';

const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export function isValidDigest(digest: string): boolean {
  return DIGEST.test(digest);
}

export function algorithmOf(digest: string): 'sha256' | 'sha512' {
  if (!isValidDigest(digest)) throw new SyncerError('INVALID_DIGEST', `invalid digest "${digest}"`);
  return digest.startsWith('sha512:') ? 'sha512' : 'sha256';
}

export function digestOf(bytes: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Throws DigestMismatchError unless `bytes` hash to `expected`. */
export function verifyDigest(what: string, bytes: Uint8Array, expected: string): void {
  const actual = digestOf(bytes, algorithmOf(expected));
  if (actual !== expected) throw new DigestMismatchError(what, expected, actual);
}

/**
 * A pass-through stream that hashes what flows through it and fails at the end
 * (before the final byte is released downstream) if the digest or the length is
 * wrong. Downstream then sees an error instead of a clean end, so an upload fed
 * from it is aborted rather than completed with bad bytes.
 */
export class DigestVerifier extends Transform {
  readonly #hash: Hash;
  readonly #expected: string;
  readonly #expectedSize: number | undefined;
  readonly #what: string;
  #size = 0;
  #heldBack: Buffer | undefined;

  readonly #onChunk: ((bytes: number) => void) | undefined;

  constructor(
    what: string,
    expected: string,
    expectedSize?: number,
    onChunk?: (bytes: number) => void,
  ) {
    super();
    this.#onChunk = onChunk;
    this.#what = what;
    this.#expected = expected;
    this.#expectedSize = expectedSize;
    this.#hash = createHash(algorithmOf(expected));
  }

  get bytes(): number {
    return this.#size;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#size += chunk.length;
    if (this.#expectedSize !== undefined && this.#size > this.#expectedSize) {
      callback(
        new SyncerError(
          'SIZE_MISMATCH',
          `${this.#what}: more than the expected ${this.#expectedSize} bytes`,
        ),
      );
      return;
    }
    this.#hash.update(chunk);
    this.#onChunk?.(chunk.length);
    // Release the previous chunk and keep this one until the next arrives, so
    // the last bytes are only released once the whole digest has been checked.
    const previous = this.#heldBack;
    this.#heldBack = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#expectedSize !== undefined && this.#size !== this.#expectedSize) {
      callback(
        new SyncerError(
          'SIZE_MISMATCH',
          `${this.#what}: expected ${this.#expectedSize} bytes, got ${this.#size}`,
        ),
      );
      return;
    }
    const actual = `${algorithmOf(this.#expected)}:${this.#hash.digest('hex')}`;
    if (actual !== this.#expected) {
      callback(new DigestMismatchError(this.#what, this.#expected, actual));
      return;
    }
    callback(null, this.#heldBack);
  }
}

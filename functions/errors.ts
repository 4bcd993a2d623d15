// Every error image-syncer raises carries a stable `code`, so callers (the CLI,
// the functions, tests) branch on the code and never on message text. The
// original error, where there is one, is kept as `cause`.

export class SyncerError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A reference (image name, tag or digest) that the distribution grammar rejects. */
export class InvalidReferenceError extends SyncerError {
  readonly input: string;

  constructor(input: string, reason: string) {
    super('INVALID_REFERENCE', `invalid image reference ${JSON.stringify(input)}: ${reason}`);
    this.input = input;
  }
}

/** Bytes whose sha256 (or sha512) is not the digest they were fetched by. */
export class DigestMismatchError extends SyncerError {
  readonly expected: string;
  readonly actual: string;

  constructor(what: string, expected: string, actual: string) {
    super('DIGEST_MISMATCH', `${what}: expected digest ${expected}, got ${actual}`);
    this.expected = expected;
    this.actual = actual;
  }
}

/** A manifest type the tool refuses to copy (Docker schema 1, unknown types). */
export class UnsupportedMediaTypeError extends SyncerError {
  readonly mediaType: string;

  constructor(mediaType: string, detail: string) {
    super('UNSUPPORTED_MEDIA_TYPE', `unsupported manifest media type ${mediaType}: ${detail}`);
    this.mediaType = mediaType;
  }
}

/** A usage or configuration mistake: a bad flag, a missing file, a bad prefix. */
export class ConfigError extends SyncerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG_ERROR', message, options);
  }
}

/** A message for any thrown value, including non-Error throws. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

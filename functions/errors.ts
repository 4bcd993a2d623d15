// Every error image-syncer raises carries a stable `code`, so callers (the CLI,
// the functions, tests) branch on the code and never on message text. The
// original error, where there is one, is kept as `cause`. What each code means
// for a run (its category, transient or permanent, the action a user takes) is
// decided in one place: functions/failures.ts.

/** Every error code image-syncer raises, in one list (failures.ts classifies each). */
export const ERROR_CODES = [
  // registry answers (RegistryError, by status)
  'UNAUTHORIZED',
  'DENIED',
  'NOT_FOUND',
  'REQUEST_TIMEOUT',
  'TOO_MANY_REQUESTS',
  'REGISTRY_UNAVAILABLE',
  'REGISTRY_UNSUPPORTED',
  'REGISTRY_ERROR',
  'MANIFEST_BLOB_UNKNOWN',
  'STALE_TOKEN',
  // the connection
  'NETWORK_ERROR',
  'BLOCKED_DESTINATION',
  'TOO_MANY_REDIRECTS',
  'BAD_REDIRECT',
  // authentication
  'AUTH_CHALLENGE_INVALID',
  'AUTH_TOKEN_INVALID',
  'CREDENTIAL_HELPER_FAILED',
  // content
  'DIGEST_MISMATCH',
  'SIZE_MISMATCH',
  'INVALID_DIGEST',
  'INVALID_MANIFEST',
  'MANIFEST_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'INDEX_TOO_DEEP',
  'UPLOAD_LOCATION_MISSING',
  'PLATFORM_MISSING',
  'SIGNATURE_REQUIRED',
  'TOO_MANY_REFERRERS',
  'INVALID_REFERRERS',
  'INVALID_PLATFORM',
  'CONFIG_TOO_LARGE',
  'INVALID_CONFIG',
  'UNSIGNED',
  // outcomes of a copy
  'SOURCE_NOT_FOUND',
  'TAG_CONFLICT',
  'CANCELLED',
  'JOB_DEADLINE',
  // input and configuration
  'INVALID_REFERENCE',
  'INVALID_JOB',
  'UNTRUSTED_SOURCE',
  'INVALID_PUSH',
  'INVALID_IMAGES_FILE',
  'CONFIG_ERROR',
  // the functions and their clients
  'TRANSIENT_JOB_FAILURE',
  'PUBLISH_FAILED',
  'REMOTE_ERROR',
  // run records (Cloud Storage generation preconditions)
  'PRECONDITION_FAILED',
  'RECORD_CONTENTION',
  'RUN_COMPLETING',
  // Cloud Storage failures the client's retries did not overcome (StorageError, by status)
  'STORAGE_UNAVAILABLE',
  'STORAGE_ERROR',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

export class SyncerError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A reference (image name, tag or digest) that the distribution grammar rejects. */
export class InvalidReferenceError extends SyncerError {
  readonly input: string;
  /** Why the grammar refuses `input`, without the input itself. */
  readonly reason: string;

  constructor(input: string, reason: string) {
    super('INVALID_REFERENCE', `invalid image reference ${JSON.stringify(input)}: ${reason}`);
    this.input = input;
    this.reason = reason;
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

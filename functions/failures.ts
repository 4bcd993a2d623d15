// What a failure means, decided here and only here. Every error image-syncer
// raises carries an ErrorCode (functions/errors.ts); this module says for each
// code:
//
// - its category, a small stable set a person (and the run summary) groups by;
// - whether it is transient (another try may succeed: the request is retried
//   with backoff in registry/retry.ts, the job redelivered by Pub/Sub in
//   pipeline/copy-job.ts) or permanent (reported once, never retried);
// - the words a user reads, and one line on what to do about it.
//
// registry/retry.ts, engine/copy.ts and pipeline/copy-job.ts all ask it, so a
// 429 cannot be "retryable" in one place and "permanent" in another.

import { describeError, type ErrorCode, isErrorCode, SyncerError } from './errors.ts';

export const FAILURE_CATEGORIES = [
  'rate-limited',
  'auth',
  'not-found',
  'conflict',
  'platform-missing',
  'unsigned',
  'unsupported',
  'network',
  'digest-mismatch',
  'blocked',
  'invalid',
  'internal',
] as const;

export type FailureCategory = (typeof FAILURE_CATEGORIES)[number];

/** One line a person can act on, per category. */
export const CATEGORY_ACTIONS: Readonly<Record<FailureCategory, string>> = {
  'rate-limited': 'wait for the limit to reset, or add source credentials to raise the pull limit',
  auth: 'add source credentials for this registry (or check the target credentials)',
  'not-found': 'check the image name and tag, or pin the digest',
  conflict: 'choose a new target tag: tags in the target are immutable',
  'platform-missing': 'pin a digest that has every required platform',
  unsigned: 'use a signed image, or pin the digest of one',
  unsupported: 'ask upstream for an OCI or Docker schema 2 image',
  network: 'nothing to do: it is retried; if it persists, check the registry status',
  'digest-mismatch': 'pin the digest; if it persists the registry serves corrupt data',
  blocked: 'add the registry to SYNCER_ALLOWED_REGISTRY, or check the network policy',
  invalid: 'fix the images file entry (or the job message)',
  internal: 'report a bug with the run id and logs',
};

interface CodeClass {
  readonly category: FailureCategory;
  readonly transient: boolean;
}

const permanent = (category: FailureCategory): CodeClass => ({ category, transient: false });
const transient = (category: FailureCategory): CodeClass => ({ category, transient: true });

/** Every code, classified: the compiler refuses a code added to ERROR_CODES without a line here. */
const CLASSES: Readonly<Record<ErrorCode, CodeClass>> = {
  UNAUTHORIZED: permanent('auth'),
  DENIED: permanent('auth'),
  NOT_FOUND: permanent('not-found'),
  REQUEST_TIMEOUT: transient('network'),
  TOO_MANY_REQUESTS: transient('rate-limited'),
  REGISTRY_UNAVAILABLE: transient('network'),
  REGISTRY_UNSUPPORTED: permanent('unsupported'),
  REGISTRY_ERROR: permanent('internal'),
  // A manifest PUT refused because a blob it names is not (yet) linked: two
  // writers committing the same blob at once (concurrent deliveries of one
  // job) make docker-registry answer this for a moment; the PUT is retried.
  MANIFEST_BLOB_UNKNOWN: transient('internal'),
  // A 401 on a streamed upload whose token has been dropped: the next attempt
  // fetches a fresh token and starts the stream over.
  STALE_TOKEN: transient('auth'),
  NETWORK_ERROR: transient('network'),
  BLOCKED_DESTINATION: permanent('blocked'),
  TOO_MANY_REDIRECTS: permanent('unsupported'),
  BAD_REDIRECT: permanent('unsupported'),
  AUTH_CHALLENGE_INVALID: permanent('auth'),
  AUTH_TOKEN_INVALID: permanent('auth'),
  CREDENTIAL_HELPER_FAILED: permanent('auth'),
  // Bytes that arrived wrong (truncated, corrupted in flight) may arrive right
  // the next time; a registry that keeps serving them wrong fails after the
  // retry policy's attempts, with the mismatch as the reason.
  DIGEST_MISMATCH: transient('digest-mismatch'),
  SIZE_MISMATCH: transient('digest-mismatch'),
  INVALID_DIGEST: permanent('invalid'),
  INVALID_MANIFEST: permanent('unsupported'),
  MANIFEST_TOO_LARGE: permanent('unsupported'),
  UNSUPPORTED_MEDIA_TYPE: permanent('unsupported'),
  INDEX_TOO_DEEP: permanent('unsupported'),
  UPLOAD_LOCATION_MISSING: permanent('internal'),
  PLATFORM_MISSING: permanent('platform-missing'),
  // Referrers (signatures, attestations, SBOMs): a required signature missing;
  // a referrers index too long or malformed.
  SIGNATURE_REQUIRED: permanent('unsigned'),
  TOO_MANY_REFERRERS: permanent('unsupported'),
  INVALID_REFERRERS: permanent('unsupported'),
  INVALID_PLATFORM: permanent('invalid'),
  // An image config blob too large or not JSON (read to explain drift and platforms).
  CONFIG_TOO_LARGE: permanent('unsupported'),
  INVALID_CONFIG: permanent('unsupported'),
  UNSIGNED: permanent('unsigned'),
  SOURCE_NOT_FOUND: permanent('not-found'),
  TAG_CONFLICT: permanent('conflict'),
  // Cancelled by its caller (a deadline, a shutdown): the work is handed back.
  CANCELLED: transient('network'),
  JOB_DEADLINE: transient('network'),
  INVALID_REFERENCE: permanent('invalid'),
  INVALID_JOB: permanent('invalid'),
  // A job that would mirror before its pull request is merged, for a source
  // the deployment does not trust (SYNCER_TRUSTED_SOURCES): refused.
  UNTRUSTED_SOURCE: permanent('blocked'),
  // A push delivery that is not a Pub/Sub push envelope.
  INVALID_PUSH: permanent('invalid'),
  INVALID_IMAGES_FILE: permanent('invalid'),
  CONFIG_ERROR: permanent('invalid'),
  TRANSIENT_JOB_FAILURE: transient('network'),
  PUBLISH_FAILED: transient('network'),
  // The HTTP function answered with an error (`image-syncer remote`).
  REMOTE_ERROR: permanent('internal'),
  // Another writer changed a run record first: read again and decide again.
  PRECONDITION_FAILED: transient('internal'),
  RECORD_CONTENTION: transient('internal'),
  // A run's completion is being announced by another delivery: this one is handed back.
  RUN_COMPLETING: transient('internal'),
  // Cloud Storage (run records): 408, 429 and 5xx are retried
  // (https://cloud.google.com/storage/docs/retry-strategy); the rest are not.
  STORAGE_UNAVAILABLE: transient('network'),
  STORAGE_ERROR: permanent('internal'),
  INTERNAL: permanent('internal'),
};

export interface Failure {
  readonly code: ErrorCode;
  readonly category: FailureCategory;
  /** Another try (a retried request, a redelivered job) may succeed. */
  readonly transient: boolean;
  /** What the user reads: the error's own words, prefixed with what kind of failure it is. */
  readonly message: string;
  /** What to do about it, one line. */
  readonly action: string;
}

/** The category and transience of a code alone (e.g. a code read back from a run record). */
export function classifyCode(code: ErrorCode): CodeClass & { action: string } {
  const found = CLASSES[code];
  return { ...found, action: CATEGORY_ACTIONS[found.category] };
}

/** Words put before the error's own message, so the cause is named first. */
const LEADS: Partial<Record<FailureCategory, string>> = {
  auth: 'access denied',
  'rate-limited': 'rate limited',
  blocked: 'blocked',
};

/** The code of any thrown value: ours carry one, an abort is a cancellation, the rest are internal. */
export function codeOf(error: unknown): ErrorCode {
  if (error instanceof SyncerError) return error.code;
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'AbortError' || name === 'TimeoutError') return 'CANCELLED';
  const code = (error as { code?: unknown } | null)?.code;
  return isErrorCode(code) ? code : 'INTERNAL';
}

/** Everything the rest of the tool needs to know about a failure. */
export function classify(error: unknown): Failure {
  const code = codeOf(error);
  const { category, transient: isTransient, action } = classifyCode(code);
  let message = describeError(error);
  const lead = LEADS[category];
  if (lead && !message.startsWith(lead)) message = `${lead}: ${message}`;
  const attempts = (error as { attempts?: unknown } | null)?.attempts;
  if (typeof attempts === 'number') message += ` (after ${attempts} attempts)`;
  return { code, category, transient: isTransient, message, action };
}

/** Whether another try may succeed: the question every retry and redelivery asks. */
export function isTransient(error: unknown): boolean {
  return classify(error).transient;
}

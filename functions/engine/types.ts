// What the engine takes and what it gives back. The status set and the result
// fields are a contract: the CLI's report and the functions' run records use them.

import type { ErrorCode } from '../errors.ts';
import type { FailureCategory } from '../failures.ts';
import type { Platform } from '../oci/platform.ts';
import type { ImageReference } from '../reference/reference.ts';
import type { Drift } from './drift.ts';
import type { PlatformCheck } from './platforms.ts';
import type { ReferrersOptions } from './referrer-options.ts';
import type { ReferrersSummary } from './referrers.ts';

export type CopyStatus = 'copied' | 'exists' | 'conflict' | 'failed' | 'planned';

/**
 * What an image asks of its copy, as its images-file entry states it (or the
 * deployment's defaults; images-file/fields.ts declares how each field is
 * read, merged and carried in a job message).
 */
export interface ImagePolicy {
  /** `true`: fail an image without a signature or attestation, writing nothing; `false`: exempt it. */
  readonly requireSignature?: boolean;
  /** Platforms the image must offer before anything is written (engine/platforms.ts); `[]`: none. */
  readonly platforms?: readonly Platform[];
}

export interface CopyJob extends ImagePolicy {
  /** The source as the user wrote it, for reports. */
  readonly source: string;
  readonly sourceRef: ImageReference;
  readonly target: ImageReference;
  /**
   * A digest the source was resolved to earlier (the fan-out pins one per run),
   * so every copy of a run moves the same bytes even if the upstream tag moves.
   */
  readonly sourceDigest?: string;
}

export interface CopyStats {
  blobsCopied: number;
  blobsMounted: number;
  blobsPresent: number;
  bytesCopied: number;
  manifestsPut: number;
}

export interface CopyResult {
  readonly source: string;
  readonly target: string;
  readonly status: CopyStatus;
  /** The source manifest's digest: what the target tag points at after a copy. */
  readonly digest?: string;
  readonly mediaType?: string;
  /** For a conflict, the digest the target tag holds instead. */
  readonly targetDigest?: string;
  readonly error?: string;
  /** A stable code for failures and conflicts (NOT_FOUND, DENIED, DIGEST_MISMATCH, TAG_CONFLICT, …). */
  readonly errorCode?: ErrorCode;
  /** For failures and conflicts: what kind of problem it is (functions/failures.ts). */
  readonly category?: FailureCategory;
  /** For failures: whether trying again later may succeed (network, 429, 5xx). */
  readonly retryable?: boolean;
  /** For a planned copy: the source pulls (manifest GETs) it will cost, at most (engine/pull-estimate.ts). */
  readonly pulls?: number;
  /** For PLATFORM_MISSING: what was required, what the image has, what is missing. */
  readonly platforms?: PlatformCheck;
  /** For a conflict: what changed upstream and the fix (see engine/drift.ts). */
  readonly drift?: Drift;
  readonly stats?: CopyStats;
  /** Signatures, attestations, SBOMs and other referrers: found, copied, skipped and why. */
  readonly referrers?: ReferrersSummary;
}

export interface SyncObserver {
  imageFinished?(result: CopyResult, index: number): void;
  /** Bytes moved (negative when a failed attempt is rolled back). */
  bytes?(delta: number): void;
}

export interface EngineOptions {
  readonly dryRun?: boolean;
  /** Blob transfers at once; four times as many images are examined at once. */
  readonly concurrency?: number;
  readonly observer?: SyncObserver;
  /** Cancels the run: every request stops, nothing more is written. */
  readonly signal?: AbortSignal;
  /** Referrers and the signature policy (default DEFAULT_REFERRERS_OPTIONS). */
  readonly referrers?: ReferrersOptions;
}

export const DEFAULT_CONCURRENCY = 8;

// What the run records need of a bucket: objects by name, each version with a
// generation number; writes guarded by a generation precondition; listings
// that carry each object's custom metadata. Cloud Storage gives exactly this
// (gcp/gcs-object-store.ts over @google-cloud/storage); tests and the bench
// may use memory-object-store.ts, which keeps the same rules.
//
// - A precondition `ifGenerationMatch: G` writes only if the live object is
//   at generation G, `'0'` meaning "only if there is none"; otherwise nothing
//   is written and the write fails with 412 conditionNotMet
//   (https://cloud.google.com/storage/docs/request-preconditions).
// - Reads, writes and listings are strongly consistent: a listing made after
//   a write returned shows the object (https://cloud.google.com/storage/docs/consistency).

import { SyncerError } from '../errors.ts';

/** A stored object's bytes and the generation that holds them (an int64, as a decimal string). */
export interface StoredObject {
  readonly bytes: Buffer;
  readonly generation: string;
}

/** An object as a listing shows it: no body. */
export interface ListedObject {
  readonly name: string;
  readonly generation: string;
  /** When this generation was written (RFC 3339). */
  readonly created: string;
  /** Custom metadata (`metadata` in Cloud Storage's object resource). */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface WriteOptions {
  /** Write only if the live object is at this generation ('0': only if there is none). */
  readonly ifGenerationMatch?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly contentType?: string;
}

export interface ListOptions {
  /** Cloud Storage's matchGlob: `*` within one path segment, `**` across segments. */
  readonly glob?: string;
}

export interface ObjectStore {
  /** The live object with its generation, in one request; undefined when there is none. */
  read(name: string): Promise<StoredObject | undefined>;
  /** Returns the written generation; throws PreconditionFailedError on a mismatch. */
  write(name: string, bytes: string | Buffer, options?: WriteOptions): Promise<string>;
  /** Every object whose name starts with `prefix`, in name order, across every page. */
  list(prefix: string, options?: ListOptions): Promise<ListedObject[]>;
}

/** The object changed (or appeared) since it was read: read again and decide again. */
export class PreconditionFailedError extends SyncerError {
  constructor(name: string, expected: string, options?: { cause?: unknown }) {
    super(
      'PRECONDITION_FAILED',
      `${name} is no longer at generation ${expected}${expected === '0' ? ' (it exists)' : ''}`,
      options,
    );
  }
}

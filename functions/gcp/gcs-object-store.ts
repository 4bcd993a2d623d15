// Run records and uploaded images files in Cloud Storage, through Google's
// own client, @google-cloud/storage. What it does for us, and we rely on:
//
// - Retries follow Cloud Storage's retry strategy
//   (https://cloud.google.com/storage/docs/retry-strategy): 408, 429, 5xx and
//   broken connections, with exponential backoff for up to 600 s. Under the
//   default IdempotencyStrategy.RetryConditional a write is retried only when
//   it carries a precondition, so a late first attempt can never put an older
//   state over a newer one; every write here carries one (run-store.ts).
// - A 401 refreshes the access token and tries again; the universe domain and
//   STORAGE_EMULATOR_HOST (or `apiEndpoint`) are honoured.
// - Reads and listings are retried by us, not by the library: its retry of a
//   streamed download (teeny-request under createReadStream) leaves an
//   unhandled ERR_STREAM_UNABLE_TO_PIPE rejection behind even when the retry
//   succeeds (googleapis/google-cloud-node#8670, fix pending in #9160), and the
//   Functions Framework kills an instance on an unhandled rejection; and with
//   autoPaginate a page after the first that meets a 503 is not retried at all
//   (test/integration/gcs-object-store.test.ts). Both are idempotent: they go
//   through a client with autoRetry off, inside registry/retry.ts's backoff
//   with the library's own figures.
// - Downloads are checked against the crc32c of `x-goog-hash`, but only when
//   the bytes are the stored ones: an object stored gzip-encoded
//   (`gcloud storage cp --gzip-local-all`, `gsutil cp -Z`) is served
//   decompressed to a client that does not accept gzip, and its stored hash
//   then describes other bytes (https://cloud.google.com/storage/docs/transcoding).
//   The library asks for gzip, validates what was stored, then gunzips.
// - Uploads send their crc32c in the object resource, so the service itself
//   refuses bytes that arrived altered (400) and nothing is written
//   (https://cloud.google.com/storage/docs/json_api/v1/objects/insert, `crc32c`;
//   https://cloud.google.com/storage/docs/data-validation). The library's own
//   after-the-fact check is off: on a mismatch it deletes the object without a
//   precondition, which could remove a newer generation another writer made.

import type { Bucket, FileMetadata, StorageOptions } from '@google-cloud/storage';
import { CRC32C, Storage } from '@google-cloud/storage';
import {
  type ListedObject,
  type ListOptions,
  type ObjectStore,
  PreconditionFailedError,
  type StoredObject,
  type WriteOptions,
} from '../pipeline/object-store.ts';
import { type RetryPolicy, withRetry } from '../registry/retry.ts';
import { StorageError } from './storage-error.ts';

/** The library's own retry figures (retry-strategy: first delay 1 s, doubling, 3 retries). */
export const READ_RETRY: RetryPolicy = {
  attempts: 4,
  baseDelayMs: 1000,
  maxDelayMs: 64_000,
  maxRetryAfterMs: 64_000,
};

/** A deployment's buckets: writes through the library's retries, reads and listings through ours. */
export function storageBuckets(options: StorageOptions): (name: string) => GcsObjectStore {
  const storage = new Storage(options);
  const reads = new Storage({
    ...options,
    retryOptions: { ...options.retryOptions, autoRetry: false },
  });
  return (name) => new GcsObjectStore(storage.bucket(name), reads.bucket(name));
}

/** The HTTP status of a client error (ApiError's `code`), when there is one. */
function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function storageError(what: string, error: unknown): StorageError {
  const status = statusOf(error);
  const reason = error instanceof Error ? error.message : String(error);
  return new StorageError(status, `Cloud Storage ${what}: ${reason}`, { cause: error });
}

/** The fields a listing asks for: names and metadata, no more (a partial response). */
const LIST_FIELDS = 'items(name,generation,timeCreated,metadata),nextPageToken';

export class GcsObjectStore implements ObjectStore {
  readonly #bucket: Bucket;
  readonly #reads: Bucket;
  readonly #readRetry: RetryPolicy;

  /** `reads`: the same bucket through a client whose own retries are off (see above). */
  constructor(bucket: Bucket, reads: Bucket, readRetry: RetryPolicy = READ_RETRY) {
    this.#bucket = bucket;
    this.#reads = reads;
    this.#readRetry = readRetry;
  }

  get bucketName(): string {
    return this.#bucket.name;
  }

  /**
   * One media GET: the bytes and, from its `x-goog-generation` header, the
   * generation they belong to, so a compare-and-swap never pairs bytes with
   * another version's generation.
   */
  read(name: string): Promise<StoredObject | undefined> {
    return this.readGeneration(name);
  }

  /** `generation` given: that version of the object (a storage event names it). */
  readGeneration(name: string, generation?: string): Promise<StoredObject | undefined> {
    return withRetry(this.#readRetry, () => this.#readOnce(name, generation));
  }

  // A streamed download may print MaxListenersExceededWarning (11 error and
  // close listeners on a PassThrough): teeny-request 11's pipeline of the
  // node-fetch 3 body, harmless, open upstream (googleapis/google-cloud-node#9185).
  #readOnce(name: string, generation?: string): Promise<StoredObject | undefined> {
    const file = this.#reads.file(name, generation ? { generation } : {});
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let stored = generation ?? '';
      file
        .createReadStream()
        .on('response', (response: { headers?: Record<string, string | string[]> }) => {
          const header = response.headers?.['x-goog-generation'];
          if (header !== undefined) stored = String(header);
        })
        .on('data', (chunk: Buffer) => chunks.push(chunk))
        .on('error', (error) => {
          if (statusOf(error) === 404) resolve(undefined);
          else reject(storageError(`read of gs://${this.#bucket.name}/${name}`, error));
        })
        .on('end', () => {
          if (stored === '')
            reject(new StorageError(undefined, `gs://${this.#bucket.name}/${name}: no generation`));
          else resolve({ bytes: Buffer.concat(chunks), generation: stored });
        });
    });
  }

  async write(name: string, bytes: string | Buffer, options: WriteOptions = {}): Promise<string> {
    const data = Buffer.from(bytes);
    const crc32c = new CRC32C();
    crc32c.update(data);
    const file = this.#bucket.file(name);
    try {
      await file.save(data, {
        resumable: false,
        validation: false,
        contentType: options.contentType ?? 'application/json',
        metadata: {
          crc32c: crc32c.toString(),
          ...(options.metadata && { metadata: options.metadata }),
        },
        ...(options.ifGenerationMatch !== undefined && {
          preconditionOpts: { ifGenerationMatch: options.ifGenerationMatch },
        }),
      });
    } catch (error) {
      if (statusOf(error) === 412 && options.ifGenerationMatch !== undefined)
        throw new PreconditionFailedError(name, options.ifGenerationMatch, { cause: error });
      throw storageError(`write of gs://${this.#bucket.name}/${name}`, error);
    }
    return String(file.metadata.generation);
  }

  list(prefix: string, options: ListOptions = {}): Promise<ListedObject[]> {
    return withRetry(this.#readRetry, () => this.#listOnce(prefix, options));
  }

  async #listOnce(prefix: string, options: ListOptions): Promise<ListedObject[]> {
    try {
      const [files] = await this.#reads.getFiles({
        prefix,
        ...(options.glob && { matchGlob: options.glob }),
        fields: LIST_FIELDS,
        autoPaginate: true,
      });
      // With `fields` the library hands back the listed resources as they came, not File objects.
      return (files as unknown as FileMetadata[]).map((item) => ({
        name: String(item.name),
        generation: String(item.generation),
        created: String(item.timeCreated ?? ''),
        ...(item.metadata && { metadata: item.metadata as Record<string, string> }),
      }));
    } catch (error) {
      throw storageError(`listing of gs://${this.#bucket.name}/${prefix}`, error);
    }
  }
}

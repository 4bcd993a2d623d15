// The few Cloud Storage JSON API calls the functions make (run records, the
// uploaded images file), over the same undici pool as the registries.
//
// Why not @google-cloud/storage: loading it and its own HTTP stack (gaxios,
// retry-request, teeny-request) cost the copy function ~150 ms and ~8 MiB of
// peak RSS before its first answer, for five small JSON requests (boot phase
// of `npm run bench`: copyJob 2.45x a bare Functions Framework hello-world
// with it, 1.8x without).
//
// The API, as used here (https://cloud.google.com/storage/docs/json_api/v1):
// - objects.get: `GET /storage/v1/b/B/o/O` is the object's metadata;
//   `?alt=media` its bytes; `&generation=G` one generation of it. Object names
//   are percent-encoded whole, `/` included (…/docs/request-endpoints#encoding).
// - objects.insert: `POST /upload/storage/v1/b/B/o?uploadType=multipart`, a
//   multipart/related body of the object resource (JSON) and then the data
//   (…/docs/uploading-objects, "JSON API" → multipart upload).
//   `ifGenerationMatch=G` writes only if the live object is at generation G, 0
//   meaning "no live object"; otherwise 412 conditionNotMet
//   (…/docs/request-preconditions).
// - objects.list: `GET /storage/v1/b/B/o?prefix=&matchGlob=`, at most 1,000
//   items a page, the next page asked for with `pageToken=<nextPageToken>`.
// - A download carries `x-goog-hash: crc32c=…,md5=…` (…/docs/xml-api/reference-headers#xgooghash;
//   composite objects have no md5): the bytes are checked against the md5.
// - Errors are `{"error": {"code", "message", "errors": [{"reason"}]}}`;
//   408, 429 and 5xx are worth retrying (…/docs/retry-strategy).
//
// STORAGE_EMULATOR_HOST, the Google clients' convention, points the client at
// a test server (scripts/local/gcs-server.ts) without credentials.

import { createHash, randomUUID } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { describeError, SyncerError } from '../errors.ts';
import { httpRequest, sharedDispatcher } from '../registry/http.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy, withRetry } from '../registry/retry.ts';

export const STORAGE_ENDPOINT = 'https://storage.googleapis.com';

export interface StorageClientOptions {
  /** The API's origin: STORAGE_ENDPOINT, or an emulator's (`host:port` or a URL). */
  readonly endpoint?: string;
  /** An OAuth 2 access token per request; none is sent when it gives none (an emulator). */
  readonly accessToken?: () => Promise<string | null | undefined>;
  readonly dispatcher?: Dispatcher;
  readonly retry?: RetryPolicy;
  /** Per request, headers and body each. */
  readonly timeoutMs?: number;
}

const DEFAULTS: { readonly retry: RetryPolicy; readonly timeoutMs: number } = {
  retry: { ...DEFAULT_RETRY_POLICY, attempts: 4 },
  timeoutMs: 30_000,
};

/** What the code reads of an object resource. */
export interface ObjectInfo {
  readonly name: string;
  readonly generation: string;
  readonly timeCreated: string;
  /** Custom metadata (`metadata` in the object resource). */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface UploadOptions {
  readonly contentType: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /** Write only if the live object is at this generation ('0': only if there is none). */
  readonly ifGenerationMatch?: string;
}

/** A Cloud Storage answer other than success; `status` is the HTTP status. */
export class StorageApiError extends SyncerError {
  readonly status: number;
  /** The first of the API's `errors[].reason` (e.g. `conditionNotMet`), when it gave one. */
  readonly reason: string | undefined;

  constructor(status: number, reason: string | undefined, message: string) {
    const transient = status === 408 || status === 429 || status >= 500;
    super(transient ? 'STORAGE_UNAVAILABLE' : 'STORAGE_ERROR', message);
    this.status = status;
    this.reason = reason;
  }
}

/** `host:port` (as STORAGE_EMULATOR_HOST is often given) or a URL, as an origin. */
export function storageOrigin(endpoint: string): string {
  return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`)
    .origin;
}

export class StorageClient {
  readonly #origin: string;
  readonly #options: StorageClientOptions & typeof DEFAULTS;

  constructor(options: StorageClientOptions = {}) {
    this.#options = { ...DEFAULTS, ...options };
    this.#origin = storageOrigin(options.endpoint ?? STORAGE_ENDPOINT);
  }

  /** The object's bytes (at `generation` when given), or undefined when there is no such object. */
  async download(bucket: string, name: string, generation?: string): Promise<Buffer | undefined> {
    const query = new URLSearchParams({ alt: 'media', ...(generation && { generation }) });
    const answer = await this.#call('GET', objectPath(bucket, name), query, {
      notFound: true,
      verifyMd5: `gs://${bucket}/${name}`,
    });
    return answer?.body;
  }

  /** The live object's resource, or undefined when there is none. */
  async metadata(bucket: string, name: string): Promise<ObjectInfo | undefined> {
    const answer = await this.#call('GET', objectPath(bucket, name), undefined, {
      notFound: true,
    });
    return answer && (JSON.parse(answer.body.toString('utf8')) as ObjectInfo);
  }

  /** Writes the object in one request; a 412 (precondition) is a StorageApiError, never retried. */
  async upload(
    bucket: string,
    name: string,
    data: string | Buffer,
    options: UploadOptions,
  ): Promise<ObjectInfo> {
    const query = new URLSearchParams({
      uploadType: 'multipart',
      ...(options.ifGenerationMatch !== undefined && {
        ifGenerationMatch: options.ifGenerationMatch,
      }),
    });
    const resource = {
      name,
      contentType: options.contentType,
      ...(options.metadata && { metadata: options.metadata }),
    };
    const boundary = `image-syncer-${randomUUID()}`;
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\ncontent-type: application/json; charset=utf-8\r\n\r\n${JSON.stringify(resource)}\r\n` +
          `--${boundary}\r\ncontent-type: ${options.contentType}\r\n\r\n`,
      ),
      Buffer.isBuffer(data) ? data : Buffer.from(data),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const answer = await this.#call('POST', `/upload/storage/v1/b/${encode(bucket)}/o`, query, {
      body,
      contentType: `multipart/related; boundary=${boundary}`,
    });
    return JSON.parse((answer as Answer).body.toString('utf8')) as ObjectInfo;
  }

  /** Every object under `prefix` (and matching `matchGlob`: `*` within a path segment), all pages. */
  async list(
    bucket: string,
    options: { prefix: string; matchGlob?: string },
  ): Promise<ObjectInfo[]> {
    const items: ObjectInfo[] = [];
    let pageToken: string | undefined;
    do {
      const query = new URLSearchParams({
        prefix: options.prefix,
        ...(options.matchGlob && { matchGlob: options.matchGlob }),
        fields: 'items(name,generation,timeCreated,metadata),nextPageToken',
        ...(pageToken && { pageToken }),
      });
      const answer = (await this.#call(
        'GET',
        `/storage/v1/b/${encode(bucket)}/o`,
        query,
      )) as Answer;
      const page = JSON.parse(answer.body.toString('utf8')) as {
        items?: ObjectInfo[];
        nextPageToken?: string;
      };
      items.push(...(page.items ?? []));
      pageToken = page.nextPageToken;
    } while (pageToken);
    return items;
  }

  /** One call, retried on transient failures; undefined for a 404 when `notFound` allows it. */
  async #call(
    method: 'GET' | 'POST',
    path: string,
    query: URLSearchParams | undefined,
    request: { notFound?: boolean; verifyMd5?: string; body?: Buffer; contentType?: string } = {},
  ): Promise<Answer | undefined> {
    const url = new URL(`${path}${query ? `?${query}` : ''}`, this.#origin);
    const what = `Cloud Storage ${method} ${url.pathname}`;
    return withRetry(this.#options.retry, async () => {
      const token = await this.#options.accessToken?.();
      let response: Dispatcher.ResponseData;
      try {
        response = await httpRequest(this.#options.dispatcher ?? sharedDispatcher(), url, {
          method,
          headers: {
            'user-agent': 'image-syncer',
            ...(token && { authorization: `Bearer ${token}` }),
            ...(request.contentType && { 'content-type': request.contentType }),
          },
          ...(request.body && { body: request.body }),
          headersTimeout: this.#options.timeoutMs,
          bodyTimeout: this.#options.timeoutMs,
        });
      } catch (cause) {
        throw new SyncerError('NETWORK_ERROR', `${what} failed: ${describeError(cause)}`, {
          cause,
        });
      }
      const body = Buffer.from(await response.body.arrayBuffer());
      if (response.statusCode === 404 && request.notFound) return undefined;
      if (response.statusCode >= 300) throw apiError(response.statusCode, body, what);
      // Bytes that arrived wrong may arrive right the next time: checked inside the retry.
      if (request.verifyMd5) checkMd5(response.headers['x-goog-hash'], body, request.verifyMd5);
      return { headers: response.headers, body };
    });
  }
}

interface Answer {
  readonly headers: Dispatcher.ResponseData['headers'];
  readonly body: Buffer;
}

function encode(segment: string): string {
  return encodeURIComponent(segment);
}

function objectPath(bucket: string, name: string): string {
  return `/storage/v1/b/${encode(bucket)}/o/${encode(name)}`;
}

function apiError(status: number, body: Buffer, what: string): StorageApiError {
  let message: string | undefined;
  let reason: string | undefined;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as {
      error?: { message?: string; errors?: { reason?: string }[] };
    };
    message = parsed.error?.message;
    reason = parsed.error?.errors?.[0]?.reason;
  } catch {
    // Not the API's JSON (a proxy's page): the status says enough.
  }
  return new StorageApiError(
    status,
    reason,
    `${what} answered ${status}${reason ? ` ${reason}` : ''}${message ? `: ${message}` : ''}`,
  );
}

/** The bytes against the md5 in `x-goog-hash`, when it carries one. */
function checkMd5(header: string | string[] | undefined, body: Buffer, what: string): void {
  const values = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
  const announced = values
    .find((v) => v.trim().startsWith('md5='))
    ?.trim()
    .slice(4);
  if (!announced) return;
  const actual = createHash('md5').update(body).digest('base64');
  if (actual !== announced)
    throw new SyncerError(
      'DIGEST_MISMATCH',
      `${what}: downloaded bytes have md5 ${actual}, Cloud Storage announced ${announced}`,
    );
}

// A Cloud Storage stand-in for STORAGE_EMULATOR_HOST (or the Storage client's
// `apiEndpoint`), implementing only the JSON API routes image-syncer's client
// (@google-cloud/storage) uses, with the API's shapes, headers and status codes
// (https://cloud.google.com/storage/docs/json_api/v1):
//
// - objects.insert, `uploadType=multipart` or `media`: `ifGenerationMatch`
//   writes only if the live object is at that generation, 0 meaning "no live
//   object", else 412 conditionNotMet and nothing is written
//   (https://cloud.google.com/storage/docs/request-preconditions); a `crc32c`
//   or `md5Hash` in the object resource is checked against the bytes and a
//   mismatch refused with 400 (…/docs/data-validation). Check and write happen
//   in one step, as they do atomically in the service.
// - objects.get: metadata, or `alt=media` bytes (`generation=` one version),
//   with `x-goog-generation`, `x-goog-hash: crc32c=…,md5=…` of the stored
//   bytes and `x-goog-stored-content-encoding`. An object stored with
//   `contentEncoding: gzip` is sent as stored (`content-encoding: gzip`) only
//   to a request that accepts gzip, and decompressed otherwise: decompressive
//   transcoding (…/docs/transcoding).
// - objects.list: `prefix`, `matchGlob`, at most `maxResults` (1,000) a page
//   behind `nextPageToken`, and `fields` partial responses (…/docs/json_api#partial-response).
// - objects.delete.
// Errors are `{"error": {"code", "message", "errors": [{"reason"}]}}`.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { globPattern } from '../../functions/pipeline/memory-object-store.ts';

interface StoredObject {
  readonly bucket: string;
  readonly name: string;
  readonly generation: number;
  readonly contentType: string;
  /** `gzip` when the bytes are stored compressed. */
  readonly contentEncoding?: string;
  /** The stored bytes (compressed, for a gzip-encoded object). */
  readonly data: Buffer;
  readonly created: string;
  readonly metadata?: Record<string, string>;
}

export interface FaultMatch {
  readonly method: string;
  readonly path: string;
  readonly name?: string;
}

/** One request the server answered: what was asked, what it said, how many body bytes it sent. */
export interface ServedRequest {
  readonly method: string;
  readonly path: string;
  status: number;
  bytes: number;
  /** For an upload: the object resource the client sent (crc32c, metadata, …). */
  uploaded?: Record<string, unknown>;
}

export interface GcsServer {
  readonly url: string;
  readonly requests: ServedRequest[];
  /** Writes refused with 412 conditionNotMet so far. */
  preconditionFailures(): number;
  /**
   * Puts an object directly (as a user's upload would) and returns its
   * generation; `contentEncoding: 'gzip'` stores `data` gzip-compressed as
   * given (`gcloud storage cp --gzip-local-all`).
   */
  put(
    bucket: string,
    name: string,
    data: Buffer | string,
    options?: { contentType?: string; contentEncoding?: string },
  ): number;
  get(bucket: string, name: string): Buffer | undefined;
  list(bucket: string, prefix?: string): string[];
  /**
   * Called after a write is committed and before it is answered: a test can
   * fail the writer there (kill it), or answer the next requests with an error.
   */
  onCommit?: (name: string) => Promise<void> | void;
  /**
   * Answers the next `count` requests matching `match` with `status` instead
   * of serving them (`name`: the object a request reads or writes, if any).
   */
  fail(count: number, status: number, match?: (request: FaultMatch) => boolean): void;
  /** Flips a byte of the next `count` media downloads, headers unchanged: bytes altered in flight. */
  corrupt(count: number): void;
  close(): Promise<void>;
}

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as Cloud Storage computes it. */
const CRC32C_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32c(data: Buffer): string {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC32C_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

function resource(o: StoredObject) {
  return {
    kind: 'storage#object',
    id: `${o.bucket}/${o.name}/${o.generation}`,
    selfLink: `/storage/v1/b/${o.bucket}/o/${encodeURIComponent(o.name)}`,
    name: o.name,
    bucket: o.bucket,
    generation: String(o.generation),
    metageneration: '1',
    contentType: o.contentType,
    ...(o.contentEncoding && { contentEncoding: o.contentEncoding }),
    size: String(o.data.length),
    md5Hash: md5(o.data),
    crc32c: crc32c(o.data),
    timeCreated: o.created,
    updated: o.created,
    ...(o.metadata && { metadata: o.metadata }),
  };
}

/**
 * A `fields` partial response: `a,b(c,d)` keeps top-level `a` and, of `b`
 * (an object or a list of objects), only `c` and `d`.
 */
export function pickFields(value: Record<string, unknown>, fields: string | null): unknown {
  if (!fields) return value;
  const picked: Record<string, unknown> = {};
  for (const [, name, inner] of fields.matchAll(/([A-Za-z0-9_]+)(?:\(([^)]*)\))?/g)) {
    const field = value[name as string];
    if (field === undefined) continue;
    picked[name as string] = !inner
      ? field
      : Array.isArray(field)
        ? field.map((item) => pickFields(item as Record<string, unknown>, inner))
        : pickFields(field as Record<string, unknown>, inner);
  }
  return picked;
}

const REASONS: Record<number, string> = {
  400: 'invalid',
  404: 'notFound',
  412: 'conditionNotMet',
  503: 'backendError',
};

function parseMultipart(
  body: Buffer,
  contentType: string,
): { metadata: Record<string, unknown>; media: Buffer } {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) throw new Error('no boundary');
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let start = body.indexOf(delimiter);
  while (start >= 0) {
    const next = body.indexOf(delimiter, start + delimiter.length);
    if (next < 0) break;
    parts.push(body.subarray(start + delimiter.length, next));
    start = next;
  }
  const content = parts.map((part) => {
    const headerEnd = part.indexOf('\r\n\r\n');
    return part.subarray(headerEnd + 4, part.length - 2); // drop the CRLF before the next delimiter
  });
  return {
    metadata: JSON.parse(content[0]?.toString('utf8') ?? '{}'),
    media: content[1] ?? Buffer.alloc(0),
  };
}

export async function startGcsServer(): Promise<GcsServer> {
  const server = new StorageStandIn();
  await server.listen();
  return server;
}

/** One request being answered: what came in, and the record of what was said. */
interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly body: Buffer;
  readonly served: ServedRequest;
}

function send(x: Exchange, status: number, headers: Record<string, string>, body: Buffer | string) {
  x.served.status = status;
  x.served.bytes = Buffer.byteLength(body);
  x.res.writeHead(status, { 'content-length': String(x.served.bytes), ...headers }).end(body);
}

function json(x: Exchange, status: number, value: unknown) {
  send(x, status, { 'content-type': 'application/json' }, JSON.stringify(value));
}

function error(x: Exchange, code: number, message: string) {
  json(x, code, {
    error: {
      code,
      message,
      errors: [{ domain: 'global', message, reason: REASONS[code] ?? 'invalid' }],
    },
  });
}

/** The routes: uploads, one object (get, media, delete), and listings. */
const UPLOAD = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/;
const OBJECT = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/(.+)$/;
const LISTING = /^\/storage\/v1\/b\/([^/]+)\/o$/;

class StorageStandIn implements GcsServer {
  readonly requests: ServedRequest[] = [];
  onCommit?: (name: string) => Promise<void> | void;
  readonly #objects = new Map<string, StoredObject>();
  /** Every version, by `bucket/name#generation`. */
  readonly #history = new Map<string, StoredObject>();
  readonly #faults: { count: number; status: number; match: (r: FaultMatch) => boolean }[] = [];
  #generation = 1_700_000_000_000_000;
  #preconditionFailures = 0;
  #corruptions = 0;
  #url = '';
  readonly #http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.#handle(req, res, Buffer.concat(chunks)).catch((cause) => {
        if (!res.headersSent) res.writeHead(500).end(String(cause));
      });
    });
  });

  get url(): string {
    return this.#url;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#http.listen(0, '127.0.0.1', resolve));
    this.#url = `http://127.0.0.1:${(this.#http.address() as { port: number }).port}`;
  }

  preconditionFailures(): number {
    return this.#preconditionFailures;
  }

  put(
    bucket: string,
    name: string,
    data: Buffer | string,
    options: { contentType?: string; contentEncoding?: string } = {},
  ): number {
    return this.#store({
      bucket,
      name,
      data: Buffer.from(data),
      contentType: options.contentType ?? 'application/x-yaml',
      ...(options.contentEncoding && { contentEncoding: options.contentEncoding }),
    }).generation;
  }

  get(bucket: string, name: string): Buffer | undefined {
    return this.#objects.get(`${bucket}/${name}`)?.data;
  }

  list(bucket: string, prefix = ''): string[] {
    return [...this.#objects.values()]
      .filter((o) => o.bucket === bucket && o.name.startsWith(prefix))
      .map((o) => o.name);
  }

  fail(count: number, status: number, match: (request: FaultMatch) => boolean = () => true) {
    this.#faults.push({ count, status, match });
  }

  corrupt(count: number): void {
    this.#corruptions += count;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#http.closeAllConnections();
      this.#http.close(() => resolve());
    });
  }

  #store(fields: Omit<StoredObject, 'generation' | 'created'>): StoredObject {
    const object = { ...fields, generation: ++this.#generation, created: new Date().toISOString() };
    this.#objects.set(`${object.bucket}/${object.name}`, object);
    this.#history.set(`${object.bucket}/${object.name}#${object.generation}`, object);
    return object;
  }

  async #handle(req: IncomingMessage, res: ServerResponse, body: Buffer) {
    const url = new URL(req.url ?? '/', 'http://x');
    // With STORAGE_EMULATOR_HOST the client leaves out the /storage/v1 part.
    url.pathname = url.pathname.replace(
      /^\/(upload\/|download\/)?b\//,
      (_m, kind: string | undefined) => `/${kind ?? ''}storage/v1/b/`,
    );
    const served: ServedRequest = {
      method: req.method ?? '',
      path: url.pathname + url.search,
      status: 0,
      bytes: 0,
    };
    this.requests.push(served);
    const x: Exchange = { req, res, url, body, served };
    const upload = UPLOAD.exec(url.pathname);
    if (upload && req.method === 'POST')
      return this.#upload(x, decodeURIComponent(upload[1] as string));
    const object = OBJECT.exec(url.pathname);
    if (object)
      return this.#object(
        x,
        decodeURIComponent(object[1] as string),
        decodeURIComponent(object[2] as string),
      );
    const listing = LISTING.exec(url.pathname);
    if (listing && req.method === 'GET')
      return this.#list(x, decodeURIComponent(listing[1] as string));
    error(x, 501, `${req.method} ${url.pathname} is not implemented by this test server`);
  }

  /** Answers with an injected fault, if one matches; true when it did. */
  #injected(x: Exchange, name?: string): boolean {
    const request = {
      method: x.served.method,
      path: x.served.path,
      ...(name !== undefined && { name }),
    };
    const fault = this.#faults.find((f) => f.count > 0 && f.match(request));
    if (!fault) return false;
    fault.count--;
    error(x, fault.status, `injected ${fault.status}`);
    return true;
  }

  async #upload(x: Exchange, bucket: string) {
    const type = x.url.searchParams.get('uploadType');
    let fields: Record<string, unknown> = { name: x.url.searchParams.get('name') ?? '' };
    let data = x.body;
    if (type === 'multipart') {
      const parsed = parseMultipart(x.body, x.req.headers['content-type'] ?? '');
      fields = { ...fields, ...parsed.metadata };
      data = parsed.media;
    } else if (type !== 'media') {
      return error(x, 400, `uploadType ${type} not supported by this test server`);
    }
    x.served.uploaded = fields;
    const name = String(fields.name ?? '');
    if (this.#injected(x, name)) return;
    const refusal = this.#refusal(x, bucket, name, fields, data);
    if (refusal) return error(x, refusal.code, refusal.message);
    const object = this.#store({
      bucket,
      name,
      data,
      contentType: String(
        fields.contentType ?? x.req.headers['content-type'] ?? 'application/octet-stream',
      ),
      ...(typeof fields.contentEncoding === 'string' && {
        contentEncoding: fields.contentEncoding,
      }),
      ...(fields.metadata !== undefined && { metadata: fields.metadata as Record<string, string> }),
    });
    await this.onCommit?.(name);
    json(x, 200, resource(object));
  }

  /** Why an upload is refused: bytes that do not match their checksum, or a failed precondition. */
  #refusal(
    x: Exchange,
    bucket: string,
    name: string,
    fields: Record<string, unknown>,
    data: Buffer,
  ): { code: number; message: string } | undefined {
    if (fields.crc32c !== undefined && fields.crc32c !== crc32c(data))
      return {
        code: 400,
        message: `Provided CRC32C "${fields.crc32c}" doesn't match calculated "${crc32c(data)}".`,
      };
    if (fields.md5Hash !== undefined && fields.md5Hash !== md5(data))
      return {
        code: 400,
        message: `Provided MD5 hash "${fields.md5Hash}" doesn't match calculated MD5 hash "${md5(data)}".`,
      };
    const ifGenerationMatch = x.url.searchParams.get('ifGenerationMatch');
    if (ifGenerationMatch === null) return undefined;
    if (!/^\d+$/.test(ifGenerationMatch))
      return { code: 400, message: `Invalid argument ifGenerationMatch=${ifGenerationMatch}` };
    const existing = this.#objects.get(`${bucket}/${name}`);
    if (String(existing?.generation ?? 0) === ifGenerationMatch) return undefined;
    this.#preconditionFailures++;
    return { code: 412, message: 'At least one of the pre-conditions you specified did not hold.' };
  }

  /** objects.get (metadata, or `alt=media`, at `generation=` if given) and objects.delete. */
  #object(x: Exchange, bucket: string, name: string) {
    if (this.#injected(x, name)) return;
    if (x.req.method === 'DELETE') {
      if (!this.#objects.delete(`${bucket}/${name}`)) return error(x, 404, 'No such object');
      x.served.status = 204;
      return void x.res.writeHead(204).end();
    }
    const wanted = x.url.searchParams.get('generation');
    const object = wanted
      ? this.#history.get(`${bucket}/${name}#${wanted}`)
      : this.#objects.get(`${bucket}/${name}`);
    if (!object) return error(x, 404, `No such object: ${bucket}/${name}`);
    if (x.url.searchParams.get('alt') === 'media') return this.#media(x, object);
    json(x, 200, pickFields(resource(object), x.url.searchParams.get('fields')));
  }

  #media(x: Exchange, o: StoredObject): void {
    const gzipped = o.contentEncoding === 'gzip';
    const acceptsGzip = /\bgzip\b/.test(String(x.req.headers['accept-encoding'] ?? ''));
    const headers: Record<string, string> = {
      'content-type': o.contentType,
      'x-goog-generation': String(o.generation),
      'x-goog-metageneration': '1',
      'x-goog-hash': `crc32c=${crc32c(o.data)},md5=${md5(o.data)}`,
      'x-goog-stored-content-encoding': o.contentEncoding ?? 'identity',
      'x-goog-stored-content-length': String(o.data.length),
    };
    if (gzipped && acceptsGzip) headers['content-encoding'] = 'gzip';
    const bytes = Buffer.from(gzipped && !acceptsGzip ? gunzipSync(o.data) : o.data);
    if (this.#corruptions > 0 && bytes.length > 0) {
      this.#corruptions--;
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    }
    send(x, 200, headers, bytes);
  }

  #list(x: Exchange, bucket: string): void {
    if (this.#injected(x)) return;
    const params = x.url.searchParams;
    const prefix = params.get('prefix') ?? '';
    const glob = params.get('matchGlob');
    const matches = glob ? globPattern(glob) : undefined;
    const all = [...this.#objects.values()]
      .filter((o) => o.bucket === bucket && o.name.startsWith(prefix))
      .filter((o) => !matches || matches.test(o.name))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // Pages of at most maxResults (the service's default and ceiling: 1,000),
    // the rest behind nextPageToken (here: the last name listed).
    const pageSize = Math.min(Number(params.get('maxResults') ?? 1000), 1000);
    const after = params.get('pageToken');
    const rest = after === null ? all : all.filter((o) => o.name > after);
    const page = rest.slice(0, pageSize);
    const listing = {
      kind: 'storage#objects',
      ...(page.length > 0 && { items: page.map(resource) }),
      ...(rest.length > page.length && { nextPageToken: page.at(-1)?.name }),
    };
    json(x, 200, pickFields(listing, params.get('fields')));
  }
}

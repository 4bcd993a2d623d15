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
  const objects = new Map<string, StoredObject>();
  const history = new Map<string, StoredObject>(); // bucket/name#generation → object
  const requests: ServedRequest[] = [];
  const faults: { count: number; status: number; match: (r: FaultMatch) => boolean }[] = [];
  let generation = 1_700_000_000_000_000;
  let preconditionFailures = 0;
  let corruptions = 0;

  const store = (fields: Omit<StoredObject, 'generation' | 'created'>): StoredObject => {
    const object = { ...fields, generation: ++generation, created: new Date().toISOString() };
    objects.set(`${object.bucket}/${object.name}`, object);
    history.set(`${object.bucket}/${object.name}#${object.generation}`, object);
    return object;
  };

  const send = (
    res: ServerResponse,
    served: ServedRequest,
    status: number,
    headers: Record<string, string>,
    body: Buffer | string,
  ) => {
    served.status = status;
    served.bytes = Buffer.byteLength(body);
    res.writeHead(status, { 'content-length': String(served.bytes), ...headers }).end(body);
  };
  const json = (res: ServerResponse, served: ServedRequest, status: number, value: unknown) =>
    send(res, served, status, { 'content-type': 'application/json' }, JSON.stringify(value));
  const error = (res: ServerResponse, served: ServedRequest, code: number, message: string) =>
    json(res, served, code, {
      error: {
        code,
        message,
        errors: [{ domain: 'global', message, reason: REASONS[code] ?? 'invalid' }],
      },
    });

  const server: GcsServer = {
    url: '',
    requests,
    preconditionFailures: () => preconditionFailures,
    put: (bucket, name, data, options = {}) =>
      store({
        bucket,
        name,
        data: Buffer.from(data),
        contentType: options.contentType ?? 'application/x-yaml',
        ...(options.contentEncoding && { contentEncoding: options.contentEncoding }),
      }).generation,
    get: (bucket, name) => objects.get(`${bucket}/${name}`)?.data,
    list: (bucket, prefix = '') =>
      [...objects.values()]
        .filter((o) => o.bucket === bucket && o.name.startsWith(prefix))
        .map((o) => o.name),
    fail: (count, status, match = () => true) => faults.push({ count, status, match }),
    corrupt: (count) => {
      corruptions += count;
    },
    close: () =>
      new Promise((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };

  /** Answers with an injected fault, if one matches; true when it did. */
  const injected = (res: ServerResponse, served: ServedRequest, name?: string): boolean => {
    const request = {
      method: served.method,
      path: served.path,
      ...(name !== undefined && { name }),
    };
    const fault = faults.find((f) => f.count > 0 && f.match(request));
    if (!fault) return false;
    fault.count--;
    error(res, served, fault.status, `injected ${fault.status}`);
    return true;
  };

  const upload = async (
    req: IncomingMessage,
    res: ServerResponse,
    served: ServedRequest,
    url: URL,
    bucket: string,
    body: Buffer,
  ) => {
    const type = url.searchParams.get('uploadType');
    let fields: Record<string, unknown> = { name: url.searchParams.get('name') ?? '' };
    let data = body;
    if (type === 'multipart') {
      const parsed = parseMultipart(body, req.headers['content-type'] ?? '');
      fields = { ...fields, ...parsed.metadata };
      data = parsed.media;
    } else if (type !== 'media') {
      return error(res, served, 400, `uploadType ${type} not supported by this test server`);
    }
    served.uploaded = fields;
    const name = String(fields.name ?? '');
    if (injected(res, served, name)) return;
    if (fields.crc32c !== undefined && fields.crc32c !== crc32c(data))
      return error(
        res,
        served,
        400,
        `Provided CRC32C "${fields.crc32c}" doesn't match calculated "${crc32c(data)}".`,
      );
    if (fields.md5Hash !== undefined && fields.md5Hash !== md5(data))
      return error(
        res,
        served,
        400,
        `Provided MD5 hash "${fields.md5Hash}" doesn't match calculated MD5 hash "${md5(data)}".`,
      );
    const ifGenerationMatch = url.searchParams.get('ifGenerationMatch');
    if (ifGenerationMatch !== null && !/^\d+$/.test(ifGenerationMatch))
      return error(res, served, 400, `Invalid argument ifGenerationMatch=${ifGenerationMatch}`);
    const existing = objects.get(`${bucket}/${name}`);
    if (ifGenerationMatch !== null && String(existing?.generation ?? 0) !== ifGenerationMatch) {
      preconditionFailures++;
      return error(
        res,
        served,
        412,
        'At least one of the pre-conditions you specified did not hold.',
      );
    }
    const object = store({
      bucket,
      name,
      data,
      contentType: String(
        fields.contentType ?? req.headers['content-type'] ?? 'application/octet-stream',
      ),
      ...(typeof fields.contentEncoding === 'string' && {
        contentEncoding: fields.contentEncoding,
      }),
      ...(fields.metadata !== undefined && { metadata: fields.metadata as Record<string, string> }),
    });
    await server.onCommit?.(name);
    json(res, served, 200, resource(object));
  };

  const media = (
    req: IncomingMessage,
    res: ServerResponse,
    served: ServedRequest,
    o: StoredObject,
  ) => {
    const gzipped = o.contentEncoding === 'gzip';
    const acceptsGzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
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
    if (corruptions > 0 && bytes.length > 0) {
      corruptions--;
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    }
    send(res, served, 200, headers, bytes);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
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
    requests.push(served);
    let match = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    if (match && req.method === 'POST')
      return upload(req, res, served, url, decodeURIComponent(match[1] as string), body);
    match = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(url.pathname);
    if (match) {
      const bucket = decodeURIComponent(match[1] as string);
      const name = decodeURIComponent(match[2] as string);
      if (injected(res, served, name)) return;
      if (req.method === 'DELETE') {
        if (!objects.delete(`${bucket}/${name}`)) return error(res, served, 404, 'No such object');
        served.status = 204;
        return void res.writeHead(204).end();
      }
      const wanted = url.searchParams.get('generation');
      const object = wanted
        ? history.get(`${bucket}/${name}#${wanted}`)
        : objects.get(`${bucket}/${name}`);
      if (!object) return error(res, served, 404, `No such object: ${bucket}/${name}`);
      if (url.searchParams.get('alt') === 'media') return media(req, res, served, object);
      return json(res, served, 200, pickFields(resource(object), url.searchParams.get('fields')));
    }
    match = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    if (match && req.method === 'GET') {
      if (injected(res, served)) return;
      const bucket = decodeURIComponent(match[1] as string);
      const prefix = url.searchParams.get('prefix') ?? '';
      const glob = url.searchParams.get('matchGlob');
      const matches = glob ? globPattern(glob) : undefined;
      const all = [...objects.values()]
        .filter((o) => o.bucket === bucket && o.name.startsWith(prefix))
        .filter((o) => !matches || matches.test(o.name))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      // Pages of at most maxResults (the service's default and ceiling: 1,000),
      // the rest behind nextPageToken (here: the last name listed).
      const pageSize = Math.min(Number(url.searchParams.get('maxResults') ?? 1000), 1000);
      const after = url.searchParams.get('pageToken');
      const rest = after === null ? all : all.filter((o) => o.name > after);
      const page = rest.slice(0, pageSize);
      const listing = {
        kind: 'storage#objects',
        ...(page.length > 0 && { items: page.map(resource) }),
        ...(rest.length > page.length && { nextPageToken: page.at(-1)?.name }),
      };
      return json(res, served, 200, pickFields(listing, url.searchParams.get('fields')));
    }
    error(res, served, 501, `${req.method} ${url.pathname} is not implemented by this test server`);
  };

  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch((cause) => {
        if (!res.headersSent) res.writeHead(500).end(String(cause));
      });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as { port: number }).port;
  return Object.assign(server, { url: `http://127.0.0.1:${port}` });
}

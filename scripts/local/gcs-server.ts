// A Cloud Storage stand-in for STORAGE_EMULATOR_HOST, implementing only the
// JSON API routes image-syncer uses (multipart and media upload, media
// download, metadata, list, delete), with the API's shapes and status codes.
// Objects carry generations, so "download at the event's generation" is real,
// and writes honour the ifGenerationMatch precondition as the service does
// (https://cloud.google.com/storage/docs/request-preconditions): the upload
// proceeds only if the live object's generation equals the value, 0 meaning
// "no live object"; otherwise 412 with reason conditionNotMet and nothing is
// written. Check and write happen in one step, as they do atomically in the
// service, so concurrent writers see exactly one winner.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

interface StoredObject {
  readonly bucket: string;
  readonly name: string;
  readonly generation: number;
  readonly contentType: string;
  readonly data: Buffer;
  readonly created: string;
  /** Custom metadata (`metadata` in the object resource). */
  readonly metadata?: Record<string, string>;
}

export interface GcsServer {
  readonly url: string;
  readonly requests: { method: string; path: string }[];
  /** Writes refused with 412 conditionNotMet so far. */
  preconditionFailures(): number;
  /** Puts an object directly (as a user's upload would) and returns its generation. */
  put(bucket: string, name: string, data: Buffer | string, contentType?: string): number;
  get(bucket: string, name: string): Buffer | undefined;
  list(bucket: string, prefix?: string): string[];
  close(): Promise<void>;
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
    size: String(o.data.length),
    md5Hash: md5(o.data),
    timeCreated: o.created,
    updated: o.created,
    ...(o.metadata && { metadata: o.metadata }),
  };
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

const REASONS: Record<number, string> = { 404: 'notFound', 412: 'conditionNotMet' };

function error(res: ServerResponse, code: number, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' }).end(
    JSON.stringify({
      error: {
        code,
        message,
        errors: [{ domain: 'global', message, reason: REASONS[code] ?? 'invalid' }],
      },
    }),
  );
}

/** `matchGlob`: `*` within one path segment, `**` across segments, `?` one character. */
function globMatcher(glob: string | null): (name: string) => boolean {
  if (!glob) return () => true;
  const body = glob
    .split(/(\*\*|\*|\?)/)
    .map((part) =>
      part === '**'
        ? '.*'
        : part === '*'
          ? '[^/]*'
          : part === '?'
            ? '[^/]'
            : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  const pattern = new RegExp(`^${body}$`);
  return (name) => pattern.test(name);
}

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
  const requests: { method: string; path: string }[] = [];
  let generation = 1_700_000_000_000_000;
  let preconditionFailures = 0;

  const store = (
    bucket: string,
    name: string,
    data: Buffer,
    contentType: string,
    metadata?: Record<string, string>,
  ): StoredObject => {
    const object = {
      bucket,
      name,
      generation: ++generation,
      contentType,
      data,
      created: new Date().toISOString(),
      ...(metadata && { metadata }),
    };
    objects.set(`${bucket}/${name}`, object);
    history.set(`${bucket}/${name}#${object.generation}`, object);
    return object;
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://x');
    // With STORAGE_EMULATOR_HOST the client leaves out the /storage/v1 part.
    url.pathname = url.pathname.replace(
      /^\/(upload\/|download\/)?b\//,
      (_m, kind: string | undefined) => `/${kind ?? ''}storage/v1/b/`,
    );
    requests.push({ method: req.method ?? '', path: url.pathname + url.search });
    let match = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    if (match && req.method === 'POST') {
      const bucket = decodeURIComponent(match[1] as string);
      const type = url.searchParams.get('uploadType');
      let name = url.searchParams.get('name') ?? '';
      let data = body;
      let contentType = req.headers['content-type'] ?? 'application/octet-stream';
      let custom: Record<string, string> | undefined;
      if (type === 'multipart') {
        const parsed = parseMultipart(body, contentType);
        name = String(parsed.metadata.name ?? name);
        contentType = String(parsed.metadata.contentType ?? 'application/octet-stream');
        custom = parsed.metadata.metadata as Record<string, string> | undefined;
        data = parsed.media;
      } else if (type !== 'media') {
        return error(res, 400, `uploadType ${type} not supported by this test server`);
      }
      const ifGenerationMatch = url.searchParams.get('ifGenerationMatch');
      if (ifGenerationMatch !== null && !/^\d+$/.test(ifGenerationMatch))
        return error(res, 400, `Invalid argument ifGenerationMatch=${ifGenerationMatch}`);
      const existing = objects.get(`${bucket}/${name}`);
      if (ifGenerationMatch !== null && String(existing?.generation ?? 0) !== ifGenerationMatch) {
        preconditionFailures++;
        return error(res, 412, 'At least one of the pre-conditions you specified did not hold.');
      }
      const object = store(bucket, name, data, contentType, custom);
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(resource(object)));
    }
    match = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(url.pathname);
    if (match) {
      const bucket = decodeURIComponent(match[1] as string);
      const name = decodeURIComponent(match[2] as string);
      const wanted = url.searchParams.get('generation');
      const object = wanted
        ? history.get(`${bucket}/${name}#${wanted}`)
        : objects.get(`${bucket}/${name}`);
      if (req.method === 'DELETE') {
        if (!objects.delete(`${bucket}/${name}`)) return error(res, 404, 'No such object');
        return void res.writeHead(204).end();
      }
      if (!object) return error(res, 404, `No such object: ${bucket}/${name}`);
      if (url.searchParams.get('alt') === 'media') {
        return void res
          .writeHead(200, {
            'content-type': object.contentType,
            'content-length': String(object.data.length),
            'x-goog-generation': String(object.generation),
            // The service's checksums of the stored bytes (crc32c left out: no built-in Castagnoli CRC).
            'x-goog-hash': `md5=${md5(object.data)}`,
          })
          .end(object.data);
      }
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(resource(object)));
    }
    match = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    if (match && req.method === 'GET') {
      const bucket = decodeURIComponent(match[1] as string);
      const prefix = url.searchParams.get('prefix') ?? '';
      const matches = globMatcher(url.searchParams.get('matchGlob'));
      const all = [...objects.values()]
        .filter((o) => o.bucket === bucket && o.name.startsWith(prefix) && matches(o.name))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      // Pages of at most maxResults (the service's default and ceiling: 1,000),
      // the rest behind nextPageToken (here: the last name listed).
      const pageSize = Math.min(Number(url.searchParams.get('maxResults') ?? 1000), 1000);
      const after = url.searchParams.get('pageToken');
      const rest = after === null ? all : all.filter((o) => o.name > after);
      const page = rest.slice(0, pageSize);
      const more = rest.length > page.length;
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          kind: 'storage#objects',
          ...(page.length > 0 && { items: page.map(resource) }),
          ...(more && { nextPageToken: page.at(-1)?.name }),
        }),
      );
    }
    error(res, 501, `${req.method} ${url.pathname} is not implemented by this test server`);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    preconditionFailures: () => preconditionFailures,
    put: (bucket, name, data, contentType = 'application/x-yaml') =>
      store(bucket, name, Buffer.from(data), contentType).generation,
    get: (bucket, name) => objects.get(`${bucket}/${name}`)?.data,
    list: (bucket, prefix = '') =>
      [...objects.values()]
        .filter((o) => o.bucket === bucket && o.name.startsWith(prefix))
        .map((o) => o.name),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

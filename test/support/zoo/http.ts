// Small HTTP pieces of the zoo's engine: servers on 127.0.0.1, a request
// log, registry error bodies, requests to the registry behind a front (a
// manifest found by its sha512 among them), and blob bytes served from a
// registry's storage directory as a bucket would.

import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestRegistry } from '../registry.ts';

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface Seen {
  readonly method: string;
  readonly path: string;
  status: number;
  /** The Authorization header as received (tests check where credentials went). */
  readonly authorization?: string;
}

export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, host: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}` };
}

export function record(log: Seen[], req: IncomingMessage, res: ServerResponse): void {
  const entry: Seen = {
    method: req.method ?? '',
    path: req.url ?? '',
    status: 0,
    ...(req.headers.authorization && { authorization: req.headers.authorization }),
  };
  log.push(entry);
  res.on('finish', () => {
    entry.status = res.statusCode;
  });
}

export function errorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message }] });
}

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** One request to the registry behind the front, with the client's headers. */
export function upstreamRequest(
  upstream: URL,
  method: string,
  path: string,
  headers: IncomingHttpHeaders,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const out = httpRequest(
      { host: upstream.hostname, port: upstream.port, method, path, headers },
      resolve,
    );
    out.on('error', reject);
    out.end();
  });
}

/** Serves a blob's bytes straight from the registry's filesystem storage, as a bucket would. */
export function serveBlobFile(
  registry: TestRegistry,
  hex: string,
  req: IncomingMessage,
  res: ServerResponse,
) {
  const file = join(
    registry.root,
    'data',
    'docker',
    'registry',
    'v2',
    'blobs',
    'sha256',
    hex.slice(0, 2),
    hex,
    'data',
  );
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
}

/**
 * The sha256 digest of the tagged manifest of `name` whose sha512 digest is
 * `sha512`, found by reading each tag with the client's Authorization.
 */
export async function sha256BySha512(
  upstream: URL,
  name: string,
  sha512: string,
  authorization: string | undefined,
): Promise<string | undefined> {
  const headers = { ...(authorization && { authorization }), accept: MANIFEST_ACCEPT };
  const list = await upstreamRequest(upstream, 'GET', `/v2/${name}/tags/list`, headers);
  const { tags } = JSON.parse((await readBody(list)).toString() || '{}') as { tags?: string[] };
  for (const tag of tags ?? []) {
    const answer = await upstreamRequest(upstream, 'GET', `/v2/${name}/manifests/${tag}`, headers);
    const bytes = await readBody(answer);
    if (`sha512:${createHash('sha512').update(bytes).digest('hex')}` === sha512)
      return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  }
  return undefined;
}

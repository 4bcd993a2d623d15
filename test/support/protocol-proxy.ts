// Small HTTP fronts for real `docker-registry` servers, each reproducing one
// documented behaviour of a public registry (the behaviour and its source are
// cited where a test uses it):
//
// - redirectFront: answers every request with 307 to another registry, the
//   way registry.k8s.io sends everything to the registry that holds the image;
// - interceptingProxy: forwards to the registry, except the requests a hook
//   answers itself (a refused mount, an immutable tag's refusal).

import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { listenOnLoopback } from './listen.ts';

export interface Front {
  readonly url: string;
  readonly host: string;
  /** `METHOD path` of every request, in order. */
  readonly seen: string[];
  close(): Promise<void>;
}

async function listen(server: Server, seen: string[]): Promise<Front> {
  return {
    ...(await listenOnLoopback(server)),
    seen,
  };
}

/** Every request → 307 to `upstream` with the path rewritten by `rewrite`. */
export function redirectFront(upstream: string, rewrite: (path: string) => string): Promise<Front> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    res.writeHead(307, { location: `${upstream}${rewrite(req.url ?? '/')}` }).end();
  });
  return listen(server, seen);
}

/** Sends a request to the registry and returns status, headers and body. */
export function send(
  upstream: string,
  method: string,
  path: string,
  headers: IncomingMessage['headers'],
  body?: Buffer,
): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  const url = new URL(path, upstream);
  return new Promise((resolve, reject) => {
    const out = httpRequest(
      { host: url.hostname, port: url.port, method, path: `${url.pathname}${url.search}`, headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () =>
          resolve({
            status: answer.statusCode ?? 0,
            headers: answer.headers,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    out.on('error', reject);
    out.end(body);
  });
}

/** Answers a request itself (true) or lets it through to the registry (false). */
export type Intercept = (
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
) => boolean | Promise<boolean>;

/**
 * Forwards to `upstream` (buffering request bodies, which is fine for tests),
 * rewriting Location headers to point back at the proxy, unless `intercept`
 * answers first.
 */
export function interceptingProxy(upstream: string, intercept: Intercept): Promise<Front> {
  const seen: string[] = [];
  let self = '';
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      seen.push(`${req.method} ${req.url}`);
      const body = Buffer.concat(chunks);
      try {
        if (await intercept(req, res, body)) return;
        const answer = await send(upstream, req.method ?? 'GET', req.url ?? '/', req.headers, body);
        const headers = { ...answer.headers };
        if (typeof headers.location === 'string')
          headers.location = headers.location.replace(upstream, self);
        res.writeHead(answer.status, headers).end(answer.body);
      } catch (error) {
        res.writeHead(502).end(String(error));
      }
    });
  });
  return listen(server, seen).then((front) => {
    self = front.url;
    return front;
  });
}

// A test server on a free loopback port: its address, and a close that does
// not wait for keep-alive connections to time out; and what a proxy in front
// of a real registry uses to reach it: the pass-through for what it leaves
// alone, one buffered exchange for what it looks into.

import {
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { closeNow, listenOnFreePort } from './ports.ts';

export interface Listening {
  readonly url: string;
  readonly host: string;
  close(): Promise<void>;
}

export async function listenOnLoopback(server: Server, hostname = '127.0.0.1'): Promise<Listening> {
  const port = await listenOnFreePort(server);
  return {
    url: `http://${hostname}:${port}`,
    host: `${hostname}:${port}`,
    close: () => closeNow(server),
  };
}

/**
 * Streams `req` to `upstream` and its answer back (with `extraHeaders(status)`
 * added), for proxies that change only some exchanges; resolves with the
 * status sent, 502 when the upstream could not be reached.
 */
export function passThrough(
  upstream: URL,
  req: IncomingMessage,
  res: ServerResponse,
  extraHeaders: (status: number) => Record<string, string> = () => ({}),
): Promise<number> {
  return new Promise((resolve) => {
    const outgoing = httpRequest(
      new URL(req.url ?? '/', upstream),
      { method: req.method, headers: req.headers },
      (answer) => {
        const status = answer.statusCode ?? 502;
        res.writeHead(status, { ...answer.headers, ...extraHeaders(status) });
        answer.pipe(res);
        resolve(status);
      },
    );
    outgoing.on('error', () => {
      res.destroy();
      resolve(502);
    });
    req.pipe(outgoing);
  });
}

/** Sends one request to the registry and returns status, headers and body. */
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

// A test server on a free loopback port: its address, and a close that does
// not wait for keep-alive connections to time out; and the pass-through a
// proxy in front of a real registry uses for what it leaves alone.

import {
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { freePort } from './ports.ts';

export interface Listening {
  readonly url: string;
  readonly host: string;
  close(): Promise<void>;
}

export async function listenOnLoopback(server: Server, hostname = '127.0.0.1'): Promise<Listening> {
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://${hostname}:${port}`,
    host: `${hostname}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
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

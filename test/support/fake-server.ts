// A scripted HTTP server for transport tests: each test says what the
// "registry" answers, and the server keeps a transcript of what it was asked.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './listen.ts';

export interface Exchange {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly bodyBytes: number;
}

export interface FakeServer {
  readonly url: string;
  readonly host: string;
  readonly transcript: Exchange[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

export async function startFakeServer(
  handler: Handler,
  hostname = '127.0.0.1',
): Promise<FakeServer> {
  const transcript: Exchange[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      transcript.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        bodyBytes: body.length,
      });
      handler(req, res, body);
    });
  });
  return { ...(await listenOnLoopback(server, hostname)), transcript };
}

/** The scripted servers of one test file: started on demand, closed together. */
export function serverPool(): {
  serve(handler: Handler, hostname?: string): Promise<FakeServer>;
  closeAll(): Promise<void>;
} {
  const servers: FakeServer[] = [];
  return {
    async serve(handler, hostname) {
      const server = await startFakeServer(handler, hostname);
      servers.push(server);
      return server;
    },
    closeAll: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}

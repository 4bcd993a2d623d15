// The functions under the real Functions Framework, in-process: each entry
// point gets its own HTTP server (as each is its own Cloud Run service), and
// requests to it are counted. Storage events are built here, as Eventarc would
// send them (binary-mode CloudEvents); Pub/Sub pushes come from the emulator.

import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { freePort } from './ports.ts';

export interface FunctionServer {
  readonly name: string;
  readonly url: string;
  /** Requests the function has received (deliveries, for event functions). */
  readonly calls: { count: number; failures: number };
  close(): Promise<void>;
}

export async function serveFunction(name: string): Promise<FunctionServer> {
  const server: Server = getTestServer(name);
  const calls = { count: 0, failures: 0 };
  server.on('request', (_req, res) => {
    calls.count++;
    res.on('finish', () => {
      if (res.statusCode >= 400) calls.failures++;
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Posts a `google.cloud.storage.object.v1.finalized` CloudEvent, as Eventarc does. */
export async function sendStorageFinalized(
  fn: Pick<FunctionServer, 'url'>,
  data: { bucket: string; name: string; generation: number },
): Promise<Response> {
  return fetch(fn.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'ce-id': randomUUID(),
      'ce-specversion': '1.0',
      'ce-type': 'google.cloud.storage.object.v1.finalized',
      'ce-source': `//storage.googleapis.com/projects/_/buckets/${data.bucket}`,
      'ce-subject': `objects/${data.name}`,
      'ce-time': new Date().toISOString(),
    },
    body: JSON.stringify({
      ...data,
      generation: String(data.generation),
      contentType: 'application/x-yaml',
      kind: 'storage#object',
    }),
  });
}

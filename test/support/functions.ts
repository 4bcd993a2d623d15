// The functions under the real Functions Framework, in-process: each entry
// point gets its own HTTP server (as each is its own Cloud Run service), and
// requests to it are counted. Storage events are built here, as Eventarc would
// send them (binary-mode CloudEvents); Pub/Sub pushes come from the emulator.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { closeNow, listening, listenOnFreePort, servingPort } from './ports.ts';

/** One Pub/Sub push the function answered: what the envelope said, and the answer. */
export interface PushDelivery {
  readonly messageId: string;
  readonly deliveryAttempt: number | undefined;
  /** The message data, decoded (a job message is JSON). */
  readonly data: string;
  readonly status: number;
  /** When the answer went out (ms since the epoch). */
  readonly answeredAt: number;
}

export interface FunctionServer {
  readonly name: string;
  readonly url: string;
  /** Requests the function has received (deliveries, for event functions). */
  readonly calls: { count: number; failures: number };
  /** Every Pub/Sub push envelope it answered, in the order answered. */
  readonly deliveries: PushDelivery[];
  close(): Promise<void>;
}

export async function serveFunction(name: string): Promise<FunctionServer> {
  const server: Server = getTestServer(name);
  const calls = { count: 0, failures: 0 };
  const deliveries: PushDelivery[] = [];
  server.on('request', (req, res) => {
    calls.count++;
    res.on('finish', () => {
      if (res.statusCode >= 400) calls.failures++;
      // The Framework has parsed the body onto the request by the time it answers.
      const body = (req as { body?: unknown }).body as
        | { message?: { messageId?: string; data?: string }; deliveryAttempt?: number }
        | undefined;
      if (body?.message?.messageId)
        deliveries.push({
          messageId: body.message.messageId,
          deliveryAttempt: body.deliveryAttempt,
          data: Buffer.from(body.message.data ?? '', 'base64').toString('utf8'),
          status: res.statusCode,
          answeredAt: Date.now(),
        });
    });
  });
  const port = await listenOnFreePort(server);
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    calls,
    deliveries,
    close: () => closeNow(server),
  };
}

/** A `google.cloud.storage.object.v1.finalized` CloudEvent request, as Eventarc sends it (binary mode). */
export function storageFinalizedRequest(data: {
  bucket: string;
  name: string;
  generation: number;
}): RequestInit {
  return {
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
  };
}

/** Posts a `google.cloud.storage.object.v1.finalized` CloudEvent, as Eventarc does. */
export async function sendStorageFinalized(
  fn: Pick<FunctionServer, 'url'>,
  data: { bucket: string; name: string; generation: number },
): Promise<Response> {
  return fetch(fn.url, storageFinalizedRequest(data));
}

/** A raw Pub/Sub push body (the "wrapped" form), as the jobs subscription posts it. */
export function pushEnvelope(
  job: unknown,
  options: { messageId?: string; deliveryAttempt?: number; subscription?: string } = {},
): string {
  const data = typeof job === 'string' ? job : JSON.stringify(job);
  return JSON.stringify({
    message: {
      data: Buffer.from(data).toString('base64'),
      messageId: options.messageId ?? randomUUID(),
      attributes: {},
      publishTime: new Date().toISOString(),
    },
    subscription: options.subscription ?? 'projects/p/subscriptions/jobs-push',
    ...(options.deliveryAttempt !== undefined && { deliveryAttempt: options.deliveryAttempt }),
  });
}

export interface FunctionProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * One entry point as Cloud Run starts it: its own process, the real
 * `functions-framework` command over the package in `dir` (its `main`), and
 * only the environment given (plus PATH).
 */
export async function spawnFunction(
  dir: string,
  target: string,
  env: NodeJS.ProcessEnv,
  options: { node?: string; framework?: string } = {},
): Promise<FunctionProcess> {
  const framework =
    options.framework ??
    join(dir, 'node_modules', '@google-cloud', 'functions-framework', 'build', 'src', 'main.js');
  const child = spawn(
    options.node ?? process.execPath,
    [framework, `--target=${target}`, '--port=0', `--source=${dir}`],
    { cwd: dir, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (c) => {
    output += c;
  });
  child.stderr?.on('data', (c) => {
    output += c;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  // Listening is serving for a Node server; polled often, so the boot bench's figures stay exact.
  const port = await servingPort(child, `functions-framework --target=${target}`, listening, {
    output: () => output,
    pollMs: 5,
  }).catch(async (error) => {
    await stop();
    throw error;
  });
  return { child, url: `http://127.0.0.1:${port}`, output: () => output, stop };
}

/** Sends the request as soon as the process listens: the first answer it gives. */
export async function firstAnswer(
  fn: FunctionProcess,
  path: string,
  init: RequestInit,
  timeoutMs = 30_000,
): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (fn.child.exitCode !== null)
      throw new Error(`the function exited (${fn.child.exitCode}):\n${fn.output()}`);
    try {
      return await fetch(`${fn.url}${path}`, init);
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`the function did not answer in ${timeoutMs} ms:\n${fn.output()}`);
    await sleep(5);
  }
}

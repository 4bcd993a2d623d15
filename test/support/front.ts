// Copy function instances as Cloud Run runs them: each the real
// functions-framework command in its own process, which a test may SIGKILL
// and start again, behind a front that never dies and keeps one address.
// Pub/Sub pushes to the front; it hands each push to the next live instance,
// answers 503 when that instance dies mid-request and 429 when none lives
// (Cloud Run's "no available instance",
// https://cloud.google.com/run/docs/troubleshooting#no-instance). Pub/Sub
// then redelivers with the subscription's backoff. A restarted instance gets
// a new port, so the emulator never pushes to an endpoint that was killed and
// restarted in place, after which it was seen to stop pushing for minutes
// (ENVIRONMENT.md).

import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { listening, servingPort } from './ports.ts';

const FRAMEWORK = 'node_modules/@google-cloud/functions-framework/build/src/main.js';

export interface Instance {
  readonly child: ChildProcess;
  /** 0 until it serves. */
  port: number;
  /** The front hands it pushes. */
  ready: boolean;
  /** Settles once it serves (true), or was killed or failed first (false). */
  readonly serving: Promise<boolean>;
}

/**
 * Starts a copy function instance (this checkout's functions/gcp/index.ts) on
 * a free port, with only `env` (plus PATH).
 */
export function startInstance(env: NodeJS.ProcessEnv, args: readonly string[] = []): Instance {
  const child = spawn(
    process.execPath,
    [FRAMEWORK, '--target=copyJob', '--source=functions/gcp/index.ts', ...args, '--port=0'],
    { env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' },
  );
  const instance: Instance = {
    child,
    port: 0,
    ready: false,
    serving: servingPort(child, 'copyJob', listening).then(
      (port) => {
        instance.port = port;
        instance.ready = !child.killed && child.exitCode === null && child.signalCode === null;
        return instance.ready;
      },
      // Killed before it served: whoever killed it starts another.
      () => false,
    ),
  };
  return instance;
}

/** Kills the instance at once, as a crash would; the front stops handing it pushes. */
export function kill(instance: Instance | undefined): void {
  if (!instance) return;
  instance.ready = false;
  instance.child.kill('SIGKILL');
}

/**
 * The front Pub/Sub pushes to: each push goes to the next live instance;
 * 503 when that instance dies mid-request, 429 when none lives. `pushes`
 * counts the answers by status.
 */
export function frontOf(
  instances: readonly (Instance | undefined)[],
  pushes: Record<number, number>,
): Server {
  let turn = 0;
  return createServer((req, res) => {
    const answer = (status: number) => {
      pushes[status] = (pushes[status] ?? 0) + 1;
      if (!res.headersSent) res.writeHead(status).end();
    };
    const live = instances.filter((i) => i?.ready);
    const instance = live[turn++ % Math.max(1, live.length)];
    if (!instance) return answer(429);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = httpRequest(
        {
          host: '127.0.0.1',
          port: instance.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (reply) => {
          reply.resume();
          reply.on('end', () => answer(reply.statusCode ?? 502));
          reply.on('error', () => answer(503));
        },
      );
      forward.on('error', () => answer(503));
      forward.end(Buffer.concat(chunks));
    });
  });
}

// A fault-injecting HTTP proxy in front of a real registry. Rules name the
// requests to hurt and the faults to apply, one per matching request, in
// order; once a rule's faults are used up, requests pass through untouched.
// Every injected fault is counted in `ledger`, for the suite's figures.

import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { listenOnLoopback } from './listen.ts';

export type Fault =
  | { readonly kind: 'status'; readonly status: number; readonly headers?: Record<string, string> }
  | { readonly kind: 'reset-after'; readonly bytes: number }
  | { readonly kind: 'truncate'; readonly bytes: number }
  | { readonly kind: 'corrupt'; readonly offset: number }
  | { readonly kind: 'stall'; readonly ms: number }
  | { readonly kind: 'reset-upload'; readonly bytes: number }
  | { readonly kind: 'throttle'; readonly bytesPerSecond: number };

export interface Rule {
  readonly method: string;
  readonly path: RegExp;
  faults: Fault[];
}

export const ledger = { injected: 0, byKind: new Map<string, number>() };

export interface FaultProxy {
  readonly url: string;
  readonly host: string;
  /**
   * Requests seen, with the fault applied to each (if any); a stalled request
   * the client gave up on before the stall ended is marked `abandoned`.
   */
  readonly seen: { method: string; path: string; fault?: string; abandoned?: boolean }[];
  count(method: string, path: RegExp): number;
  add(rule: Rule): void;
  close(): Promise<void>;
}

/** Passes the first `limit` bytes of `answer` on, then stops reading it and calls `then`. */
function sendFirst(
  answer: IncomingMessage,
  res: ServerResponse,
  limit: number,
  then: () => void,
): void {
  let sent = 0;
  answer.on('data', (chunk: Buffer) => {
    if (sent >= limit) return;
    const part = chunk.subarray(0, limit - sent);
    sent += part.length;
    if (sent < limit) {
      res.write(part);
      return;
    }
    res.write(part, then);
    answer.destroy();
  });
  answer.on('end', () => {
    if (sent < limit) then();
  });
}

function forward(
  upstream: URL,
  req: IncomingMessage,
  res: ServerResponse,
  fault: Fault | undefined,
): void {
  const outgoing = httpRequest(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    },
    (answer) => {
      const headers = { ...answer.headers };
      if (fault?.kind === 'truncate') {
        // A clean, chunked end after too few bytes: only the digest can tell.
        delete headers['content-length'];
        res.writeHead(answer.statusCode ?? 502, headers);
        sendFirst(answer, res, fault.bytes, () => res.end());
        return;
      }
      res.writeHead(answer.statusCode ?? 502, headers);
      if (fault?.kind === 'reset-after') {
        sendFirst(answer, res, fault.bytes, () => res.socket?.destroy());
        return;
      }
      if (fault?.kind === 'throttle') {
        const slow = new Transform({
          highWaterMark: 64 * 1024,
          transform(chunk: Buffer, _encoding, callback) {
            setTimeout(() => callback(null, chunk), (chunk.length / fault.bytesPerSecond) * 1000);
          },
        });
        answer.pipe(slow).pipe(res);
        return;
      }
      if (fault?.kind === 'corrupt') {
        let position = 0;
        const flip = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            const at = fault.offset - position;
            position += chunk.length;
            if (at >= 0 && at < chunk.length) {
              const copy = Buffer.from(chunk);
              copy[at] = (copy[at] as number) ^ 0xff;
              callback(null, copy);
              return;
            }
            callback(null, chunk);
          },
        });
        answer.pipe(flip).pipe(res);
        return;
      }
      answer.pipe(res);
    },
  );
  outgoing.on('error', () => res.destroy());
  res.on('close', () => outgoing.destroy());
  req.pipe(outgoing);
}

export async function startFaultProxy(upstreamUrl: string): Promise<FaultProxy> {
  const upstream = new URL(upstreamUrl);
  const rules: Rule[] = [];
  const seen: FaultProxy['seen'] = [];
  const server = createServer(async (req, res) => {
    const rule = rules.find(
      (r) => r.method === req.method && r.path.test(req.url ?? '') && r.faults.length > 0,
    );
    const fault = rule?.faults.shift();
    const entry: FaultProxy['seen'][number] = {
      method: req.method ?? '',
      path: req.url ?? '',
      ...(fault && { fault: fault.kind }),
    };
    seen.push(entry);
    if (fault) {
      ledger.injected++;
      ledger.byKind.set(fault.kind, (ledger.byKind.get(fault.kind) ?? 0) + 1);
    }
    if (fault?.kind === 'status') {
      req.resume();
      res
        .writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers })
        .end('{"errors":[{"code":"INJECTED","message":"fault injected by the test proxy"}]}');
      return;
    }
    if (fault?.kind === 'reset-upload') {
      let received = 0;
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= fault.bytes) {
          if (process.env.DEBUG_FAULTS)
            process.stderr.write(
              `${Date.now() % 100000} proxy resets upload after ${received} bytes\n`,
            );
          req.socket.destroy();
        }
      });
      return;
    }
    if (fault?.kind === 'stall') {
      // The answer is held back; a client whose timeout fires closes the
      // connection meanwhile, which ends the stall early and is recorded.
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      await sleep(fault.ms, undefined, { signal: gone.signal }).catch(() => undefined);
      if (gone.signal.aborted) entry.abandoned = true;
    }
    if (res.destroyed || req.socket.destroyed) return;
    forward(upstream, req, res, fault);
  });
  return {
    ...(await listenOnLoopback(server)),
    seen,
    count: (method, path) => seen.filter((s) => s.method === method && path.test(s.path)).length,
    add: (rule) => rules.push(rule),
  };
}

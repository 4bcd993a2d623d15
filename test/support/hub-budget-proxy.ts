// Docker Hub's pull budget in front of a real docker-registry: a profile of
// the registry zoo. What it reproduces (docker/docs
// content/manuals/docker-hub/usage/pulls.md, "Pull definition" and "View pull
// rate and limit"):
//
// - a pull is a manifest GET; a HEAD ("version check") is free;
// - the budget is counted per client address (`docker-ratelimit-source`);
// - manifest GETs and HEADs carry `ratelimit-limit: N;w=SECONDS`,
//   `ratelimit-remaining: M;w=SECONDS` and `docker-ratelimit-source`;
// - over the limit, the manifest GET is answered 429 with "You have reached
//   your pull rate limit".
//
// The window is short (seconds, not 6 hours) and fixed from the first pull of
// each address, so tests can wait it out. `retryAfter` adds a Retry-After
// naming the seconds until the window resets (the generic 429 contract,
// RFC 6585 §4); without it the client must work the wait out from the headers.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback, passThrough } from './listen.ts';

export interface HubBudgetOptions {
  /** Pulls per window per client address. */
  limit: number;
  windowSeconds: number;
  /** Send Retry-After on a 429 (default true). */
  retryAfter?: boolean;
}

export interface HubBudgetProxy {
  readonly url: string;
  readonly host: string;
  readonly options: HubBudgetOptions;
  /** Manifest GETs answered (pulls counted), per client address, since start or reset(). */
  pulls(address?: string): number;
  /** Manifest HEADs answered (never counted). */
  heads(): number;
  /** Manifest GETs refused with 429. */
  refused(): number;
  /** Forget every window and count (a new budget), optionally with new options. */
  reset(options?: Partial<HubBudgetOptions>): void;
  close(): Promise<void>;
}

const MANIFEST = /^\/v2\/.+\/manifests\/[^/]+$/;

interface Window {
  started: number;
  used: number;
}

export async function startHubBudgetProxy(
  upstreamUrl: string,
  initial: HubBudgetOptions,
): Promise<HubBudgetProxy> {
  const upstream = new URL(upstreamUrl);
  const options: HubBudgetOptions = { retryAfter: true, ...initial };
  let windows = new Map<string, Window>();
  let pulled = new Map<string, number>();
  let heads = 0;
  let refused = 0;

  function windowOf(address: string, now: number): Window {
    let window = windows.get(address);
    if (!window || now - window.started >= options.windowSeconds * 1000) {
      window = { started: now, used: 0 };
      windows.set(address, window);
    }
    return window;
  }

  function budgetHeaders(address: string, window: Window, now: number): Record<string, string> {
    const w = `;w=${options.windowSeconds}`;
    const headers: Record<string, string> = {
      'ratelimit-limit': `${options.limit}${w}`,
      'ratelimit-remaining': `${Math.max(0, options.limit - window.used)}${w}`,
      'docker-ratelimit-source': address,
    };
    if (window.used >= options.limit && options.retryAfter) {
      const left = options.windowSeconds * 1000 - (now - window.started);
      headers['retry-after'] = String(Math.max(1, Math.ceil(left / 1000)));
    }
    return headers;
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const address = req.socket.remoteAddress ?? 'unknown';
    let extra: Record<string, string> = {};
    if (MANIFEST.test(path) && (req.method === 'GET' || req.method === 'HEAD')) {
      const now = Date.now();
      const window = windowOf(address, now);
      if (req.method === 'GET') {
        if (window.used >= options.limit) {
          refused++;
          req.resume();
          res
            .writeHead(429, {
              'content-type': 'application/json',
              ...budgetHeaders(address, window, now),
            })
            .end(
              JSON.stringify({
                errors: [
                  {
                    code: 'TOOMANYREQUESTS',
                    message:
                      'You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limits',
                  },
                ],
              }),
            );
          return;
        }
        window.used++;
        pulled.set(address, (pulled.get(address) ?? 0) + 1);
      } else {
        heads++;
      }
      extra = budgetHeaders(address, window, now);
    }
    void passThrough(upstream, req, res, (status) => {
      // Only a manifest actually served is a pull (not a 401 before the token, not a 404).
      if (req.method === 'GET' && 'ratelimit-limit' in extra && status !== 200) {
        const window = windows.get(address);
        if (window) window.used--;
        pulled.set(address, (pulled.get(address) ?? 1) - 1);
      }
      return extra;
    });
  });
  return {
    ...(await listenOnLoopback(server)),
    options,
    pulls: (address) =>
      address === undefined
        ? [...pulled.values()].reduce((a, b) => a + b, 0)
        : (pulled.get(address) ?? 0),
    heads: () => heads,
    refused: () => refused,
    reset(next) {
      Object.assign(options, next);
      windows = new Map();
      pulled = new Map();
      heads = 0;
      refused = 0;
    },
  };
}

// A registry's pull budget, as it announces it on its responses.
//
// Docker Hub sends, on manifest GETs *and* HEADs (docker/docs
// content/manuals/docker-hub/usage/pulls.md, "View pull rate and limit"):
//
//   ratelimit-limit: 100;w=21600        100 pulls per 21600 s (6 hours)
//   ratelimit-remaining: 20;w=21600     20 of them left
//   docker-ratelimit-source: 192.0.2.1  what the budget is counted against (address or account)
//
// The `N;w=SECONDS` form is the quota policy of the RateLimit header fields
// draft (draft-polli-ratelimit-headers-04 §2, later
// draft-ietf-httpapi-ratelimit-headers), which also defines `ratelimit-reset`
// (seconds until the quota resets); Hub does not send that one, other
// registries may. A HEAD is a "version check" that does not count; a manifest
// GET does, one per architecture of a multi-arch image. Over the limit, Hub
// answers the manifest request with 429. No header at all means no limit
// applies to this client (paid account, or an unlimited publisher).

import type { Logger } from '../util/logger.ts';
import { parseRetryAfter } from './retry.ts';

export interface RateLimitReading {
  /** Pulls allowed per window. */
  readonly limit: number;
  readonly remaining: number;
  /** The window, seconds (`w=`); 0 when not said. */
  readonly windowSeconds: number;
  /** `docker-ratelimit-source`: the address or account the budget belongs to. */
  readonly source?: string;
  /** `ratelimit-reset`: seconds until the window resets, when the registry says. */
  readonly resetSeconds?: number;
  /** When this reading was taken (ms since the epoch). */
  readonly at: number;
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

function first(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `100;w=21600` → {value: 100, window: 21600}; `100` → {value: 100, window: 0}. */
function quota(text: string | undefined): { value: number; window: number } | undefined {
  if (text === undefined) return undefined;
  const [head, ...params] = text.split(';').map((part) => part.trim());
  if (!head || !/^\d+$/.test(head)) return undefined;
  let window = 0;
  for (const param of params) {
    const match = /^w\s*=\s*(\d+)$/i.exec(param);
    if (match) window = Number(match[1]);
  }
  return { value: Number(head), window };
}

/** The budget a response announces, or undefined when it announces none. */
export function parseRateLimit(headers: Headers, now = Date.now()): RateLimitReading | undefined {
  const limit = quota(first(headers, 'ratelimit-limit'));
  const remaining = quota(first(headers, 'ratelimit-remaining'));
  if (!limit || !remaining) return undefined;
  const source = first(headers, 'docker-ratelimit-source')?.trim();
  const reset = first(headers, 'ratelimit-reset')?.trim();
  return {
    limit: limit.value,
    remaining: remaining.value,
    windowSeconds: limit.window || remaining.window,
    ...(source && { source }),
    ...(reset && /^\d+$/.test(reset) && { resetSeconds: Number(reset) }),
    at: now,
  };
}

/**
 * How long a 429 asks us to wait when it carries no Retry-After: until the
 * window resets, if the registry says when (`ratelimit-reset`), else a whole
 * window when the budget reads empty (Hub's window slides: after `w` seconds
 * every pull counted in it has aged out).
 */
export function budgetWaitMs(headers: Headers, now = Date.now()): number | undefined {
  const reading = parseRateLimit(headers, now);
  if (!reading) return undefined;
  if (reading.resetSeconds !== undefined) return reading.resetSeconds * 1000;
  if (reading.remaining === 0 && reading.windowSeconds > 0) return reading.windowSeconds * 1000;
  return undefined;
}

export function describeReading(registry: string, reading: RateLimitReading): string {
  const window = reading.windowSeconds
    ? ` per ${reading.windowSeconds % 3600 === 0 ? `${reading.windowSeconds / 3600} h` : `${reading.windowSeconds} s`}`
    : '';
  return `${registry}: ${reading.remaining} of ${reading.limit} pulls${window} remaining${reading.source ? ` (counted against ${reading.source})` : ''}`;
}

/** The latest budget each registry announced during a run. */
export class RateLimits {
  readonly #readings = new Map<string, RateLimitReading>();
  readonly #logger: Logger | undefined;

  constructor(logger?: Logger) {
    this.#logger = logger;
  }

  readonly #notBefore = new Map<string, number>();

  /** Called with the headers of every response from `registry` (transport hook). */
  observe(registry: string, headers: Headers, request: string): void {
    const now = Date.now();
    const wait = parseRetryAfter(first(headers, 'retry-after'), now) ?? budgetWaitMs(headers, now);
    if (wait !== undefined) this.#notBefore.set(registry, now + wait);
    const reading = parseRateLimit(headers, now);
    if (!reading) return;
    if (wait === undefined && reading.remaining > 0) this.#notBefore.delete(registry);
    const earlier = this.#readings.get(registry);
    // Responses of concurrent requests arrive in any order; the lowest
    // remaining of one window is the truest.
    if (!earlier || reading.remaining <= earlier.remaining || reading.at - earlier.at > 1000)
      this.#readings.set(registry, reading);
    this.#logger?.debug(`pull budget after ${request}: ${describeReading(registry, reading)}`);
  }

  /**
   * When `registry` will take requests again after a 429: the last Retry-After
   * it sent, or the end of its window when its budget read empty; else undefined.
   */
  notBefore(registry: string): number | undefined {
    const at = this.#notBefore.get(registry);
    return at !== undefined && at > Date.now() ? at : undefined;
  }

  reading(registry: string): RateLimitReading | undefined {
    return this.#readings.get(registry);
  }

  /** Every registry that announced a budget, with its latest reading. */
  readings(): [string, RateLimitReading][] {
    return [...this.#readings];
  }
}

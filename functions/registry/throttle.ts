// Client-side throttling of one registry: at most so many requests, and so
// many writes, per second from this process. Artifact Registry allows 60,000
// requests and 18,000 write requests a minute per project and region
// (https://cloud.google.com/artifact-registry/quotas); past that it answers
// 429 to every client in the project. registry.k8s.io's image promoter met
// exactly that (kubernetes/registry.k8s.io#153) and settled it with
// client-side rate limiting (#166). A deployment divides its share of the
// quota among the instances that may run at once (infra/README.md, "Sizing"),
// so the sum can never exceed it, whatever the load.
//
// Each limit spaces requests evenly, one every 1/rate seconds (no burst): in
// any window of T seconds at most T × rate + 1 go out, and a request waits
// only when the process is already sending at the rate.

import { setTimeout as sleep } from 'node:timers/promises';
import { throwIfCancelled } from '../util/abort.ts';

export interface ThrottleRates {
  /** Requests a second, every method; 0: unlimited. */
  readonly requestsPerSecond: number;
  /** Write requests (PUT, POST, PATCH, DELETE) a second; 0: unlimited. */
  readonly writesPerSecond: number;
}

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const REAL_CLOCK: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) => sleep(ms, undefined, signal ? { signal } : undefined),
};

/** The methods Artifact Registry's quota counts as writes: every one that changes something. */
const WRITES: ReadonlySet<string> = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);

/**
 * One schedule for both limits: each request, in the order asked, takes the
 * next slot at least 1/requests after the previous request and, for a write,
 * at least 1/writes after the previous write. Slots never go backwards, so
 * requests leave in slot order and neither spacing is ever undercut.
 */
export class Throttle {
  readonly #requestInterval: number;
  readonly #writeInterval: number;
  readonly #clock: Clock;
  #nextRequest = Number.NEGATIVE_INFINITY;
  #nextWrite = Number.NEGATIVE_INFINITY;
  /** Grants so far, and how many of them waited: a test's and a log's view. */
  readonly counts = { requests: 0, writes: 0, waited: 0 };

  constructor(rates: ThrottleRates, clock: Clock = REAL_CLOCK) {
    this.#requestInterval = rates.requestsPerSecond > 0 ? 1000 / rates.requestsPerSecond : 0;
    this.#writeInterval = rates.writesPerSecond > 0 ? 1000 / rates.writesPerSecond : 0;
    this.#clock = clock;
  }

  /** Waits for this request's slot. */
  async take(method: string, signal?: AbortSignal): Promise<void> {
    const now = this.#clock.now();
    const write = WRITES.has(method);
    const slot = Math.max(now, this.#nextRequest, write ? this.#nextWrite : now);
    this.#nextRequest = slot + this.#requestInterval;
    if (write) this.#nextWrite = slot + this.#writeInterval;
    this.counts.requests++;
    if (write) this.counts.writes++;
    if (slot <= now) return;
    this.counts.waited++;
    await this.#clock.sleep(slot - now, signal);
    throwIfCancelled(signal);
  }
}

/** The throttle for the given rates, or none when both are unlimited. */
export function throttleFor(rates: ThrottleRates | undefined): Throttle | undefined {
  if (!rates || (rates.requestsPerSecond <= 0 && rates.writesPerSecond <= 0)) return undefined;
  return new Throttle(rates);
}

// The registry clients of one run: one per registry, sharing a keep-alive
// connection pool, the credential sources and the retry policy. Options and
// their defaults live here, in one place.

import type { Dispatcher } from 'undici';
import { DOCKER_HUB_ENDPOINT } from '../reference/reference.ts';
import { type Logger, silentLogger } from '../util/logger.ts';
import { RegistryClient } from './client.ts';
import { type CredentialProvider, StaticCredentials } from './credentials.ts';
import { endpointFor } from './endpoint.ts';
import { Agent } from './http.ts';
import {
  checkDestination,
  guardedLookup,
  type NetworkPolicy,
  OPEN_POLICY,
  type Resolver,
} from './network-policy.ts';
import { RateLimits } from './rate-limit.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.ts';
import { type Throttle, type ThrottleRates, throttleFor } from './throttle.ts';
import { Transport } from './transport.ts';

export interface RegistriesOptions {
  readonly credentials?: CredentialProvider;
  /** Logical registry → base URL (`--registry-endpoint`). */
  readonly endpoints?: ReadonlyMap<string, string>;
  readonly insecureRegistries?: readonly string[];
  readonly retry?: Partial<RetryPolicy>;
  readonly logger?: Logger;
  readonly connectTimeoutMs?: number;
  /** Time to wait for response headers. */
  readonly headersTimeoutMs?: number;
  /** Longest silence allowed while a body streams. */
  readonly bodyTimeoutMs?: number;
  readonly dispatcher?: Dispatcher;
  readonly userAgent?: string;
  /** Where connections may go (default: anywhere, as a person's CLI). */
  readonly policy?: NetworkPolicy;
  /**
   * Token hosts (`host` or `host:port`) allowed to receive a registry's
   * credentials although they are not the registry's own origin, by logical
   * registry (`--registry-auth-host`). Known ones (Docker Hub, GitLab) are built in.
   */
  readonly authHosts?: ReadonlyMap<string, readonly string[]>;
  /** The resolver the policy checks addresses from (default: the system's). */
  readonly resolve?: Resolver;
  /** Client-side limits of some registries (the target's quota), by logical registry. */
  readonly throttles?: ReadonlyMap<string, ThrottleRates>;
}

export const DEFAULT_TIMEOUTS = {
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 60_000,
  bodyTimeoutMs: 60_000,
};

/** Hosts that issue tokens for a registry on another host and may see its credentials. */
const KNOWN_AUTH_HOSTS: Readonly<Record<string, readonly string[]>> = {
  [DOCKER_HUB_ENDPOINT]: ['auth.docker.io'],
  'registry.gitlab.com': ['gitlab.com'],
};

export class Registries {
  readonly #options: RegistriesOptions;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #clients = new Map<string, RegistryClient>();
  readonly retry: RetryPolicy;
  readonly policy: NetworkPolicy;
  /** The pull budget each registry announced on its responses. */
  readonly rateLimits: RateLimits;
  /** The client-side limits in force, by logical registry. */
  readonly throttles = new Map<string, Throttle>();

  constructor(options: RegistriesOptions = {}) {
    this.#options = options;
    this.rateLimits = new RateLimits(options.logger);
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.policy = options.policy ?? OPEN_POLICY;
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ??
      new Agent({
        keepAliveTimeout: 30_000,
        connect: {
          timeout: options.connectTimeoutMs ?? DEFAULT_TIMEOUTS.connectTimeoutMs,
          // Every connection (registry, token realm, redirect) resolves through the policy.
          ...(this.policy.privateNetworks !== true && {
            lookup: guardedLookup(this.policy, options.resolve),
          }),
        },
      });
  }

  /** The client for a logical registry (`docker.io`, `ghcr.io`, `127.0.0.1:5000`). */
  client(registry: string): RegistryClient {
    let client = this.#clients.get(registry);
    if (!client) {
      const endpoint = endpointFor(registry, {
        ...(this.#options.endpoints && { endpoints: this.#options.endpoints }),
        ...(this.#options.insecureRegistries && {
          insecureRegistries: this.#options.insecureRegistries,
        }),
      });
      const throttle = throttleFor(this.#options.throttles?.get(registry));
      if (throttle) this.throttles.set(registry, throttle);
      const transport = new Transport({
        endpoint,
        ...(throttle && { throttle }),
        credentials: this.#options.credentials ?? new StaticCredentials([]),
        dispatcher: this.#dispatcher,
        retry: this.retry,
        logger: this.#options.logger ?? silentLogger,
        headersTimeoutMs: this.#options.headersTimeoutMs ?? DEFAULT_TIMEOUTS.headersTimeoutMs,
        bodyTimeoutMs: this.#options.bodyTimeoutMs ?? DEFAULT_TIMEOUTS.bodyTimeoutMs,
        insecureRegistries: this.#options.insecureRegistries ?? [],
        authHosts: [
          ...(KNOWN_AUTH_HOSTS[endpoint.hostname] ?? []),
          ...(this.#options.authHosts?.get(registry) ?? []),
        ],
        userAgent: this.#options.userAgent ?? 'image-syncer',
        guard: (url) => checkDestination(this.policy, url),
        onHeaders: (headers, request) => this.rateLimits.observe(registry, headers, request),
      });
      client = new RegistryClient(transport, this.retry);
      this.#clients.set(registry, client);
    }
    return client;
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }
}

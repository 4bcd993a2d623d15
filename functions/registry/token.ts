// The Docker token flow (distribution's "token authentication specification"):
// on a Bearer challenge, GET <realm>?service=<service>&scope=<scope>… with Basic
// credentials when we have some (anonymous otherwise), and send the returned
// token as `Authorization: Bearer`. Tokens are cached per scope set until just
// before they expire; concurrent requests for one scope share one fetch, also
// when they all find the token expired or refused at once (single flight).
// Credentials are looked up only when a token is really fetched, so a cached
// token never runs a credential helper.

import type { Dispatcher } from 'undici';
import { SyncerError } from '../errors.ts';
import type { Logger } from '../util/logger.ts';
import type { Challenge } from './challenge.ts';
import type { BasicCredential } from './credentials.ts';
import { mayUsePlainHttp } from './endpoint.ts';
import { parseErrorBody, RegistryError, RegistryNetworkError } from './errors.ts';
import { httpRequest } from './http.ts';
import { BlockedDestinationError } from './network-policy.ts';
import { redactUrl } from './redact.ts';
import { type RetryPolicy, withRetry } from './retry.ts';

/** Tokens are dropped this long before the registry said they expire. */
const EXPIRY_MARGIN_MS = 10_000;
/** The token spec's default lifetime when `expires_in` is missing. */
const DEFAULT_LIFETIME_S = 60;

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/** Asked only when a token is fetched: a credential helper runs only when a credential is needed. */
export type CredentialLookup = () => Promise<BasicCredential | undefined>;

export interface TokenSourceOptions {
  readonly dispatcher: Dispatcher;
  readonly retry: RetryPolicy;
  readonly logger: Logger;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly insecureRegistries: readonly string[];
  /**
   * Whether Basic credentials may go to this realm host. Docker Hub's realm is
   * auth.docker.io, a different host from the registry, so the caller decides.
   */
  readonly mayReceiveCredentials: (realm: URL) => boolean;
  readonly guard?: (url: URL) => void;
  readonly now?: () => number;
}

/** Scopes per token request when priming: keeps the realm URL to a few KiB. */
const PRIME_CHUNK = 40;

/** `repository:a/b:pull,push` → `repository:a/b` → {pull, push}. */
function grants(scopes: readonly string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const scope of scopes) {
    const cut = scope.lastIndexOf(':');
    const resource = scope.slice(0, cut);
    const actions = out.get(resource) ?? new Set<string>();
    for (const action of scope.slice(cut + 1).split(',')) actions.add(action);
    out.set(resource, actions);
  }
  return out;
}

function covers(broad: Map<string, Set<string>>, scopes: readonly string[]): boolean {
  for (const [resource, actions] of grants(scopes)) {
    const held = broad.get(resource);
    if (!held) return false;
    for (const action of actions) if (!held.has(action)) return false;
  }
  return true;
}

export class TokenSource {
  readonly #options: TokenSourceOptions;
  readonly #cache = new Map<string, Promise<CachedToken>>();
  /** The token each cache entry settled to, so a refusal drops only the token that was refused. */
  readonly #settled = new WeakMap<Promise<CachedToken>, string>();
  /** Tokens fetched for many repositories at once (prime), by what they were asked for. */
  #broad: { covers: Map<string, Set<string>>; token: Promise<CachedToken> }[] = [];

  constructor(options: TokenSourceOptions) {
    this.#options = options;
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  /**
   * Forgets a token the registry refused (a 401 with it), so the next call
   * fetches anew. With `refused`, only that token is dropped: when many
   * requests are refused at once, the first drops it and fetches a new one,
   * and the others find the new one instead of each fetching their own.
   */
  invalidate(scopes: readonly string[], refused?: string): void {
    const key = scopeKey(scopes);
    const cached = this.#cache.get(key);
    if (cached && (refused === undefined || this.#settled.get(cached) === refused)) {
      this.#cache.delete(key);
    }
    this.#broad = this.#broad.filter(
      (entry) =>
        !covers(entry.covers, scopes) ||
        (refused !== undefined && this.#settled.get(entry.token) !== refused),
    );
  }

  #remember(pending: Promise<CachedToken>): Promise<CachedToken> {
    pending.then(
      (value) => this.#settled.set(pending, value.token),
      () => {},
    );
    return pending;
  }

  /**
   * Fetches tokens for many scopes in a few requests (the token spec allows
   * several `scope` parameters), so a run over hundreds of repositories asks
   * the auth server a handful of times instead of once per repository. A
   * token server may grant less than asked; a request it then refuses gets a
   * 401, which invalidates the broad token and falls back to a token of its own.
   */
  async prime(
    challenge: Challenge,
    scopes: readonly string[],
    credential: CredentialLookup,
  ): Promise<void> {
    const wanted = [...new Set(scopes)];
    const fetches: Promise<CachedToken>[] = [];
    for (let i = 0; i < wanted.length; i += PRIME_CHUNK) {
      const chunk = wanted.slice(i, i + PRIME_CHUNK);
      const token = this.#remember(this.#fetch(challenge, chunk, credential));
      this.#broad.push({ covers: grants(chunk), token });
      fetches.push(token);
    }
    const results = await Promise.allSettled(fetches);
    this.#broad = this.#broad.filter((_, index) => results[index]?.status !== 'rejected');
  }

  async token(
    challenge: Challenge,
    scopes: readonly string[],
    credential: CredentialLookup,
  ): Promise<string> {
    const key = scopeKey(scopes);
    for (const entry of this.#broad) {
      if (!covers(entry.covers, scopes)) continue;
      try {
        const value = await entry.token;
        if (value.expiresAt > this.#now()) return value.token;
      } catch {
        // Fall through to a token of its own.
      }
    }
    let cached = this.#cache.get(key);
    while (cached) {
      try {
        const value = await cached;
        if (value.expiresAt > this.#now()) return value.token;
      } catch {
        // A failed fetch is not cached: fall through and fetch again.
      }
      const now = this.#cache.get(key);
      // Another caller found it expired first and is already fetching: share that fetch.
      if (now !== cached && now !== undefined) {
        cached = now;
        continue;
      }
      if (now === cached) this.#cache.delete(key);
      break;
    }
    const pending = this.#remember(this.#fetch(challenge, scopes, credential));
    this.#cache.set(key, pending);
    pending.catch(() => {
      if (this.#cache.get(key) === pending) this.#cache.delete(key);
    });
    return (await pending).token;
  }

  async #fetch(
    challenge: Challenge,
    scopes: readonly string[],
    lookup: CredentialLookup,
  ): Promise<CachedToken> {
    const realmText = challenge.params.realm;
    if (!realmText)
      throw new SyncerError('AUTH_CHALLENGE_INVALID', 'Bearer challenge without a realm');
    let realm: URL;
    try {
      realm = new URL(realmText);
    } catch {
      throw new SyncerError('AUTH_CHALLENGE_INVALID', `Bearer challenge realm is not a URL`);
    }
    if (
      realm.protocol !== 'https:' &&
      !(realm.protocol === 'http:' && mayUsePlainHttp(realm.host, this.#options.insecureRegistries))
    ) {
      throw new SyncerError(
        'AUTH_CHALLENGE_INVALID',
        `refusing token realm ${redactUrl(realm)}: it must be https (plain http only for loopback or insecure registries)`,
      );
    }
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);

    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#options.mayReceiveCredentials(realm)) {
      const credential = await lookup();
      if (credential) headers.authorization = basicAuthorization(credential);
    }
    const shown = redactUrl(url);
    return withRetry(
      this.#options.retry,
      async () => {
        const started = this.#now();
        this.#options.guard?.(url);
        let response: Dispatcher.ResponseData;
        try {
          response = await httpRequest(this.#options.dispatcher, url, {
            method: 'GET',
            headers,
            headersTimeout: this.#options.headersTimeoutMs,
            bodyTimeout: this.#options.bodyTimeoutMs,
          });
        } catch (cause) {
          if (cause instanceof BlockedDestinationError) throw cause;
          throw new RegistryNetworkError('GET', shown, cause);
        }
        const text = await response.body.text();
        this.#options.logger.debug(`GET ${shown} → ${response.statusCode}`, { scopes });
        if (response.statusCode !== 200) {
          throw new RegistryError({
            method: 'GET',
            url: shown,
            status: response.statusCode,
            ...parseErrorBody(text),
          });
        }
        let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
        try {
          body = JSON.parse(text);
        } catch (cause) {
          throw new SyncerError(
            'AUTH_TOKEN_INVALID',
            `token endpoint ${shown} did not answer JSON`,
            { cause },
          );
        }
        const token = typeof body.token === 'string' ? body.token : body.access_token;
        if (typeof token !== 'string' || token === '') {
          throw new SyncerError(
            'AUTH_TOKEN_INVALID',
            `token endpoint ${shown} answered without a token`,
          );
        }
        const lifetime =
          typeof body.expires_in === 'number' && body.expires_in > 0
            ? body.expires_in
            : DEFAULT_LIFETIME_S;
        return { token, expiresAt: started + lifetime * 1000 - EXPIRY_MARGIN_MS };
      },
      ({ attempt, delayMs, error }) =>
        this.#options.logger.debug(`token request failed, retrying in ${delayMs} ms`, {
          attempt,
          error: (error as Error).message,
        }),
    );
  }
}

export function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}

export function basicAuthorization(credential: BasicCredential): string {
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
}

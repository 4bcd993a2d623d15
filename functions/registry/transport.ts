// One Transport per registry endpoint: it knows the base URL, how that registry
// authenticates (learned once from a ping of /v2/), and sends requests with the
// right Authorization, retrying what is retryable and following redirects.
// It knows nothing of manifests or blobs; client.ts builds on it.
//
// Each host has its own auth state. The registry's own host gets its
// credentials; a host it redirects to (registry.k8s.io → an Artifact Registry
// host, Hub → a CDN) is another party: it never sees the first host's
// Authorization or credentials, and a 401 from it is answered with an
// anonymous token from its own realm (redirect.ts).

import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { abortable, cancellation, throwIfCancelled } from '../util/abort.ts';
import type { Logger } from '../util/logger.ts';
import { type Challenge, parseChallenge } from './challenge.ts';
import type { CredentialProvider } from './credentials.ts';
import { parseErrorBody, RegistryError, RegistryNetworkError } from './errors.ts';
import { httpRequest } from './http.ts';
import { BlockedDestinationError } from './network-policy.ts';
import { budgetWaitMs } from './rate-limit.ts';
import { redactUrl } from './redact.ts';
import { isRedirect, redirectTarget, scopesForPath, withChallengeScopes } from './redirect.ts';
import { parseRetryAfter, type RetryPolicy, withRetry } from './retry.ts';
import type { Throttle } from './throttle.ts';
import { basicAuthorization, type CredentialLookup, TokenSource } from './token.ts';

export type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface TransportRequest {
  readonly method: Method;
  /** A path under the endpoint (`/v2/…`) or an absolute URL the registry handed out (upload locations). */
  readonly url: string;
  /** Token scopes this request needs, e.g. `repository:library/alpine:pull`. */
  readonly scopes: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  /** A buffer is replayable and so retried; a stream is sent once and never replayed. */
  readonly body?: Buffer | Readable;
  /** Statuses that are answers rather than errors; anything else throws RegistryError. */
  readonly expect: readonly number[];
  /**
   * False when the caller retries the whole operation itself (a streamed copy,
   * a GET whose body is verified): retries must not multiply.
   */
  readonly retry?: boolean;
  /** Cancels the request (and its body); nothing is sent once it has fired. */
  readonly signal?: AbortSignal | undefined;
}

export interface TransportResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Dispatcher.ResponseData['body'];
  /** The URL that answered, after redirects. */
  readonly url: URL;
  readonly staleToken?: boolean;
}

export interface TransportOptions {
  readonly endpoint: URL;
  readonly credentials: CredentialProvider;
  readonly dispatcher: Dispatcher;
  readonly retry: RetryPolicy;
  readonly logger: Logger;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly insecureRegistries: readonly string[];
  /** Hosts (`host` or `host:port`) besides the registry's own that may receive its Basic credentials at a token realm. */
  readonly authHosts: readonly string[];
  readonly userAgent: string;
  /** Throws BlockedDestinationError for a URL the network policy forbids. */
  readonly guard?: (url: URL) => void;
  /** Sees every response's headers (the pull budget, registry/rate-limit.ts). */
  readonly onHeaders?: (headers: TransportResponse['headers'], request: string) => void;
  /** Paces every request sent, retries and redirects included (registry/throttle.ts). */
  readonly throttle?: Throttle;
}

/** Token priming (registry/prime.ts): which scopes to fetch tokens for up front. */
export interface PrimeOptions {
  readonly scopes: readonly string[];
  readonly signal?: AbortSignal;
}

const ERROR_BODY_LIMIT = 64 * 1024;

export function header(headers: TransportResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** What one host demands and what we hold for it. */
interface HostAuth {
  readonly own: boolean;
  /** Its challenge: from the ping for the registry's own host, from a 401 for others. */
  challenge: Promise<Challenge | undefined> | undefined;
  readonly tokens: TokenSource;
  /** Its credentials, looked up only when needed; never any for a host redirected to. */
  readonly credential: CredentialLookup;
}

const anonymous: CredentialLookup = async () => undefined;

export class Transport {
  readonly #options: TransportOptions;
  readonly #own: HostAuth;
  /** Hosts redirected to, by origin: each with its own anonymous auth state. */
  readonly #others = new Map<string, HostAuth>();

  constructor(options: TransportOptions) {
    this.#options = options;
    this.#own = {
      own: true,
      challenge: undefined,
      // The realm may see the registry's credentials only on the registry's
      // own origin or a known auth host of it (auth.docker.io for Hub).
      tokens: this.#tokenSource((realm) => {
        const host = realm.host.toLowerCase();
        return (
          host === options.endpoint.host.toLowerCase() ||
          options.authHosts.some(
            (allowed) =>
              allowed.toLowerCase() === host ||
              allowed.toLowerCase() === realm.hostname.toLowerCase(),
          )
        );
      }),
      credential: () => options.credentials.credentialFor(options.endpoint.host),
    };
  }

  #tokenSource(mayReceiveCredentials: (realm: URL) => boolean): TokenSource {
    const options = this.#options;
    return new TokenSource({
      dispatcher: options.dispatcher,
      retry: options.retry,
      logger: options.logger,
      headersTimeoutMs: options.headersTimeoutMs,
      bodyTimeoutMs: options.bodyTimeoutMs,
      insecureRegistries: options.insecureRegistries,
      mayReceiveCredentials,
      ...(options.guard && { guard: options.guard }),
    });
  }

  get endpoint(): URL {
    return this.#options.endpoint;
  }

  /** The auth state of the host `url` is on. */
  #hostAuth(url: URL): HostAuth {
    if (url.origin === this.#options.endpoint.origin) return this.#own;
    let auth = this.#others.get(url.origin);
    if (!auth) {
      auth = {
        own: false,
        challenge: undefined,
        tokens: this.#tokenSource(() => false),
        credential: anonymous,
      };
      this.#others.set(url.origin, auth);
    }
    return auth;
  }

  /**
   * GET /v2/ once, to learn whether the registry wants Basic, Bearer or nothing,
   * so later requests carry the right Authorization from the start instead of
   * each paying for a 401 first. The ping follows redirects too
   * (registry.k8s.io redirects it): a challenge from the host redirected to
   * is that host's, not ours.
   */
  #ping(signal?: AbortSignal): Promise<Challenge | undefined> {
    this.#own.challenge ??= withRetry(this.#options.retry, async () => {
      let url = new URL('/v2/', this.#options.endpoint);
      let response = await this.#send('GET', url, {}, undefined);
      for (let hops = 0; isRedirect(response.status); hops++) {
        await response.body.dump();
        url = redirectTarget('GET', url, header(response.headers, 'location'), hops);
        response = await this.#send('GET', url, {}, undefined);
      }
      await response.body.dump();
      if (response.status === 401) {
        const challenge = parseChallenge(header(response.headers, 'www-authenticate'));
        const auth = this.#hostAuth(url);
        if (auth.own) return challenge;
        auth.challenge = Promise.resolve(challenge);
        return undefined;
      }
      if (response.status >= 500 || response.status === 429) {
        throw new RegistryError({
          method: 'GET',
          url: redactUrl(url),
          status: response.status,
          retryAfterMs: parseRetryAfter(header(response.headers, 'retry-after')),
        });
      }
      return undefined;
    }).catch((error) => {
      this.#own.challenge = undefined;
      throw error;
    });
    return abortable(this.#own.challenge, signal);
  }

  /** Fetches bearer tokens for many scopes up front (no-op for Basic or anonymous registries). */
  async prime(options: PrimeOptions): Promise<void> {
    const challenge = await this.#ping(options.signal);
    if (challenge?.scheme !== 'bearer' || options.scopes.length === 0) return;
    await abortable(
      this.#own.tokens.prime(challenge, options.scopes, this.#own.credential),
      options.signal,
    );
  }

  /** The Authorization for a request to a host, or none. */
  async #authorization(
    auth: HostAuth,
    scopes: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    const challenge = auth.own ? await this.#ping(signal) : await auth.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') {
      const credential = await abortable(auth.credential(), signal);
      return credential ? basicAuthorization(credential) : undefined;
    }
    const token = await abortable(auth.tokens.token(challenge, scopes, auth.credential), signal);
    return `Bearer ${token}`;
  }

  async #send(
    method: Method,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | Readable | undefined,
    signal?: AbortSignal,
  ): Promise<TransportResponse> {
    // Nothing is sent once cancelled: a cancelled copy writes nothing more.
    throwIfCancelled(signal);
    this.#options.guard?.(url);
    await this.#options.throttle?.take(method, signal);
    const started = performance.now();
    let response: Dispatcher.ResponseData;
    try {
      response = await httpRequest(this.#options.dispatcher, url, {
        method,
        headers: { 'user-agent': this.#options.userAgent, ...headers },
        ...(body !== undefined && { body }),
        headersTimeout: this.#options.headersTimeoutMs,
        bodyTimeout: this.#options.bodyTimeoutMs,
        ...(signal && { signal }),
      });
    } catch (cause) {
      if (signal?.aborted) throw cancellation(signal);
      this.#options.logger.debug(`${method} ${redactUrl(url)} failed`, {
        error: (cause as Error).message,
      });
      throw networkError(method, url, cause);
    }
    this.#options.logger.debug(
      `${method} ${redactUrl(url)} → ${response.statusCode} (${Math.round(performance.now() - started)} ms)`,
    );
    this.#options.onHeaders?.(response.headers, `${method} ${redactUrl(url)}`);
    return { status: response.statusCode, headers: response.headers, body: response.body, url };
  }

  /**
   * Sends once: authorise, send; on a 401 learn the host's challenge, refresh
   * the token (with the challenge's scope) and send again if the body allows;
   * follow redirects of GETs and HEADs, each host with its own auth.
   */
  async #sendAuthorized(req: TransportRequest): Promise<TransportResponse> {
    const signal = req.signal;
    let url = new URL(req.url, this.#options.endpoint);
    let auth = this.#hostAuth(url);
    let scopes: readonly string[] = auth.own ? req.scopes : scopesForPath(url, req.method);
    // Upload locations are absolute URLs chosen by the registry; one on
    // another origin starts without credentials, like any other host.
    let authorization = await this.#authorization(auth, scopes, signal);
    let response = await this.#send(
      req.method,
      url,
      withAuth(req.headers, authorization),
      req.body,
      signal,
    );
    let refreshed = false;
    for (let hops = 0; ; ) {
      if (response.status === 401 && isStream(req.body)) {
        auth.tokens.invalidate(scopes, bearerToken(authorization));
        return { ...response, staleToken: true };
      }
      if (response.status === 401 && !refreshed) {
        // The token expired or lacked a scope, or this host wants a token we
        // have not fetched yet: learn its challenge and ask again, once.
        const challenge = parseChallenge(header(response.headers, 'www-authenticate'));
        if (!challenge) break;
        refreshed = true;
        await response.body.dump();
        auth.tokens.invalidate(scopes, bearerToken(authorization));
        auth.challenge = Promise.resolve(challenge);
        scopes = withChallengeScopes(scopes, challenge.params.scope);
        authorization = await this.#authorization(auth, scopes, signal);
        response = await this.#send(
          req.method,
          url,
          withAuth(req.headers, authorization),
          req.body,
          signal,
        );
        continue;
      }
      if (!isRedirect(response.status) || (req.method !== 'GET' && req.method !== 'HEAD')) break;
      await response.body.dump();
      url = redirectTarget(req.method, url, header(response.headers, 'location'), hops++);
      // Credentials belong to their own host: a redirect to another host
      // (storage with a signed URL, the registry behind registry.k8s.io)
      // carries none of ours; that host's own challenge decides.
      auth = this.#hostAuth(url);
      scopes = auth.own ? req.scopes : scopesForPath(url, req.method);
      refreshed = false;
      authorization = await this.#authorization(auth, scopes, signal);
      response = await this.#send(
        req.method,
        url,
        withAuth(req.headers, authorization),
        undefined,
        signal,
      );
    }
    return response;
  }

  /**
   * Sends a request; statuses in `expect` are returned (body unread), anything
   * else becomes a RegistryError. Retries transient failures unless the body is
   * a stream, which cannot be replayed: streamed uploads retry a level up.
   */
  async request(req: TransportRequest): Promise<TransportResponse> {
    const attempt = async (): Promise<TransportResponse> => {
      const response = await this.#sendAuthorized(req);
      if (req.expect.includes(response.status)) return response;
      const text = await readLimited(response.body, ERROR_BODY_LIMIT);
      throw new RegistryError({
        method: req.method,
        url: redactUrl(response.url),
        status: response.status,
        // A 429 without Retry-After waits until the pull budget's window resets.
        retryAfterMs:
          parseRetryAfter(header(response.headers, 'retry-after')) ??
          budgetWaitMs(response.headers),
        staleToken: response.staleToken === true,
        ...parseErrorBody(text),
      });
    };
    if (isStream(req.body) || req.retry === false) return attempt();
    return withRetry(
      this.#options.retry,
      attempt,
      ({ attempt: n, delayMs, error }) =>
        this.#options.logger.debug(
          `retrying ${req.method} ${redactUrl(new URL(req.url, this.#options.endpoint))} in ${delayMs} ms`,
          {
            attempt: n,
            error: (error as Error).message,
          },
        ),
      req.signal,
    );
  }
}

/** A refused destination is final; anything else at the socket level may pass. */
function networkError(method: string, url: URL, cause: unknown): Error {
  if (cause instanceof BlockedDestinationError) return cause;
  return new RegistryNetworkError(method, redactUrl(url), cause);
}

function withAuth(
  headers: Readonly<Record<string, string>> | undefined,
  authorization: string | undefined,
): Record<string, string> {
  return authorization ? { ...headers, authorization } : { ...headers };
}

/** The token a Bearer authorization carried, so a refusal drops exactly that one. */
function bearerToken(authorization: string | undefined): string | undefined {
  return authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
}

function isStream(body: Buffer | Readable | undefined): body is Readable {
  return body !== undefined && !Buffer.isBuffer(body);
}

async function readLimited(body: TransportResponse['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < limit) chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

// One Transport per registry endpoint: it knows the base URL, how that registry
// authenticates (learned once from a ping of /v2/), and sends requests with the
// right Authorization, retrying what is retryable and following redirects.
// It knows nothing of manifests or blobs; operations.ts builds on it.

import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { SyncerError } from '../errors.ts';
import type { Logger } from '../util/logger.ts';
import { type Challenge, parseChallenge } from './challenge.ts';
import type { CredentialProvider } from './credentials.ts';
import { parseErrorBody, RegistryError, RegistryNetworkError } from './errors.ts';
import { httpRequest } from './http.ts';
import { BlockedDestinationError } from './network-policy.ts';
import { budgetWaitMs } from './rate-limit.ts';
import { redactUrl } from './redact.ts';
import { parseRetryAfter, type RetryPolicy, withRetry } from './retry.ts';
import { basicAuthorization, TokenSource } from './token.ts';

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
  /** Follow 3xx answers (blob GETs: Hub and Artifact Registry send blobs from another host). */
  readonly followRedirects?: boolean;
  /**
   * False when the caller retries the whole operation itself (a streamed copy,
   * a GET whose body is verified): retries must not multiply.
   */
  readonly retry?: boolean;
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
}

const MAX_REDIRECTS = 5;
const ERROR_BODY_LIMIT = 64 * 1024;

export function header(headers: TransportResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export class Transport {
  readonly #options: TransportOptions;
  readonly #tokens: TokenSource;
  #challenge: Promise<Challenge | undefined> | undefined;

  constructor(options: TransportOptions) {
    this.#options = options;
    this.#tokens = new TokenSource({
      dispatcher: options.dispatcher,
      retry: options.retry,
      logger: options.logger,
      headersTimeoutMs: options.headersTimeoutMs,
      bodyTimeoutMs: options.bodyTimeoutMs,
      insecureRegistries: options.insecureRegistries,
      // The realm may see the registry's credentials only on the registry's
      // own origin or a known auth host of it (auth.docker.io for Hub).
      mayReceiveCredentials: (realm) => {
        const host = realm.host.toLowerCase();
        return (
          host === options.endpoint.host.toLowerCase() ||
          options.authHosts.some(
            (allowed) =>
              allowed.toLowerCase() === host ||
              allowed.toLowerCase() === realm.hostname.toLowerCase(),
          )
        );
      },
      ...(options.guard && { guard: options.guard }),
    });
  }

  get endpoint(): URL {
    return this.#options.endpoint;
  }

  /**
   * GET /v2/ once, to learn whether the registry wants Basic, Bearer or nothing,
   * so later requests carry the right Authorization from the start instead of
   * each paying for a 401 first.
   */
  #ping(): Promise<Challenge | undefined> {
    this.#challenge ??= withRetry(this.#options.retry, async () => {
      const url = new URL('/v2/', this.#options.endpoint);
      const response = await this.#send('GET', url, {}, undefined);
      await response.body.dump();
      if (response.status === 401)
        return parseChallenge(header(response.headers, 'www-authenticate'));
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
      this.#challenge = undefined;
      throw error;
    });
    return this.#challenge;
  }

  /** Fetches bearer tokens for many scopes up front (no-op for Basic or anonymous registries). */
  async prime(scopes: readonly string[]): Promise<void> {
    const challenge = await this.#ping();
    if (challenge?.scheme !== 'bearer' || scopes.length === 0) return;
    const credential = await this.#options.credentials.credentialFor(this.#options.endpoint.host);
    await this.#tokens.prime(challenge, scopes, credential);
  }

  async #authorization(scopes: readonly string[]): Promise<string | undefined> {
    const challenge = await this.#ping();
    if (!challenge) return undefined;
    const credential = await this.#options.credentials.credentialFor(this.#options.endpoint.host);
    if (challenge.scheme === 'basic')
      return credential ? basicAuthorization(credential) : undefined;
    return `Bearer ${await this.#tokens.token(challenge, scopes, credential)}`;
  }

  async #send(
    method: Method,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | Readable | undefined,
  ): Promise<TransportResponse> {
    const started = performance.now();
    this.#options.guard?.(url);
    let response: Dispatcher.ResponseData;
    try {
      response = await httpRequest(this.#options.dispatcher, url, {
        method,
        headers: { 'user-agent': this.#options.userAgent, ...headers },
        ...(body !== undefined && { body }),
        headersTimeout: this.#options.headersTimeoutMs,
        bodyTimeout: this.#options.bodyTimeoutMs,
      });
    } catch (cause) {
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

  /** Sends once: authorise, send, and on a 401 refresh the token and send again if the body allows. */
  async #sendAuthorized(req: TransportRequest): Promise<TransportResponse> {
    let url = new URL(req.url, this.#options.endpoint);
    const baseHeaders = { ...req.headers };
    // Upload locations are absolute URLs chosen by the registry; if one points
    // at another origin, it gets no credentials.
    const ownOrigin = url.origin === this.#options.endpoint.origin;
    let authorization = ownOrigin ? await this.#authorization(req.scopes) : undefined;
    let response = await this.#send(
      req.method,
      url,
      withAuth(baseHeaders, authorization),
      req.body,
    );

    if (response.status === 401 && isStream(req.body)) {
      this.#tokens.invalidate(req.scopes);
      return { ...response, staleToken: true };
    }
    if (response.status === 401 && ownOrigin) {
      await response.body.dump();
      // The token expired or lacked a scope: forget it and ask again, once.
      this.#tokens.invalidate(req.scopes);
      const challenge = parseChallenge(header(response.headers, 'www-authenticate'));
      if (challenge) this.#challenge = Promise.resolve(challenge);
      authorization = await this.#authorization(req.scopes);
      response = await this.#send(req.method, url, withAuth(baseHeaders, authorization), req.body);
    }

    for (let hops = 0; req.followRedirects && isRedirect(response.status); hops++) {
      const location = header(response.headers, 'location');
      await response.body.dump();
      if (!location || hops >= MAX_REDIRECTS) {
        throw new SyncerError(
          'TOO_MANY_REDIRECTS',
          `${req.method} ${redactUrl(url)}: redirect loop or missing Location`,
        );
      }
      const next = new URL(location, url);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new SyncerError(
          'BAD_REDIRECT',
          `${req.method} ${redactUrl(url)}: redirect to ${next.protocol} refused`,
        );
      }
      // Credentials belong to the registry's host: a redirect to storage on
      // another host (signed URL) must not carry them.
      const sameOrigin = next.origin === this.#options.endpoint.origin;
      url = next;
      response = await this.#send(
        req.method,
        url,
        sameOrigin ? withAuth(baseHeaders, authorization) : baseHeaders,
        undefined,
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
    return withRetry(this.#options.retry, attempt, ({ attempt: n, delayMs, error }) =>
      this.#options.logger.debug(
        `retrying ${req.method} ${redactUrl(new URL(req.url, this.#options.endpoint))} in ${delayMs} ms`,
        {
          attempt: n,
          error: (error as Error).message,
        },
      ),
    );
  }
}

/** A refused destination is final; anything else at the socket level may pass. */
function networkError(method: string, url: URL, cause: unknown): Error {
  if (cause instanceof BlockedDestinationError) return cause;
  return new RegistryNetworkError(method, redactUrl(url), cause);
}

function withAuth(
  headers: Record<string, string>,
  authorization: string | undefined,
): Record<string, string> {
  return authorization ? { ...headers, authorization } : headers;
}

function isStream(body: Buffer | Readable | undefined): body is Readable {
  return body !== undefined && !Buffer.isBuffer(body);
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
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

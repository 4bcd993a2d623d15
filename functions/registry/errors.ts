// One error type for everything a registry answers with a status we did not
// expect. It carries what a person needs to act on it (method, URL, status, the
// registry's own error codes) and what the retry logic needs (Retry-After),
// never a credential: URLs are redacted before they get here.

import { type ErrorCode, SyncerError } from '../errors.ts';

/** An entry of the distribution spec's error body: `{"errors": [{code, message, detail}]}`. */
export interface RegistryErrorEntry {
  readonly code: string;
  readonly message?: string;
}

export class RegistryError extends SyncerError {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly errors: readonly RegistryErrorEntry[];
  /** Milliseconds the registry asked us to wait (Retry-After), if it said. */
  readonly retryAfterMs: number | undefined;
  /**
   * A 401 on a streamed request whose token has since been dropped: the stream
   * could not be replayed in place, but the operation may run again.
   */
  readonly staleToken: boolean;

  constructor(init: {
    method: string;
    url: string;
    status: number;
    errors?: readonly RegistryErrorEntry[];
    retryAfterMs?: number | undefined;
    detail?: string;
    staleToken?: boolean;
  }) {
    const errors = init.errors ?? [];
    const codes = errors.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join('; ');
    const said = codes || init.detail || '';
    super(
      init.staleToken
        ? 'STALE_TOKEN'
        : init.status === 400 && errors.some((e) => e.code === 'MANIFEST_BLOB_UNKNOWN')
          ? 'MANIFEST_BLOB_UNKNOWN'
          : codeForStatus(init.status),
      `${init.method} ${init.url} answered ${init.status}${said ? ` (${said})` : ''}`,
    );
    this.method = init.method;
    this.url = init.url;
    this.status = init.status;
    this.errors = errors;
    this.retryAfterMs = init.retryAfterMs;
    this.staleToken = init.staleToken ?? false;
  }

  hasCode(code: string): boolean {
    return this.errors.some((e) => e.code === code);
  }
}

/**
 * The status decides the code, and the code decides everything else
 * (functions/failures.ts): 408, 429 and 500/502/503/504 are worth another try;
 * 501 and 505 say the registry cannot do this at all.
 */
export function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 408) return 'REQUEST_TIMEOUT';
  if (status === 429) return 'TOO_MANY_REQUESTS';
  if (status === 501 || status === 505) return 'REGISTRY_UNSUPPORTED';
  if (status >= 500 && status <= 504) return 'REGISTRY_UNAVAILABLE';
  return 'REGISTRY_ERROR';
}

/** A connection-level failure (reset, refused, timeout) talking to a registry. */
export class RegistryNetworkError extends SyncerError {
  readonly method: string;
  readonly url: string;

  constructor(method: string, url: string, cause: unknown) {
    const causeCode = (cause as { code?: string } | undefined)?.code;
    const causeMessage = cause instanceof Error ? cause.message : String(cause);
    super(
      'NETWORK_ERROR',
      `${method} ${url} failed: ${causeMessage}${causeCode ? ` (${causeCode})` : ''}`,
      { cause },
    );
    this.method = method;
    this.url = url;
  }
}

/** Reads the distribution spec's error body, tolerating registries that send HTML or nothing. */
export function parseErrorBody(text: string): { errors: RegistryErrorEntry[]; detail?: string } {
  try {
    const body = JSON.parse(text) as { errors?: unknown };
    if (Array.isArray(body.errors)) {
      return {
        errors: body.errors
          .filter(
            (e): e is { code: unknown; message?: unknown } => typeof e === 'object' && e !== null,
          )
          .map((e) => ({
            code: String(e.code),
            ...(typeof e.message === 'string' && { message: e.message }),
          })),
      };
    }
  } catch {
    // Not JSON: fall through to a short excerpt of the text.
  }
  const detail = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return { errors: [], ...(detail && { detail }) };
}

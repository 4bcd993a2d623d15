// Redirects, as registries use them:
//
// - registry.k8s.io answers every /v2/ request, the /v2/ ping and manifests
//   included, with 307 to the registry that really holds the image (an
//   Artifact Registry host; kubernetes/registry.k8s.io, cmd/archeio,
//   docs/request-handling.md: "If it's a manifest request: Redirect to
//   Upstream Registry").
// - Docker Hub and Artifact Registry send blob GETs to a storage host or CDN
//   with a signed URL (OCI distribution spec, "Pulling blobs": a registry MAY
//   redirect to another location).
//
// Every GET and HEAD follows them. A host redirected to is another party: it
// gets none of the first host's credentials, and answers its own 401 with its
// own challenge (see transport.ts).

import { SyncerError } from '../errors.ts';
import { redactUrl } from './redact.ts';

export const MAX_REDIRECTS = 5;

export function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** The URL a redirect points at, refusing loops, a missing Location and non-HTTP schemes. */
export function redirectTarget(
  method: string,
  from: URL,
  location: string | undefined,
  hops: number,
): URL {
  if (!location || hops >= MAX_REDIRECTS) {
    throw new SyncerError(
      'TOO_MANY_REDIRECTS',
      `${method} ${redactUrl(from)}: redirect loop or missing Location`,
    );
  }
  const next = new URL(location, from);
  if (next.protocol !== 'https:' && next.protocol !== 'http:') {
    throw new SyncerError(
      'BAD_REDIRECT',
      `${method} ${redactUrl(from)}: redirect to ${next.protocol} refused`,
    );
  }
  return next;
}

const API_PATH = /^\/v2\/(.+?)\/(manifests|blobs|tags|referrers)\//;

/**
 * The token scopes a request to `url` needs on a host we were redirected to,
 * read from its path (the repository name there may differ from ours:
 * registry.k8s.io/pause → …/k8s-artifacts-prod/images/pause).
 */
export function scopesForPath(url: URL, method: string): string[] {
  const match = API_PATH.exec(url.pathname);
  if (!match) return [];
  const write = method !== 'GET' && method !== 'HEAD';
  return [`repository:${match[1]}:${write ? 'pull,push' : 'pull'}`];
}

/** A request's scopes plus what a 401 challenge's `scope` asks for (space-separated, as go-containerregistry reads it). */
export function withChallengeScopes(
  scopes: readonly string[],
  challengeScope: string | undefined,
): string[] {
  const extra = (challengeScope ?? '').split(' ').filter((s) => s !== '');
  return [...new Set([...scopes, ...extra])];
}

// A registry-zoo profile: the OCI 1.1 referrers API in front of a real
// docker-registry 2.8 (which lacks it and answers 404), reproducing what
// OCI distribution-spec v1.1.0 (spec.md) requires of a registry that has it:
//
// - §Pushing Manifests with Subject: a manifest PUT with a `subject` is indexed
//   and answered with the header `OCI-Subject: <subject digest>`;
// - §Listing Referrers (end-12a/12b): GET /v2/<name>/referrers/<digest> answers
//   200 with an image index of descriptors (artifactType: the manifest's own,
//   else its config's mediaType; the manifest's annotations), empty when there
//   are none, never 404 for an existing repository; `?artifactType=` filters
//   and says so with `OCI-Filters-Applied: artifactType`; more than `pageSize`
//   referrers are paged with `Link: <…>; rel="next"` (RFC 5988).
//
// Access is the registry's own: the referrers request is authorised by
// forwarding a tags/list of the repository with the client's Authorization,
// so a 401 (with its Bearer challenge) comes from the real registry.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback, passThrough, send as sendUpstream } from './listen.ts';

interface Entry {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
}

export interface ReferrersProxy {
  readonly url: string;
  readonly host: string;
  readonly seen: { method: string; path: string; status: number }[];
  close(): Promise<void>;
}

const REFERRERS = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]{64})$/;
const MANIFEST_PUT = /^\/v2\/(.+)\/manifests\/([^/]+)$/;

export async function startReferrersProxy(
  upstreamUrl: string,
  options: { pageSize?: number } = {},
): Promise<ReferrersProxy> {
  const api = new ReferrersApi(upstreamUrl, options.pageSize ?? 2);
  const server = createServer((req, res) => api.handle(req, res));
  return {
    ...(await listenOnLoopback(server)),
    seen: api.seen,
  };
}

/** The manifest fields the referrers index reads. */
interface PushedManifest {
  mediaType: string;
  artifactType?: string;
  config?: { mediaType?: string };
  subject?: { digest?: string };
  annotations?: Record<string, string>;
}

/** The referrers routes, and the index of pushed manifests with a subject behind them. */
class ReferrersApi {
  readonly seen: ReferrersProxy['seen'] = [];
  /** `name@subject` → referrers, in push order. */
  readonly #index = new Map<string, Entry[]>();
  readonly #upstreamUrl: string;
  readonly #upstream: URL;
  readonly #pageSize: number;

  constructor(upstreamUrl: string, pageSize: number) {
    this.#upstreamUrl = upstreamUrl;
    this.#upstream = new URL(upstreamUrl);
    this.#pageSize = pageSize;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    let status: number;
    try {
      if (req.method === 'GET' && REFERRERS.test(url.pathname))
        status = await this.#listReferrers(req, res, url);
      else if (req.method === 'PUT' && MANIFEST_PUT.test(url.pathname))
        status = await this.#putManifest(req, res, url);
      else {
        status = await passThrough(this.#upstream, req, res);
      }
    } catch {
      res.destroy();
      status = 502;
    }
    this.seen.push({ method: req.method ?? '', path: req.url ?? '', status });
  }

  // Forwards with the client's own headers (its Authorization included); a GET carries no body.
  #send(req: IncomingMessage, path: string, method: string, body: Buffer | undefined) {
    return sendUpstream(
      this.#upstreamUrl,
      method,
      path,
      { ...req.headers, ...(method === 'GET' && { 'content-length': '0' }) },
      body,
    );
  }

  async #listReferrers(req: IncomingMessage, res: ServerResponse, url: URL): Promise<number> {
    const [, name, subject] = REFERRERS.exec(url.pathname) as RegExpExecArray;
    const auth = await this.#send(req, `/v2/${name}/tags/list`, 'GET', undefined);
    if (auth.status !== 200) {
      res.writeHead(auth.status, auth.headers).end(auth.body);
      return auth.status;
    }
    const artifactType = url.searchParams.get('artifactType');
    let entries = this.#index.get(`${name}@${subject}`) ?? [];
    if (artifactType) entries = entries.filter((e) => e.artifactType === artifactType);
    const page = Number(url.searchParams.get('page') ?? '0');
    const pageSize = this.#pageSize;
    const slice = entries.slice(page * pageSize, (page + 1) * pageSize);
    const headers: Record<string, string> = {
      'content-type': 'application/vnd.oci.image.index.v1+json',
    };
    if (artifactType) headers['oci-filters-applied'] = 'artifactType';
    if ((page + 1) * pageSize < entries.length) {
      const next = new URLSearchParams(url.searchParams);
      next.set('page', String(page + 1));
      headers.link = `</v2/${name}/referrers/${subject}?${next}>; rel="next"`;
    }
    res.writeHead(200, headers).end(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: slice,
      }),
    );
    return 200;
  }

  async #putManifest(req: IncomingMessage, res: ServerResponse, url: URL): Promise<number> {
    const [, name] = MANIFEST_PUT.exec(url.pathname) as RegExpExecArray;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const answer = await this.#send(req, url.pathname + url.search, 'PUT', body);
    const headers = { ...answer.headers };
    if (answer.status === 201) {
      const subject = this.#indexReferrer(name as string, body);
      if (subject) headers['oci-subject'] = subject;
    }
    res.writeHead(answer.status, headers).end(answer.body);
    return answer.status;
  }

  /** Indexes a pushed manifest under its subject, once; returns the subject's digest, if it has one. */
  #indexReferrer(name: string, body: Buffer): string | undefined {
    const manifest = JSON.parse(body.toString('utf8')) as PushedManifest;
    const subject = manifest.subject?.digest as string | undefined;
    if (!subject) return undefined;
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const artifactType = manifest.artifactType ?? manifest.config?.mediaType;
    const entries = this.#index.get(`${name}@${subject}`) ?? [];
    if (!entries.some((e) => e.digest === digest)) {
      entries.push({
        mediaType: manifest.mediaType,
        digest,
        size: body.length,
        ...(artifactType && { artifactType }),
        ...(manifest.annotations && { annotations: manifest.annotations }),
      });
    }
    this.#index.set(`${name}@${subject}`, entries);
    return subject;
  }
}

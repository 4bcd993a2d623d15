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
  const upstream = new URL(upstreamUrl);
  const pageSize = options.pageSize ?? 2;
  /** `name@subject` → referrers, in push order. */
  const index = new Map<string, Entry[]>();
  const seen: ReferrersProxy['seen'] = [];

  // Forwards with the client's own headers (its Authorization included); a GET carries no body.
  const send = (req: IncomingMessage, path: string, method: string, body: Buffer | undefined) =>
    sendUpstream(
      upstreamUrl,
      method,
      path,
      { ...req.headers, ...(method === 'GET' && { 'content-length': '0' }) },
      body,
    );

  const listReferrers = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const [, name, subject] = REFERRERS.exec(url.pathname) as RegExpExecArray;
    const auth = await send(req, `/v2/${name}/tags/list`, 'GET', undefined);
    if (auth.status !== 200) {
      res.writeHead(auth.status, auth.headers).end(auth.body);
      return auth.status;
    }
    const artifactType = url.searchParams.get('artifactType');
    let entries = index.get(`${name}@${subject}`) ?? [];
    if (artifactType) entries = entries.filter((e) => e.artifactType === artifactType);
    const page = Number(url.searchParams.get('page') ?? '0');
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
  };

  const putManifest = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const [, name] = MANIFEST_PUT.exec(url.pathname) as RegExpExecArray;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const answer = await send(req, url.pathname + url.search, 'PUT', body);
    const headers = { ...answer.headers };
    if (answer.status === 201) {
      const manifest = JSON.parse(body.toString('utf8')) as {
        mediaType: string;
        artifactType?: string;
        config?: { mediaType?: string };
        subject?: { digest?: string };
        annotations?: Record<string, string>;
      };
      const subject = manifest.subject?.digest as string | undefined;
      if (subject) {
        const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
        const artifactType = manifest.artifactType ?? manifest.config?.mediaType;
        const entries = index.get(`${name}@${subject}`) ?? [];
        if (!entries.some((e) => e.digest === digest)) {
          entries.push({
            mediaType: manifest.mediaType,
            digest,
            size: body.length,
            ...(artifactType && { artifactType }),
            ...(manifest.annotations && { annotations: manifest.annotations }),
          });
        }
        index.set(`${name}@${subject}`, entries);
        headers['oci-subject'] = subject;
      }
    }
    res.writeHead(answer.status, headers).end(answer.body);
    return answer.status;
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    let status: number;
    try {
      if (req.method === 'GET' && REFERRERS.test(url.pathname))
        status = await listReferrers(req, res, url);
      else if (req.method === 'PUT' && MANIFEST_PUT.test(url.pathname))
        status = await putManifest(req, res, url);
      else {
        status = await passThrough(upstream, req, res);
      }
    } catch {
      res.destroy();
      status = 502;
    }
    seen.push({ method: req.method ?? '', path: req.url ?? '', status });
  });
  return {
    ...(await listenOnLoopback(server)),
    seen,
  };
}

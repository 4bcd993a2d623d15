// The zoo's one proxy engine: a "front" plays a profile's behaviours (see
// behaviours.ts) in front of a real docker-registry server, and records what
// every host it runs received: the registry itself, its token realm (on its
// own origin or on an auth host of its own) and its blob storage host. All of
// them listen on 127.0.0.1 only, each on its own port (its own origin).

import { createHash, createHmac } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { TestRegistry } from '../registry.ts';
import type { Behaviours, Profile } from './behaviours.ts';
import {
  close,
  errorBody,
  listen,
  MANIFEST_ACCEPT,
  readBody,
  record,
  type Seen,
  serveBlobFile,
  sha256BySha512,
  upstreamRequest,
} from './http.ts';
import { schema1Manifest } from './schema1.ts';

export type { Seen } from './http.ts';

export interface Front {
  readonly profile: Profile;
  readonly url: string;
  readonly host: string;
  /** Registry API requests. */
  readonly seen: Seen[];
  /** Token requests at the realm (own origin or auth host). */
  readonly authSeen: Seen[];
  /** Requests at the blob storage host (other-host storage only). */
  readonly storageSeen: Seen[];
  readonly authHost?: string;
  readonly storageHost?: string;
  /** Manifest GETs counted against the pull limit. */
  readonly pulls: () => number;
  /** Runs `hook` once, before the next request that matches (to stage a race). */
  beforeNext(method: string, path: RegExp, hook: () => Promise<void>): void;
  close(): Promise<void>;
}

export interface FrontOptions {
  /** Behaviours that replace the profile's (a test's variation). */
  readonly overrides?: Partial<Behaviours>;
}

const SIGNING_KEY = 'zoo-storage-signing-key';

function sign(hex: string): string {
  return createHmac('sha256', SIGNING_KEY).update(hex).digest('hex').slice(0, 32);
}

const BLOB_GET = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/;
const MANIFEST = /^\/v2\/(.+)\/manifests\/([^/?]+)$/;
const STORAGE_PATH =
  /^\/(?:artifacts-downloads|storage)\/blobs\/sha256\/([0-9a-f]{64})\?sig=([0-9a-f]+)$/;

export async function startFront(
  profile: Profile,
  backend: TestRegistry | Front,
  options: FrontOptions = {},
): Promise<Front> {
  const b: Behaviours = { ...profile.behaviours, ...options.overrides };
  const registry = 'root' in backend ? backend : undefined;
  const upstream = registry ? new URL(registry.url) : undefined;
  const seen: Seen[] = [];
  const authSeen: Seen[] = [];
  const storageSeen: Seen[] = [];
  const hooks: { method: string; path: RegExp; hook: () => Promise<void> }[] = [];
  let pulls = 0;

  /** The token realm: forwarded to the test token server, which checks Basic credentials itself. */
  const serveToken = async (req: IncomingMessage, res: ServerResponse) => {
    record(authSeen, req, res);
    const tokens = registry?.tokenServer;
    if (!tokens) {
      res.writeHead(404).end();
      return;
    }
    const query = new URL(req.url ?? '/', 'http://x').search;
    const answer = await upstreamRequest(new URL(tokens.url), 'GET', `/token${query}`, {
      ...(req.headers.authorization && { authorization: req.headers.authorization }),
    });
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  };

  const storageServer = async (req: IncomingMessage, res: ServerResponse, log: Seen[]) => {
    record(log, req, res);
    const match = STORAGE_PATH.exec(req.url ?? '');
    if (!match || !registry) {
      res.writeHead(404).end();
      return;
    }
    // A signed URL carries its own authorisation; S3 refuses a request that
    // also has an Authorization header with 400 "Only one auth mechanism
    // allowed" (renovatebot/renovate#3877, open-policy-agent/opa#6728).
    if (log === storageSeen && req.headers.authorization) {
      res
        .writeHead(400, { 'content-type': 'application/xml' })
        .end(
          '<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>',
        );
      return;
    }
    if (sign(match[1] as string) !== match[2]) {
      res.writeHead(403).end();
      return;
    }
    serveBlobFile(registry, match[1] as string, req, res);
  };

  const auth =
    b.realm?.host === 'auth-host'
      ? await listen((req, res) => {
          if (new URL(req.url ?? '/', 'http://x').pathname === b.realm?.path)
            return serveToken(req, res);
          record(authSeen, req, res);
          res.writeHead(404).end();
        })
      : undefined;
  const storage =
    b.blobRedirect?.storage === 'other-host'
      ? await listen((req, res) => storageServer(req, res, storageSeen))
      : undefined;

  const front = await listen(async (req, res) => {
    const url = req.url ?? '/';
    const pathname = new URL(url, 'http://x').pathname;
    if (b.realm?.host === 'same' && pathname === b.realm.path) return serveToken(req, res);
    if (b.blobRedirect?.storage === 'same-host' && pathname.startsWith('/artifacts-downloads/')) {
      return storageServer(req, res, seen);
    }
    record(seen, req, res);
    const hook = hooks.findIndex((h) => h.method === req.method && h.path.test(url));
    if (hook >= 0) await hooks.splice(hook, 1)[0]?.hook();

    if (b.redirectEverything && !registry) {
      // archeio: every registry API call goes to the registry that holds the image.
      if (!url.startsWith('/v2/')) {
        res.writeHead(404).end();
        return;
      }
      const moved =
        url === '/v2/' ? url : `/v2/${b.redirectEverything.repositoryPrefix}${url.slice(4)}`;
      res.writeHead(307, { location: `${(backend as Front).url}${moved}` }).end();
      return;
    }
    if (!upstream || !registry) throw new Error('a front needs a registry behind it');

    const manifest = MANIFEST.exec(pathname);
    if (b.schema1Tag && manifest && manifest[2] === b.schema1Tag && req.method !== 'PUT') {
      const body = schema1Manifest(manifest[1] as string, b.schema1Tag);
      res.writeHead(200, {
        'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws',
        'content-length': body.length,
        'docker-content-digest': `sha256:${createHash('sha256').update(body).digest('hex')}`,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (b.sha512Manifests && manifest?.[2]?.startsWith('sha512:')) {
      const name = manifest[1] as string;
      const known = await sha256BySha512(upstream, name, manifest[2], req.headers.authorization);
      if (!known) {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(errorBody('MANIFEST_UNKNOWN', 'manifest unknown'));
        return;
      }
      return forward(req, res, `/v2/${name}/manifests/${known}`, undefined, manifest);
    }
    if (b.monolithicUploadsOnly && req.method === 'PATCH') {
      req.resume();
      res
        .writeHead(405, { 'content-type': 'application/json' })
        .end(
          errorBody('UNSUPPORTED', 'chunked uploads are not supported: use a monolithic upload'),
        );
      return;
    }
    const query = new URL(url, 'http://x').searchParams;
    if (req.method === 'POST' && query.has('mount') && b.mount && b.mount !== 'pass') {
      req.resume();
      if (b.mount === 'refuse-401') {
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end(
            errorBody('UNAUTHORIZED', 'authentication required to mount from another repository'),
          );
        return;
      }
      if (b.mount === 'refuse-403') {
        res
          .writeHead(403, { 'content-type': 'application/json' })
          .end(errorBody('DENIED', 'requested access to the resource is denied'));
        return;
      }
      // session-202: the mount is ignored and a plain upload session opened.
      query.delete('mount');
      query.delete('from');
      const plain = `${pathname}${query.size > 0 ? `?${query}` : ''}`;
      return forward(req, res, plain, undefined);
    }
    if (b.immutableTags && req.method === 'PUT' && manifest && !manifest[2]?.includes(':')) {
      const body = await readBody(req);
      const head = await upstreamRequest(upstream, 'HEAD', pathname, {
        ...req.headers,
        accept: MANIFEST_ACCEPT,
        'content-length': '0',
      });
      head.resume();
      const held = head.headers['docker-content-digest'];
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      if (head.statusCode === 200 && held !== digest) {
        res
          .writeHead(400, { 'content-type': 'application/json' })
          .end(
            errorBody(
              'MANIFEST_INVALID',
              `cannot update tag ${manifest[2]}: the repository has tag immutability enabled`,
            ),
          );
        return;
      }
      return forward(req, res, url, body);
    }
    const blob = BLOB_GET.exec(pathname);
    if (b.blobRedirect && req.method === 'GET' && blob) {
      // The registry checks the token and that the blob exists, then sends
      // the client to storage with a signed URL.
      const head = await upstreamRequest(upstream, 'HEAD', pathname, req.headers);
      head.resume();
      if (head.statusCode === 200) {
        const hex = (blob[2] as string).slice('sha256:'.length);
        const where = storage ? `${storage.url}/storage` : '/artifacts-downloads';
        res.writeHead(b.blobRedirect.status, {
          location: `${where}/blobs/sha256/${hex}?sig=${sign(hex)}`,
        });
        res.end();
        return;
      }
    }
    if (b.pullLimit !== undefined && manifest && req.method === 'GET' && pulls >= b.pullLimit) {
      res
        .writeHead(429, { 'content-type': 'application/json' })
        .end(errorBody('TOOMANYREQUESTS', 'You have reached your pull rate limit.'));
      return;
    }
    return forward(req, res, url, undefined, manifest);
  });

  /**
   * Passes a request through, rewriting the challenge's realm and adding the
   * pull-limit headers; `manifest` is the path's match when it names a manifest.
   */
  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    body: Buffer | undefined,
    manifest: RegExpExecArray | null = null,
  ): void {
    const out = httpRequest(
      {
        host: upstream?.hostname,
        port: upstream?.port,
        method: req.method,
        path,
        headers: req.headers,
      },
      (answer) => {
        const headers = { ...answer.headers };
        const challenge = headers['www-authenticate'];
        if (challenge && b.realm) {
          const origin = b.realm.host === 'same' ? front.url : auth?.url;
          let rewritten = challenge.replace(/realm="[^"]*"/, `realm="${origin}${b.realm.path}"`);
          if (b.challengeWithoutService) rewritten = rewritten.replace(/,?service="[^"]*"/, '');
          headers['www-authenticate'] = rewritten;
        }
        if (b.pullLimit !== undefined && manifest && answer.statusCode === 200) {
          if (req.method === 'GET') pulls++;
          headers['ratelimit-limit'] = `${b.pullLimit};w=21600`;
          headers['ratelimit-remaining'] = `${Math.max(0, b.pullLimit - pulls)};w=21600`;
          headers['docker-ratelimit-source'] = '127.0.0.1';
        }
        if (b.brokenManifestHeaders && manifest && !manifest[2]?.includes(':')) {
          const announced = headers['docker-content-digest'];
          if (req.method === 'HEAD') {
            delete headers['docker-content-digest'];
            delete headers['content-length'];
          } else if (announced) headers['docker-content-digest'] = `${announced}, ${announced}`;
        }
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    if (body) out.end(body);
    else req.pipe(out);
  }

  return {
    profile,
    url: front.url,
    host: front.host,
    seen,
    authSeen,
    storageSeen,
    ...(auth && { authHost: auth.host }),
    ...(storage && { storageHost: storage.host }),
    pulls: () => pulls,
    beforeNext(method, path, hook) {
      hooks.push({ method, path, hook });
    },
    async close() {
      await Promise.all([front.server, auth?.server, storage?.server].map((s) => s && close(s)));
    },
  };
}

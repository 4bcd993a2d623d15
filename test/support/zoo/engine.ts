// The zoo's one proxy engine: a "front" plays a profile's behaviours (see
// behaviours.ts) in front of a real docker-registry server, and records what
// every host it runs received: the registry itself, its token realm (on its
// own origin or on an auth host of its own) and its blob storage host. All of
// them listen on 127.0.0.1 only, each on its own port (its own origin).

import { createHash, createHmac } from 'node:crypto';
import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { closeNow } from '../ports.ts';
import type { TestRegistry } from '../registry.ts';
import type { Behaviours, Profile } from './behaviours.ts';
import {
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
  const front = new ZooFront(profile, backend, { ...profile.behaviours, ...options.overrides });
  await front.start();
  return front;
}

type Listening = Awaited<ReturnType<typeof listen>>;

interface Hook {
  readonly method: string;
  readonly path: RegExp;
  readonly hook: () => Promise<void>;
}

/** A registry API request at the front, on its way to the registry behind it. */
interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The request's path and query, as received. */
  readonly url: string;
  readonly pathname: string;
  /** The path's match when it names a manifest. */
  readonly manifest: RegExpExecArray | null;
  readonly upstream: URL;
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(errorBody(code, message));
}

/**
 * One front and the hosts it runs. Each behaviour of the profile is a step
 * that either answers a registry API request itself (and says so) or leaves
 * it to the next; what no step answers is forwarded to the registry.
 */
class ZooFront implements Front {
  readonly profile: Profile;
  readonly seen: Seen[] = [];
  readonly authSeen: Seen[] = [];
  readonly storageSeen: Seen[] = [];
  readonly #b: Behaviours;
  readonly #backend: TestRegistry | Front;
  readonly #registry: TestRegistry | undefined;
  readonly #upstream: URL | undefined;
  readonly #hooks: Hook[] = [];
  #pulls = 0;
  #front: Listening | undefined;
  #auth: Listening | undefined;
  #storage: Listening | undefined;

  constructor(profile: Profile, backend: TestRegistry | Front, behaviours: Behaviours) {
    this.profile = profile;
    this.#b = behaviours;
    this.#backend = backend;
    this.#registry = 'root' in backend ? backend : undefined;
    this.#upstream = this.#registry ? new URL(this.#registry.url) : undefined;
  }

  /** Listens on the auth and storage hosts the profile has, then on the front itself. */
  async start(): Promise<void> {
    if (this.#b.realm?.host === 'auth-host')
      this.#auth = await listen((req, res) => this.#serveAuthHost(req, res));
    if (this.#b.blobRedirect?.storage === 'other-host')
      this.#storage = await listen((req, res) => this.#serveStorage(req, res, this.storageSeen));
    this.#front = await listen((req, res) => this.#serveFront(req, res));
  }

  get url(): string {
    return this.#front?.url ?? '';
  }

  get host(): string {
    return this.#front?.host ?? '';
  }

  get authHost(): string | undefined {
    return this.#auth?.host;
  }

  get storageHost(): string | undefined {
    return this.#storage?.host;
  }

  readonly pulls = (): number => this.#pulls;

  beforeNext(method: string, path: RegExp, hook: () => Promise<void>): void {
    this.#hooks.push({ method, path, hook });
  }

  async close(): Promise<void> {
    await Promise.all([this.#front, this.#auth, this.#storage].map((l) => l && closeNow(l.server)));
  }

  /** The token realm: forwarded to the test token server, which checks Basic credentials itself. */
  async #serveToken(req: IncomingMessage, res: ServerResponse) {
    record(this.authSeen, req, res);
    const tokens = this.#registry?.tokenServer;
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
  }

  /** The auth host: the token realm at its path, nothing else. */
  async #serveAuthHost(req: IncomingMessage, res: ServerResponse) {
    if (new URL(req.url ?? '/', 'http://x').pathname === this.#b.realm?.path)
      return this.#serveToken(req, res);
    record(this.authSeen, req, res);
    res.writeHead(404).end();
  }

  /** Blob storage: a blob's bytes for a correctly signed URL; `log` is the host's record. */
  async #serveStorage(req: IncomingMessage, res: ServerResponse, log: Seen[]) {
    record(log, req, res);
    const match = STORAGE_PATH.exec(req.url ?? '');
    if (!match || !this.#registry) {
      res.writeHead(404).end();
      return;
    }
    // A signed URL carries its own authorisation; S3 refuses a request that
    // also has an Authorization header with 400 "Only one auth mechanism
    // allowed" (renovatebot/renovate#3877, open-policy-agent/opa#6728).
    if (log === this.storageSeen && req.headers.authorization) {
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
    serveBlobFile(this.#registry, match[1] as string, req, res);
  }

  /** The front's own origin: its token realm and storage when the profile puts them there, and the registry API. */
  async #serveFront(req: IncomingMessage, res: ServerResponse) {
    const url = req.url ?? '/';
    const pathname = new URL(url, 'http://x').pathname;
    const b = this.#b;
    if (b.realm?.host === 'same' && pathname === b.realm.path) return this.#serveToken(req, res);
    if (b.blobRedirect?.storage === 'same-host' && pathname.startsWith('/artifacts-downloads/')) {
      return this.#serveStorage(req, res, this.seen);
    }
    record(this.seen, req, res);
    await this.#runHook(req.method, url);
    if (b.redirectEverything && !this.#registry) {
      return this.#redirectToBackend(res, url, b.redirectEverything.repositoryPrefix);
    }
    if (!this.#upstream || !this.#registry) throw new Error('a front needs a registry behind it');
    const manifest = MANIFEST.exec(pathname);
    const x: Exchange = { req, res, url, pathname, manifest, upstream: this.#upstream };
    const answered =
      this.#schema1Manifest(x) ||
      (await this.#sha512Manifest(x)) ||
      this.#chunkedUploadRefused(x) ||
      this.#mountPlayed(x) ||
      (await this.#immutableTagKept(x)) ||
      (await this.#blobRedirected(x)) ||
      this.#pullLimitReached(x);
    if (!answered) this.#forward(x, url, undefined, manifest);
  }

  /** Runs and drops the first hook staged for this request, if any. */
  async #runHook(method: string | undefined, url: string) {
    const hook = this.#hooks.findIndex((h) => h.method === method && h.path.test(url));
    if (hook >= 0) await this.#hooks.splice(hook, 1)[0]?.hook();
  }

  /** archeio: every registry API call goes to the registry that holds the image. */
  #redirectToBackend(res: ServerResponse, url: string, repositoryPrefix: string) {
    if (!url.startsWith('/v2/')) {
      res.writeHead(404).end();
      return;
    }
    const moved = url === '/v2/' ? url : `/v2/${repositoryPrefix}${url.slice(4)}`;
    res.writeHead(307, { location: `${(this.#backend as Front).url}${moved}` }).end();
  }

  /** The profile's schema 1 tag: answered with a schema 1 manifest (schema1.ts). */
  #schema1Manifest({ req, res, manifest }: Exchange): boolean {
    const tag = this.#b.schema1Tag;
    if (!(tag && manifest && manifest[2] === tag && req.method !== 'PUT')) return false;
    const body = schema1Manifest(manifest[1] as string, tag);
    res.writeHead(200, {
      'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws',
      'content-length': body.length,
      'docker-content-digest': `sha256:${createHash('sha256').update(body).digest('hex')}`,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }

  /** A manifest asked for by its sha512 digest: the tagged manifest with that digest, or 404. */
  async #sha512Manifest(x: Exchange): Promise<boolean> {
    const { req, res, manifest, upstream } = x;
    if (!(this.#b.sha512Manifests && manifest?.[2]?.startsWith('sha512:'))) return false;
    const name = manifest[1] as string;
    const known = await sha256BySha512(upstream, name, manifest[2], req.headers.authorization);
    if (!known) sendError(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
    else this.#forward(x, `/v2/${name}/manifests/${known}`, undefined, manifest);
    return true;
  }

  /** A chunk of a chunked upload, refused when the profile takes monolithic uploads only. */
  #chunkedUploadRefused({ req, res }: Exchange): boolean {
    if (!(this.#b.monolithicUploadsOnly && req.method === 'PATCH')) return false;
    req.resume();
    sendError(
      res,
      405,
      'UNSUPPORTED',
      'chunked uploads are not supported: use a monolithic upload',
    );
    return true;
  }

  /** A cross-repository mount, refused (401 or 403) or ignored, as the profile says. */
  #mountPlayed(x: Exchange): boolean {
    const { req, res, pathname } = x;
    const query = new URL(x.url, 'http://x').searchParams;
    const mount = this.#b.mount;
    if (!(req.method === 'POST' && query.has('mount') && mount && mount !== 'pass')) return false;
    req.resume();
    if (mount === 'refuse-401') {
      sendError(
        res,
        401,
        'UNAUTHORIZED',
        'authentication required to mount from another repository',
      );
      return true;
    }
    if (mount === 'refuse-403') {
      sendError(res, 403, 'DENIED', 'requested access to the resource is denied');
      return true;
    }
    // session-202: the mount is ignored and a plain upload session opened.
    query.delete('mount');
    query.delete('from');
    this.#forward(x, `${pathname}${query.size > 0 ? `?${query}` : ''}`, undefined);
    return true;
  }

  /** A manifest PUT by tag: refused when it would move a tag the repository already has elsewhere. */
  async #immutableTagKept(x: Exchange): Promise<boolean> {
    const { req, res, manifest } = x;
    if (!(this.#b.immutableTags && req.method === 'PUT' && manifest && !manifest[2]?.includes(':')))
      return false;
    const body = await readBody(req);
    const head = await upstreamRequest(x.upstream, 'HEAD', x.pathname, {
      ...req.headers,
      accept: MANIFEST_ACCEPT,
      'content-length': '0',
    });
    head.resume();
    const held = head.headers['docker-content-digest'];
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (head.statusCode === 200 && held !== digest) {
      sendError(
        res,
        400,
        'MANIFEST_INVALID',
        `cannot update tag ${manifest[2]}: the repository has tag immutability enabled`,
      );
    } else this.#forward(x, x.url, body);
    return true;
  }

  /** A blob GET: sent on to storage with a signed URL when the registry has the blob. */
  async #blobRedirected({ req, res, pathname, upstream }: Exchange): Promise<boolean> {
    const redirect = this.#b.blobRedirect;
    const blob = BLOB_GET.exec(pathname);
    if (!(redirect && req.method === 'GET' && blob)) return false;
    // The registry checks the token and that the blob exists, then sends
    // the client to storage with a signed URL.
    const head = await upstreamRequest(upstream, 'HEAD', pathname, req.headers);
    head.resume();
    if (head.statusCode !== 200) return false;
    const hex = (blob[2] as string).slice('sha256:'.length);
    const where = this.#storage ? `${this.#storage.url}/storage` : '/artifacts-downloads';
    res.writeHead(redirect.status, {
      location: `${where}/blobs/sha256/${hex}?sig=${sign(hex)}`,
    });
    res.end();
    return true;
  }

  /** A manifest GET past the profile's pull limit: 429. */
  #pullLimitReached({ req, res, manifest }: Exchange): boolean {
    const limit = this.#b.pullLimit;
    if (!(limit !== undefined && manifest && req.method === 'GET' && this.#pulls >= limit))
      return false;
    sendError(res, 429, 'TOOMANYREQUESTS', 'You have reached your pull rate limit.');
    return true;
  }

  /**
   * Passes a request through, rewriting the challenge's realm and adding the
   * pull-limit headers; `manifest` is the path's match when it names a manifest.
   */
  #forward(
    x: Exchange,
    path: string,
    body: Buffer | undefined,
    manifest: RegExpExecArray | null = null,
  ): void {
    const { req, res, upstream } = x;
    const out = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, this.#answerHeaders(req, answer, manifest));
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    if (body) out.end(body);
    else req.pipe(out);
  }

  /** The registry's answer headers as the profile shows them (and a pull counted). */
  #answerHeaders(
    req: IncomingMessage,
    answer: IncomingMessage,
    manifest: RegExpExecArray | null,
  ): IncomingHttpHeaders {
    const b = this.#b;
    const headers = { ...answer.headers };
    const challenge = headers['www-authenticate'];
    if (challenge && b.realm) {
      const origin = b.realm.host === 'same' ? this.url : this.#auth?.url;
      let rewritten = challenge.replace(/realm="[^"]*"/, `realm="${origin}${b.realm.path}"`);
      if (b.challengeWithoutService) rewritten = rewritten.replace(/,?service="[^"]*"/, '');
      headers['www-authenticate'] = rewritten;
    }
    if (b.pullLimit !== undefined && manifest && answer.statusCode === 200) {
      if (req.method === 'GET') this.#pulls++;
      headers['ratelimit-limit'] = `${b.pullLimit};w=21600`;
      headers['ratelimit-remaining'] = `${Math.max(0, b.pullLimit - this.#pulls)};w=21600`;
      headers['docker-ratelimit-source'] = '127.0.0.1';
    }
    if (b.brokenManifestHeaders && manifest && !manifest[2]?.includes(':')) {
      const announced = headers['docker-content-digest'];
      if (req.method === 'HEAD') {
        delete headers['docker-content-digest'];
        delete headers['content-length'];
      } else if (announced) headers['docker-content-digest'] = `${announced}, ${announced}`;
    }
    return headers;
  }
}

// A Docker token server, as Docker Hub and Artifact Registry run one: GET
// /token?service=&scope=… answers an RS256 JWT whose x5c header carries the
// certificate the registry trusts (its `rootcertbundle`). Anonymous callers get
// pull only (like Hub's public images); Basic-authenticated users get what they ask.

import { execFileSync } from 'node:child_process';
import { createPrivateKey, type KeyObject, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeNow, listenOnFreePort } from './ports.ts';

export interface TokenRequest {
  readonly scopes: string[];
  readonly service: string | null;
  readonly authorization: string | undefined;
  readonly user: string | undefined;
}

export interface TokenServer {
  readonly url: string;
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly certPath: string;
  readonly requests: TokenRequest[];
  /** Seconds a token lives, as announced (default 300). */
  expiresIn: number;
  /** Seconds a token really lives (its JWT exp), when shorter than announced. */
  jwtLifetime: number | undefined;
  /** Answer the next N requests with this status instead of a token. */
  failNext(count: number, status: number): void;
  /** Issue the next N tokens already expired (past the registry's leeway) though announced as fresh. */
  expireNext(count: number): void;
  close(): Promise<void>;
}

export interface TokenServerOptions {
  readonly users?: Readonly<Record<string, string>>;
  /** Whether anonymous callers get pull tokens (Docker Hub style). Default true. */
  readonly anonymousPull?: boolean;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const server = new TokenIssuer(newSigningCertificate(), options);
  await server.listen();
  return server;
}

/** A self-signed certificate for the tokens' x5c header, and its RSA key. */
interface SigningCertificate {
  readonly certPath: string;
  /** The certificate's DER bytes, base64 (the PEM body). */
  readonly certDer: string;
  readonly key: KeyObject;
}

function newSigningCertificate(): SigningCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'token-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      '/CN=image-syncer-test-token-issuer',
    ],
    { stdio: 'ignore' },
  );
  const key = createPrivateKey(readFileSync(keyPath));
  const certDer = readFileSync(certPath, 'utf8')
    .replace(/-----[^-]+-----/g, '')
    .replace(/\s+/g, '');
  return { certPath, certDer, key };
}

/** One `type:name:actions` access entry of a token's claims. */
interface Access {
  readonly type: string;
  readonly name: string;
  readonly actions: string[];
}

class TokenIssuer implements TokenServer {
  readonly service = 'test-registry';
  readonly issuer = 'test-issuer';
  readonly requests: TokenRequest[] = [];
  expiresIn = 300;
  jwtLifetime: number | undefined = undefined;
  readonly #certificate: SigningCertificate;
  readonly #users: Readonly<Record<string, string>>;
  readonly #anonymousPull: boolean;
  #failures: { count: number; status: number } = { count: 0, status: 500 };
  #expired = 0;
  #url = '';
  readonly #http: Server = createServer((req, res) => this.#handle(req, res));

  constructor(certificate: SigningCertificate, options: TokenServerOptions) {
    this.#certificate = certificate;
    this.#users = options.users ?? {};
    this.#anonymousPull = options.anonymousPull ?? true;
  }

  async listen(): Promise<void> {
    this.#url = `http://127.0.0.1:${await listenOnFreePort(this.#http)}`;
  }

  get url(): string {
    return this.#url;
  }

  get realm(): string {
    return `${this.#url}/token`;
  }

  get certPath(): string {
    return this.#certificate.certPath;
  }

  failNext(count: number, status: number): void {
    this.#failures = { count, status };
  }

  expireNext(count: number): void {
    this.#expired = count;
  }

  close(): Promise<void> {
    return closeNow(this.#http);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const scopes = url.searchParams.getAll('scope');
    const user = this.#userOf(req);
    this.requests.push({
      scopes,
      service: url.searchParams.get('service'),
      authorization: req.headers.authorization,
      user: user ?? undefined,
    });
    if (this.#failures.count > 0) {
      this.#failures.count--;
      res
        .writeHead(this.#failures.status, { 'content-type': 'application/json' })
        .end('{"errors":[{"code":"UNAVAILABLE"}]}');
      return;
    }
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    if (user === null) {
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end('{"details":"incorrect username or password"}');
      return;
    }
    const token = this.#token(user, this.#access(scopes, user));
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: this.expiresIn,
        issued_at: new Date().toISOString(),
      }),
    );
  }

  /** The Basic user, undefined for an anonymous caller, null for wrong credentials. */
  #userOf(req: IncomingMessage): string | null | undefined {
    const header = req.headers.authorization;
    if (!header) return undefined;
    if (!header.startsWith('Basic ')) return null;
    const decoded = Buffer.from(header.slice(6), 'base64').toString();
    const colon = decoded.indexOf(':');
    const user = decoded.slice(0, colon);
    const users = this.#users;
    return users[user] !== undefined && users[user] === decoded.slice(colon + 1) ? user : null;
  }

  /** What the token grants: all that a user asks, pull only (or nothing) to an anonymous caller. */
  #access(scopes: string[], user: string | undefined): Access[] {
    return scopes.flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      if (!type || !name || !actions) return [];
      const wanted = actions.split(',');
      const granted = user ? wanted : this.#anonymousPull ? wanted.filter((a) => a === 'pull') : [];
      return granted.length > 0 ? [{ type, name, actions: granted }] : [];
    });
  }

  /** An RS256 JWT for `user` with `access`, expired when expireNext asked for it. */
  #token(user: string | undefined, access: Access[]): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [this.#certificate.certDer] };
    const claims = {
      iss: this.issuer,
      sub: user ?? '',
      aud: this.service,
      exp: this.#expired-- > 0 ? now - 600 : now + (this.jwtLifetime ?? this.expiresIn),
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), this.#certificate.key);
    return `${signingInput}.${base64url(signature)}`;
  }
}

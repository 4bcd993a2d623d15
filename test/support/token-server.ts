// A Docker token server, as Docker Hub and Artifact Registry run one: GET
// /token?service=&scope=… answers an RS256 JWT whose x5c header carries the
// certificate the registry trusts (its `rootcertbundle`). Anonymous callers get
// pull only (like Hub's public images); Basic-authenticated users get what they ask.

import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listenOnFreePort } from './ports.ts';

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
  const service = 'test-registry';
  const issuer = 'test-issuer';
  const users = options.users ?? {};
  const anonymousPull = options.anonymousPull ?? true;
  const requests: TokenRequest[] = [];
  let failures: { count: number; status: number } = { count: 0, status: 500 };
  let expired = 0;

  const userOf = (req: IncomingMessage): string | null | undefined => {
    const header = req.headers.authorization;
    if (!header) return undefined;
    if (!header.startsWith('Basic ')) return null;
    const decoded = Buffer.from(header.slice(6), 'base64').toString();
    const colon = decoded.indexOf(':');
    const user = decoded.slice(0, colon);
    return users[user] !== undefined && users[user] === decoded.slice(colon + 1) ? user : null;
  };

  const state: { expiresIn: number; jwtLifetime: number | undefined } = {
    expiresIn: 300,
    jwtLifetime: undefined,
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const scopes = url.searchParams.getAll('scope');
    const user = userOf(req);
    requests.push({
      scopes,
      service: url.searchParams.get('service'),
      authorization: req.headers.authorization,
      user: user ?? undefined,
    });
    if (failures.count > 0) {
      failures.count--;
      res
        .writeHead(failures.status, { 'content-type': 'application/json' })
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
    const access = scopes.flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      if (!type || !name || !actions) return [];
      const wanted = actions.split(',');
      const granted = user ? wanted : anonymousPull ? wanted.filter((a) => a === 'pull') : [];
      return granted.length > 0 ? [{ type, name, actions: granted }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer] };
    const claims = {
      iss: issuer,
      sub: user ?? '',
      aud: service,
      exp: expired-- > 0 ? now - 600 : now + (state.jwtLifetime ?? state.expiresIn),
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), key);
    const token = `${signingInput}.${base64url(signature)}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: state.expiresIn,
        issued_at: new Date().toISOString(),
      }),
    );
  });
  const url = `http://127.0.0.1:${await listenOnFreePort(server)}`;
  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    certPath,
    requests,
    get expiresIn() {
      return state.expiresIn;
    },
    set expiresIn(value: number) {
      state.expiresIn = value;
    },
    get jwtLifetime() {
      return state.jwtLifetime;
    },
    set jwtLifetime(value: number | undefined) {
      state.jwtLifetime = value;
    },
    failNext(count, status) {
      failures = { count, status };
    },
    expireNext(count) {
      expired = count;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

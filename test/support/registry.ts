// Real `docker-registry` (distribution 2.8) servers for tests, one process per
// registry on its own loopback port, with no auth, htpasswd Basic auth, or
// token auth backed by a test token server. Every request shows up in the
// registry's access log, which tests read to count requests.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { servingPort } from './ports.ts';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './token-server.ts';

export interface AccessLogEntry {
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, usable in image references. */
  readonly host: string;
  readonly url: string;
  readonly root: string;
  readonly tokenServer?: TokenServer;
  /** Requests seen since start or the last clearLog(). */
  accessLog(): AccessLogEntry[];
  /** accessLog() once every request answered so far has been logged. */
  settledLog(): Promise<AccessLogEntry[]>;
  clearLog(): void;
  stop(): Promise<void>;
}

export type RegistryAuth =
  | { readonly kind: 'none' }
  | { readonly kind: 'basic'; readonly users: Readonly<Record<string, string>> }
  | ({
      readonly kind: 'token';
      readonly users?: Readonly<Record<string, string>>;
    } & TokenServerOptions);

const ACCESS_LINE = /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3})/;

export async function startRegistry(auth: RegistryAuth = { kind: 'none' }): Promise<TestRegistry> {
  const root = mkdtempSync(join(tmpdir(), 'registry-'));
  const tokenServer = auth.kind === 'token' ? await startTokenServer(auth) : undefined;
  const authSection =
    auth.kind === 'basic'
      ? htpasswdAuth(root, auth.users)
      : tokenServer
        ? tokenAuth(tokenServer)
        : '';
  const registry = new RegistryProcess(root, writeConfig(root, authSection), tokenServer);
  await registry.serve();
  return registry;
}

/** The config's `auth` section for Basic users, whose htpasswd file goes in `root`. */
function htpasswdAuth(root: string, users: Readonly<Record<string, string>>): string {
  const htpasswd = join(root, 'htpasswd');
  // The registry checks the bcrypt hash on every request
  // (distribution registry/auth/htpasswd/htpasswd.go, authenticateUser:
  // bcrypt.CompareHashAndPassword), so its cost is paid per request: -C 4,
  // the least htpasswd allows (https://httpd.apache.org/docs/2.4/programs/htpasswd.html,
  // default 5), halves that work and is still bcrypt, as the registry requires.
  const lines = Object.entries(users).map(([user, password]) =>
    execFileSync('htpasswd', ['-Bbn', '-C', '4', user, password], { encoding: 'utf8' }).trim(),
  );
  writeFileSync(htpasswd, `${lines.join('\n')}\n`);
  return `auth:\n  htpasswd:\n    realm: test-basic\n    path: ${htpasswd}\n`;
}

/** The config's `auth` section for tokens from `tokenServer`. */
function tokenAuth(tokenServer: TokenServer): string {
  return [
    'auth:',
    '  token:',
    `    realm: ${tokenServer.realm}`,
    `    service: ${tokenServer.service}`,
    `    issuer: ${tokenServer.issuer}`,
    `    rootcertbundle: ${tokenServer.certPath}`,
    '',
  ].join('\n');
}

/** Writes the registry's config.yml in `root` (storage in `root`/data) and returns its path. */
function writeConfig(root: string, authSection: string): string {
  const config = join(root, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: false',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(root, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      // Port 0: the kernel picks a free one, read back by servingPort (ports.ts).
      '  addr: 127.0.0.1:0',
      '  secret: image-syncer-test-secret',
      authSection,
    ].join('\n'),
  );
  return config;
}

/** A docker-registry process, its access log read from its output as it comes. */
class RegistryProcess implements TestRegistry {
  readonly root: string;
  readonly #config: string;
  readonly #tokenServer: TokenServer | undefined;
  readonly #child: ChildProcess;
  readonly #log: AccessLogEntry[] = [];
  /** The rest of its output (the last 10,000 characters), for a failure to start. */
  #output = '';
  #exited = false;
  #port = 0;

  constructor(root: string, config: string, tokenServer: TokenServer | undefined) {
    this.root = root;
    this.#config = config;
    this.#tokenServer = tokenServer;
    this.#child = spawn('docker-registry', ['serve', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child.on('exit', () => {
      this.#exited = true;
    });
    this.#child.stdout?.on('data', this.#lineReader());
    this.#child.stderr?.on('data', this.#lineReader());
  }

  get host(): string {
    return `127.0.0.1:${this.#port}`;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get tokenServer(): TokenServer | undefined {
    return this.#tokenServer;
  }

  /** Waits until the registry answers, killing it if it never does, and starts an empty log. */
  async serve(): Promise<void> {
    this.#port = await servingPort(
      this.#child,
      `docker-registry (config ${this.#config})`,
      async (url) => {
        await (await fetch(`${url}/v2/`)).arrayBuffer();
        return true;
      },
      { output: () => this.#output },
    ).catch((error) => {
      this.#child.kill('SIGKILL');
      throw error;
    });
    // The readiness probe itself is not part of any test's count.
    await this.#settle();
    this.#log.length = 0;
  }

  accessLog(): AccessLogEntry[] {
    return [...this.#log];
  }

  async settledLog(): Promise<AccessLogEntry[]> {
    await this.#settle();
    return [...this.#log];
  }

  clearLog(): void {
    this.#log.length = 0;
  }

  async stop(): Promise<void> {
    if (!this.#exited) {
      this.#child.kill('SIGTERM');
      await new Promise((resolve) => this.#child.once('exit', resolve));
    }
    await this.#tokenServer?.close();
    rmSync(this.root, { recursive: true, force: true });
  }

  /** A reader of one output stream, line by line. */
  #lineReader(): (chunk: Buffer) => void {
    // A chunk may end mid-line: the rest of the line comes with the next one.
    let pending = '';
    return (chunk) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) this.#readLine(line);
    };
  }

  #readLine(line: string): void {
    const match = ACCESS_LINE.exec(line);
    if (match)
      this.#log.push({
        method: match[1] as string,
        path: match[2] as string,
        status: Number(match[3]),
      });
    else this.#output = `${this.#output}${line}\n`.slice(-10_000);
  }

  // The registry writes a request's access line just after answering it. A
  // marker request sent now is answered after every request answered so far,
  // so once its line is in, theirs are too.
  async #settle(): Promise<void> {
    const marker = `/settled/${randomUUID()}`;
    await (await fetch(`${this.url}${marker}`)).arrayBuffer();
    const deadline = Date.now() + 30_000;
    while (!this.#log.some((e) => e.path === marker)) {
      if (this.#exited || Date.now() > deadline)
        throw new Error(`docker-registry never logged ${marker}`);
      await sleep(5);
    }
    this.#log.splice(
      this.#log.findIndex((e) => e.path === marker),
      1,
    );
  }
}

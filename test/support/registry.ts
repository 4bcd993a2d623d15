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
  let tokenServer: TokenServer | undefined;
  let authConfig = '';
  if (auth.kind === 'basic') {
    const htpasswd = join(root, 'htpasswd');
    // The registry checks the bcrypt hash on every request
    // (distribution registry/auth/htpasswd/htpasswd.go, authenticateUser:
    // bcrypt.CompareHashAndPassword), so its cost is paid per request: -C 4,
    // the least htpasswd allows (https://httpd.apache.org/docs/2.4/programs/htpasswd.html,
    // default 5), halves that work and is still bcrypt, as the registry requires.
    const lines = Object.entries(auth.users).map(([user, password]) =>
      execFileSync('htpasswd', ['-Bbn', '-C', '4', user, password], { encoding: 'utf8' }).trim(),
    );
    writeFileSync(htpasswd, `${lines.join('\n')}\n`);
    authConfig = `auth:\n  htpasswd:\n    realm: test-basic\n    path: ${htpasswd}\n`;
  } else if (auth.kind === 'token') {
    tokenServer = await startTokenServer(auth);
    authConfig = [
      'auth:',
      '  token:',
      `    realm: ${tokenServer.realm}`,
      `    service: ${tokenServer.service}`,
      `    issuer: ${tokenServer.issuer}`,
      `    rootcertbundle: ${tokenServer.certPath}`,
      '',
    ].join('\n');
  }
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
      authConfig,
    ].join('\n'),
  );

  const log: AccessLogEntry[] = [];
  const child: ChildProcess = spawn('docker-registry', ['serve', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  let output = '';
  // A chunk may end mid-line: the rest of the line comes with the next one.
  const onData = (pending: { text: string }) => (chunk: Buffer) => {
    const lines = (pending.text + chunk.toString()).split('\n');
    pending.text = lines.pop() ?? '';
    for (const line of lines) {
      const match = ACCESS_LINE.exec(line);
      if (match)
        log.push({
          method: match[1] as string,
          path: match[2] as string,
          status: Number(match[3]),
        });
      else output = `${output}${line}\n`.slice(-10_000);
    }
  };
  child.stdout?.on('data', onData({ text: '' }));
  child.stderr?.on('data', onData({ text: '' }));

  const port = await servingPort(
    child,
    `docker-registry (config ${config})`,
    async (url) => {
      await (await fetch(`${url}/v2/`)).arrayBuffer();
      return true;
    },
    { output: () => output },
  ).catch((error) => {
    child.kill('SIGKILL');
    throw error;
  });
  const url = `http://127.0.0.1:${port}`;
  // The registry writes a request's access line just after answering it. A
  // marker request sent now is answered after every request answered so far,
  // so once its line is in, theirs are too.
  const settle = async () => {
    const marker = `/settled/${randomUUID()}`;
    await (await fetch(`${url}${marker}`)).arrayBuffer();
    const deadline = Date.now() + 30_000;
    while (!log.some((e) => e.path === marker)) {
      if (exited || Date.now() > deadline)
        throw new Error(`docker-registry never logged ${marker}`);
      await sleep(5);
    }
    log.splice(
      log.findIndex((e) => e.path === marker),
      1,
    );
  };
  // The readiness probe itself is not part of any test's count.
  await settle();
  log.length = 0;

  return {
    host: `127.0.0.1:${port}`,
    url,
    root,
    ...(tokenServer && { tokenServer }),
    accessLog: () => [...log],
    settledLog: async () => {
      await settle();
      return [...log];
    },
    clearLog: () => {
      log.length = 0;
    },
    stop: async () => {
      if (!exited) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      await tokenServer?.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

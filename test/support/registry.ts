// Real `docker-registry` (distribution 2.8) servers for tests, one process per
// registry on its own loopback port, with no auth, htpasswd Basic auth, or
// token auth backed by a test token server. Every request shows up in the
// registry's access log, which tests read to count requests.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.ts';
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
  const port = await freePort();
  let tokenServer: TokenServer | undefined;
  let authConfig = '';
  if (auth.kind === 'basic') {
    const htpasswd = join(root, 'htpasswd');
    const lines = Object.entries(auth.users).map(([user, password]) =>
      execFileSync('htpasswd', ['-Bbn', user, password], { encoding: 'utf8' }).trim(),
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
      `  addr: 127.0.0.1:${port}`,
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
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      const match = ACCESS_LINE.exec(line);
      if (match)
        log.push({
          method: match[1] as string,
          path: match[2] as string,
          status: Number(match[3]),
        });
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);

  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (exited) throw new Error(`docker-registry exited at start (config ${config})`);
    try {
      const response = await fetch(`${url}/v2/`);
      await response.arrayBuffer();
      break;
    } catch {
      if (i > 200) throw new Error('docker-registry did not start in 10 s');
      await sleep(50);
    }
  }
  // The readiness probe itself is not part of any test's count.
  await sleep(20);
  log.length = 0;

  return {
    host: `127.0.0.1:${port}`,
    url,
    root,
    ...(tokenServer && { tokenServer }),
    accessLog: () => [...log],
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

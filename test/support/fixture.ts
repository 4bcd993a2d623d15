// A source registry with token auth (anonymous pull tokens, like Docker Hub)
// and a target registry with Basic auth, plus a Docker config that holds the
// target's credentials, and a way to run the CLI in-process against them.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../functions/cli/main.ts';
import { type AccessLogEntry, startRegistry, type TestRegistry } from './registry.ts';

export const SOURCE_PUSHER = 'pusher:push-secret-1';
export const TARGET_WRITER = 'writer:write-secret-2';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Pair {
  readonly source: TestRegistry;
  readonly target: TestRegistry;
  readonly dir: string;
  /** Docker config dir holding the target's (and the source pusher's) credentials. */
  readonly dockerConfig: string;
  writeFile(name: string, text: string): string;
  cli(args: string[], env?: NodeJS.ProcessEnv): Promise<CliRun>;
  stop(): Promise<void>;
}

function basic(creds: string): string {
  return Buffer.from(creds).toString('base64');
}

/**
 * What every functions test sets beside its own settings: the Storage test
 * server, the project, the target prefix, the loopback registries (and
 * `hosts`, e.g. proxies) allowed as destinations, and the target's
 * credentials as the mounted Docker config would hold them.
 */
export function pairFunctionEnv(
  pair: Pair,
  options: { storage: string; project: string; prefix?: string; hosts?: readonly string[] },
): Record<string, string> {
  return {
    STORAGE_EMULATOR_HOST: options.storage,
    SYNCER_PROJECT: options.project,
    SYNCER_TARGET_REPO_PREFIX: `${pair.target.host}/${options.prefix ?? 'mirror'}/`,
    SYNCER_ALLOW_PRIVATE_NETWORKS: [
      pair.source.host,
      pair.target.host,
      new URL(pair.source.tokenServer?.url as string).host,
      ...(options.hosts ?? []),
    ].join(','),
    SYNCER_SOURCE_CREDENTIALS: JSON.stringify({
      auths: { [pair.target.host]: { auth: basic(TARGET_WRITER) } },
    }),
  };
}

export async function startPair(): Promise<Pair> {
  const [pushUser, pushPassword] = SOURCE_PUSHER.split(':') as [string, string];
  const [writeUser, writePassword] = TARGET_WRITER.split(':') as [string, string];
  const source = await startRegistry({ kind: 'token', users: { [pushUser]: pushPassword } });
  const target = await startRegistry({ kind: 'basic', users: { [writeUser]: writePassword } });
  return makePair(source, target, mkdtempSync(join(tmpdir(), 'pair-')));
}

function makePair(source: TestRegistry, target: TestRegistry, dir: string): Pair {
  const dockerConfig = mkdtempSync(join(dir, 'docker-'));
  writeFileSync(
    join(dockerConfig, 'config.json'),
    JSON.stringify({ auths: { [target.host]: { auth: basic(TARGET_WRITER) } } }),
  );
  return {
    source,
    target,
    dir,
    dockerConfig,
    writeFile(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    cli: (args, env = {}) => runCliCaptured(args, { DOCKER_CONFIG: dockerConfig, ...env }),
    async stop() {
      await Promise.all([source.stop(), target.stop()]);
    },
  };
}

/** Runs the CLI in-process, capturing what it prints. */
export async function runCliCaptured(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: {
      write: (t: string) => {
        stdout += t;
      },
    },
    stderr: {
      write: (t: string) => {
        stderr += t;
      },
    },
    env,
  });
  return { code, stdout, stderr };
}

/** The registry's access log, once every request it has answered is in it. */
export function settledLog(registry: TestRegistry): Promise<AccessLogEntry[]> {
  return registry.settledLog();
}

export function writes(log: AccessLogEntry[]): AccessLogEntry[] {
  return log.filter((e) => ['PUT', 'POST', 'PATCH', 'DELETE'].includes(e.method));
}

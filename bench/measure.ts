// Running a command the way a user would and measuring it: wall time,
// peak RSS (GNU time), and the requests it caused, from the registries' logs.

import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccessLogEntry, TestRegistry } from '../test/support/registry.ts';

export interface Measurement {
  readonly seconds: number;
  readonly maxRssMiB: number;
  readonly exitCode: number;
  readonly output: string;
}

export async function measure(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<Measurement> {
  const started = performance.now();
  const child = spawn('/usr/bin/time', ['-v', command, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c) => {
    output += c;
  });
  child.stderr.on('data', (c) => {
    output += c;
  });
  const exitCode = await new Promise<number>((resolve) =>
    child.on('exit', (code) => resolve(code ?? 1)),
  );
  const seconds = (performance.now() - started) / 1000;
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(output)?.[1];
  return { seconds, maxRssMiB: rss ? Number(rss) / 1024 : Number.NaN, exitCode, output };
}

export interface RequestCounts {
  readonly total: number;
  readonly heads: number;
  readonly manifestGets: number;
  readonly blobGets: number;
  readonly writes: number;
}

export function countRequests(log: AccessLogEntry[]): RequestCounts {
  return {
    total: log.length,
    heads: log.filter((e) => e.method === 'HEAD').length,
    manifestGets: log.filter((e) => e.method === 'GET' && e.path.includes('/manifests/')).length,
    blobGets: log.filter((e) => e.method === 'GET' && e.path.includes('/blobs/')).length,
    writes: log.filter((e) => ['PUT', 'POST', 'PATCH', 'DELETE'].includes(e.method)).length,
  };
}

export async function settled(registry: TestRegistry): Promise<AccessLogEntry[]> {
  await sleep(300);
  return registry.accessLog();
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

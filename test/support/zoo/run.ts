// Running image-syncer's engine through a zoo front, and counting what each
// host saw: the helpers the zoo tests share.

import { syncImages } from '../../../functions/engine/sync.ts';
import type { CopyJob, CopyResult } from '../../../functions/engine/types.ts';
import { parseReference } from '../../../functions/reference/reference.ts';
import { parseTargetPrefix, targetReference } from '../../../functions/reference/target.ts';
import {
  type CredentialProvider,
  StaticCredentials,
} from '../../../functions/registry/credentials.ts';
import { Registries, type RegistriesOptions } from '../../../functions/registry/registries.ts';
import { TARGET_WRITER } from '../fixture.ts';
import type { Front, Seen } from './engine.ts';

export const WRITER = {
  username: TARGET_WRITER.split(':')[0] as string,
  password: TARGET_WRITER.split(':')[1] as string,
};

/** The registries of one run: each profile's logical name answered by its front. */
export function registriesFor(
  fronts: Front | readonly Front[],
  target: Pick<Front, 'host'>,
  options: { credentials?: CredentialProvider } & RegistriesOptions = {},
): Registries {
  const sources = 'profile' in fronts ? [fronts] : fronts;
  return new Registries({
    endpoints: new Map(sources.map((f) => [f.profile.registry, f.url])),
    credentials: new StaticCredentials([[target.host, WRITER]]),
    retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
    ...options,
  });
}

/** `[source, tag?]` → the engine's job, into `<target>/zoo/<name>/…`. */
export function jobsFor(
  target: Pick<Front, 'host'>,
  name: string,
  entries: [string, string?][],
): CopyJob[] {
  const prefix = parseTargetPrefix(`${target.host}/zoo/${name}/`);
  return entries.map(([source, tag]) => {
    const sourceRef = parseReference(source);
    return { source, sourceRef, target: targetReference(sourceRef, prefix, tag) };
  });
}

/** One run with its own registries (a run's tokens and caches are its own), closed after. */
export async function runOnce(registries: Registries, jobs: CopyJob[]): Promise<CopyResult[]> {
  try {
    return await syncImages(jobs, registries);
  } finally {
    await registries.close();
  }
}

const CONTENT = /^\/v2\/.+\/(manifests|blobs)\//;
const WRITE = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);

/** Manifest and blob GETs a front (and its storage host) answered, from `since` on. */
export function contentGets(front: Front, since = { seen: 0, storage: 0 }): number {
  return (
    front.seen.slice(since.seen).filter((s) => s.method === 'GET' && CONTENT.test(s.path)).length +
    front.storageSeen.slice(since.storage).filter((s) => s.method === 'GET').length
  );
}

export function mark(front: Front): { seen: number; storage: number } {
  return { seen: front.seen.length, storage: front.storageSeen.length };
}

/** Writes the target front saw under one prefix, from index `since` on. */
export function writesUnder(target: Front, name: string, since = 0): Seen[] {
  return target.seen
    .slice(since)
    .filter((s) => WRITE.has(s.method) && s.path.startsWith(`/v2/zoo/${name}/`));
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

// A run: many copy jobs with bounded concurrency and blobs shared across them.
// One image failing never stops the others; results come back in job order.

import { pullScope, pushScope } from '../registry/client.ts';
import type { Registries } from '../registry/registries.ts';
import { BlobTracker } from './blobs.ts';
import { copyImage } from './copy.ts';
import { Limiter, mapLimited } from './limiter.ts';
import { ReferrersState } from './referrer-discovery.ts';
import { type CopyJob, type CopyResult, DEFAULT_CONCURRENCY, type EngineOptions } from './types.ts';

const IMAGES_PER_TRANSFER_SLOT = 4;

/**
 * One token request per registry for the whole run instead of one per
 * repository: pull scopes on sources, push scopes on the target. Best effort:
 * whatever fails here is fetched per repository later, as usual.
 */
export async function primeTokens(
  jobs: readonly Pick<CopyJob, 'sourceRef' | 'target'>[],
  registries: Registries,
  dryRun: boolean,
  includeTarget = true,
): Promise<void> {
  if (jobs.length < 2) return;
  const scopes = new Map<string, Set<string>>();
  const add = (registry: string, scope: string) =>
    scopes.set(registry, (scopes.get(registry) ?? new Set()).add(scope));
  for (const job of jobs) {
    add(job.sourceRef.registry, pullScope(job.sourceRef.repository));
    if (includeTarget) {
      add(
        job.target.registry,
        dryRun ? pullScope(job.target.repository) : pushScope(job.target.repository),
      );
    }
  }
  await Promise.allSettled(
    [...scopes].map(async ([registry, wanted]) =>
      registries.client(registry).transport.prime([...wanted]),
    ),
  );
}

export async function syncImages(
  jobs: readonly CopyJob[],
  registries: Registries,
  options: EngineOptions = {},
): Promise<CopyResult[]> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  await primeTokens(jobs, registries, options.dryRun ?? false);
  const ctx = {
    registries,
    blobs: new BlobTracker(),
    transfers: new Limiter(concurrency),
    dryRun: options.dryRun ?? false,
    ...(options.referrers && { referrers: options.referrers }),
    referrersState: new ReferrersState(),
    ...(options.observer?.bytes && { onBytes: options.observer.bytes.bind(options.observer) }),
  };
  // Images are cheap to look at (a few small requests) and expensive to copy
  // (blobs): many are examined at once, and the transfer limiter above bounds
  // what actually moves, largest blobs first across the whole run.
  return mapLimited(jobs, concurrency * IMAGES_PER_TRANSFER_SLOT, async (job, index) => {
    const result = await copyImage(job, ctx);
    options.observer?.imageFinished?.(result, index);
    return result;
  });
}

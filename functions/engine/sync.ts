// The engine's two entry points: a run of many copy jobs, with bounded
// concurrency and blobs shared across them (one image failing never stops the
// others; results come back in job order), and one job on its own (the copy
// function's unit of work).

import { primeTokens } from '../registry/prime.ts';
import type { Registries } from '../registry/registries.ts';
import { BlobTracker } from './blobs.ts';
import { type CopyContext, copyImage } from './copy.ts';
import { Limiter, mapLimited } from './limiter.ts';
import { ReferrersState } from './referrer-discovery.ts';
import { type CopyJob, type CopyResult, DEFAULT_CONCURRENCY, type EngineOptions } from './types.ts';

const IMAGES_PER_TRANSFER_SLOT = 4;

function contextFor(registries: Registries, options: EngineOptions): CopyContext {
  return {
    registries,
    blobs: new BlobTracker(),
    transfers: new Limiter(options.concurrency ?? DEFAULT_CONCURRENCY),
    dryRun: options.dryRun ?? false,
    signal: options.signal,
    ...(options.referrers && { referrers: options.referrers }),
    referrersState: new ReferrersState(),
    ...(options.observer?.bytes && { onBytes: options.observer.bytes.bind(options.observer) }),
  };
}

export async function syncImages(
  jobs: readonly CopyJob[],
  registries: Registries,
  options: EngineOptions = {},
): Promise<CopyResult[]> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  await primeTokens(jobs, registries, {
    targetAccess: options.dryRun ? 'pull' : 'push',
    ...(options.signal && { signal: options.signal }),
  });
  const ctx = contextFor(registries, options);
  // Images are cheap to look at (a few small requests) and expensive to copy
  // (blobs): many are examined at once, and the transfer limiter above bounds
  // what actually moves, largest blobs first across the whole run.
  return mapLimited(jobs, concurrency * IMAGES_PER_TRANSFER_SLOT, async (job, index) => {
    const result = await copyImage(job, ctx);
    options.observer?.imageFinished?.(result, index);
    return result;
  });
}

/** One image on its own: the same engine, with its own blob tracker and transfer limit. */
export function copyOne(
  job: CopyJob,
  registries: Registries,
  options: EngineOptions = {},
): Promise<CopyResult> {
  return copyImage(job, contextFor(registries, options));
}

// The fan-out: one images file in, one job per image out. The file is
// validated first (an invalid file publishes nothing and the run record holds
// its errors); each source is resolved to a digest and pinned in its job, so
// every copy of a run moves the same bytes even if an upstream tag moves; the
// plan is recorded before publishing, so a redelivered trigger finds it and
// publishes the same jobs again instead of starting a second run.

import { mapLimited } from '../engine/limiter.ts';
import { checkImagesFile, type ImageEntry } from '../images-file/parse.ts';
import { formatPlatform } from '../oci/platform.ts';
import { formatReference, manifestReference } from '../reference/reference.ts';
import type { TargetPrefix } from '../reference/target.ts';
import { primeTokens } from '../registry/prime.ts';
import type { Registries } from '../registry/registries.ts';
import type { Logger } from '../util/logger.ts';
import { type JobMessage, jobKey } from './job.ts';
import type { PlannedJob, RunRecord, RunStore } from './run-store.ts';

export interface JobPublisher {
  /** Resolves once Pub/Sub has acknowledged every job; rejects if any failed. */
  publish(jobs: readonly JobMessage[]): Promise<void>;
}

export interface FanOutInput {
  readonly runId: string;
  /** Where the file came from, for diagnostics: `gs://bucket/object`, `request`. */
  readonly file: string;
  readonly bytes: Uint8Array;
  readonly trigger: Readonly<Record<string, string>>;
  readonly dryRun: boolean;
}

export interface FanOutDeps {
  readonly prefix: TargetPrefix;
  readonly store: RunStore;
  readonly publisher: JobPublisher;
  readonly logger: Logger;
  /** Resolves sources to digests to pin them; absent, jobs go out unpinned. */
  readonly registries?: Registries;
  readonly concurrency?: number;
  /** The deployment's allow-list of source registries. */
  readonly isRegistryAllowed?: (registry: string) => boolean;
}

export interface FanOutOutcome {
  readonly run: RunRecord;
  /** `repeat`: the run had already been published; nothing was done again. */
  readonly outcome: 'published' | 'invalid' | 'repeat';
}

async function pin(
  entry: ImageEntry,
  registries: Registries | undefined,
  logger: Logger,
): Promise<string | undefined> {
  if (entry.sourceRef.digest) return entry.sourceRef.digest;
  if (!registries) return undefined;
  try {
    const head = await registries
      .client(entry.sourceRef.registry)
      .headManifest(entry.sourceRef.repository, manifestReference(entry.sourceRef));
    return head?.digest;
  } catch (error) {
    // The copy function will meet the same problem and report it per image.
    logger.warn('could not resolve source digest', {
      source: entry.source,
      error: (error as Error).message,
    });
    return undefined;
  }
}

export async function fanOut(input: FanOutInput, deps: FanOutDeps): Promise<FanOutOutcome> {
  const existing = await deps.store.readRun(input.runId);
  if (existing && existing.state !== 'publishing') {
    deps.logger.info('run already fanned out; nothing to do', {
      runId: input.runId,
      state: existing.state,
    });
    return { run: existing, outcome: 'repeat' };
  }

  let run: RunRecord;
  if (existing) {
    // A redelivery after a partial publish: the same pinned jobs go out again.
    run = existing;
  } else {
    const check = checkImagesFile(input.file, input.bytes, deps.prefix, {
      ...(deps.isRegistryAllowed && { isRegistryAllowed: deps.isRegistryAllowed }),
    });
    const base = {
      runId: input.runId,
      createdAt: new Date().toISOString(),
      trigger: input.trigger,
      file: input.file,
      dryRun: input.dryRun,
      ...(check.warnings.length > 0 && { warnings: check.warnings }),
    };
    if (check.problems.length > 0) {
      run = { ...base, state: 'invalid', jobs: [], errors: check.problems };
      await deps.store.writeRun(run);
      deps.logger.warn('images file is invalid; no job published', {
        runId: input.runId,
        file: input.file,
        problems: check.problems.length,
      });
      return { run, outcome: 'invalid' };
    }
    // One token request per registry for all the HEADs that pin digests.
    if (deps.registries) await primeTokens(check.entries, deps.registries, { target: false });
    const jobs = await mapLimited(
      check.entries,
      deps.concurrency ?? 32,
      async (entry): Promise<PlannedJob> => {
        const target = formatReference(entry.target);
        const sourceDigest = await pin(entry, deps.registries, deps.logger);
        return {
          key: jobKey(target),
          source: entry.source,
          ...(entry.tag !== undefined && { tag: entry.tag }),
          target,
          ...(sourceDigest !== undefined && { sourceDigest }),
          ...(entry.requireSignature !== undefined && { requireSignature: entry.requireSignature }),
          ...(entry.platforms && { platforms: entry.platforms.map(formatPlatform) }),
        };
      },
    );
    run = { ...base, state: 'publishing', jobs };
    await deps.store.writeRun(run);
  }

  const messages: JobMessage[] = run.jobs.map((job) => ({
    runId: run.runId,
    source: job.source,
    ...(job.tag !== undefined && { tag: job.tag }),
    ...(job.sourceDigest !== undefined && { sourceDigest: job.sourceDigest }),
    ...(job.requireSignature !== undefined && { requireSignature: job.requireSignature }),
    ...(run.dryRun && { dryRun: true }),
    ...(job.platforms && { platforms: job.platforms }),
  }));
  await deps.publisher.publish(messages);
  run = { ...run, state: 'published' };
  await deps.store.writeRun(run);
  deps.logger.info('run fanned out', { runId: run.runId, jobs: messages.length, file: run.file });
  return { run, outcome: 'published' };
}

// Mirroring before merge: a pull request may have the images of trusted
// sources (SYNCER_TRUSTED_SOURCES, reference/trust.ts) mirrored while it is
// open, so its own tests can pull them from the mirror. Everything else about
// the copy is as after merge: the allow-list, immutable tags, required
// platforms and signatures, the pull budget. The plan function decides which
// entries are trusted (http-api.ts) and publishes only those, marked `early`;
// the copy function checks each early job's trust again against its own
// configuration and refuses one it does not trust (UNTRUSTED_SOURCE,
// recorded, never copied). A fork's pull request mirrors nothing early unless
// the deployment allows it (SYNCER_TRUST_FORK_PULL_REQUESTS).
//
// What an early mirror did is kept where the merge will look for it: the
// mirror index `mirrors/<jobKey>.json` (run-store.ts), so the run after the
// merge, which finds the image `exists`, says which pull request put it there.

import type { CopyResult } from '../engine/types.ts';
import type { ImageReference } from '../reference/reference.ts';
import { type TrustPattern, trustedBy } from '../reference/trust.ts';
import { type JobMessage, RefusedJobError } from './job.ts';
import type { EarlyMirror, JobResultRecord, PullRequest } from './records.ts';
import type { RunStore } from './run-store.ts';

/** The deployment's trust: which sources, and whether forks' pull requests count. */
export interface TrustPolicy {
  readonly patterns: readonly TrustPattern[];
  readonly forks: boolean;
}

export const FORK_REFUSAL =
  'a pull request from a fork may not mirror early on this deployment (SYNCER_TRUST_FORK_PULL_REQUESTS)';

/** The pattern that lets this pull request mirror `source` early, or why none does. */
export function earlyTrust(
  trust: TrustPolicy,
  pullRequest: Pick<PullRequest, 'fork'>,
  source: Pick<ImageReference, 'registry' | 'repository'>,
): { pattern: string } | { refusal: string } {
  if (pullRequest.fork && !trust.forks) return { refusal: FORK_REFUSAL };
  const pattern = trustedBy(trust.patterns, source);
  if (!pattern)
    return {
      refusal: `${source.registry}/${source.repository} is not a trusted source of this deployment: a pull request may not mirror it before it is merged`,
    };
  return { pattern: pattern.text };
}

/** A job marked early that the copy function does not trust: refused and recorded, never copied. */
export class UntrustedJobError extends RefusedJobError {
  /** The pull request the job was mirrored early for, and the pattern it claimed. */
  readonly early: EarlyMirror;

  constructor(reason: string, job: JobMessage, early: EarlyMirror) {
    super('UNTRUSTED_SOURCE', `refused: ${reason}`, job.runId, job);
    this.early = early;
  }
}

/** Throws UntrustedJobError for an early job this deployment does not trust. */
export function checkEarlyJob(
  job: JobMessage,
  source: ImageReference,
  trust: TrustPolicy | undefined,
): void {
  if (!job.early) return;
  const decided = earlyTrust(trust ?? { patterns: [], forks: false }, job.early, source);
  if ('refusal' in decided) throw new UntrustedJobError(decided.refusal, job, job.early);
}

/**
 * What a job's record says about early mirroring: an early job that put the
 * image in the target is written to the mirror index; a later job that finds
 * the same digest there names the pull request that mirrored it.
 */
export async function earlyProvenance(
  job: JobMessage,
  key: string,
  result: CopyResult,
  store: RunStore,
): Promise<Pick<JobResultRecord, 'early' | 'mirroredBy'>> {
  const inTarget = (result.status === 'copied' || result.status === 'exists') && result.digest;
  if (job.early) {
    if (inTarget)
      await store.writeEarlyMirror(key, {
        ...job.early,
        target: result.target,
        digest: inTarget,
        runId: job.runId,
        mirroredAt: new Date().toISOString(),
      });
    return { early: job.early };
  }
  if (result.status !== 'exists' || !result.digest) return {};
  const mirrored = await store.readEarlyMirror(key);
  if (!mirrored || mirrored.digest !== result.digest) return {};
  const { target: _, digest: __, mirroredAt: ___, ...by } = mirrored;
  return { mirroredBy: by satisfies EarlyMirror & { runId: string } };
}

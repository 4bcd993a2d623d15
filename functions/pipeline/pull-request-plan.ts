// POST /plan for a pull request: the plan of every entry, as for any plan,
// and, where the deployment trusts sources (early-mirror.ts), the trusted
// entries that would be copied published at once as a run of their own, so
// the pull request's tests can pull them from the mirror before it is merged.
// Whatever is not trusted stays a dry run; nothing that exists or conflicts is
// touched. The run's id follows from the pull request and its commit, so the
// workflow re-run on the same commit finds the same run.

import { formatReference, type ImageReference } from '../reference/reference.ts';
import { earlyTrust, FORK_REFUSAL, type TrustPolicy } from './early-mirror.ts';
import { type FanOutDeps, fanOut } from './fanout.ts';
import { deterministicRunId } from './job.ts';
import { type PlanOutcome, planImagesFile } from './plan.ts';
import type { PullRequest } from './records.ts';

/** The early mirror of one image: the pattern that trusts it and where the pull request's tests find it. */
export interface EarlyImage {
  readonly trustedBy: string;
  /** `target@digest`: the mirrored image, by digest. */
  readonly reference: string;
}

export interface PullRequestPlan extends PlanOutcome {
  /** The run mirroring the trusted images, and each of them by target. */
  readonly early?: { readonly runId: string; readonly images: ReadonlyMap<string, EarlyImage> };
  /** Why nothing was mirrored early although sources are trusted (a fork). */
  readonly notEarly?: string;
}

function pullRequestRunId(pullRequest: PullRequest): string {
  const { repository, number, commit } = pullRequest;
  return deterministicRunId(`pr-${number}`, [repository, number, commit], 16);
}

export async function planPullRequest(
  file: string,
  bytes: Uint8Array,
  pullRequest: PullRequest,
  deps: Parameters<typeof planImagesFile>[2] & {
    readonly trust: TrustPolicy;
    readonly fanOut: FanOutDeps;
  },
): Promise<PullRequestPlan> {
  const plan = await planImagesFile(file, bytes, deps);
  if (!plan.results || deps.trust.patterns.length === 0) return plan;
  if (pullRequest.fork && !deps.trust.forks) return { ...plan, notEarly: FORK_REFUSAL };
  // Only what the merge would copy: an image already there, in conflict or failing stays as planned.
  const trusted = new Map<string, { pattern: string; target: ImageReference }>();
  for (const [i, entry] of plan.check.entries.entries()) {
    if (plan.results[i]?.status !== 'planned') continue;
    const decided = earlyTrust(deps.trust, pullRequest, entry.sourceRef);
    if ('pattern' in decided)
      trusted.set(formatReference(entry.target), {
        pattern: decided.pattern,
        target: entry.target,
      });
  }
  if (trusted.size === 0) return plan;
  const { run } = await fanOut(
    {
      runId: pullRequestRunId(pullRequest),
      file,
      bytes,
      trigger: {
        type: 'pull-request',
        repository: pullRequest.repository,
        number: String(pullRequest.number),
        commit: pullRequest.commit,
        fork: String(pullRequest.fork),
      },
      dryRun: false,
      early: {
        pullRequest,
        trustedBy: (entry) => trusted.get(formatReference(entry.target))?.pattern,
      },
    },
    deps.fanOut,
  );
  const digests = new Map(plan.results.map((r) => [r.target, r.digest]));
  const images = new Map<string, EarlyImage>();
  for (const job of run.jobs) {
    const digest = job.sourceDigest ?? digests.get(job.target);
    const chosen = trusted.get(job.target);
    if (!job.early || !digest || !chosen) continue;
    const { tag: _, ...repository } = chosen.target;
    images.set(job.target, {
      trustedBy: job.early.trustedBy,
      reference: formatReference({ ...repository, digest }),
    });
  }
  return { ...plan, early: { runId: run.runId, images } };
}

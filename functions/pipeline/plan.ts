// POST /plan: a synchronous dry run of a whole images file. Each image is
// planned, exists or conflict (with the source digest and the target); a file
// with problems is not planned at all; failures to reach a source are
// reported as failed. Nothing here can write: the engine runs with dryRun set
// and there is no other path. How the outcome reads is views/'s.

import type { ReferrersOptions } from '../engine/referrer-options.ts';
import { syncImages } from '../engine/sync.ts';
import type { CopyResult, ImagePolicy } from '../engine/types.ts';
import { copyRequest } from '../images-file/fields.ts';
import { checkImagesFile, type ImagesFileCheck } from '../images-file/parse.ts';
import type { TargetPrefix } from '../reference/target.ts';
import { isRegistryAllowed } from '../registry/network-policy.ts';
import type { Registries } from '../registry/registries.ts';
import { pullBudgets, type RegistryPullBudget } from './pull-budget.ts';

export interface PlanOutcome {
  /** The file as checked: its entries, problems and warnings. */
  readonly check: ImagesFileCheck;
  /** Each entry's plan, when the file has no problem. */
  readonly results?: readonly CopyResult[];
  /** Per source registry: the pulls the sync would cost, beside the budget the plan's HEADs read. */
  readonly pulls?: readonly RegistryPullBudget[];
}

export async function planImagesFile(
  file: string,
  bytes: Uint8Array,
  deps: {
    prefix: TargetPrefix;
    registries: Registries;
    concurrency?: number;
    referrers?: ReferrersOptions;
    /** The deployment's image policy, for what an entry leaves out. */
    defaults?: ImagePolicy;
  },
): Promise<PlanOutcome> {
  const policy = deps.registries.policy;
  const check = checkImagesFile(file, bytes, deps.prefix, {
    isRegistryAllowed: (registry) => isRegistryAllowed(policy, registry),
  });
  if (check.problems.length > 0) return { check };
  const results = await syncImages(
    check.entries.map((entry) => copyRequest(entry, deps.defaults ?? {})),
    deps.registries,
    {
      dryRun: true,
      ...(deps.concurrency !== undefined && { concurrency: deps.concurrency }),
      ...(deps.referrers && { referrers: deps.referrers }),
    },
  );
  return { check, results, pulls: pullBudgets(results, deps.registries.rateLimits) };
}

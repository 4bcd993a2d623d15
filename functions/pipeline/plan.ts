// POST /plan: a synchronous dry run of a whole images file. Each image is
// planned, exists or conflict (with the source digest and the target), or
// invalid; failures to reach a source are reported as failed. Nothing here can
// write: the engine runs with dryRun set and there is no other path.

import type { ReferrersOptions } from '../engine/referrer-options.ts';
import { syncImages } from '../engine/sync.ts';
import type { Diagnostic } from '../images-file/diagnostics.ts';
import { checkImagesFile } from '../images-file/parse.ts';
import type { Platform } from '../oci/platform.ts';
import type { TargetPrefix } from '../reference/target.ts';
import { isRegistryAllowed } from '../registry/network-policy.ts';
import type { Registries } from '../registry/registries.ts';
import { type EntryResult, entryOf, validationEntries } from './entries.ts';

export interface PlanOutcome {
  readonly valid: boolean;
  readonly results: readonly EntryResult[];
  readonly errors: readonly Diagnostic[];
  readonly warnings: readonly Diagnostic[];
}

export async function planImagesFile(
  file: string,
  bytes: Uint8Array,
  deps: {
    prefix: TargetPrefix;
    registries: Registries;
    concurrency?: number;
    referrers?: ReferrersOptions;
    /** The deployment's default required platforms (SYNCER_REQUIRE_PLATFORMS). */
    requirePlatforms?: readonly Platform[];
  },
): Promise<PlanOutcome> {
  const policy = deps.registries.policy;
  const check = checkImagesFile(file, bytes, deps.prefix, {
    isRegistryAllowed: (registry) => isRegistryAllowed(policy, registry),
  });
  if (check.problems.length > 0) {
    return {
      valid: false,
      results: validationEntries(check),
      errors: check.problems,
      warnings: check.warnings,
    };
  }
  const results = await syncImages(
    check.entries.map((e) => ({
      source: e.source,
      sourceRef: e.sourceRef,
      target: e.target,
      ...(e.requireSignature !== undefined && { requireSignature: e.requireSignature }),
      requiredPlatforms: e.platforms ?? deps.requirePlatforms ?? [],
    })),
    deps.registries,
    {
      dryRun: true,
      ...(deps.concurrency !== undefined && { concurrency: deps.concurrency }),
      ...(deps.referrers && { referrers: deps.referrers }),
    },
  );
  return { valid: true, results: results.map(entryOf), errors: [], warnings: check.warnings };
}

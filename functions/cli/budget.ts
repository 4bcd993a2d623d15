// The pull budget at the end of a CLI run: for a dry run, what the sync would
// cost per source registry beside what the registry says remains (read with
// the plan's HEADs, which cost nothing); after a sync, what remains.

import type { CopyResult } from '../engine/types.ts';
import { describeBudget, pullBudgets } from '../pipeline/pull-budget.ts';
import { describeReading, type RateLimits } from '../registry/rate-limit.ts';

export function budgetLines(
  results: readonly CopyResult[],
  rateLimits: RateLimits,
  dryRun: boolean,
): string[] {
  if (dryRun)
    return pullBudgets(results, rateLimits).map((b) => `pull budget: ${describeBudget(b)}`);
  return rateLimits
    .readings()
    .map(([registry, reading]) => `pull budget: ${describeReading(registry, reading)}`);
}

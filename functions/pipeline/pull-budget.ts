// The pull budget of a run: what a sync will cost per source registry (the
// engine's per-image estimate, engine/pull-estimate.ts) beside what the
// registry says is left (registry/rate-limit.ts), and whether it fits.
//
// A fan-out of many copy functions behind one egress address shares one
// Docker Hub budget (100 pulls per 6 h anonymously, per IPv4 address or IPv6
// /64, docker/docs content/manuals/docker-hub/usage/pulls.md); spending it
// in seconds would fail half a run. So a run that cannot fit is refused before
// anything is published, and a run that fits only just is published slowly.

import { parseReference } from '../reference/reference.ts';
import { describeReading, type RateLimitReading, type RateLimits } from '../registry/rate-limit.ts';

export interface RegistryPullBudget {
  readonly registry: string;
  /** Pulls the run's copies will cost at most. */
  readonly estimatedPulls: number;
  /** What the registry announced, read with the plan's HEADs (free); absent: no limit announced. */
  readonly remaining?: number;
  readonly limit?: number;
  readonly windowSeconds?: number;
  /** The address or account the budget is counted against. */
  readonly countedAgainst?: string;
}

export interface PullBudgetRefusal {
  readonly margin: number;
  /** The registries whose estimate exceeds what remains minus the margin. */
  readonly registries: readonly RegistryPullBudget[];
  readonly message: string;
}

function registryOf(source: string): string | undefined {
  try {
    return parseReference(source).registry;
  } catch {
    return undefined;
  }
}

/** Per source registry: the estimated pulls of the planned copies and the budget announced. */
export function pullBudgets(
  results: readonly { readonly source: string; readonly pulls?: number }[],
  rateLimits: RateLimits,
): RegistryPullBudget[] {
  const estimated = new Map<string, number>();
  for (const result of results) {
    const registry = registryOf(result.source);
    if (registry === undefined) continue;
    estimated.set(registry, (estimated.get(registry) ?? 0) + (result.pulls ?? 0));
  }
  return [...estimated]
    .map(([registry, estimatedPulls]) =>
      budgetOf(registry, estimatedPulls, rateLimits.reading(registry)),
    )
    .filter((b) => b.estimatedPulls > 0 || b.remaining !== undefined);
}

function budgetOf(
  registry: string,
  estimatedPulls: number,
  reading: RateLimitReading | undefined,
): RegistryPullBudget {
  return {
    registry,
    estimatedPulls,
    ...(reading && {
      remaining: reading.remaining,
      limit: reading.limit,
      windowSeconds: reading.windowSeconds,
      ...(reading.source && { countedAgainst: reading.source }),
    }),
  };
}

/** One line per registry: `docker.io: an estimated 12 pulls; 76 of 100 pulls per 6 h remaining`. */
export function describeBudget(budget: RegistryPullBudget): string {
  const cost = `an estimated ${budget.estimatedPulls} pull${budget.estimatedPulls === 1 ? '' : 's'}`;
  if (budget.remaining === undefined || budget.limit === undefined)
    return `${budget.registry}: ${cost}; no pull limit announced`;
  const reading = describeReading(budget.registry, {
    limit: budget.limit,
    remaining: budget.remaining,
    windowSeconds: budget.windowSeconds ?? 0,
    ...(budget.countedAgainst && { source: budget.countedAgainst }),
    at: 0,
  });
  return `${budget.registry}: ${cost}; ${reading.slice(budget.registry.length + 2)}`;
}

/** What a run may spend of a registry's budget: what remains minus the safety margin. */
function available(budget: RegistryPullBudget, margin: number): number {
  return budget.remaining === undefined ? Number.POSITIVE_INFINITY : budget.remaining - margin;
}

/** A refusal when any registry's estimate exceeds what remains minus `margin`; else undefined. */
export function checkPullBudget(
  budgets: readonly RegistryPullBudget[],
  margin: number,
): PullBudgetRefusal | undefined {
  const over = budgets.filter((b) => b.estimatedPulls > available(b, margin));
  if (over.length === 0) return undefined;
  return {
    margin,
    registries: over,
    message: `the run needs more pulls than the source registry allows now, keeping a margin of ${margin}: ${over
      .map(describeBudget)
      .join(
        '; ',
      )}; nothing was published. Wait for the window to pass, split the file, or add source credentials with a higher limit`,
  };
}

/**
 * Tight: the run would spend more than half of what is available. Its jobs are
 * then published in small batches with a pause between them, so the copies
 * meet the registry a few at a time instead of all in the same second.
 */
export function isBudgetTight(budgets: readonly RegistryPullBudget[], margin: number): boolean {
  return budgets.some((b) => b.estimatedPulls > 0 && b.estimatedPulls * 2 > available(b, margin));
}

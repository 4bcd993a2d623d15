// The fan-out's use of the pull budget (pull-budget.ts): refuse a run that
// cannot fit, with the numbers in its run record, and publish a run that fits
// only just in paced batches.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Registries } from '../registry/registries.ts';
import type { JobMessage } from './job.ts';
import {
  checkPullBudget,
  isBudgetTight,
  type PullBudgetRefusal,
  pullBudgets,
  type RegistryPullBudget,
} from './pull-budget.ts';
import type { RunRecord } from './records.ts';

/** A run record with the budget the fan-out read (extra JSON fields). */
export type BudgetedRunRecord = RunRecord & {
  /** Per source registry: estimated pulls beside the budget announced when the run was planned. */
  readonly pullBudget?: readonly RegistryPullBudget[];
  /** Jobs go out in paced batches: the run fits the budget only just. */
  readonly paced?: boolean;
};

export interface Pace {
  /** Jobs per batch. */
  readonly batch: number;
  /** Pause between batches. */
  readonly pauseMs: number;
}

export const DEFAULT_PACE: Pace = { batch: 10, pauseMs: 2_000 };

export function budgetOf(
  estimates: readonly { source: string; pulls: number }[],
  registries: Registries,
  margin: number,
): { budgets: RegistryPullBudget[]; refusal?: PullBudgetRefusal; tight: boolean } {
  const budgets = pullBudgets(estimates, registries.rateLimits);
  const refusal = checkPullBudget(budgets, margin);
  return { budgets, ...(refusal && { refusal }), tight: isBudgetTight(budgets, margin) };
}

/**
 * The record of a refused run: `refused` (ended, nothing published), with the
 * refusal also as its error, so every reader of `errors` shows it; `refusal`
 * holds the numbers.
 */
export function refusedRun(
  base: Omit<RunRecord, 'state' | 'jobs'>,
  file: string,
  refusal: PullBudgetRefusal,
): RunRecord {
  const run: BudgetedRunRecord = {
    ...base,
    state: 'refused',
    jobs: [],
    errors: [{ file, line: 0, field: '', message: `pull budget: ${refusal.message}` }],
    refusal,
  };
  return run;
}

export async function publishPaced(
  publish: (jobs: readonly JobMessage[]) => Promise<void>,
  messages: readonly JobMessage[],
  paced: boolean,
  pace: Pace = DEFAULT_PACE,
): Promise<void> {
  if (!paced) return publish(messages);
  for (let at = 0; at < messages.length; at += pace.batch) {
    if (at > 0) await sleep(pace.pauseMs);
    await publish(messages.slice(at, at + pace.batch));
  }
}

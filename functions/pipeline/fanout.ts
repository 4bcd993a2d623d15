// The fan-out: one images file in, one job per image out. The file is
// validated first (an invalid file publishes nothing and the run record holds
// its errors); each source is resolved to a digest and pinned in its job, so
// every copy of a run moves the same bytes even if an upstream tag moves; the
// plan is recorded before publishing, so a redelivered trigger finds it and
// publishes the same jobs again instead of starting a second run.

import { mapLimited } from '../engine/limiter.ts';
import { estimatePulls } from '../engine/pull-estimate.ts';
import { encodePolicy } from '../images-file/fields.ts';
import { checkImagesFile, type ImageEntry } from '../images-file/parse.ts';
import { formatReference, manifestReference } from '../reference/reference.ts';
import type { TargetPrefix } from '../reference/target.ts';
import { primeTokens } from '../registry/prime.ts';
import type { Registries } from '../registry/registries.ts';
import type { Logger } from '../util/logger.ts';
import { writeShardPlans } from './completion.ts';
import {
  type BudgetedRunRecord,
  budgetOf,
  type Pace,
  publishPaced,
  refusedRun,
} from './fanout-budget.ts';
import { type JobMessage, jobKey, jobMessage } from './job.ts';
import { PreconditionFailedError } from './object-store.ts';
import type { EarlyMirror, PlannedJob, PullRequest, RunRecord } from './records.ts';
import { ABSENT, type RunStore, type Versioned } from './run-store.ts';

export interface JobPublisher {
  /**
   * Resolves once Pub/Sub has acknowledged every job; rejects if any failed.
   * `runJobs`, the number of jobs in the run, goes with each (job.ts `jobAttributes`).
   */
  publish(jobs: readonly JobMessage[], runJobs: number): Promise<void>;
}

export interface FanOutInput {
  readonly runId: string;
  /** Where the file came from, for diagnostics: `gs://bucket/object`, `request`. */
  readonly file: string;
  readonly bytes: Uint8Array;
  readonly trigger: Readonly<Record<string, string>>;
  readonly dryRun: boolean;
  /**
   * A pull request's early mirror (http-api.ts): only the entries `trustedBy`
   * names a pattern for become jobs, each marked with the pull request and
   * that pattern.
   */
  readonly early?: {
    readonly pullRequest: PullRequest;
    readonly trustedBy: (entry: ImageEntry) => string | undefined;
  };
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
  /**
   * Set: estimate each job's pulls (a source HEAD and a target HEAD, both free)
   * and refuse a run whose estimate exceeds a source's remaining budget minus
   * this margin (SYNCER_PULL_BUDGET_MARGIN); publish a tight one paced.
   */
  readonly pullBudgetMargin?: number;
  readonly pace?: Pace;
}

export interface FanOutOutcome {
  readonly run: RunRecord;
  /** `repeat`: the run had already been published; nothing was done again. */
  readonly outcome: 'published' | 'invalid' | 'repeat';
}

interface Pinned {
  readonly sourceDigest?: string;
  /** Pulls the copy will cost (0 when the target already has the tag); absent without a budget check. */
  readonly pulls?: number;
}

async function pin(
  entry: ImageEntry,
  registries: Registries | undefined,
  logger: Logger,
  estimate: boolean,
): Promise<Pinned> {
  if (!registries) return entry.sourceRef.digest ? { sourceDigest: entry.sourceRef.digest } : {};
  if (entry.sourceRef.digest && !estimate) return { sourceDigest: entry.sourceRef.digest };
  try {
    const head = await registries
      .client(entry.sourceRef.registry)
      .headManifest(
        entry.sourceRef.repository,
        entry.sourceRef.digest ?? manifestReference(entry.sourceRef),
      );
    if (!head) return entry.sourceRef.digest ? { sourceDigest: entry.sourceRef.digest } : {};
    return {
      sourceDigest: head.digest,
      ...(estimate && { pulls: await pullsFor(entry, head, registries) }),
    };
  } catch (error) {
    // The copy function will meet the same problem and report it per image.
    logger.warn('could not resolve source digest', {
      source: entry.source,
      error: (error as Error).message,
    });
    return entry.sourceRef.digest ? { sourceDigest: entry.sourceRef.digest } : {};
  }
}

/**
 * Zero when the target tag exists (same digest: nothing to copy; another: a
 * conflict, nothing copied). The target is asked only when the source announced
 * a budget: elsewhere the number is never compared with anything.
 */
async function pullsFor(
  entry: ImageEntry,
  head: { mediaType: string; size: number },
  registries: Registries,
): Promise<number> {
  if (!registries.rateLimits.reading(entry.sourceRef.registry)) return estimatePulls(head);
  const existing = await registries
    .client(entry.target.registry)
    .headManifest(entry.target.repository, entry.target.tag ?? 'latest')
    .catch(() => undefined);
  return existing ? 0 : estimatePulls(head);
}

/**
 * Creates the run record: a create, so a redelivered trigger racing the first
 * delivery never makes a second plan; the loser continues with the winner's.
 */
async function createRun(run: RunRecord, store: RunStore): Promise<Versioned<RunRecord>> {
  try {
    return { value: run, generation: await store.writeRun(run, ABSENT) };
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
    const winner = await store.readRun(run.runId);
    if (!winner) throw error;
    return winner;
  }
}

export async function fanOut(input: FanOutInput, deps: FanOutDeps): Promise<FanOutOutcome> {
  let existing = await deps.store.readRun(input.runId);
  if (!existing) {
    const planned = await plan(input, deps);
    existing = await createRun(planned, deps.store);
    if (existing.value.state === 'invalid' || existing.value.state === 'refused')
      return { run: existing.value, outcome: existing.value === planned ? 'invalid' : 'repeat' };
  } else if (existing.value.state !== 'publishing') {
    deps.logger.info('run already fanned out; nothing to do', {
      runId: input.runId,
      state: existing.value.state,
    });
    return { run: existing.value, outcome: 'repeat' };
  }
  // A redelivery after a partial publish sends the same pinned jobs again.
  return publishRun(existing, deps);
}

/** The run record the file makes: its jobs pinned, or why it publishes none. */
async function plan(input: FanOutInput, deps: FanOutDeps): Promise<RunRecord> {
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
    deps.logger.warn('images file is invalid; no job published', {
      runId: input.runId,
      file: input.file,
      problems: check.problems.length,
    });
    return { ...base, state: 'invalid', jobs: [], errors: check.problems };
  }
  // One token request per registry for all the HEADs that pin digests.
  if (deps.registries) await primeTokens(check.entries, deps.registries, { target: false });
  const estimate = deps.pullBudgetMargin !== undefined && deps.registries !== undefined;
  const estimates: { source: string; pulls: number }[] = [];
  const early = input.early;
  const chosen: { entry: ImageEntry; early: EarlyMirror | undefined }[] = early
    ? check.entries.flatMap((entry) => {
        const trustedBy = early.trustedBy(entry);
        return trustedBy ? [{ entry, early: { ...early.pullRequest, trustedBy } }] : [];
      })
    : check.entries.map((entry) => ({ entry, early: undefined }));
  const jobs = await mapLimited(
    chosen,
    deps.concurrency ?? 32,
    async ({ entry, early }): Promise<PlannedJob> => {
      const target = formatReference(entry.target);
      const { sourceDigest, pulls } = await pin(entry, deps.registries, deps.logger, estimate);
      if (pulls !== undefined) estimates.push({ source: entry.source, pulls });
      return {
        key: jobKey(target),
        source: entry.source,
        ...(entry.tag !== undefined && { tag: entry.tag }),
        target,
        ...(sourceDigest !== undefined && { sourceDigest }),
        ...encodePolicy(entry),
        ...(early && { early }),
      };
    },
  );
  if (!estimate || !deps.registries) return { ...base, state: 'publishing', jobs };
  const budget = budgetOf(estimates, deps.registries, deps.pullBudgetMargin ?? 0);
  if (budget.refusal) {
    deps.logger.warn('run refused: the pull budget cannot fit it; no job published', {
      runId: input.runId,
      budgets: budget.refusal.registries,
      margin: budget.refusal.margin,
    });
    return refusedRun(base, input.file, budget.refusal);
  }
  const planned: BudgetedRunRecord = {
    ...base,
    state: 'publishing',
    jobs,
    pullBudget: budget.budgets,
    ...(budget.tight && { paced: true }),
  };
  return planned;
}

/** Publishes a planned run's jobs, its shard plans first (completion.ts), then marks it published. */
async function publishRun(planned: Versioned<RunRecord>, deps: FanOutDeps): Promise<FanOutOutcome> {
  const run = planned.value;
  await writeShardPlans(deps.store, run);
  const messages = run.jobs.map((job) => jobMessage(run, job));
  const paced = (run as BudgetedRunRecord).paced === true;
  if (paced)
    deps.logger.info('pull budget tight; publishing jobs in paced batches', { runId: run.runId });
  const publish = (jobs: readonly JobMessage[]) => deps.publisher.publish(jobs, run.jobs.length);
  await publishPaced(publish, messages, paced, deps.pace);
  const published: RunRecord = { ...run, state: 'published' };
  try {
    await deps.store.writeRun(published, planned.generation);
  } catch (error) {
    // A concurrent delivery of the same trigger marked it first.
    if (!(error instanceof PreconditionFailedError)) throw error;
  }
  deps.logger.info('run fanned out', { runId: run.runId, jobs: messages.length, file: run.file });
  return { run: published, outcome: 'published' };
}

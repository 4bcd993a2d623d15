// When is a run complete, and who announces it. Pub/Sub delivers every job at
// least once, any instance may die at any moment, and the last jobs of a run
// end at the same time on different instances; yet a run whose jobs have all
// ended must be announced (run-completed.ts's message), without waiting for an
// unrelated later delivery, and at a cost per job that does not grow with the
// run.
//
// Detection, O(1) Cloud Storage work per job. The fan-out splits the planned
// job keys (hex) into shards by their first `shardDigits(n)` characters, about
// 64 jobs each, and writes each shard's keys (run-store.ts layout). After a
// job's record is final, its delivery:
//   1. reads its shard's plan and lists that shard's records (their outcomes
//      are in metadata): if every planned key there is final,
//   2. creates `ended/<shard>` and lists `ended/`: if every shard has ended,
//   3. announces the run.
// Each step follows a write of its own (the record, the marker) and listings
// are strongly consistent (https://cloud.google.com/storage/docs/consistency),
// so of two jobs ending at once the later one sees both: someone always gets
// to step 3. The job's delivery is acknowledged only after these steps, so a
// death in between is a redelivery that runs them again.
//
// Announcing, at least once, never lost, duplicated only if the announcer
// dies in the moment between Pub/Sub's acknowledgement of the publish and the
// write of completed.json (or that write fails through every retry):
//   - `completed.json` exists: the message is out; acknowledge.
//   - else take `claim.json` (create, or take over an expired lease, by
//     generation precondition): one delivery wins; the others find a live
//     claim and hand themselves back (RunCompletingError → 503), so a
//     redelivery is always pending while the run is unannounced.
//   - the winner builds the event, publishes it with the run id as an
//     attribute (subscribers drop duplicates by it), then creates
//     completed.json. If it cannot publish it hands the claim back at once;
//     if it dies, its own delivery and the handed-back ones return and take
//     the claim over once the lease has run out.

import { randomUUID } from 'node:crypto';
import { mapLimited } from '../engine/limiter.ts';
import { describeError, SyncerError } from '../errors.ts';
import type { Logger } from '../util/logger.ts';
import { logFieldsOfRunCompleted } from './log-events.ts';
import { PreconditionFailedError } from './object-store.ts';
import type { CompletionClaim, RunRecord, ShardPlan } from './records.ts';
import { type RunEventPublisher, runCompletedEvent } from './run-completed.ts';
import { ABSENT, type RunStore } from './run-store.ts';

/** How long a claim keeps others off: far longer than building and publishing the event takes. */
export const DEFAULT_CLAIM_LEASE_MS = 2 * 60 * 1000;

/** A job whose record is final: the run it belongs to may be complete. */
export interface EndedJob {
  readonly runId: string;
  readonly key: string;
  /** The run's number of planned jobs, from the job message's `runJobs` attribute. */
  readonly runJobs?: number;
}

export interface CompletionDeps {
  readonly store: RunStore;
  readonly logger: Logger;
  /** Absent: completed.json is still written (GET /runs shows it), nothing is published. */
  readonly events?: RunEventPublisher;
  readonly leaseMs?: number;
  readonly now?: () => number;
}

export type CompletionOutcome = 'pending' | 'already' | 'published' | 'recorded';

/** The run's completion is being announced by another delivery, or could not be yet: deliver again. */
export class RunCompletingError extends SyncerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RUN_COMPLETING', message, options);
  }
}

/** Hex digits of a job key that name its shard: shards of at most 64 jobs on average. */
export function shardDigits(jobs: number): number {
  let digits = 1;
  while (jobs / 16 ** digits > 64) digits++;
  return digits;
}

/** The run's planned keys, by shard. */
export function shardPlans(run: RunRecord): ShardPlan[] {
  const digits = shardDigits(run.jobs.length);
  const byShard = new Map<string, string[]>();
  for (const { key } of run.jobs) {
    const shard = key.slice(0, digits);
    byShard.set(shard, [...(byShard.get(shard) ?? []), key]);
  }
  return [...byShard].map(([shard, keys]) => ({
    runId: run.runId,
    shard,
    shards: byShard.size,
    keys,
  }));
}

/** The fan-out, before it publishes: each shard's plan (created once; a redelivery finds them). */
export async function writeShardPlans(store: RunStore, run: RunRecord): Promise<void> {
  await mapLimited(shardPlans(run), 16, (plan) => store.writeShardPlan(plan));
}

/** The plan of the job's shard, from the count its message carries, else from run.json. */
async function shardPlanOf(job: EndedJob, store: RunStore): Promise<ShardPlan | undefined> {
  if (job.runJobs !== undefined) {
    const plan = await store.readShardPlan(job.runId, job.key.slice(0, shardDigits(job.runJobs)));
    if (plan) return plan;
  }
  // No count in the message, or no plan where it points (a run planned
  // without shard plans): plan from run.json, once; later jobs find the plans.
  const run = (await store.readRun(job.runId))?.value;
  if (!run || run.jobs.length === 0) return undefined;
  const plans = shardPlans(run);
  await mapLimited(plans, 16, (plan) => store.writeShardPlan(plan));
  return plans.find((plan) => plan.keys.includes(job.key));
}

/**
 * Called after a job's record is final (written or found): if that completes
 * the run, announces it. Throws RunCompletingError when the delivery must be
 * handed back so the announcement is not lost.
 */
export async function completeRunIfDone(
  job: EndedJob,
  deps: CompletionDeps,
): Promise<CompletionOutcome> {
  const plan = await shardPlanOf(job, deps.store);
  if (!plan?.keys.includes(job.key)) return 'pending';
  const ended = await deps.store.listResults(job.runId, plan.shard);
  const final = new Set(ended.filter((summary) => summary.final).map((summary) => summary.key));
  if (!plan.keys.every((key) => final.has(key))) return 'pending';
  await deps.store.markShardEnded(job.runId, plan.shard);
  if ((await deps.store.countEndedShards(job.runId)) < plan.shards) return 'pending';
  return announce(job.runId, deps);
}

interface HeldClaim {
  readonly claim: CompletionClaim;
  readonly generation: string;
}

async function takeClaim(runId: string, deps: CompletionDeps, now: number): Promise<HeldClaim> {
  const current = await deps.store.readClaim(runId);
  if (current && Date.parse(current.value.leaseUntil) > now)
    throw new RunCompletingError(
      `run ${runId} is being announced by another delivery (its claim holds until ${current.value.leaseUntil})`,
    );
  const claim: CompletionClaim = {
    runId,
    claimId: randomUUID(),
    claimedAt: new Date(now).toISOString(),
    leaseUntil: new Date(now + (deps.leaseMs ?? DEFAULT_CLAIM_LEASE_MS)).toISOString(),
  };
  try {
    return { claim, generation: await deps.store.writeClaim(claim, current?.generation ?? ABSENT) };
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
    // The client retries a conditional write whose answer was lost; the retry
    // then fails the precondition against our own claim.
    const winner = await deps.store.readClaim(runId);
    if (winner?.value.claimId === claim.claimId) return { claim, generation: winner.generation };
    throw new RunCompletingError(`run ${runId}: another delivery claimed its announcement first`);
  }
}

/** Lets the next delivery announce at once, instead of after the lease. */
async function releaseClaim(deps: CompletionDeps, held: HeldClaim): Promise<void> {
  const expired = { ...held.claim, leaseUntil: new Date(0).toISOString() };
  await deps.store.writeClaim(expired, held.generation).catch(() => undefined);
}

/** Rejects once the claim's lease is about to run out, so a publish never outlives its claim. */
function withinLease<T>(work: Promise<T>, held: HeldClaim, now: number): Promise<T> {
  const left = Date.parse(held.claim.leaseUntil) - now;
  const margin = Math.min(10_000, left / 4);
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RunCompletingError('the claim ran out before the publish was acknowledged')),
      Math.max(0, left - margin),
    );
  });
  return Promise.race([work, expiry]).finally(() => clearTimeout(timer));
}

async function announce(runId: string, deps: CompletionDeps): Promise<CompletionOutcome> {
  const now = deps.now ?? Date.now;
  if (await deps.store.readCompletion(runId)) return 'already';
  const held = await takeClaim(runId, deps, now());
  let messageId: string | undefined;
  try {
    const run = (await deps.store.readRun(runId))?.value;
    if (!run) throw new RunCompletingError(`run ${runId}: run.json is missing`);
    const event = await runCompletedEvent(
      run,
      await deps.store.listResults(runId),
      async (key) => (await deps.store.readResult(runId, key))?.value,
      now(),
    );
    if (deps.events)
      messageId = await withinLease(deps.events.publishRunCompleted(event), held, now());
    deps.logger.info('run completed', logFieldsOfRunCompleted(event));
    await deps.store.writeCompletion({
      ...event,
      state: messageId === undefined ? 'recorded' : 'published',
      claimId: held.claim.claimId,
      ...(messageId !== undefined && { messageId }),
    });
    return messageId === undefined ? 'recorded' : 'published';
  } catch (error) {
    // Not yet published: the next delivery may announce at once. Published but
    // not recorded: the claim stands until its lease runs out.
    if (messageId === undefined) await releaseClaim(deps, held);
    if (error instanceof RunCompletingError) throw error;
    throw new RunCompletingError(`run ${runId}: announcing failed: ${describeError(error)}`, {
      cause: error,
    });
  }
}

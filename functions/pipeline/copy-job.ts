// The copy function's core: one job message in, one result record out. Whether
// Pub/Sub should deliver the message again is the whole question here:
//
// - permanent outcomes (copied, exists, planned, conflict, invalid job, source
//   not found, access denied) are recorded and the message acknowledged;
// - transient failures (network, 429, 5xx, the job deadline) are recorded as
//   `retrying` and handed back (TransientJobError, RateLimitedJobError) so
//   Pub/Sub redelivers with backoff; a redelivery is cheap because blobs
//   already in the target are skipped. The function's own count of those
//   failures dead-letters the job (rate-limited-job.ts). Which failure is
//   which is functions/failures.ts's call.
// - a job whose record is already final (a duplicate, or a redelivery after
//   the instance died between recording and answering) is acknowledged
//   without copying again.
//
// After a final record the run may be complete (completion.ts); the delivery
// is acknowledged only once that check has run, so no announcement is lost.

import { failureReason } from '../engine/copy.ts';
import type { ReferrersOptions } from '../engine/referrer-options.ts';
import { copyOne } from '../engine/sync.ts';
import type { CopyResult, ImagePolicy } from '../engine/types.ts';
import { describeError, SyncerError } from '../errors.ts';
import { classifyCode } from '../failures.ts';
import { copyRequest, decodePolicy } from '../images-file/fields.ts';
import { formatReference, type ImageReference, parseReference } from '../reference/reference.ts';
import { type TargetPrefix, targetReference } from '../reference/target.ts';
import { isRegistryAllowed } from '../registry/network-policy.ts';
import type { Registries } from '../registry/registries.ts';
import { cancellation } from '../util/abort.ts';
import type { Logger } from '../util/logger.ts';
import type { EndedJob } from './completion.ts';
import { startDeadline } from './deadline.ts';
import {
  checkEarlyJob,
  earlyProvenance,
  type TrustPolicy,
  UntrustedJobError,
} from './early-mirror.ts';
import {
  InvalidJobError,
  type JobMessage,
  jobKey,
  parseJob,
  parseRunJobs,
  RefusedJobError,
} from './job.ts';
import { afterTransientFailure, earlyRedelivery, RateLimitedJobError } from './rate-limited-job.ts';
import { recordResult } from './record-result.ts';
import { isFinal, type JobResultRecord } from './records.ts';
import type { RunStore, Versioned } from './run-store.ts';

export class TransientJobError extends SyncerError {
  constructor(message: string) {
    super('TRANSIENT_JOB_FAILURE', message);
  }
}

export interface CopyJobDeps {
  readonly prefix: TargetPrefix;
  readonly store: RunStore;
  readonly registries: Registries;
  readonly logger: Logger;
  /** Transient failures (rate limits not counted) after which a job is dead-lettered. */
  readonly maxDeliveryAttempts?: number;
  /** Deployment-wide dry run: every job only plans. */
  readonly dryRun?: boolean;
  readonly concurrency?: number;
  /**
   * Publishes a job to the dead-letter topic. Given, the function dead-letters
   * a job itself when its own count of (non-rate-limited) failures reaches
   * maxDeliveryAttempts, and acknowledges it (rate-limited-job.ts).
   */
  readonly deadLetter?: (data: Uint8Array, attributes: Record<string, string>) => Promise<void>;
  /** Called once a job's record is final (including dead-lettered): the run may be complete. */
  readonly onJobEnded?: (job: EndedJob) => Promise<unknown>;
  /** Cancel a copy still running after this many seconds and hand its delivery back (pipeline/deadline.ts). */
  readonly deadlineSeconds?: number;
  /** Deployment-wide referrer settings (SYNCER_REFERRERS…, SYNCER_REQUIRE_SIGNATURE). */
  readonly referrers?: ReferrersOptions;
  /** Which sources a pull request may mirror early (early-mirror.ts); none when absent. */
  readonly trust?: TrustPolicy;
  /** The deployment's image policy, for what a job's message leaves out (SYNCER_REQUIRE_PLATFORMS, …). */
  readonly defaults?: ImagePolicy;
}

export interface Delivery {
  readonly data: Uint8Array;
  readonly messageId?: string;
  /** Pub/Sub's delivery attempt, present when the subscription has a dead-letter policy. */
  readonly attempt?: number;
  /** The message's attributes (the fan-out's `runJobs` among them). */
  readonly attributes?: Readonly<Record<string, string>>;
}

/** A job message that passed every check, with what the copy needs. */
interface AcceptedJob {
  readonly job: JobMessage;
  readonly sourceRef: ImageReference;
  readonly targetRef: ReturnType<typeof targetReference>;
  readonly target: string;
  readonly ended: EndedJob;
}

function accept(delivery: Delivery, deps: CopyJobDeps): AcceptedJob {
  const job = parseJob(delivery.data);
  let sourceRef: ImageReference;
  let targetRef: ReturnType<typeof targetReference>;
  try {
    sourceRef = parseReference(job.source);
    targetRef = targetReference(sourceRef, deps.prefix, job.tag);
  } catch (error) {
    throw new InvalidJobError(describeError(error), job.runId, job);
  }
  if (!isRegistryAllowed(deps.registries.policy, sourceRef.registry)) {
    throw new InvalidJobError(
      `registry ${sourceRef.registry} is not on this deployment's allow-list of source registries`,
      job.runId,
      job,
    );
  }
  checkEarlyJob(job, sourceRef, deps.trust);
  const target = formatReference(targetRef);
  return { job, sourceRef, targetRef, target, ended: endedJob(job.runId, target, delivery) };
}

function endedJob(runId: string, target: string, delivery: Delivery): EndedJob {
  const runJobs = parseRunJobs(delivery.attributes?.runJobs);
  return { runId, key: jobKey(target), ...(runJobs !== undefined && { runJobs }) };
}

/**
 * The target an invalid job was planned for: what its source and tag name
 * under this deployment's prefix, when they can be read at all (a job refused
 * by policy, or with a bad field beside a good source, still names one).
 */
function plannedTarget(fields: Readonly<Record<string, unknown>>, deps: CopyJobDeps) {
  if (typeof fields.source !== 'string') return undefined;
  try {
    const tag = typeof fields.tag === 'string' ? fields.tag : undefined;
    return formatReference(targetReference(parseReference(fields.source), deps.prefix, tag));
  } catch {
    return undefined;
  }
}

/** Writes the record (a better one already there stays) and, once it is final, checks the run. */
async function record(
  deps: CopyJobDeps,
  ended: EndedJob,
  result: JobResultRecord,
  known?: Versioned<JobResultRecord> | null,
): Promise<JobResultRecord> {
  const { record: kept } = await recordResult(deps.store, result, deps.logger, known);
  if (isFinal(kept)) await deps.onJobEnded?.(ended);
  return kept;
}

/**
 * A message that is not a valid job, or an early job this deployment does not
 * trust, is acknowledged (it would fail the same way forever); recorded under its planned key when it names one, so the run
 * it belongs to still completes.
 */
async function refuse(
  delivery: Delivery,
  deps: CopyJobDeps,
  error: unknown,
): Promise<JobResultRecord | undefined> {
  const invalid = error instanceof RefusedJobError ? error : undefined;
  deps.logger.warn('invalid job message acknowledged without retry', {
    runId: invalid?.runId,
    messageId: delivery.messageId,
    error: describeError(error),
  });
  const runId = invalid?.runId;
  const target = runId && invalid.fields ? plannedTarget(invalid.fields, deps) : undefined;
  if (!runId || !target) return undefined;
  const ended = endedJob(runId, target, delivery);
  return record(deps, ended, {
    key: ended.key,
    runId,
    source: typeof invalid.fields?.source === 'string' ? invalid.fields.source : '',
    target,
    status: 'invalid',
    error: describeError(error),
    errorCode: invalid.code,
    category: classifyCode(invalid.code).category,
    ...(delivery.attempt !== undefined && { attempt: delivery.attempt }),
    finishedAt: new Date().toISOString(),
    ...(invalid instanceof UntrustedJobError && { early: invalid.early }),
  });
}

export async function handleCopyJob(
  delivery: Delivery,
  deps: CopyJobDeps,
): Promise<JobResultRecord | undefined> {
  let accepted: AcceptedJob;
  try {
    accepted = accept(delivery, deps);
  } catch (error) {
    return refuse(delivery, deps, error);
  }
  const { job, target, ended } = accepted;
  const previous = (await deps.store.readResult(job.runId, ended.key)) ?? null;
  if (previous && isFinal(previous.value)) {
    deps.logger.info('job already ended; acknowledged without copying again', {
      runId: job.runId,
      source: job.source,
      status: previous.value.status,
      messageId: delivery.messageId,
    });
    await deps.onJobEnded?.(ended);
    return previous.value;
  }
  // A job waiting out a source's spent pull budget goes back untouched.
  const early = earlyRedelivery(previous?.value);
  if (early) throw early;

  const started = Date.now();
  const result = await copyWithinDeadline(accepted, deps, delivery.messageId);
  if (result.status === 'failed' && result.errorCode && classifyCode(result.errorCode).transient)
    return afterTransient(accepted, deps, delivery, result, previous, started);
  const saved = await record(
    deps,
    ended,
    {
      ...toRecord(job.runId, target, result, started, delivery.attempt),
      ...(await earlyProvenance(job, ended.key, result, deps.store)),
    },
    previous,
  );
  deps.logger.info(`job ${result.status}`, {
    ...logFields(accepted, result, started, delivery.attempt),
    ...(result.error && { error: result.error }),
  });
  return saved;
}

/** Runs the copy; past the deadline its outcome is the deadline's (transient), whatever it reports later. */
async function copyWithinDeadline(
  { job, sourceRef, targetRef, target }: AcceptedJob,
  deps: CopyJobDeps,
  messageId: string | undefined,
): Promise<CopyResult> {
  const deadline = startDeadline(deps.deadlineSeconds);
  const request = copyRequest(
    {
      source: job.source,
      sourceRef,
      target: targetRef,
      ...(job.sourceDigest !== undefined && { sourceDigest: job.sourceDigest }),
      ...decodePolicy(job),
    },
    deps.defaults ?? {},
  );
  const copying = copyOne(request, deps.registries, {
    dryRun: deps.dryRun === true || job.dryRun === true,
    signal: deadline.signal,
    ...(deps.concurrency !== undefined && { concurrency: deps.concurrency }),
    ...(deps.referrers && { referrers: deps.referrers }),
  });
  const result = await Promise.race([copying, deadline.expired.then(() => undefined)]);
  deadline.clear();
  if (result !== undefined && !deadline.signal.aborted) return result;
  deps.logger.warn('job deadline reached; handing the message back to Pub/Sub', {
    runId: job.runId,
    source: job.source,
    messageId,
  });
  copying.catch(() => {});
  return {
    source: job.source,
    target,
    status: 'failed',
    ...failureReason(cancellation(deadline.signal)),
  };
}

/**
 * A transient failure: a rate limit waits without counting; anything else
 * counts towards dead-lettering by the function's own tally
 * (rate-limited-job.ts). On the last one the job goes to the dead-letter
 * topic first and is then recorded as ended; a crash in between at worst
 * dead-letters it twice, never not at all.
 */
async function afterTransient(
  accepted: AcceptedJob,
  deps: CopyJobDeps,
  delivery: Delivery,
  result: CopyResult,
  previous: Versioned<JobResultRecord> | null,
  started: number,
): Promise<JobResultRecord | undefined> {
  const { job, sourceRef, targetRef, target, ended } = accepted;
  // A 429 from either side is a rate limit: the source's pull budget, or the
  // target's quota (Artifact Registry answers 429 past its per-minute quota).
  const limits = deps.registries.rateLimits;
  const notBefore = Math.max(
    limits.notBefore(sourceRef.registry) ?? 0,
    limits.notBefore(targetRef.registry) ?? 0,
  );
  const step = afterTransientFailure(result, previous?.value, {
    maxFailures: deps.maxDeliveryAttempts,
    deliveryAttempt: delivery.attempt,
    notBefore: notBefore || undefined,
    subscriptionCounts: deps.deadLetter === undefined,
  });
  const fields = { ...logFields(accepted, result, started, delivery.attempt), ...step.fields };
  if (step.last && deps.deadLetter) {
    await deps.deadLetter(delivery.data, {
      ...(delivery.attributes ?? {}),
      runId: job.runId,
      deadLetteredBy: 'copyJob',
    });
  }
  const kept = await record(
    deps,
    ended,
    { ...toRecord(job.runId, target, result, started, step.fields.attempt), ...step.fields },
    previous,
  );
  deps.logger.warn(step.message, { ...fields, error: result.error });
  if (step.rateLimited)
    throw new RateLimitedJobError(result.error ?? 'rate limited', step.fields.retryAt as string);
  if (step.last && deps.deadLetter) return kept;
  throw new TransientJobError(result.error ?? 'transient failure');
}

function logFields(
  { job, target }: AcceptedJob,
  result: CopyResult,
  started: number,
  attempt: number | undefined,
) {
  return {
    runId: job.runId,
    source: job.source,
    target,
    status: result.status,
    digest: result.digest,
    bytes: result.stats?.bytesCopied ?? 0,
    durationMs: Date.now() - started,
    attempt,
  };
}

function toRecord(
  runId: string,
  target: string,
  result: CopyResult,
  started: number,
  attempt: number | undefined,
): JobResultRecord {
  return {
    key: jobKey(target),
    runId,
    source: result.source,
    target,
    status: result.status,
    ...(result.digest !== undefined && { digest: result.digest }),
    ...(result.mediaType !== undefined && { mediaType: result.mediaType }),
    ...(result.error !== undefined && { error: result.error }),
    ...(result.errorCode !== undefined && { errorCode: result.errorCode }),
    ...(result.category !== undefined && { category: result.category }),
    ...(result.platforms !== undefined && { platforms: result.platforms }),
    ...(result.drift !== undefined && { drift: result.drift }),
    ...(attempt !== undefined && { attempt }),
    finishedAt: new Date().toISOString(),
    durationMs: Date.now() - started,
    bytes: result.stats?.bytesCopied ?? 0,
    ...(result.referrers !== undefined && { referrers: result.referrers }),
  };
}

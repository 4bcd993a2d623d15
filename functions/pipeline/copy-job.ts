// The copy function's core: one job message in, one result record out. Whether
// Pub/Sub should deliver the message again is the whole question here:
//
// - permanent outcomes (copied, exists, planned, conflict, invalid job, source
//   not found, access denied) are recorded and the message acknowledged;
// - transient failures (network, 429, 5xx, the job deadline) throw
//   TransientJobError so Pub/Sub redelivers with backoff; a redelivery is cheap
//   because blobs already in the target are skipped. On the last attempt the
//   record says the message went to the dead-letter topic, and the throw sends
//   it there. Which failure is which is functions/failures.ts's call.

import { BlobTracker } from '../engine/blobs.ts';
import { copyImage, failureReason } from '../engine/copy.ts';
import { Limiter } from '../engine/limiter.ts';
import type { ReferrersOptions } from '../engine/referrer-options.ts';
import type { CopyResult } from '../engine/types.ts';
import { describeError, SyncerError } from '../errors.ts';
import { classifyCode } from '../failures.ts';
import { type Platform, parsePlatform } from '../oci/platform.ts';
import { formatReference, parseReference } from '../reference/reference.ts';
import { type TargetPrefix, targetReference } from '../reference/target.ts';
import { isRegistryAllowed } from '../registry/network-policy.ts';
import type { Registries } from '../registry/registries.ts';
import { cancellation } from '../util/abort.ts';
import type { Logger } from '../util/logger.ts';
import { startDeadline } from './deadline.ts';
import { InvalidJobError, type JobMessage, jobKey, parseJob } from './job.ts';
import type { JobResultRecord, RunStore } from './run-store.ts';

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
  /** The subscription's max delivery attempts; the attempt that reaches it is the last. */
  readonly maxDeliveryAttempts?: number;
  /** Deployment-wide dry run: every job only plans. */
  readonly dryRun?: boolean;
  readonly concurrency?: number;
  /** Cancel a copy still running after this many seconds and hand its delivery back (pipeline/deadline.ts). */
  readonly deadlineSeconds?: number;
  /** Deployment-wide referrer settings (SYNCER_REFERRERS…, SYNCER_REQUIRE_SIGNATURE). */
  readonly referrers?: ReferrersOptions;
  /** SYNCER_REQUIRE_PLATFORMS: for jobs whose message names no platforms. */
  readonly requirePlatforms?: readonly Platform[];
}

export interface Delivery {
  readonly data: Uint8Array;
  readonly messageId?: string;
  /** Pub/Sub's delivery attempt, present when the subscription has a dead-letter policy. */
  readonly attempt?: number;
}

/** A new record never demotes a finished one: a duplicate delivery's `exists` keeps the `copied`. */
async function record(store: RunStore, result: JobResultRecord): Promise<JobResultRecord> {
  if (result.status === 'exists') {
    const earlier = await store.readResult(result.runId, result.key);
    if (earlier?.status === 'copied' && earlier.digest === result.digest) return earlier;
  }
  await store.writeResult(result);
  return result;
}

export async function handleCopyJob(
  delivery: Delivery,
  deps: CopyJobDeps,
): Promise<JobResultRecord | undefined> {
  const started = Date.now();
  const attempt = delivery.attempt;
  let job: JobMessage;
  let target: string;
  let sourceRef: ReturnType<typeof parseReference>;
  let targetRef: ReturnType<typeof targetReference>;
  try {
    job = parseJob(delivery.data);
    sourceRef = parseReference(job.source);
    if (!isRegistryAllowed(deps.registries.policy, sourceRef.registry)) {
      throw new InvalidJobError(
        `registry ${sourceRef.registry} is not on this deployment's allow-list of source registries`,
        job.runId,
      );
    }
    targetRef = targetReference(sourceRef, deps.prefix, job.tag);
    target = formatReference(targetRef);
  } catch (error) {
    const runId = error instanceof InvalidJobError ? error.runId : undefined;
    deps.logger.warn('invalid job message acknowledged without retry', {
      runId,
      messageId: delivery.messageId,
      error: describeError(error),
    });
    if (!runId) return undefined;
    return record(deps.store, {
      key: `invalid-${delivery.messageId ?? jobKey(Buffer.from(delivery.data).toString('base64'))}`,
      runId,
      source: '',
      target: '',
      status: 'invalid',
      error: describeError(error),
      errorCode: 'INVALID_JOB',
      category: classifyCode('INVALID_JOB').category,
      ...(attempt !== undefined && { attempt }),
      finishedAt: new Date().toISOString(),
    });
  }

  const deadline = startDeadline(deps.deadlineSeconds);
  const ctx = {
    registries: deps.registries,
    blobs: new BlobTracker(),
    transfers: new Limiter(deps.concurrency ?? 8),
    dryRun: deps.dryRun === true || job.dryRun === true,
    signal: deadline.signal,
    ...(deps.referrers && { referrers: deps.referrers }),
  };
  const copying = copyImage(
    {
      source: job.source,
      sourceRef,
      target: targetRef,
      ...(job.sourceDigest !== undefined && { sourceDigest: job.sourceDigest }),
      ...(job.requireSignature !== undefined && { requireSignature: job.requireSignature }),
      requiredPlatforms: job.platforms?.map(parsePlatform) ?? deps.requirePlatforms ?? [],
    },
    ctx,
  );
  let result: CopyResult | undefined = await Promise.race([
    copying,
    deadline.expired.then(() => undefined),
  ]);
  deadline.clear();
  if (result === undefined || deadline.signal.aborted) {
    // Cancelled: whatever the copy reports now is not recorded; the deadline's
    // own outcome (transient) is, as `retrying`, or `deadLettered` on the last attempt.
    deps.logger.warn('job deadline reached; handing the message back to Pub/Sub', {
      runId: job.runId,
      source: job.source,
      messageId: delivery.messageId,
    });
    copying.catch(() => {});
    result = {
      source: job.source,
      target,
      status: 'failed',
      ...failureReason(cancellation(deadline.signal)),
    };
  }
  const fields = {
    runId: job.runId,
    source: job.source,
    target,
    status: result.status,
    digest: result.digest,
    bytes: result.stats?.bytesCopied ?? 0,
    durationMs: Date.now() - started,
    attempt,
  };
  // Redeliver or acknowledge: functions/failures.ts decides from the code, as it
  // decided the retries inside the copy.
  if (result.status === 'failed' && result.errorCode && classifyCode(result.errorCode).transient) {
    // Pub/Sub says which attempt this is only when the subscription has a
    // dead-letter policy and the trigger passes it on; otherwise count here.
    const previous = await deps.store.readResult(job.runId, jobKey(target));
    const count = attempt ?? (previous?.retrying ? (previous.attempt ?? 1) : 0) + 1;
    const last = deps.maxDeliveryAttempts !== undefined && count >= deps.maxDeliveryAttempts;
    await deps.store.writeResult({
      ...toRecord(job.runId, target, result, started, count),
      ...(last ? { deadLettered: true } : { retrying: true }),
    });
    deps.logger.warn(
      last
        ? 'job failed on its last attempt; dead-lettered'
        : 'job failed transiently; Pub/Sub will redeliver',
      {
        ...fields,
        attempt: count,
        error: result.error,
      },
    );
    throw new TransientJobError(result.error ?? 'transient failure');
  }
  const saved = await record(deps.store, toRecord(job.runId, target, result, started, attempt));
  deps.logger.info(`job ${result.status}`, {
    ...fields,
    ...(result.error && { error: result.error }),
  });
  return saved;
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

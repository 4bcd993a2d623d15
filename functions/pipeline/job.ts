// The job message: one image of one run, as the fan-out publishes it and the
// copy function consumes it. Its fields and attributes are specified in
// docs/pipeline.md, "The job message"; test/unit/job-message.test.ts pins its
// bytes. Here: reading it strictly (a field this code does not know, a
// `target` or `prefix` included, makes the message invalid, so no message can
// make the copy function write anywhere but under its own prefix) and writing
// it in a fixed field order. The policy fields are encoded as
// images-file/fields.ts declares them.

import { createHash } from 'node:crypto';
import { describeError, type ErrorCode, SyncerError } from '../errors.ts';
import {
  decodePolicy,
  type EncodedPolicy,
  encodedPolicyOf,
  FIELD_NAMES,
} from '../images-file/fields.ts';
import { isValidDigest } from '../oci/digest.ts';
import { isValidTag, parseReference } from '../reference/reference.ts';
import type { EarlyMirror, PlannedJob, PullRequest } from './records.ts';

export const MAX_JOB_BYTES = 16 * 1024;
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface JobMessage extends EncodedPolicy {
  readonly runId: string;
  readonly source: string;
  readonly tag?: string;
  readonly sourceDigest?: string;
  readonly dryRun?: boolean;
  readonly early?: EarlyMirror;
}

/**
 * The order fields are written in: these fields keep this order and a new
 * field goes after them, because the bytes are a contract (docs/pipeline.md,
 * "The job message"; test/unit/job-message.test.ts).
 */
const WIRE_ORDER: readonly string[] = [
  'runId',
  'source',
  'tag',
  'sourceDigest',
  'requireSignature',
  'dryRun',
  'platforms',
];
const JOB_FIELDS: readonly string[] = [
  ...WIRE_ORDER,
  ...FIELD_NAMES.filter((name) => !WIRE_ORDER.includes(name)),
  'early',
];

const REPOSITORY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\/[A-Za-z0-9_.-]{1,100}$/;
const COMMIT = /^[0-9a-f]{7,64}$/;

/** A pull request as stated (a job's `early`, a plan request), checked field by field; throws the reason it is malformed. */
export function parsePullRequest(value: unknown, where = 'early'): PullRequest {
  const stated = value as Record<string, unknown> | null;
  if (typeof stated !== 'object' || stated === null || Array.isArray(stated))
    throw new Error(`${where} must be an object`);
  const { repository, number, commit, fork } = stated;
  if (typeof repository !== 'string' || !REPOSITORY.test(repository))
    throw new Error(`${where}.repository must be owner/name`);
  if (!Number.isInteger(number) || (number as number) < 1)
    throw new Error(`${where}.number must be a pull request number`);
  if (typeof commit !== 'string' || !COMMIT.test(commit))
    throw new Error(`${where}.commit must be a commit hash`);
  if (typeof fork !== 'boolean') throw new Error(`${where}.fork must be a boolean`);
  return { repository, number: number as number, commit, fork };
}

/** A job's `early`: the pull request and the pattern that trusts its source. */
export function parseEarlyMirror(value: unknown): EarlyMirror {
  const pullRequest = parsePullRequest(value);
  const { trustedBy } = value as { trustedBy?: unknown };
  if (typeof trustedBy !== 'string' || trustedBy === '')
    throw new Error('early.trustedBy must name a pattern');
  return { ...pullRequest, trustedBy };
}

/** A message the copy function acknowledges without copying: recorded under the target it names. */
export class RefusedJobError extends SyncerError {
  /** The run the message claimed to belong to, when it said one that is well formed. */
  readonly runId: string | undefined;
  /** The message's fields, when it was a JSON object: its source and tag still name its target. */
  readonly fields: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, runId?: string, fields?: object) {
    super(code, message);
    this.runId = runId;
    this.fields = fields as Readonly<Record<string, unknown>> | undefined;
  }
}

/** A message that is not a valid job. */
export class InvalidJobError extends RefusedJobError {
  constructor(reason: string, runId?: string, fields?: object) {
    super('INVALID_JOB', `invalid job message: ${reason}`, runId, fields);
  }
}

export function isValidRunId(runId: string): boolean {
  return RUN_ID.test(runId);
}

/** A run id that follows from `parts`: `prefix-` and the first `hexChars` of their sha256, joined by newlines. */
export function deterministicRunId(
  prefix: string,
  parts: readonly (string | number)[],
  hexChars = 20,
): string {
  const hash = createHash('sha256').update(parts.join('\n')).digest('hex');
  return `${prefix}-${hash.slice(0, hexChars)}`;
}

/** The message of one planned job of a run. */
export function jobMessage(
  run: { readonly runId: string; readonly dryRun: boolean },
  job: PlannedJob,
): JobMessage {
  return {
    runId: run.runId,
    source: job.source,
    ...(job.tag !== undefined && { tag: job.tag }),
    ...(job.sourceDigest !== undefined && { sourceDigest: job.sourceDigest }),
    ...encodedPolicyOf(job),
    ...(run.dryRun && { dryRun: true }),
    ...(job.early && { early: job.early }),
  };
}

/** The message's bytes, its fields in wire order. */
export function encodeJob(job: JobMessage): Buffer {
  const fields = job as unknown as Record<string, unknown>;
  const ordered: Record<string, unknown> = {};
  for (const name of JOB_FIELDS) if (fields[name] !== undefined) ordered[name] = fields[name];
  return Buffer.from(JSON.stringify(ordered));
}

/** Parses and checks a job message; everything wrong with it is permanent. */
export function parseJob(data: Uint8Array): JobMessage {
  if (data.length > MAX_JOB_BYTES)
    throw new InvalidJobError(`${data.length} bytes; the limit is ${MAX_JOB_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    throw new InvalidJobError('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidJobError('not a JSON object');
  const job = value as Record<string, unknown>;
  const runId = typeof job.runId === 'string' && isValidRunId(job.runId) ? job.runId : undefined;
  const fail = (reason: string) => new InvalidJobError(reason, runId, job);
  for (const key of Object.keys(job)) {
    if (!JOB_FIELDS.includes(key))
      throw fail(`unknown field "${key}" (a job names no target; the copy function derives it)`);
  }
  if (runId === undefined) throw fail('runId missing or malformed');
  if (typeof job.source !== 'string') throw fail('source missing');
  try {
    parseReference(job.source);
  } catch (error) {
    throw fail(describeError(error));
  }
  if (job.tag !== undefined && (typeof job.tag !== 'string' || !isValidTag(job.tag)))
    throw fail('tag malformed');
  if (
    job.sourceDigest !== undefined &&
    (typeof job.sourceDigest !== 'string' || !isValidDigest(job.sourceDigest))
  ) {
    throw fail('sourceDigest malformed');
  }
  if (job.dryRun !== undefined && typeof job.dryRun !== 'boolean')
    throw fail('dryRun must be a boolean');
  let early: EarlyMirror | undefined;
  try {
    decodePolicy(job);
    if (job.early !== undefined) early = parseEarlyMirror(job.early);
  } catch (error) {
    throw fail(describeError(error));
  }
  return { ...job, ...(early && { early }) } as unknown as JobMessage;
}

/**
 * Pub/Sub attributes of a job, for subscription filters and for reading logs;
 * `runJobs`, the number of jobs in its run, tells the copy function where its
 * run's completion is tracked (completion.ts) without reading the run's plan.
 */
export function jobAttributes(job: JobMessage, runJobs: number): Record<string, string> {
  return {
    runId: job.runId,
    source: job.source,
    dryRun: String(job.dryRun ?? false),
    runJobs: String(runJobs),
  };
}

/** The `runJobs` attribute, when it is a positive whole number. */
export function parseRunJobs(value: string | undefined): number | undefined {
  if (value === undefined || !/^[1-9]\d{0,8}$/.test(value)) return undefined;
  return Number(value);
}

/** A stable key for one job's result record: the same target always lands on the same object. */
export function jobKey(target: string): string {
  return createHash('sha256').update(target).digest('hex').slice(0, 24);
}

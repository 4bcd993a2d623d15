// The job message: one image of one run, as the fan-out publishes it and the
// copy function consumes it (a contract: see README "Job message").
//
//   {"runId": "...", "source": "ghcr.io/a/b:1", "tag": "x"?, "sourceDigest": "sha256:…"?, "dryRun": bool?,
//    "platforms": ["linux/amd64", …]?, "requireSignature": bool?}
//
// `requireSignature` (added with issue 11) carries the entry's policy: an image
// without a signature or attestation fails with SIGNATURE_REQUIRED and nothing
// of it is written. Sent only when the entry sets it, like `platforms` below.
//
// `platforms` (added with issue 12) carries the entry's or file's required
// platforms; absent, the copy function applies its own SYNCER_REQUIRE_PLATFORMS,
// and `[]` lifts that default. It is only sent when the file names platforms,
// so messages of files without them are byte for byte what they were. A copy
// function older than the field refuses such a message as invalid (unknown
// field): deploy the functions together (they are one module, one Terraform apply).
//
// A job names no target: the copy function derives the target from its own
// configured prefix, so no message can make it write anywhere else. Fields it
// does not know (a `target`, a `prefix`) make the message invalid.

import { createHash } from 'node:crypto';
import { SyncerError } from '../errors.ts';
import { isValidDigest } from '../oci/digest.ts';
import { InvalidPlatformError, parsePlatform } from '../oci/platform.ts';
import { isValidTag, parseReference } from '../reference/reference.ts';

export const MAX_JOB_BYTES = 16 * 1024;
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const JOB_FIELDS = new Set([
  'runId',
  'source',
  'tag',
  'sourceDigest',
  'dryRun',
  'platforms',
  'requireSignature',
]);
const MAX_PLATFORMS = 64;

export interface JobMessage {
  readonly runId: string;
  readonly source: string;
  readonly tag?: string;
  readonly sourceDigest?: string;
  readonly dryRun?: boolean;
  readonly requireSignature?: boolean;
  readonly platforms?: readonly string[];
}

export class InvalidJobError extends SyncerError {
  /** The run the message claimed to belong to, when it said one that is well formed. */
  readonly runId: string | undefined;
  /** The message's fields, when it was a JSON object: its source and tag still name its target. */
  readonly fields: Readonly<Record<string, unknown>> | undefined;

  constructor(reason: string, runId?: string, fields?: object) {
    super('INVALID_JOB', `invalid job message: ${reason}`);
    this.runId = runId;
    this.fields = fields as Readonly<Record<string, unknown>> | undefined;
  }
}

export function isValidRunId(runId: string): boolean {
  return RUN_ID.test(runId);
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
    if (!JOB_FIELDS.has(key))
      throw fail(`unknown field "${key}" (a job names no target; the copy function derives it)`);
  }
  if (runId === undefined) throw fail('runId missing or malformed');
  if (typeof job.source !== 'string') throw fail('source missing');
  try {
    parseReference(job.source);
  } catch (error) {
    throw fail((error as Error).message);
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
  if (job.requireSignature !== undefined && typeof job.requireSignature !== 'boolean')
    throw fail('requireSignature must be a boolean');
  if (job.platforms !== undefined) {
    if (!Array.isArray(job.platforms) || job.platforms.length > MAX_PLATFORMS)
      throw fail(`platforms must be a list of at most ${MAX_PLATFORMS} os/arch[/variant]`);
    for (const platform of job.platforms) {
      if (typeof platform !== 'string') throw fail('platforms must be strings');
      try {
        parsePlatform(platform);
      } catch (error) {
        if (error instanceof InvalidPlatformError) throw fail(error.message);
        throw error;
      }
    }
  }
  return job as unknown as JobMessage;
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

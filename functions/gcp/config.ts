// The functions' configuration: the settings shared with the CLI
// (settings/shared.ts, the same SYNCER_ variables) plus what only the cloud
// needs, declared below in the same shape. Read and checked at cold start; a
// bad or missing value fails the instance with the variable named.

import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import type { TrustPolicy } from '../pipeline/early-mirror.ts';
import { parseTrustPattern } from '../reference/trust.ts';
import { bool, listOf, optionalText, wholeNumber } from '../settings/parsers.ts';
import { envName, readSettings, setting, type Values } from '../settings/setting.ts';
import { readSharedSettings, SHARED_SETTINGS, type SharedSettings } from '../settings/shared.ts';

/** The settings only the functions read. */
export const CLOUD_SETTINGS = {
  project: setting({
    name: 'project',
    kind: 'value',
    arg: 'PROJECT',
    meaning: 'the Google Cloud project (else GOOGLE_CLOUD_PROJECT)',
    parse: optionalText,
  }),
  jobsTopic: setting({
    name: 'jobs-topic',
    kind: 'value',
    arg: 'TOPIC',
    meaning: 'the topic for job messages',
    parse: optionalText,
  }),
  runsBucket: setting({
    name: 'runs-bucket',
    kind: 'value',
    arg: 'BUCKET',
    meaning: 'the bucket for run records',
    parse: optionalText,
  }),
  /** Where the run-completed message goes; unset, completions are only recorded. */
  runsTopic: setting({
    name: 'runs-topic',
    kind: 'value',
    arg: 'TOPIC',
    meaning: 'the topic for the run-completed message',
    parse: optionalText,
  }),
  /** Set: the copy function dead-letters jobs itself by its own count (pipeline/rate-limited-job.ts). */
  deadLetterTopic: setting({
    name: 'dead-letter-topic',
    kind: 'value',
    arg: 'TOPIC',
    meaning: 'where the copy function dead-letters a job by its own count',
    parse: optionalText,
  }),
  retryAttempts: setting({
    name: 'retry-attempts',
    kind: 'value',
    arg: 'N',
    meaning: 'registry request attempts within one delivery',
    parse: wholeNumber(1, 20),
    default: '5',
  }),
  /** Pulls the fan-out keeps in reserve below a source's announced budget (pipeline/pull-budget.ts). */
  pullBudgetMargin: setting({
    name: 'pull-budget-margin',
    kind: 'value',
    arg: 'N',
    meaning: "pulls kept in reserve below a source's announced remaining budget",
    parse: wholeNumber(0, 100_000),
    default: '10',
  }),
  imagesFilePatterns: setting({
    name: 'images-file-pattern',
    kind: 'list',
    arg: 'GLOB',
    meaning: 'uploaded objects that start a run',
    parse: listOf(globToRegExp),
    default: '*.yaml,*.yml',
  }),
  maxDeliveryAttempts: setting({
    name: 'max-delivery-attempts',
    kind: 'value',
    arg: 'N',
    meaning: 'counted failures after which a job is dead-lettered',
    parse: wholeNumber(1, 100),
    default: '5',
  }),
  /** A copy still running after this long gives up its delivery so Pub/Sub redelivers it (under the 540 s limit). */
  jobDeadlineSeconds: setting({
    name: 'job-deadline-seconds',
    kind: 'value',
    arg: 'SECONDS',
    meaning: 'how long a copy runs before it hands its delivery back',
    parse: wholeNumber(1, 3600),
    default: '480',
  }),
  /** How long a claim to announce a run keeps other deliveries off (pipeline/completion.ts). */
  completionLeaseSeconds: setting({
    name: 'completion-lease-seconds',
    kind: 'value',
    arg: 'SECONDS',
    meaning: 'how long a delivery announcing a run keeps others off, should it die doing so',
    parse: wholeNumber(5, 600),
    default: '120',
  }),
  /** Repository patterns a pull request may mirror before it is merged (reference/trust.ts); none: a pull request only plans. */
  trustedSources: setting({
    name: 'trusted-sources',
    kind: 'list',
    arg: 'PATTERN',
    meaning:
      'repositories a pull request may mirror before it is merged (`ghcr.io/acme/*`, `europe-docker.pkg.dev/p/releases/**`); none: a pull request only plans',
    parse: listOf(parseTrustPattern),
  }),
  trustForkPullRequests: setting({
    name: 'trust-fork-pull-requests',
    kind: 'switch',
    meaning:
      "let pull requests from forks mirror trusted sources early too (default: only the repository's own)",
    parse: bool,
    default: 'false',
  }),
  pinDigests: setting({
    name: 'pin-digests',
    kind: 'switch',
    meaning: 'resolve and pin source digests in the fan-out',
    parse: bool,
    default: 'true',
  }),
  /** Docker config.json text holding source registry credentials (a mounted secret). */
  sourceCredentials: setting({
    name: 'source-credentials',
    kind: 'value',
    arg: 'JSON',
    meaning: "registry credentials in Docker's config.json form",
    parse: optionalText,
  }),
  sourceCredentialsFile: setting({
    name: 'source-credentials-file',
    kind: 'value',
    arg: 'FILE',
    meaning: "a file holding registry credentials in Docker's config.json form",
    parse: optionalText,
  }),
};

export interface FunctionConfig extends SharedSettings, Values<typeof CLOUD_SETTINGS> {
  /** STORAGE_EMULATOR_HOST (the Google clients' convention): a Cloud Storage stand-in, no credentials. */
  readonly storageEmulator: string | undefined;
  /** Which sources a pull request may mirror early, and whether forks' count (pipeline/early-mirror.ts). */
  readonly trust: TrustPolicy;
}

/** Every SYNCER_ variable the functions read. */
export const FUNCTION_VARIABLES: readonly string[] = [
  ...Object.values(SHARED_SETTINGS),
  ...Object.values(CLOUD_SETTINGS),
].map((declared) => envName(declared.name));

export const FUNCTION_NEEDS: Readonly<Record<string, readonly ('jobsTopic' | 'runsBucket')[]>> = {
  fanOutUpload: ['jobsTopic', 'runsBucket'],
  fanOutRequest: ['jobsTopic', 'runsBucket'],
  copyJob: ['runsBucket'],
  api: ['jobsTopic', 'runsBucket'],
  planApi: [],
};

/** `*.yaml` → a RegExp over the object's base name (or its full name if the pattern has a `/`). */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]*');
  return new RegExp(glob.includes('/') ? `^${body}$` : `(^|/)${body}$`);
}

/** The credentials text, from the variable or else the file it names. */
function sourceCredentials(cloud: Values<typeof CLOUD_SETTINGS>): string | undefined {
  const file = cloud.sourceCredentialsFile;
  if (cloud.sourceCredentials || !file) return cloud.sourceCredentials;
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    const variable = envName(CLOUD_SETTINGS.sourceCredentialsFile.name);
    throw new ConfigError(`${variable}: cannot read ${file}`, { cause });
  }
}

export function loadConfig(
  env: NodeJS.ProcessEnv,
  functionTarget = env.FUNCTION_TARGET,
): FunctionConfig {
  const shared = readSharedSettings('functions', env);
  const cloud = readSettings(CLOUD_SETTINGS, 'functions', env);
  const config: FunctionConfig = {
    ...shared,
    ...cloud,
    project: cloud.project || env.GOOGLE_CLOUD_PROJECT || env.GCLOUD_PROJECT || undefined,
    sourceCredentials: sourceCredentials(cloud),
    storageEmulator: env.STORAGE_EMULATOR_HOST || undefined,
    trust: { patterns: cloud.trustedSources, forks: cloud.trustForkPullRequests },
  };
  // A plan function that mirrors trusted sources early publishes jobs and records runs.
  const early = functionTarget === 'planApi' && config.trustedSources.length > 0;
  const needs = early
    ? (['jobsTopic', 'runsBucket'] as const)
    : functionTarget
      ? FUNCTION_NEEDS[functionTarget]
      : undefined;
  const missing = (needs ?? [])
    .filter((need) => config[need] === undefined)
    .map((need) => envName(CLOUD_SETTINGS[need].name));
  if (missing.length > 0)
    throw new ConfigError(
      `${missing.join(' and ')} required by the ${functionTarget} function${early ? ' (it mirrors SYNCER_TRUSTED_SOURCES early)' : ''}`,
    );
  return config;
}

// The functions' configuration: environment variables with the CLI's SYNCER_
// names where they overlap, plus what only the cloud needs. Read and checked at
// cold start; a bad or missing value fails the instance with the variable named.

import { readFileSync } from 'node:fs';
import {
  checkReferrersDepth,
  checkReferrerTypes,
  type ReferrersOptions,
} from '../engine/referrer-options.ts';
import { ConfigError } from '../errors.ts';
import { type Platform, parsePlatformSetting } from '../oci/platform.ts';
import { parseTargetPrefix, type TargetPrefix } from '../reference/target.ts';
import { parseAuthHosts, parseEndpointFlag } from '../registry/endpoint.ts';
import { DEFAULT_ALLOWED_REGISTRIES, type NetworkPolicy } from '../registry/network-policy.ts';

export interface FunctionConfig {
  readonly prefix: TargetPrefix;
  readonly dryRun: boolean;
  readonly debug: boolean;
  readonly endpoints: ReadonlyMap<string, string>;
  readonly insecureRegistries: readonly string[];
  readonly concurrency: number;
  readonly retryAttempts: number;
  readonly project: string | undefined;
  readonly jobsTopic: string | undefined;
  readonly runsBucket: string | undefined;
  /** STORAGE_EMULATOR_HOST (the Google clients' convention): a Cloud Storage stand-in, no credentials. */
  readonly storageEmulator: string | undefined;
  /** Where the run-completed message goes; unset, completions are only recorded. */
  readonly runsTopic: string | undefined;
  /** Set: the copy function dead-letters jobs itself by its own count (pipeline/rate-limited-job.ts). */
  readonly deadLetterTopic: string | undefined;
  /** Pulls the fan-out keeps in reserve below a source's announced budget (pipeline/pull-budget.ts). */
  readonly pullBudgetMargin: number;
  /** How long a copy waits out a 429 in-process before handing its delivery back (SYNCER_RATE_LIMIT_WAIT_SECONDS). */
  readonly rateLimitWaitSeconds: number;
  readonly imagesFilePatterns: readonly RegExp[];
  readonly maxDeliveryAttempts: number;
  /** A copy still running after this long gives up its delivery so Pub/Sub redelivers it (under the 540 s limit). */
  readonly jobDeadlineSeconds: number;
  /** How long a claim to announce a run keeps other deliveries off (pipeline/completion.ts). */
  readonly completionLeaseSeconds: number;
  readonly pinDigests: boolean;
  /** SYNCER_REFERRERS, SYNCER_REFERRER_TYPES, SYNCER_REFERRERS_ALL_PLATFORMS, SYNCER_REFERRERS_DEPTH, SYNCER_REQUIRE_SIGNATURE. */
  readonly referrers: ReferrersOptions;
  /** Docker config.json text holding source registry credentials (a mounted secret). */
  readonly sourceCredentials: string | undefined;
  /** Allowed source registries and non-public destinations: closed by default. */
  readonly policy: NetworkPolicy;
  /** Token hosts on another origin that may receive a registry's credentials. */
  readonly authHosts: ReadonlyMap<string, readonly string[]>;
  /** SYNCER_REQUIRE_PLATFORMS: platforms every image must have unless its entry or file says otherwise. */
  readonly requirePlatforms: readonly Platform[];
}

export const FUNCTION_NEEDS: Readonly<Record<string, readonly ('jobsTopic' | 'runsBucket')[]>> = {
  fanOutUpload: ['jobsTopic', 'runsBucket'],
  fanOutRequest: ['jobsTopic', 'runsBucket'],
  copyJob: ['runsBucket'],
  api: ['jobsTopic', 'runsBucket'],
  planApi: [],
};

const VARIABLE = { jobsTopic: 'SYNCER_JOBS_TOPIC', runsBucket: 'SYNCER_RUNS_BUCKET' } as const;

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const lower = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
  if (['0', 'false', 'no', 'off'].includes(lower)) return false;
  throw new ConfigError(`${name}: expected true or false, got "${value}"`);
}

function int(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${name}: expected a whole number from ${min} to ${max}, got "${value}"`);
  return n;
}

function list(env: NodeJS.ProcessEnv, name: string): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

/** `*.yaml` → a RegExp over the object's base name (or its full name if the pattern has a `/`). */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]*');
  return new RegExp(glob.includes('/') ? `^${body}$` : `(^|/)${body}$`);
}

/**
 * SYNCER_ALLOWED_REGISTRY: comma-separated registries (`host`, `*.suffix`),
 * `*` for any; default the public registries people mirror from.
 * SYNCER_ALLOW_PRIVATE_NETWORKS: `false` (default), `true`, or a list of
 * `host`, `host:port` or CIDR entries that may be reached although not public.
 */
function authHosts(env: NodeJS.ProcessEnv): Map<string, string[]> {
  try {
    return parseAuthHosts(list(env, 'SYNCER_REGISTRY_AUTH_HOST'));
  } catch (error) {
    throw new ConfigError(`SYNCER_REGISTRY_AUTH_HOST: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function networkPolicy(env: NodeJS.ProcessEnv): NetworkPolicy {
  const registries = list(env, 'SYNCER_ALLOWED_REGISTRY');
  const privateText = (env.SYNCER_ALLOW_PRIVATE_NETWORKS ?? '').trim();
  let privateNetworks: boolean | string[];
  if (privateText === '' || /^(false|0|no|off)$/i.test(privateText)) privateNetworks = false;
  else if (/^(true|1|yes|on)$/i.test(privateText)) privateNetworks = true;
  else privateNetworks = list(env, 'SYNCER_ALLOW_PRIVATE_NETWORKS');
  return {
    privateNetworks,
    ...(registries.includes('*')
      ? {}
      : { allowedRegistries: registries.length > 0 ? registries : DEFAULT_ALLOWED_REGISTRIES }),
  };
}

export function loadConfig(
  env: NodeJS.ProcessEnv,
  functionTarget = env.FUNCTION_TARGET,
): FunctionConfig {
  const prefixText = env.SYNCER_TARGET_REPO_PREFIX;
  if (!prefixText)
    throw new ConfigError('SYNCER_TARGET_REPO_PREFIX is required: where images are mirrored to');
  let prefix: TargetPrefix;
  try {
    prefix = parseTargetPrefix(prefixText);
  } catch (error) {
    throw new ConfigError(`SYNCER_TARGET_REPO_PREFIX: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let endpoints: Map<string, string>;
  try {
    endpoints = new Map(list(env, 'SYNCER_REGISTRY_ENDPOINT').map(parseEndpointFlag));
  } catch (error) {
    throw new ConfigError(`SYNCER_REGISTRY_ENDPOINT: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let sourceCredentials = env.SYNCER_SOURCE_CREDENTIALS || undefined;
  const credentialsFile = env.SYNCER_SOURCE_CREDENTIALS_FILE;
  if (!sourceCredentials && credentialsFile) {
    try {
      sourceCredentials = readFileSync(credentialsFile, 'utf8');
    } catch (cause) {
      throw new ConfigError(`SYNCER_SOURCE_CREDENTIALS_FILE: cannot read ${credentialsFile}`, {
        cause,
      });
    }
  }
  const config: FunctionConfig = {
    prefix,
    dryRun: bool(env, 'SYNCER_DRY_RUN', false),
    debug: bool(env, 'SYNCER_DEBUG', false),
    endpoints,
    insecureRegistries: list(env, 'SYNCER_INSECURE_REGISTRY'),
    concurrency: int(env, 'SYNCER_CONCURRENCY', 8, 1, 256),
    retryAttempts: int(env, 'SYNCER_RETRY_ATTEMPTS', 5, 1, 20),
    project: env.SYNCER_PROJECT || env.GOOGLE_CLOUD_PROJECT || env.GCLOUD_PROJECT || undefined,
    jobsTopic: env.SYNCER_JOBS_TOPIC || undefined,
    runsBucket: env.SYNCER_RUNS_BUCKET || undefined,
    storageEmulator: env.STORAGE_EMULATOR_HOST || undefined,
    runsTopic: env.SYNCER_RUNS_TOPIC || undefined,
    deadLetterTopic: env.SYNCER_DEAD_LETTER_TOPIC || undefined,
    pullBudgetMargin: int(env, 'SYNCER_PULL_BUDGET_MARGIN', 10, 0, 100_000),
    rateLimitWaitSeconds: int(env, 'SYNCER_RATE_LIMIT_WAIT_SECONDS', 10, 0, 300),
    imagesFilePatterns: (list(env, 'SYNCER_IMAGES_FILE_PATTERN').length > 0
      ? list(env, 'SYNCER_IMAGES_FILE_PATTERN')
      : ['*.yaml', '*.yml']
    ).map(globToRegExp),
    maxDeliveryAttempts: int(env, 'SYNCER_MAX_DELIVERY_ATTEMPTS', 5, 1, 100),
    jobDeadlineSeconds: int(env, 'SYNCER_JOB_DEADLINE_SECONDS', 480, 1, 3600),
    completionLeaseSeconds: int(env, 'SYNCER_COMPLETION_LEASE_SECONDS', 120, 5, 600),
    pinDigests: bool(env, 'SYNCER_PIN_DIGESTS', true),
    referrers: {
      enabled: bool(env, 'SYNCER_REFERRERS', true),
      types: checkReferrerTypes(list(env, 'SYNCER_REFERRER_TYPES'), 'SYNCER_REFERRER_TYPES'),
      allPlatforms: bool(env, 'SYNCER_REFERRERS_ALL_PLATFORMS', false),
      depth: checkReferrersDepth(env.SYNCER_REFERRERS_DEPTH, 'SYNCER_REFERRERS_DEPTH'),
      requireSignature: bool(env, 'SYNCER_REQUIRE_SIGNATURE', false),
    },
    sourceCredentials,
    policy: networkPolicy(env),
    authHosts: authHosts(env),
    requirePlatforms: parsePlatformSetting(
      list(env, 'SYNCER_REQUIRE_PLATFORMS'),
      'SYNCER_REQUIRE_PLATFORMS',
    ),
  };
  const needs = functionTarget ? FUNCTION_NEEDS[functionTarget] : undefined;
  const missing = (needs ?? [])
    .filter((need) => config[need] === undefined)
    .map((need) => VARIABLE[need]);
  if (missing.length > 0)
    throw new ConfigError(`${missing.join(' and ')} required by the ${functionTarget} function`);
  return config;
}

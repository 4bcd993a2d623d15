// The settings both the CLI and the functions read, each declared once: its
// flag, its SYNCER_ variable (derived from the flag), default, parser and
// meaning. Where the two entry points differ (the CLI runs on a person's own
// machine, a function inside a deadline), the declaration says so under `cli`
// or `functions`. The CLI's own flags are in cli/flags.ts, the cloud's own
// settings in gcp/config.ts; the README's flag table is tested against these.

import {
  checkReferrerTypes,
  DEFAULT_REFERRERS_OPTIONS,
  MAX_REFERRERS_DEPTH,
  type ReferrersOptions,
} from '../engine/referrer-options.ts';
import type { ImagePolicy } from '../engine/types.ts';
import { parsePlatform } from '../oci/platform.ts';
import { DEFAULT_TARGET_PREFIX, parseTargetPrefix } from '../reference/target.ts';
import { parseAuthHosts, parseEndpointFlag } from '../registry/endpoint.ts';
import { DEFAULT_ALLOWED_REGISTRIES, type NetworkPolicy } from '../registry/network-policy.ts';
import type { ThrottleRates } from '../registry/throttle.ts';
import { bool, boolOrList, items, listOf, perSecond, seconds, wholeNumber } from './parsers.ts';
import { type Entry, readSettings, setting, type Values } from './setting.ts';

export const SHARED_SETTINGS = {
  targetRepoPrefix: setting({
    name: 'target-repo-prefix',
    short: 'r',
    kind: 'value',
    arg: 'PREFIX',
    meaning: 'where images go: `<prefix><path>:<tag>`',
    parse: parseTargetPrefix,
    cli: { default: DEFAULT_TARGET_PREFIX },
    functions: { required: true },
  }),
  dryRun: setting({
    name: 'dry-run',
    kind: 'switch',
    meaning: 'plan only: report planned, exists or conflict for each image, write nothing',
    parse: bool,
  }),
  debug: setting({
    name: 'debug',
    kind: 'switch',
    meaning: 'log every registry request (URLs redacted, never credentials)',
    parse: bool,
  }),
  registryEndpoints: setting({
    name: 'registry-endpoint',
    kind: 'list',
    arg: 'REGISTRY=URL',
    meaning:
      "fetch a registry's images from another endpoint (`docker.io=https://mirror.gcr.io`); target names still follow the logical registry",
    parse: (text): ReadonlyMap<string, string> => new Map(items(text).map(parseEndpointFlag)),
  }),
  insecureRegistries: setting({
    name: 'insecure-registry',
    kind: 'list',
    arg: 'HOST',
    meaning: 'allow plain HTTP to HOST (loopback hosts always may)',
    parse: (text): readonly string[] => items(text),
  }),
  registryAuthHosts: setting({
    name: 'registry-auth-host',
    kind: 'list',
    arg: 'REGISTRY=HOST',
    meaning: "a token host on another origin that may receive REGISTRY's credentials",
    parse: (text): ReadonlyMap<string, readonly string[]> => parseAuthHosts(items(text)),
  }),
  allowedRegistries: setting({
    name: 'allowed-registry',
    kind: 'list',
    arg: 'HOST',
    meaning: 'mirror only from these registries: `host`, `host:port`, `*.suffix`, or `*` for any',
    parse: (text): readonly string[] | undefined => {
      const registries = items(text);
      return registries.includes('*') ? undefined : registries;
    },
    cli: { default: '*' },
    functions: { default: DEFAULT_ALLOWED_REGISTRIES.join(',') },
  }),
  allowPrivateNetworks: setting({
    name: 'allow-private-networks',
    kind: 'switch',
    arg: 'LIST',
    meaning:
      'reach loopback, private and link-local destinations: `true`, `false`, or a comma list of `host`, `host:port` or CIDR',
    parse: boolOrList,
    cli: { default: 'true' },
    functions: { default: 'false' },
  }),
  concurrency: setting({
    name: 'concurrency',
    kind: 'value',
    arg: 'N',
    meaning: 'blob transfers in flight at once; four times as many images are examined at once',
    parse: wholeNumber(1, 256),
    default: '8',
  }),
  rateLimitWaitSeconds: setting({
    name: 'rate-limit-wait-seconds',
    kind: 'value',
    arg: 'N',
    meaning:
      "how long to wait out a source's spent pull budget (429s) before the image fails as `rate-limited`; a function waits at most 300, then hands its delivery back",
    parse: seconds(false),
    cli: { default: '600' },
    functions: { default: '10', parse: wholeNumber(0, 300) },
  }),
  targetRequestsPerSecond: setting({
    name: 'target-requests-per-second',
    kind: 'value',
    arg: 'N',
    meaning:
      "at most N requests a second to the target registry from this process (0: no limit); a deployment divides its share of Artifact Registry's quota among its instances",
    parse: perSecond,
    default: '0',
  }),
  targetWritesPerSecond: setting({
    name: 'target-writes-per-second',
    kind: 'value',
    arg: 'N',
    meaning:
      'at most N write requests (PUT, POST, PATCH, DELETE) a second to the target registry (0: no limit)',
    parse: perSecond,
    default: '0',
  }),
  requirePlatforms: setting({
    name: 'require-platforms',
    kind: 'list',
    arg: 'OS/ARCH',
    meaning:
      'platforms every image must have unless its entry or the file says otherwise (see Platforms), e.g. `linux/amd64,linux/arm64`',
    parse: listOf(parsePlatform),
  }),
  copyReferrers: setting({
    name: 'referrers',
    kind: 'switch',
    arg: 'false',
    meaning:
      'copy signatures, attestations, SBOMs (OCI referrers, cosign `.sig`/`.att`/`.sbom` tags)',
    parse: bool,
    default: String(DEFAULT_REFERRERS_OPTIONS.enabled),
  }),
  referrerTypes: setting({
    name: 'referrer-types',
    kind: 'list',
    arg: 'TYPE',
    meaning:
      'only these referrers: `signature`, `attestation`, `sbom`, `other`, or an exact artifact type (filtered on our side: the registry is asked for every referrer, so an image signed by a type not copied still counts as signed); all when none is given',
    parse: (text): readonly string[] => checkReferrerTypes(items(text)),
  }),
  referrersAllPlatforms: setting({
    name: 'referrers-all-platforms',
    kind: 'switch',
    meaning:
      "also the referrers of every platform manifest of an index, not only the image's own digest (what signers sign)",
    parse: bool,
  }),
  referrersDepth: setting({
    name: 'referrers-depth',
    kind: 'value',
    arg: 'N',
    meaning: `levels of referrers followed, 1 to ${MAX_REFERRERS_DEPTH} (1: the image's own; 2: also a signature on an SBOM)`,
    parse: wholeNumber(1, MAX_REFERRERS_DEPTH),
    default: String(DEFAULT_REFERRERS_OPTIONS.depth),
  }),
  requireSignature: setting({
    name: 'require-signature',
    kind: 'switch',
    meaning:
      'every image must have a signature or attestation, else it fails with `SIGNATURE_REQUIRED` and nothing of it is written',
    parse: bool,
  }),
};

/** The shared settings' values, with the shapes the engine takes built from them. */
export interface SharedSettings extends Values<typeof SHARED_SETTINGS> {
  readonly referrers: ReferrersOptions;
  readonly policy: NetworkPolicy;
  /** The target registry's client-side limits, by logical registry (registry/throttle.ts). */
  readonly throttles: ReadonlyMap<string, ThrottleRates>;
  /** The image policy for what an entry leaves out (images-file/fields.ts `copyRequest`). */
  readonly defaults: ImagePolicy;
}

/** Adds the engine's shapes to values read from a table that includes SHARED_SETTINGS. */
export function withEngineShapes<V extends Values<typeof SHARED_SETTINGS>>(
  values: V,
): V & SharedSettings {
  return {
    ...values,
    referrers: {
      enabled: values.copyReferrers,
      types: values.referrerTypes,
      allPlatforms: values.referrersAllPlatforms,
      depth: values.referrersDepth,
      requireSignature: values.requireSignature,
    },
    policy: {
      privateNetworks: values.allowPrivateNetworks,
      ...(values.allowedRegistries && { allowedRegistries: values.allowedRegistries }),
    },
    defaults: {
      platforms: values.requirePlatforms,
      requireSignature: values.requireSignature,
    },
    throttles: new Map([
      [
        values.targetRepoPrefix.registry,
        {
          requestsPerSecond: values.targetRequestsPerSecond,
          writesPerSecond: values.targetWritesPerSecond,
        },
      ],
    ]),
  };
}

/** Reads the shared settings for one entry point. */
export function readSharedSettings(
  entry: Entry,
  env: NodeJS.ProcessEnv,
  given?: ReadonlyMap<string, string>,
): SharedSettings {
  return withEngineShapes(readSettings(SHARED_SETTINGS, entry, env, given));
}

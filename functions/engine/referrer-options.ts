// How signatures, attestations and SBOMs travel with an image: the options and
// their defaults. The settings that set them are in settings/shared.ts.

import { ConfigError } from '../errors.ts';
import { REFERRER_CLASSES, type ReferrerClass } from '../oci/cosign.ts';

export interface ReferrersOptions {
  /** Copy OCI referrers and cosign `.sig`/`.att`/`.sbom` tags (`--referrers`). */
  readonly enabled: boolean;
  /**
   * Only these (`--referrer-types`): classes `signature`, `attestation`, `sbom`,
   * `other`, or exact artifact types. Empty: all.
   */
  readonly types: readonly string[];
  /** Also the referrers of every platform manifest of an index (`--referrers-all-platforms`). */
  readonly allPlatforms: boolean;
  /**
   * Levels followed (`--referrers-depth`): 1 = the image's referrers (a no-op
   * re-run stays at a handful of requests per image), 2 = also theirs (a
   * signature on an SBOM), up to MAX_REFERRERS_DEPTH.
   */
  readonly depth: number;
  /** Every image must have a signature or attestation (`--require-signature`). */
  readonly requireSignature: boolean;
}

export const DEFAULT_REFERRERS_OPTIONS: ReferrersOptions = {
  enabled: true,
  types: [],
  allPlatforms: false,
  depth: 1,
  requireSignature: false,
};

export const MAX_REFERRERS_DEPTH = 4;

/** Whether a referrer of this artifact type (or cosign kind) passes the type filter. */
export function typeWanted(
  options: Pick<ReferrersOptions, 'types'>,
  artifactType: string | undefined,
  kind: ReferrerClass,
): boolean {
  if (options.types.length === 0) return true;
  return options.types.some(
    (t) => t === kind || (artifactType !== undefined && t === artifactType),
  );
}

/** Checks `--referrer-types` values: classes or media types (`type/subtype`). */
export function checkReferrerTypes(types: readonly string[]): string[] {
  for (const t of types) {
    if (!(REFERRER_CLASSES as readonly string[]).includes(t) && !/^[\w.+-]+\/[\w.+-]+/.test(t)) {
      throw new ConfigError(
        `"${t}" is neither ${REFERRER_CLASSES.join(', ')} nor a media type (type/subtype)`,
      );
    }
  }
  return [...types];
}

// The CLI's referrer flags, read into the engine's ReferrersOptions.

import {
  checkReferrersDepth,
  checkReferrerTypes,
  DEFAULT_REFERRERS_OPTIONS,
  type ReferrersOptions,
} from '../engine/referrer-options.ts';

export const REFERRER_FLAGS = [
  {
    name: 'referrers',
    kind: 'boolean',
    help: 'copy signatures, attestations, SBOMs (OCI referrers, cosign .sig/.att/.sbom tags); =false turns it off (default true)',
  },
  {
    name: 'referrer-types',
    kind: 'list',
    arg: 'TYPE',
    help: 'only these referrers (repeatable): signature, attestation, sbom, other, or an artifact type',
  },
  {
    name: 'referrers-all-platforms',
    kind: 'boolean',
    help: "also the referrers of every platform manifest of an index, not only the image's own digest",
  },
  {
    name: 'referrers-depth',
    kind: 'string',
    arg: 'N',
    help: "levels of referrers followed (1: the image's own; 2: also a signature on an SBOM)",
    default: String(DEFAULT_REFERRERS_OPTIONS.depth),
  },
  {
    name: 'require-signature',
    kind: 'boolean',
    help: 'fail every image without a signature or attestation (SIGNATURE_REQUIRED), writing nothing of it',
  },
] as const;

export function referrerOptions(values: ReadonlyMap<string, unknown>): ReferrersOptions {
  return {
    enabled: values.get('referrers') !== false,
    types: checkReferrerTypes(
      (values.get('referrer-types') as string[] | undefined) ?? [],
      '--referrer-types',
    ),
    allPlatforms: values.get('referrers-all-platforms') === true,
    depth: checkReferrersDepth(
      values.get('referrers-depth') as string | undefined,
      '--referrers-depth',
    ),
    requireSignature: values.get('require-signature') === true,
  };
}

// The engine's hook for signatures, attestations and SBOMs: discover what
// refers to the image before anything is written (so the signature policy can
// refuse an unsigned image with nothing of it in the target), then copy it once
// the image's own outcome is known.

import { isSigning } from '../oci/cosign.ts';
import { subjectInfo } from '../oci/referrers.ts';
import type { Manifest, RegistryClient } from '../registry/client.ts';
import {
  type Discovery,
  discover,
  emptyDiscovery,
  isSigned,
  ReferrersState,
} from './referrer-discovery.ts';
import { DEFAULT_REFERRERS_OPTIONS, type ReferrersOptions } from './referrer-options.ts';
import { type ReferrersSummary, readIfPresent, settleReferrers } from './referrers.ts';
import { SignatureRequiredError, signatureRequired } from './signature-policy.ts';

export interface SupplyChainArgs {
  readonly options?: ReferrersOptions;
  readonly state?: ReferrersState;
  readonly dryRun: boolean;
  readonly image: string;
  readonly requireSignature?: boolean;
  readonly source: RegistryClient;
  readonly destination: RegistryClient;
  readonly sourceRepository: string;
  readonly targetRepository: string;
  readonly copyTree: (manifest: Manifest) => Promise<void>;
  readonly onManifestPut?: () => void;
}

export interface SupplyChain {
  /** The policy's refusal, when the image must be signed and is not. */
  readonly refusal: SignatureRequiredError | undefined;
  settle(
    status: 'copied' | 'exists' | 'planned' | 'conflict',
    image: { digest: string; mediaType: string; manifest?: Manifest },
  ): Promise<{ referrers?: ReferrersSummary }>;
}

/**
 * For the policy: a signature the referrers tag schema lists is only a claim
 * (any client with push access writes that tag), so the manifest's own
 * `subject` must name the image (OCI distribution-spec v1.1 §Referrers Tag
 * Schema: clients maintain it). The API's list is the registry's own index of
 * subjects, and cosign's tags are the convention itself: both are taken as
 * they are. Costs a manifest GET only for an image signed by the tag schema
 * alone, read from the target when it already holds the manifest.
 */
async function signingVerified(
  env: SupplyChainArgs,
  discovery: Discovery,
  digest: string,
): Promise<boolean> {
  const signing = discovery.found.filter((f) => f.depth === 0 && isSigning(f.kind));
  if (signing.some((f) => f.via !== 'tag-schema')) return true;
  for (const f of signing) {
    const inTarget = await env.destination.headManifest(env.targetRepository, f.digest);
    const manifest = inTarget
      ? await env.destination.getManifest(env.targetRepository, f.digest)
      : await readIfPresent(env.source, env.sourceRepository, f.digest);
    // Gone from the source (a stale listing): it signs nothing.
    if (manifest && subjectInfo(manifest.bytes).subject === digest) return true;
  }
  return false;
}

const NOTHING: SupplyChain = { refusal: undefined, settle: async () => ({}) };

export async function beginSupplyChain(
  args: SupplyChainArgs,
  digest: string,
): Promise<SupplyChain> {
  const options = args.options ?? DEFAULT_REFERRERS_OPTIONS;
  const required = signatureRequired(options.requireSignature, args.requireSignature);
  if (!options.enabled && !required) return NOTHING;
  const env = {
    ...args,
    options,
    state: args.state ?? new ReferrersState(),
  };
  const discovery: Discovery = await discover(env, [digest], emptyDiscovery());
  const refusal =
    required && !(isSigned(discovery) && (await signingVerified(env, discovery, digest)))
      ? new SignatureRequiredError(args.image, digest)
      : undefined;
  return {
    refusal,
    settle: async (status, image) => ({
      referrers: await settleReferrers(env, discovery, status, image),
    }),
  };
}

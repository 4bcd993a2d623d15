// The engine's hook for signatures, attestations and SBOMs: discover what
// refers to the image before anything is written (so the signature policy can
// refuse an unsigned image with nothing of it in the target), then copy it once
// the image's own outcome is known.

import type { Manifest, RegistryClient } from '../registry/client.ts';
import {
  type Discovery,
  discover,
  emptyDiscovery,
  isSigned,
  ReferrersState,
} from './referrer-discovery.ts';
import { DEFAULT_REFERRERS_OPTIONS, type ReferrersOptions } from './referrer-options.ts';
import { type ReferrersSummary, settleReferrers } from './referrers.ts';
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
    required && !isSigned(discovery) ? new SignatureRequiredError(args.image, digest) : undefined;
  return {
    refusal,
    settle: async (status, image) => ({
      referrers: await settleReferrers(env, discovery, status, image),
    }),
  };
}

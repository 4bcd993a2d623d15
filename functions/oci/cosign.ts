// cosign's tag convention and what counts as a signature.
//
// cosign stores what it attaches to `repo@sha256:<hex>` in the same repository
// under the tags `sha256-<hex>.sig` (signatures), `.att` (attestations) and
// `.sbom` (SBOMs): "s/:/-/g and s/@/:/g" (sigstore docs, cosign "Signature
// Specification" → Storage Specification; cosign specs/SIGNATURE_SPEC.md). A
// signature manifest's layers have mediaType
// `application/vnd.dev.cosign.simplesigning.v1+json` and carry the signature in
// the annotation `dev.cosignproject.cosign/signature`; attestation layers are
// DSSE envelopes (`application/vnd.dsse.envelope.v1+json`, specs/ATTESTATION_SPEC.md).

export const COSIGN_KINDS = ['sig', 'att', 'sbom'] as const;
export type CosignKind = (typeof COSIGN_KINDS)[number];

/** `sha256:<hex>` → `sha256-<hex>.<kind>`. */
export function cosignTag(digest: string, kind: CosignKind): string {
  return `${digest.replace(':', '-')}.${kind}`;
}

/** What a referrer is, for reports, the `--referrer-types` filter and the signature policy. */
export type ReferrerClass = 'signature' | 'attestation' | 'sbom' | 'other';
export const REFERRER_CLASSES: readonly ReferrerClass[] = [
  'signature',
  'attestation',
  'sbom',
  'other',
];

/**
 * Classifies by cosign tag kind, else by artifact type: sigstore bundles,
 * Notary v2 and cosign simple signing are signatures; DSSE and in-toto are
 * attestations; SPDX and CycloneDX are SBOMs.
 */
export function classify(artifactType: string | undefined, kind?: CosignKind): ReferrerClass {
  if (kind === 'sig') return 'signature';
  if (kind === 'att') return 'attestation';
  if (kind === 'sbom') return 'sbom';
  const type = (artifactType ?? '').toLowerCase();
  if (
    type.includes('sigstore.bundle') ||
    type.includes('notary.signature') ||
    type.includes('cosign.simplesigning') ||
    type.includes('cosign.artifact.sig')
  )
    return 'signature';
  if (type.includes('dsse') || type.includes('in-toto') || type.includes('intoto'))
    return 'attestation';
  if (type.includes('spdx') || type.includes('cyclonedx') || type.includes('syft')) return 'sbom';
  return 'other';
}

/** Signatures and attestations make an image `signed`; SBOMs alone do not. */
export function isSigning(kind: ReferrerClass): boolean {
  return kind === 'signature' || kind === 'attestation';
}

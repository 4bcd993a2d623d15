// The signature policy: an image that must be signed (`requireSignature: true`
// on its entry, or `--require-signature` for all) and has no signature or
// attestation in the source fails with SIGNATURE_REQUIRED, and is decided
// before anything of it is written to the target.

import { SyncerError } from '../errors.ts';

/** The failure category (functions/failures.ts) this code belongs to. */
export const UNSIGNED_CATEGORY = 'unsigned';

export class SignatureRequiredError extends SyncerError {
  readonly category = UNSIGNED_CATEGORY;
  readonly digest: string;

  constructor(image: string, digest: string) {
    super(
      'SIGNATURE_REQUIRED',
      `${image}@${digest} has no signature or attestation (no cosign .sig/.att tag, no signing referrer) and a signature is required; nothing of it was written`,
    );
    this.digest = digest;
  }
}

/** The entry's own `requireSignature` wins (`false` exempts it); else the global policy. */
export function signatureRequired(global: boolean, perEntry: boolean | undefined): boolean {
  return perEntry ?? global;
}

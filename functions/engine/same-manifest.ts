// Whether a tag already holds the manifest we mean to copy. Digests of
// different algorithms name the same bytes differently (a source pinned by
// sha512, a target registry that answers in sha256): they are never compared
// as strings. Then the target's bytes are fetched (our own registry, not a
// counted pull) and hashed with the algorithm the source digest names.

import { algorithmOf, digestOf } from '../oci/digest.ts';
import type { ManifestHead, OperationOptions, RegistryClient } from '../registry/client.ts';

export async function holdsManifest(
  target: RegistryClient,
  repository: string,
  tag: string,
  head: ManifestHead,
  digest: string,
  options: OperationOptions = {},
): Promise<boolean> {
  const algorithm = algorithmOf(digest);
  if (algorithmOf(head.digest) === algorithm) return head.digest === digest;
  const held = await target.getManifest(repository, tag, options);
  return digestOf(held.bytes, algorithm) === digest;
}

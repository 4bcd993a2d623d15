// How many pulls (manifest GETs, as Docker Hub counts them) copying an image
// will cost, known from the source HEAD alone: a HEAD is free, a GET is not
// (docker/docs content/manuals/docker-hub/usage/pulls.md, "Pull definition").
//
// A single manifest costs one GET. An index costs one GET for itself and one
// per child manifest the copy fetches (every platform, attestations included).
// How many children an index has is not in any header, and reading the index
// would itself be a pull, so the count is bounded from the index's size, which
// the HEAD does give (Content-Length): every entry of `manifests` is a
// descriptor holding at least a mediaType, a sha256 digest and a size, which
// take MIN_DESCRIPTOR_BYTES of JSON. The estimate is therefore an upper bound:
// a run that fits the estimate fits the budget. It over-counts indexes whose
// descriptors carry platforms and annotations (Docker official images: about
// 3× the real count), and children the target already holds are not fetched.

import type { ParsedManifest } from '../oci/manifest.ts';
import { isIndexType } from '../oci/media-types.ts';

/**
 * `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:<64 hex>","size":NNN},`:
 * the shortest descriptor of a manifest a registry will hold (the shortest
 * manifest media type, a size of at least three digits, no whitespace).
 */
export const MIN_DESCRIPTOR_BYTES = 153;
/** `{"schemaVersion":2,"manifests":[]}`, the index around its descriptors. */
const INDEX_ENVELOPE_BYTES = 34;

export function estimatePulls(head: { readonly mediaType: string; readonly size: number }): number {
  if (!isIndexType(head.mediaType)) return 1;
  const children = Math.floor((head.size - INDEX_ENVELOPE_BYTES + 1) / MIN_DESCRIPTOR_BYTES);
  return 1 + Math.max(1, children);
}

/** Exact, once the manifest has been read anyway (a platform requirement reads it in a dry run). */
export function pullsOf(manifest: { readonly parsed: ParsedManifest }): number {
  return manifest.parsed.kind === 'index' ? 1 + manifest.parsed.manifests.length : 1;
}

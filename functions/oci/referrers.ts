// OCI 1.1 referrers, the pure part: a manifest's `subject` and `artifactType`,
// the referrers list (an image index of descriptors), and the referrers tag
// schema's tag name.
//
// OCI distribution-spec v1.1.0, spec.md:
// - §Listing Referrers (end-12a/end-12b): the answer is an image index whose
//   `manifests` are descriptors of every manifest with that `subject`; each
//   carries `artifactType` (the manifest's own, else its config's mediaType)
//   and the manifest's annotations.
// - §Referrers Tag Schema: registries without the API keep that index under the
//   tag `<alg>-<ref>` (algorithm truncated to 32 characters, encoded part to 64,
//   characters not allowed in a tag replaced by `-`), maintained by clients.

import { SyncerError } from '../errors.ts';
import type { Descriptor } from './manifest.ts';
import { isIndexType, isManifestType, OCI_INDEX } from './media-types.ts';

export interface ReferrerDescriptor extends Descriptor {
  readonly artifactType?: string;
}

/** The tag of the referrers tag schema for `digest` (OCI distribution-spec v1.1 §Referrers Tag Schema). */
export function referrersTag(digest: string): string {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon).slice(0, 32);
  const encoded = digest.slice(colon + 1).slice(0, 64);
  return `${algorithm}-${encoded}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

function invalid(what: string, reason: string): SyncerError {
  return new SyncerError('INVALID_REFERRERS', `${what}: ${reason}`);
}

function asObject(what: string, bytes: Uint8Array): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new SyncerError('INVALID_REFERRERS', `${what}: not JSON`, { cause });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid(what, 'not a JSON object');
  return body as Record<string, unknown>;
}

function isDescriptor(value: unknown): value is ReferrerDescriptor {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as Record<string, unknown>;
  return (
    typeof d.digest === 'string' &&
    /^sha(256|512):[a-f0-9]+$/.test(d.digest) &&
    typeof d.mediaType === 'string' &&
    typeof d.size === 'number' &&
    Number.isSafeInteger(d.size) &&
    d.size >= 0
  );
}

/**
 * The descriptors of a referrers list (the API's answer or the tag schema's
 * index). Only manifests and indexes can be referrers; anything else listed is dropped.
 */
export function parseReferrersList(what: string, bytes: Uint8Array): ReferrerDescriptor[] {
  const body = asObject(what, bytes);
  if (!Array.isArray(body.manifests)) throw invalid(what, 'not an image index (no manifests)');
  return body.manifests
    .filter(isDescriptor)
    .filter((d) => isIndexType(d.mediaType) || isManifestType(d.mediaType));
}

export interface SubjectInfo {
  readonly subject?: string;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A manifest's subject digest and artifact type (its own, else its config's mediaType). */
export function subjectInfo(bytes: Uint8Array): SubjectInfo {
  let body: Record<string, unknown>;
  try {
    body = asObject('manifest', bytes);
  } catch {
    return {};
  }
  const subject = isDescriptor(body.subject) ? body.subject.digest : undefined;
  const config = body.config as Record<string, unknown> | undefined;
  const artifactType =
    typeof body.artifactType === 'string'
      ? body.artifactType
      : typeof config?.mediaType === 'string'
        ? config.mediaType
        : undefined;
  const annotations =
    typeof body.annotations === 'object' && body.annotations !== null
      ? (body.annotations as Record<string, string>)
      : undefined;
  return {
    ...(subject && { subject }),
    ...(artifactType && { artifactType }),
    ...(annotations && { annotations }),
  };
}

/** The bytes of a referrers tag schema index listing `descriptors`, in the order given. */
export function referrersIndexBytes(descriptors: readonly ReferrerDescriptor[]): Buffer {
  const manifests = descriptors.map((d) => ({
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.artifactType && { artifactType: d.artifactType }),
    ...(d.annotations && { annotations: d.annotations }),
  }));
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
}

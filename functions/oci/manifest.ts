// Reading what a manifest refers to. The bytes are never re-serialised: the
// copy puts the exact bytes it fetched, so the digest is preserved. Parsing is
// only for discovering children (index → manifests, manifest → blobs).

import { SyncerError, UnsupportedMediaTypeError } from '../errors.ts';
import { isValidDigest } from './digest.ts';
import { isIndexType, isManifestType, isNonDistributable, isSchema1 } from './media-types.ts';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly platform?: {
    readonly os?: string;
    readonly architecture?: string;
    readonly variant?: string;
  };
  readonly annotations?: Readonly<Record<string, string>>;
}

export type ParsedManifest =
  | {
      readonly kind: 'index';
      readonly mediaType: string;
      readonly manifests: readonly Descriptor[];
    }
  | {
      readonly kind: 'manifest';
      readonly mediaType: string;
      readonly config: Descriptor;
      readonly layers: readonly Descriptor[];
    };

function invalid(what: string, reason: string): SyncerError {
  return new SyncerError('INVALID_MANIFEST', `${what}: ${reason}`);
}

function toDescriptor(what: string, value: unknown): Descriptor {
  if (typeof value !== 'object' || value === null)
    throw invalid(what, 'descriptor is not an object');
  const d = value as Record<string, unknown>;
  if (typeof d.digest !== 'string' || !isValidDigest(d.digest)) {
    throw invalid(what, `descriptor has an invalid digest ${JSON.stringify(d.digest)}`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw invalid(what, `descriptor ${d.digest} has an invalid size`);
  }
  if (typeof d.mediaType !== 'string')
    throw invalid(what, `descriptor ${d.digest} has no mediaType`);
  return d as unknown as Descriptor;
}

/**
 * Determines the media type (the body's own `mediaType` wins over the
 * Content-Type header, which some registries get wrong) and the children.
 */
export function parseManifest(
  what: string,
  bytes: Uint8Array,
  contentType: string | undefined,
): ParsedManifest {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new SyncerError('INVALID_MANIFEST', `${what}: manifest is not JSON`, { cause });
  }
  if (typeof body !== 'object' || body === null)
    throw invalid(what, 'manifest is not a JSON object');

  const headerType = contentType?.split(';')[0]?.trim();
  let mediaType = typeof body.mediaType === 'string' ? body.mediaType : headerType;
  if (body.schemaVersion === 1 || (mediaType !== undefined && isSchema1(mediaType))) {
    throw new UnsupportedMediaTypeError(
      mediaType ?? 'schema 1',
      `${what} is a Docker schema 1 manifest, which cannot be copied with its digest preserved; ask upstream for a schema 2 or OCI image`,
    );
  }
  // An OCI manifest or index may omit mediaType; tell them apart by shape.
  if (mediaType === undefined || (!isIndexType(mediaType) && !isManifestType(mediaType))) {
    if (mediaType === undefined || mediaType === 'application/json') {
      mediaType = Array.isArray(body.manifests)
        ? 'application/vnd.oci.image.index.v1+json'
        : 'application/vnd.oci.image.manifest.v1+json';
    } else {
      throw new UnsupportedMediaTypeError(
        mediaType,
        `${what} is neither an image index nor an image manifest`,
      );
    }
  }

  if (isIndexType(mediaType)) {
    if (!Array.isArray(body.manifests)) throw invalid(what, 'index has no manifests array');
    return {
      kind: 'index',
      mediaType,
      manifests: body.manifests.map((m) => toDescriptor(what, m)),
    };
  }
  if (!Array.isArray(body.layers)) throw invalid(what, 'manifest has no layers array');
  return {
    kind: 'manifest',
    mediaType,
    config: toDescriptor(what, body.config),
    layers: body.layers.map((l) => toDescriptor(what, l)),
  };
}

/** The blobs a registry must hold before it accepts this manifest. */
export function blobsToCopy(manifest: ParsedManifest & { kind: 'manifest' }): Descriptor[] {
  return [manifest.config, ...manifest.layers].filter(
    (d) => !(isNonDistributable(d.mediaType) && d.urls !== undefined && d.urls.length > 0),
  );
}

// Small OCI documents for scripted-server tests: digests and an image manifest
// over given layer bytes (the registries never look inside them).

import { createHash } from 'node:crypto';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export function hash(bytes: Buffer, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** An OCI image manifest whose config is `{}` and whose layers are `layers`. */
export function ociManifest(layers: readonly Buffer[], config = Buffer.from('{}')): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: hash(config),
        size: config.length,
      },
      layers: layers.map((layer) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: hash(layer),
        size: layer.length,
      })),
    }),
  );
}

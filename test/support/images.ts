// Test images, built as OCI layouts on disk and pushed with skopeo, a client
// independent of image-syncer's own. Layers are random bytes (registries never
// look inside them), so every image is unique unless a test shares a layer on
// purpose.

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

/** An OCI image layout under construction. */
export class Layout {
  readonly dir: string;
  readonly #refs: Descriptor[] = [];

  constructor(dir = mkdtempSync(join(tmpdir(), 'layout-'))) {
    this.dir = dir;
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  }

  blob(bytes: Buffer, mediaType: string): Descriptor {
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(this.dir, 'blobs', 'sha256', hex), bytes);
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
  }

  layer(size: number): Descriptor {
    return this.blob(randomBytes(size), OCI_LAYER);
  }

  /** An image manifest over the given layers (new random layers by size, or existing descriptors). */
  image(options: {
    layers: (number | Descriptor)[];
    os?: string;
    architecture?: string;
  }): Descriptor {
    const os = options.os ?? 'linux';
    const architecture = options.architecture ?? 'amd64';
    const layers = options.layers.map((l) => (typeof l === 'number' ? this.layer(l) : l));
    const config = this.blob(
      Buffer.from(
        JSON.stringify({
          architecture,
          os,
          created: new Date().toISOString(),
          rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
          config: { Labels: { nonce: randomBytes(8).toString('hex') } },
        }),
      ),
      OCI_CONFIG,
    );
    const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers };
    return {
      ...this.blob(Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST),
      platform: { os, architecture },
    };
  }

  /**
   * A BuildKit-style attestation manifest: platform unknown/unknown, in-toto
   * layers, annotated with the digest of the image it attests.
   */
  attestation(subject: Descriptor): Descriptor {
    const statement = this.blob(
      Buffer.from(
        JSON.stringify({
          _type: 'https://in-toto.io/Statement/v0.1',
          predicateType: 'https://spdx.dev/Document',
          nonce: randomBytes(8).toString('hex'),
        }),
      ),
      'application/vnd.in-toto+json',
    );
    const config = this.blob(
      Buffer.from(
        '{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":[]}}',
      ),
      OCI_CONFIG,
    );
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config,
      layers: [
        { ...statement, annotations: { 'in-toto.io/predicate-type': 'https://spdx.dev/Document' } },
      ],
    };
    return {
      ...this.blob(Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST),
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: {
        'vnd.docker.reference.type': 'attestation-manifest',
        'vnd.docker.reference.digest': subject.digest,
      },
    };
  }

  index(manifests: Descriptor[]): Descriptor {
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
    return this.blob(Buffer.from(JSON.stringify(index)), OCI_INDEX);
  }

  /** Names `descriptor` in index.json so skopeo can address it as `oci:DIR:TAG`. */
  tag(name: string, descriptor: Descriptor): void {
    this.#refs.push({
      ...descriptor,
      annotations: { ...descriptor.annotations, 'org.opencontainers.image.ref.name': name },
    });
    writeFileSync(
      join(this.dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: this.#refs }),
    );
  }
}

export interface PushOptions {
  /** `user:password` for the destination. */
  readonly creds?: string;
  /** Convert to Docker schema 2 (manifest list for indexes); digests change. */
  readonly dockerFormat?: boolean;
}

/** Pushes `oci:DIR:TAG` to `docker://DEST` with skopeo; returns nothing, check with inspectRaw. */
export async function push(
  layout: Layout,
  tag: string,
  destination: string,
  options: PushOptions = {},
): Promise<void> {
  const args = ['copy', '--quiet', '--all', '--dest-tls-verify=false'];
  if (options.dockerFormat) args.push('--format', 'v2s2');
  else args.push('--preserve-digests');
  if (options.creds) args.push('--dest-creds', options.creds);
  args.push(`oci:${layout.dir}:${tag}`, `docker://${destination}`);
  await run('skopeo', args, { env: { ...process.env, REGISTRY_AUTH_FILE: '/dev/null' } });
}

/** `skopeo inspect --raw`: the manifest bytes exactly as the registry serves them. */
export async function inspectRaw(reference: string, creds?: string): Promise<Buffer> {
  const args = ['inspect', '--raw', '--tls-verify=false'];
  if (creds) args.push('--creds', creds);
  args.push(`docker://${reference}`);
  const { stdout } = await run('skopeo', args, { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 });
  return stdout as unknown as Buffer;
}

export function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

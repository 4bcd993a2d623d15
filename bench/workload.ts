// The benchmark's images, generated as OCI layouts and pushed to the source
// registry with skopeo: 20 small images (4 layers of 1 MiB), a multi-arch
// index (2 platforms sharing a base layer, plus an attestation), a Docker
// manifest list, an image with a 256 MiB layer; and separately one image with
// a 1 GiB layer.

import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, renameSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Descriptor, Layout, push } from '../test/support/images.ts';

const MiB = 1024 * 1024;

/** A large layer written in 16 MiB pieces (random seed, varied per piece) without holding it. */
async function bigLayer(layout: Layout, bytes: number): Promise<Descriptor> {
  const seed = randomBytes(16 * MiB);
  const hash = createHash('sha256');
  const temporary = join(layout.dir, 'blobs', 'sha256', 'incoming');
  async function* pieces() {
    for (let offset = 0, n = 0; offset < bytes; offset += seed.length, n++) {
      const piece = Buffer.from(seed.subarray(0, Math.min(seed.length, bytes - offset)));
      piece.writeUInt32BE(n, 0);
      hash.update(piece);
      yield piece;
    }
  }
  await pipeline(pieces(), createWriteStream(temporary));
  const hex = hash.digest('hex');
  renameSync(temporary, join(layout.dir, 'blobs', 'sha256', hex));
  return {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: `sha256:${hex}`,
    size: bytes,
  };
}

export interface Workload {
  /** Repository:tag paths on the source registry. */
  readonly cold: string[];
  readonly big: string;
  readonly bigLayerBytes: number;
  readonly coldBytes: number;
}

export async function seedWorkload(
  sourceHost: string,
  creds: string,
  options: { bigLayerMiB: number; largeLayerMiB: number },
): Promise<Workload> {
  const layout = new Layout();
  const cold: string[] = [];
  let coldBytes = 0;
  const pushes: Promise<void>[] = [];
  for (let i = 1; i <= 20; i++) {
    const name = `small-${String(i).padStart(2, '0')}`;
    layout.tag(name, layout.image({ layers: [MiB, MiB, MiB, MiB] }));
    coldBytes += 4 * MiB;
    cold.push(`bench/${name}:v1`);
  }
  const base = layout.layer(8 * MiB);
  const amd64 = layout.image({ layers: [base, 2 * MiB] });
  const arm64 = layout.image({ layers: [base, 2 * MiB], architecture: 'arm64' });
  layout.tag('multi', layout.index([amd64, arm64, layout.attestation(amd64)]));
  cold.push('bench/multi:v1');
  const listAmd64 = layout.image({ layers: [6 * MiB, MiB] });
  const listArm64 = layout.image({ layers: [6 * MiB, MiB], architecture: 'arm64' });
  layout.tag('list', layout.index([listAmd64, listArm64]));
  cold.push('bench/dockerlist:v1');
  coldBytes += 12 * MiB + 14 * MiB;
  const large = await bigLayer(layout, options.largeLayerMiB * MiB);
  layout.tag('large', layout.image({ layers: [large] }));
  cold.push('bench/large:v1');
  coldBytes += options.largeLayerMiB * MiB;
  const huge = await bigLayer(layout, options.bigLayerMiB * MiB);
  layout.tag('big', layout.image({ layers: [huge] }));

  for (const path of cold) {
    const [repo] = path.split(':');
    const tag = (repo as string).slice('bench/'.length);
    if (tag === 'dockerlist')
      pushes.push(push(layout, 'list', `${sourceHost}/${path}`, { creds, dockerFormat: true }));
    else pushes.push(push(layout, tag, `${sourceHost}/${path}`, { creds }));
    if (pushes.length >= 4) await Promise.all(pushes.splice(0));
  }
  await Promise.all(pushes);
  await push(layout, 'big', `${sourceHost}/bench/big:v1`, { creds });
  return { cold, big: 'bench/big:v1', bigLayerBytes: options.bigLayerMiB * MiB, coldBytes };
}

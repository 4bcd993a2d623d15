// The demos' source images, generated as an OCI layout and pushed to a local
// registry with skopeo: an OCI index (two platforms and an attestation), a
// Docker manifest list, and single images.

import { Layout, push } from '../../test/support/images.ts';

export interface SeededImages {
  /** Digest of each pushed image, by the name it was pushed under. */
  readonly digests: Readonly<Record<string, string>>;
}

export async function seedImages(host: string, creds: string): Promise<SeededImages> {
  const layout = new Layout();
  const base = layout.layer(2_000_000);
  const amd64 = layout.image({ layers: [base, 500_000] });
  const arm64 = layout.image({ layers: [base, 600_000], architecture: 'arm64' });
  const multi = layout.index([amd64, arm64, layout.attestation(amd64)]);
  layout.tag('multi', multi);
  const plain = layout.index([amd64, arm64]);
  layout.tag('plain', plain);
  const single = layout.image({ layers: [1_000_000] });
  layout.tag('single', single);
  const other = layout.image({ layers: [800_000] });
  layout.tag('other', other);
  await push(layout, 'multi', `${host}/team/app:1.0`, { creds });
  await push(layout, 'plain', `${host}/team/app-docker:1.0`, { creds, dockerFormat: true });
  await push(layout, 'single', `${host}/library/alpine:3.20`, { creds });
  await push(layout, 'single', `${host}/team/tool:2`, { creds });
  await push(layout, 'other', `${host}/team/worker:0.9`, { creds });
  return {
    digests: {
      'team/app:1.0': multi.digest,
      // skopeo converts the list to Docker's format: its digest is the pushed one, read back later.
      'library/alpine:3.20': single.digest,
      'team/tool:2': single.digest,
      'team/worker:0.9': other.digest,
    },
  };
}

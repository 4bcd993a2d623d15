// GitHub Container Registry (ghcr.io).
import type { Profile } from '../behaviours.ts';

export const ghcr: Profile = {
  registry: 'ghcr.io',
  id: 'ghcr',
  behaviours: {
    // Public images still need a token, asked anonymously at the registry's own
    // origin: `https://ghcr.io/token?scope=repository:{repo}:pull`
    // (richlander/container-registry-api ghcr.md; opensciencegrid/cvmfs-singularity-sync#353).
    realm: { host: 'same', path: '/token' },
    // Layer downloads redirect to pkg-containers.githubusercontent.com ("Auth tokens
    // come from ghcr.io itself, but layer downloads redirect to
    // pkg-containers.githubusercontent.com": pullist.d0t.se/ghcr.json, citing GitHub's
    // "Working with the Container registry").
    blobRedirect: { status: 307, storage: 'other-host' },
  },
  sources: [
    'https://github.com/richlander/container-registry-api/blob/main/ghcr.md (anonymous token at ghcr.io/token)',
    'https://github.com/opensciencegrid/cvmfs-singularity-sync/pull/353',
    'https://pullist.d0t.se/ghcr.json (blobs from pkg-containers.githubusercontent.com)',
  ],
};

// registry.k8s.io: archeio, a redirect server in front of regional registries.
import type { Profile } from '../behaviours.ts';

export const registryK8s: Profile = {
  registry: 'registry.k8s.io',
  id: 'k8s',
  behaviours: {
    // kubernetes/registry.k8s.io cmd/archeio/docs/request-handling.md: "For
    // registry API requests, all of which start with /v2/ … If it's a manifest
    // request: Redirect to Upstream Registry … Currently the Upstream Registry is
    // a region specific Artifact Registry backend". The ping (/v2/) and manifest
    // HEADs are redirected too; the upstream has its own token auth, so a 401
    // comes from the host redirected to, with that host's own realm.
    redirectEverything: true,
  },
  sources: [
    'https://github.com/kubernetes/registry.k8s.io/blob/main/cmd/archeio/docs/request-handling.md',
    'https://github.com/kubernetes/registry.k8s.io/blob/main/README.md (do not depend on the backends)',
  ],
};

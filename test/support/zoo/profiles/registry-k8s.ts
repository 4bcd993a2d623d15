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
    // comes from the host redirected to, with that host's own realm. There the
    // repository lives under UPSTREAM_REGISTRY_PATH, `k8s-artifacts-prod/images`
    // (cmd/archeio/main.go), so `/v2/pause/manifests/3.8` is sent to
    // `us-west1-docker.pkg.dev/v2/k8s-artifacts-prod/images/pause/manifests/3.8`
    // (the HEAD in kubernetes.io/blog/2023/03/10/image-registry-redirect).
    redirectEverything: { repositoryPrefix: 'k8s-artifacts-prod/images/' },
  },
  sources: [
    'https://github.com/kubernetes/registry.k8s.io/blob/main/cmd/archeio/docs/request-handling.md',
    'https://github.com/kubernetes/registry.k8s.io/blob/main/cmd/archeio/main.go (UPSTREAM_REGISTRY_PATH)',
    'https://kubernetes.io/blog/2023/03/10/image-registry-redirect/ (a redirected HEAD)',
    'https://github.com/kubernetes/registry.k8s.io/blob/main/README.md (do not depend on the backends)',
  ],
};

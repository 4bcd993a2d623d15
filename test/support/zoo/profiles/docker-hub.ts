// Docker Hub (docker.io, answering at registry-1.docker.io).
import type { Profile } from '../behaviours.ts';

export const dockerHub: Profile = {
  registry: 'docker.io',
  id: 'dockerhub',
  behaviours: {
    // Tokens come from auth.docker.io, another host than the registry:
    // `curl "https://auth.docker.io/token?service=registry.docker.io&scope=repository:ratelimitpreview/test:pull"`
    // (Docker Hub usage docs, docker/docs#22134 content/manuals/docker-hub/usage/pulls.md).
    realm: { host: 'auth-host', path: '/token' },
    // Blobs (and their bytes) come from a CDN host, production.cloudflare.docker.com
    // (docker/hub-feedback#2218: "Docker Hub Registry uses Cloudflare as the CDN for
    // serving Docker Image layer blobs"; osism/ansible-collection-services#1049 lists
    // the three hosts), reached by a redirect with a signed URL.
    blobRedirect: { status: 307, storage: 'other-host' },
    // `ratelimit-limit: 100;w=21600`, `ratelimit-remaining`, `docker-ratelimit-source`
    // on manifest answers; a pull is a manifest GET, a HEAD is not counted
    // (docs.docker.com docker-hub/usage/pulls; docker/docs#20788; containers/image#1078
    // "Image's digest from HEAD request" moved skopeo to HEAD for that reason).
    pullLimit: 1000,
    // Old images are still served as signed schema 1 (the rate-limit check image
    // itself: gist jeversol/369009aaad4cd2cd8e2610fa68d4c4be shows
    // `content-type: application/vnd.docker.distribution.manifest.v1+prettyjws`).
    schema1Tag: 'legacy',
    // A mount without pull access to `from` is refused with 401, not 202
    // (oras-project/rust-oci-client#235 "Mounting cross-repo blob (on docker.io) UNAUTHORIZED").
    mount: 'refuse-401',
  },
  sources: [
    'https://github.com/docker/docs/pull/22134 (auth.docker.io token, pull usage)',
    'https://github.com/docker/docs/pull/20788 (a pull is a manifest GET)',
    'https://github.com/containers/image/pull/1078 (HEAD is not a pull)',
    'https://github.com/docker/hub-feedback/issues/2218 (blobs from the Cloudflare CDN)',
    'https://gist.github.com/jeversol/369009aaad4cd2cd8e2610fa68d4c4be (ratelimit headers, schema 1)',
    'https://github.com/oras-project/rust-oci-client/issues/235 (mount refused with 401)',
  ],
};

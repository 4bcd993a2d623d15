// Google Artifact Registry (*.pkg.dev): the target, and a source too.
import type { Profile } from '../behaviours.ts';

export const artifactRegistry: Profile = {
  registry: 'europe-docker.pkg.dev',
  id: 'ar',
  behaviours: {
    // Token endpoint on the registry's own origin (https://europe-docker.pkg.dev/v2/token),
    // which takes Basic credentials (oauth2accesstoken / _json_key).
    realm: { host: 'same', path: '/v2/token' },
    // "the AR responds with an 302 Found to a location of the form
    // /artifacts-downloads/namespaces/…/downloads/[signature]" on its own host; "from
    // the redirect target, a client can download the blob without the Authorization
    // header" (ahmetb/serverless-registry-proxy#8).
    blobRedirect: { status: 302, storage: 'same-host' },
    // "Artifact Registry does not support Docker chunked uploads" (Artifact Registry
    // Docker API reference, quoted in dotnet/sdk-container-builds#287 and
    // kitops-ml/kitops#780; podman-container-tools/skopeo#1101).
    monolithicUploadsOnly: true,
    // Repositories with immutable tags refuse a manifest PUT to a tag that points at
    // another image (docs.cloud.google.com artifact-registry/docs/repositories/
    // update-repo-settings: "an image tag always points to the same image digest");
    // the answer is MANIFEST_INVALID "cannot update tag … tag immutability".
    immutableTags: true,
    // A blob in another repository of the registry is mounted (201): crane and
    // gcrane copy within *.pkg.dev with `POST …/blobs/uploads/?from=…&mount=…`
    // (google/go-containerregistry#1321).
    mount: 'pass',
  },
  sources: [
    'https://github.com/ahmetb/serverless-registry-proxy/issues/8 (blob 302 to /artifacts-downloads)',
    'https://github.com/dotnet/sdk-container-builds/pull/287 (no chunked uploads)',
    'https://github.com/podman-container-tools/skopeo/issues/1101 (chunked upload fails on GAR)',
    'https://docs.cloud.google.com/artifact-registry/docs/repositories/update-repo-settings (immutable tags)',
    'https://github.com/google/go-containerregistry/issues/1321 (cross-repository mounts on pkg.dev)',
  ],
};

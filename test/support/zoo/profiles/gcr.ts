// Google Container Registry (gcr.io, *.gcr.io), now served by Artifact Registry.
import type { Profile } from '../behaviours.ts';

export const gcr: Profile = {
  registry: 'gcr.io',
  id: 'gcr',
  behaviours: {
    // Token endpoint on the registry's own origin (https://gcr.io/v2/token).
    realm: { host: 'same', path: '/v2/token' },
    // Blob GETs answer 302 to Cloud Storage (storage.googleapis.com), a signed URL
    // that needs no Authorization (ahmetb/serverless-registry-proxy#8: "redirected
    // directly to the upstream … similar to a GCR proxy").
    blobRedirect: { status: 302, storage: 'other-host' },
    // No chunked uploads (Artifact Registry Docker API reference, quoted in
    // dotnet/sdk-container-builds#287: "Artifact Registry does not support Docker
    // chunked uploads … You must use monolithic uploads").
    monolithicUploadsOnly: true,
  },
  sources: [
    'https://github.com/ahmetb/serverless-registry-proxy/issues/8 (blob redirects)',
    'https://github.com/dotnet/sdk-container-builds/pull/287 (no chunked uploads)',
  ],
};

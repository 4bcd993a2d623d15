// Amazon ECR Public (public.ecr.aws).
import type { Profile } from '../behaviours.ts';

export const ecrPublic: Profile = {
  registry: 'public.ecr.aws',
  id: 'ecr',
  behaviours: {
    // "The gallery is anonymous: a global bearer token is fetched from
    // public.ecr.aws/token/" (release-argus/Argus#911); pulls need no account
    // (aws/containers-roadmap#990, dependabot/dependabot-core#4212).
    realm: { host: 'same', path: '/token/' },
    // "ECR serves OCI blobs by redirecting to S3 using pre-signed URLs", and S3
    // answers 400 if the registry's Authorization header comes along
    // (open-policy-agent/opa#6728).
    blobRedirect: { status: 307, storage: 'other-host' },
  },
  sources: [
    'https://github.com/release-argus/Argus/pull/911 (anonymous token at public.ecr.aws/token/)',
    'https://github.com/aws/containers-roadmap/issues/990 (anonymous pulls)',
    'https://github.com/open-policy-agent/opa/pull/6728 (blobs redirected to pre-signed S3 URLs)',
  ],
};

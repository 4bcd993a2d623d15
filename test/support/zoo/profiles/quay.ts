// Red Hat Quay (quay.io).
import type { Profile } from '../behaviours.ts';

export const quay: Profile = {
  registry: 'quay.io',
  id: 'quay',
  behaviours: {
    // Quay's token endpoint is on its own origin, https://quay.io/v2/auth
    // (quay/quay endpoints/v2/v2auth.py serves /v2/auth).
    realm: { host: 'same', path: '/v2/auth' },
    // Blob pulls are redirected to cdn.quay.io / cdn0[1-3].quay.io or S3
    // (quay/quay-docs#149 "a redirect is happening to cdn.quay.io and furthermore to
    // cdn02.quay.io"; IBM/cloud-pak-deployer#504 lists quayio-production-s3.s3.amazonaws.com).
    blobRedirect: { status: 302, storage: 'other-host' },
  },
  sources: [
    'https://github.com/quay/quay-docs/issues/149 (blobs redirected to cdn.quay.io)',
    'https://github.com/IBM/cloud-pak-deployer/issues/504 (S3 and CloudFront hosts)',
    'https://github.com/quay/quay (endpoints/v2/v2auth.py: the /v2/auth realm)',
  ],
};

// NVIDIA NGC (nvcr.io).
import type { Profile } from '../behaviours.ts';

export const nvcr: Profile = {
  registry: 'nvcr.io',
  id: 'nvcr',
  behaviours: {
    // `www-authenticate: Bearer realm="https://nvcr.io/proxy_auth",scope="repository:…:pull"`:
    // the realm is on the registry's own origin and the challenge has no `service`;
    // the token is issued all the same when the token request omits it
    // (sapcc/keppel#731 "nvcr.io generates auth challenge without service parameter";
    // hpc/charliecloud#1318 shows the same challenge).
    realm: { host: 'same', path: '/proxy_auth' },
    challengeWithoutService: true,
  },
  sources: [
    'https://github.com/sapcc/keppel/pull/731 (challenge without service; /proxy_auth realm)',
    'https://github.com/hpc/charliecloud/issues/1318 (the /proxy_auth challenge)',
  ],
};

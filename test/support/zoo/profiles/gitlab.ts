// GitLab.com container registry (registry.gitlab.com).
import type { Profile } from '../behaviours.ts';

export const gitlab: Profile = {
  registry: 'registry.gitlab.com',
  id: 'gitlab',
  behaviours: {
    // The registry's token realm is GitLab itself, another host: `realm:
    // https://gitlab.com/jwt/auth`, `service: container_registry`
    // (gitlab-org/gitlab-foss#26265 shows the generated registry config and
    // "Auth realm URL should include Gitlab host"; oras-project/oras-py#50).
    realm: { host: 'auth-host', path: '/jwt/auth' },
  },
  sources: [
    'https://gitlab.com/gitlab-org/gitlab-foss/-/issues/26265 (realm /jwt/auth on the GitLab host)',
    'https://github.com/oras-project/oras-py/pull/50 (service=container_registry)',
    'https://docs.gitlab.com/user/packages/container_registry/authenticate_with_container_registry/',
  ],
};

// Microsoft Artifact Registry (mcr.microsoft.com).
import type { Profile } from '../behaviours.ts';

export const mcr: Profile = {
  registry: 'mcr.microsoft.com',
  id: 'mcr',
  // Public and anonymous: no challenge at all, /v2/ answers 200 (MCR "認証 原則不要(公開)",
  // NetDevInfraWiki MS_MicrosoftContainerRegistry; microsoft/containerregistry#188 shows
  // a plain `curl -I https://mcr.microsoft.com/v2/`).
  anonymous: true,
  behaviours: {
    // Layers come from *.data.mcr.microsoft.com, which firewalls must allow next to
    // mcr.microsoft.com (AKS outbound rules, same wiki page).
    blobRedirect: { status: 307, storage: 'other-host' },
  },
  sources: [
    'https://github.com/NetDevInfraWGinOSSConsortium/NetDevInfraWiki/wiki/MS_MicrosoftContainerRegistry (anonymous; *.data.mcr.microsoft.com)',
    'https://github.com/microsoft/containerregistry/issues/188 (anonymous /v2/)',
  ],
};

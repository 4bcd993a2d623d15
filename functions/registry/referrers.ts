// The OCI 1.1 referrers API on a registry (OCI distribution-spec v1.1.0,
// spec.md §Listing Referrers, endpoints end-12a / end-12b):
//
//   GET /v2/<name>/referrers/<digest>[?artifactType=<type>]
//     200 → an image index of referrer descriptors (empty when there are none);
//           `OCI-Filters-Applied: artifactType` when the registry applied the filter;
//           `Link: <…>; rel="next"` (RFC 5988) when more pages follow.
//     404 → the registry lacks the API: a registry that has it "MUST NOT return
//           404" for a repository that exists (§Listing Referrers), and clients
//           "MUST fallback" to the referrers tag schema (§Backwards Compatibility,
//           Unavailable Referrers API). Debian's docker-registry 2.8 answers 404.
//
// The registry is asked for the tag schema's index by the engine (it is an
// ordinary tagged manifest); here is only the API.

import { SyncerError } from '../errors.ts';
import { OCI_INDEX } from '../oci/media-types.ts';
import { parseReferrersList, type ReferrerDescriptor } from '../oci/referrers.ts';
import { pullScope, type RegistryClient, readManifestBody } from './client.ts';
import { header } from './transport.ts';

/** A malicious or broken registry could page forever; no image has this many referrers. */
export const MAX_REFERRERS_PAGES = 64;

/**
 * Listed referrers of one subject read before giving up: as many as the engine
 * accepts for a whole image (engine/referrer-discovery.ts), so a hostile
 * listing stops after a few pages instead of 64 pages of up to 4 MiB each.
 */
export const MAX_REFERRERS_LISTED = 256;

export type ReferrersAnswer =
  | { readonly supported: true; readonly descriptors: ReferrerDescriptor[] }
  | { readonly supported: false };

/** The next page's URL from a `Link` header, on the registry's own origin only. */
export function nextPage(link: string | undefined, current: URL): URL | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const match = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (!match || !/\brel="?next"?/.test(match[2] as string)) continue;
    const next = new URL(match[1] as string, current);
    return next.origin === current.origin ? next : undefined;
  }
  return undefined;
}

/**
 * Lists the referrers of `digest` through the API, every page, filtered by
 * `artifactType` when given. The filter is applied here as well: a registry
 * may ignore it (it says so by omitting OCI-Filters-Applied).
 */
export async function queryReferrers(
  client: RegistryClient,
  repository: string,
  digest: string,
  artifactType?: string,
): Promise<ReferrersAnswer> {
  const query = artifactType ? `?${new URLSearchParams({ artifactType })}` : '';
  let url: string | undefined = `/v2/${repository}/referrers/${digest}${query}`;
  const descriptors: ReferrerDescriptor[] = [];
  for (let page = 0; url !== undefined; page++) {
    if (page >= MAX_REFERRERS_PAGES) {
      throw new SyncerError(
        'TOO_MANY_REFERRERS',
        `${repository}@${digest}: referrers span more than ${MAX_REFERRERS_PAGES} pages`,
      );
    }
    const response = await client.transport.request({
      method: 'GET',
      url,
      scopes: [pullScope(repository)],
      headers: { accept: OCI_INDEX },
      expect: page === 0 ? [200, 404] : [200],
    });
    if (response.status === 404) {
      await response.body.dump();
      return { supported: false };
    }
    const bytes = await readManifestBody(response, `referrers of ${repository}@${digest}`);
    descriptors.push(...parseReferrersList(`referrers of ${repository}@${digest}`, bytes));
    if (descriptors.length > MAX_REFERRERS_LISTED) {
      throw new SyncerError(
        'TOO_MANY_REFERRERS',
        `${repository}@${digest}: more than ${MAX_REFERRERS_LISTED} referrers; refusing to read them all`,
      );
    }
    url = nextPage(header(response.headers, 'link'), response.url)?.toString();
  }
  return {
    supported: true,
    descriptors: artifactType
      ? descriptors.filter((d) => d.artifactType === artifactType)
      : descriptors,
  };
}

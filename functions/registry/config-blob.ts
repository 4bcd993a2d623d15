// Reading an image's config blob: the small JSON document that names the
// image's os, architecture and creation time. A single-platform image carries
// its platform only there (an index carries it in its entries).
//
// A blob GET is not a pull on Docker Hub: pulls are counted on manifest GETs,
// "HEAD requests are not counted" and layer/blob requests neither (Docker docs,
// "Docker Hub pull usage and limits", docs.docker.com/docker-hub/usage/pulls/,
// "A pull is defined as…"). So this costs no pull quota.

import { SyncerError } from '../errors.ts';
import { verifyDigest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/manifest.ts';
import { readBounded } from './bounded-body.ts';
import { pullScope, type RegistryClient } from './client.ts';

/** Image configs are a few KiB; a long build history stays far below this. */
export const CONFIG_SIZE_LIMIT = 4 * 1024 * 1024;

export interface ImageConfig {
  readonly os?: string;
  readonly architecture?: string;
  readonly variant?: string;
  /** RFC 3339, as the builder wrote it. */
  readonly created?: string;
}

/** GETs the config blob (following the registry's redirect to storage) and checks its digest. */
export async function fetchImageConfig(
  client: RegistryClient,
  repository: string,
  config: Descriptor,
): Promise<ImageConfig> {
  const what = `config ${repository}@${config.digest}`;
  if (config.size > CONFIG_SIZE_LIMIT)
    throw new SyncerError('CONFIG_TOO_LARGE', `${what}: ${config.size} bytes`);
  const response = await client.transport.request({
    method: 'GET',
    url: `/v2/${repository}/blobs/${config.digest}`,
    scopes: [pullScope(repository)],
    expect: [200],
  });
  const bytes = await readBounded(
    response.body,
    CONFIG_SIZE_LIMIT,
    () => new SyncerError('CONFIG_TOO_LARGE', `${what}: more than ${CONFIG_SIZE_LIMIT} bytes`),
  );
  verifyDigest(what, bytes, config.digest);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new SyncerError('INVALID_CONFIG', `${what}: not JSON`, { cause });
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  const c = parsed as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const os = text(c.os);
  const architecture = text(c.architecture);
  const variant = text(c.variant);
  const created = text(c.created);
  return {
    ...(os && { os }),
    ...(architecture && { architecture }),
    ...(variant && { variant }),
    ...(created && { created }),
  };
}

// The platform requirement: every required platform must be in the image
// before anything of it is written. The whole index is still copied, always:
// a filtered copy would either get a new digest (the index rewritten) or leave
// a sparse index pointing at manifests the target never received, which
// registries refuse (regclient/regclient#836, containers/skopeo#2882). So a
// requirement can only accept or refuse an image, never trim it.
//
// What counts: an index's entries by their `platform`, attestation entries
// (`unknown/unknown`, `vnd.docker.reference.type`) excluded; a single manifest
// counts as the platform its config names (one config blob GET, not a pull).

import { SyncerError } from '../errors.ts';
import type { FailureCategory } from '../failures.ts';
import {
  formatPlatform,
  isAttestation,
  missingPlatforms,
  type Platform,
  platformOf,
} from '../oci/platform.ts';
import type { Manifest, RegistryClient } from '../registry/client.ts';
import { fetchImageConfig } from '../registry/config-blob.ts';

/** One platform an image offers, with the manifest that serves it. */
export interface OfferedPlatform {
  readonly platform: Platform;
  readonly digest: string;
  /** From the config, when it was read (single-manifest images). */
  readonly created?: string;
}

/** Reported with a PLATFORM_MISSING failure. */
export interface PlatformCheck {
  readonly required: readonly string[];
  readonly available: readonly string[];
  readonly missing: readonly string[];
}

export class PlatformMissingError extends SyncerError {
  /** The failure category (functions/failures.ts). */
  readonly category: FailureCategory = 'platform-missing';
  readonly check: PlatformCheck;

  constructor(check: PlatformCheck) {
    const list = (names: readonly string[]) => names.join(', ') || 'no platform';
    super(
      'PLATFORM_MISSING',
      `required platform${check.missing.length === 1 ? '' : 's'} ${list(check.missing)} missing: the image has ${list(check.available)}; nothing was written`,
    );
    this.check = check;
  }
}

/** The platforms an image offers (see the top of this file for what counts). */
export async function offeredPlatforms(
  client: RegistryClient,
  repository: string,
  manifest: Manifest,
): Promise<OfferedPlatform[]> {
  const parsed = manifest.parsed;
  if (parsed.kind === 'index') {
    const offered: OfferedPlatform[] = [];
    // An entry without a platform (an index nested in the index, which no
    // public image we know of does) offers none: a requirement then fails
    // loudly rather than guessing.
    for (const entry of parsed.manifests) {
      if (isAttestation(entry)) continue;
      const platform = platformOf(entry.platform);
      if (platform) offered.push({ platform, digest: entry.digest });
    }
    return offered;
  }
  const config = await fetchImageConfig(client, repository, parsed.config);
  const platform = platformOf(config);
  if (!platform) return [];
  return [
    { platform, digest: manifest.digest, ...(config.created && { created: config.created }) },
  ];
}

/** Throws PlatformMissingError unless the image offers every required platform. */
export async function requirePlatforms(
  required: readonly Platform[],
  client: RegistryClient,
  repository: string,
  manifest: Manifest,
): Promise<void> {
  if (required.length === 0) return;
  const offered = (await offeredPlatforms(client, repository, manifest)).map((o) => o.platform);
  const missing = missingPlatforms(required, offered);
  if (missing.length === 0) return;
  throw new PlatformMissingError({
    required: required.map(formatPlatform),
    available: [...new Set(offered.map(formatPlatform))],
    missing: missing.map(formatPlatform),
  });
}

/** The result fields of a PLATFORM_MISSING failure; nothing for other errors. */
export function platformFailureFields(
  error: unknown,
): { category: FailureCategory; platforms: PlatformCheck } | Record<string, never> {
  if (!(error instanceof PlatformMissingError)) return {};
  return { category: error.category, platforms: error.check };
}

// Where a source image lands: `<prefix><path>:<tag>`, as the tool this project
// replaces named them, so existing mirrors keep their names.
//
//   alpine:3.20                      → PREFIX/library/alpine:3.20
//   docker.io/bitnami/x:1            → PREFIX/bitnami/x:1        (every Hub spelling alike)
//   ghcr.io/a/b:1                    → PREFIX/ghcr.io/a/b:1
//   registry.example.com:5000/a/b:1  → PREFIX/registry.example.com_5000/a/b:1
//
// A port cannot stay as `:5000` (a colon is no path character), so it joins
// the host with `_`. No real host can contain `_` (the reference grammar's
// domain components allow only letters, digits and `-`), so the mapping is
// one-to-one: `a.io_5000` can only have come from `a.io:5000`.

import { ConfigError, InvalidReferenceError } from '../errors.ts';
import { DOCKER_HUB, formatReference, type ImageReference, parseReference } from './reference.ts';

export interface TargetPrefix {
  /** The target registry host, lower-cased. */
  readonly registry: string;
  /** The repository path under it, without a trailing slash; may be empty. */
  readonly path: string;
}

export const DEFAULT_TARGET_PREFIX = 'europe-docker.pkg.dev/kyma-project/prod/external/';

/** Parses `host[:port]/path/` (the trailing slash is optional). */
export function parseTargetPrefix(prefix: string): TargetPrefix {
  const trimmed = prefix.trim().replace(/\/+$/, '');
  if (trimmed === '') throw new ConfigError('target repository prefix is empty');
  const firstSlash = trimmed.indexOf('/');
  const host = firstSlash < 0 ? trimmed : trimmed.slice(0, firstSlash);
  if (!host.includes('.') && !host.includes(':') && host !== 'localhost') {
    throw new ConfigError(
      `target repository prefix "${prefix}" must start with a registry host (e.g. europe-docker.pkg.dev/project/repo/)`,
    );
  }
  try {
    // A placeholder image name lets the reference grammar check host and path at once.
    const parsed = parseReference(`${trimmed}/x`);
    return { registry: parsed.registry, path: parsed.repository.replace(/\/?x$/, '') };
  } catch (error) {
    if (error instanceof InvalidReferenceError) {
      throw new ConfigError(`target repository prefix "${prefix}" is invalid: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
}

export function formatTargetPrefix(prefix: TargetPrefix): string {
  return `${prefix.registry}/${prefix.path ? `${prefix.path}/` : ''}`;
}

/** The first path component a non-Hub registry host becomes under the prefix. */
export function hostComponent(registry: string): string {
  if (registry.startsWith('[')) {
    throw new InvalidReferenceError(
      registry,
      'IPv6 literal registry hosts cannot be mirrored (no valid target name)',
    );
  }
  return registry.toLowerCase().replace(':', '_');
}

/** The repository path a source lands in, below the prefix. */
export function targetRepository(source: ImageReference, prefix: TargetPrefix): string {
  const path =
    source.registry === DOCKER_HUB
      ? source.repository
      : `${hostComponent(source.registry)}/${source.repository}`;
  return prefix.path ? `${prefix.path}/${path}` : path;
}

/** The target tag: the entry's own, else the source's, else `latest`. */
export function targetTag(source: ImageReference, entryTag: string | undefined): string {
  return entryTag ?? source.tag ?? 'latest';
}

export function targetReference(
  source: ImageReference,
  prefix: TargetPrefix,
  entryTag?: string,
): ImageReference {
  const target: ImageReference = {
    registry: prefix.registry,
    repository: targetRepository(source, prefix),
    tag: targetTag(source, entryTag),
  };
  // The whole name must still be a valid reference (length, grammar).
  parseReference(formatReference(target));
  return target;
}

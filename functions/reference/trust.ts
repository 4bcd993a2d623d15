// Trusted sources: the repositories a deployment lets a pull request mirror
// before it is merged. A pattern is a repository name whose path components
// may be `*` (exactly one component) or `**` (one or more),
// matched against sources as the reference grammar normalises them (a bare
// Hub name is docker.io/library/…), never as raw text:
//
//   ghcr.io/sap/*          ghcr.io/sap/app          not ghcr.io/sapper/app, ghcr.io/sap/a/b
//   europe-docker.pkg.dev/p/releases/**             every repository below releases/
//   docker.io/library/*    alpine, docker.io/alpine, index.docker.io/library/alpine
//
// A host is always written out: a pattern that starts with a wildcard (`*/x`,
// `*.io/x`, `**`) is refused, and so is a
// wildcard inside a component (`sap-*`), a tag or a digest. A source that the
// grammar refuses (`ghcr.io/sap/../x`) never gets this far.

import { describeError, InvalidReferenceError } from '../errors.ts';
import { type ImageReference, parseReference } from './reference.ts';

export interface TrustPattern {
  /** As the deployment wrote it. */
  readonly text: string;
  readonly registry: string;
  /** Path components: a literal, `*` or `**`. */
  readonly components: readonly string[];
}

/** What a wildcard becomes while the reference grammar normalises the pattern. */
const PLACEHOLDER = 'x0trustwildcard';

/** Parses one pattern; throws with the reason it is not one. */
export function parseTrustPattern(text: string): TrustPattern {
  const trimmed = text.trim();
  const parts = trimmed.split('/');
  if (parts[0]?.includes('*'))
    throw new Error(`"${text}": a host is never a wildcard; write the registry out`);
  // Wildcards are remembered by their place counted from the end, because
  // normalisation may prepend components (a Hub name gains `library/`); a
  // literal component spelled like the placeholder stays a literal.
  const wildcards = new Map<number, string>();
  const placeholders = parts.map((part, i) => {
    if (part === '*' || part === '**') {
      wildcards.set(parts.length - 1 - i, part);
      return PLACEHOLDER;
    }
    if (part.includes('*'))
      throw new Error(
        `"${text}": a wildcard stands for a whole path component (* or **), not part of one`,
      );
    return part;
  });
  if (trimmed.includes('@') || /:[^/]*$/.test(parts.at(-1) ?? ''))
    throw new Error(`"${text}": a pattern names repositories, without a tag or digest`);
  let ref: ImageReference;
  try {
    ref = parseReference(placeholders.join('/'));
  } catch (error) {
    const reason = error instanceof InvalidReferenceError ? error.reason : describeError(error);
    throw new Error(`"${text}": ${reason}`);
  }
  const components = ref.repository.split('/');
  return {
    text: trimmed,
    registry: ref.registry,
    components: components.map(
      (component, i) => wildcards.get(components.length - 1 - i) ?? component,
    ),
  };
}

function matches(pattern: readonly string[], path: readonly string[]): boolean {
  if (pattern.length === 0) return path.length === 0;
  const [head, ...rest] = pattern as [string, ...string[]];
  if (head === '**') {
    // One or more components: `rest` matches what follows the first i of them.
    for (let i = 1; i <= path.length; i++) if (matches(rest, path.slice(i))) return true;
    return false;
  }
  if (path.length === 0) return false;
  return (head === '*' || head === path[0]) && matches(rest, path.slice(1));
}

/** The first pattern that trusts `source`'s repository, if any. */
export function trustedBy(
  patterns: readonly TrustPattern[],
  source: Pick<ImageReference, 'registry' | 'repository'>,
): TrustPattern | undefined {
  const path = source.repository.split('/');
  return patterns.find((p) => p.registry === source.registry && matches(p.components, path));
}

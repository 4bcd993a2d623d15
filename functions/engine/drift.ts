// Explaining a conflict: the target tag holds one digest, the source now
// serves another, because upstream re-published the tag (tags are immutable in
// the mirror, so it was refused). Said where the user looks: which platforms
// were added, removed or changed between the two, creation times where the
// configs are read anyway, and the fix ready to paste into the images file.
//
// Costs: one manifest GET on each side, plus a config GET per side for
// single-manifest images. The source GET is a pull on Docker Hub, spent only on
// a conflict, which is rare and needs a person anyway.

import { formatPlatform } from '../oci/platform.ts';
import type { RegistryClient } from '../registry/client.ts';
import { type OfferedPlatform, offeredPlatforms } from './platforms.ts';

/** An images-file entry, as the fix proposes it. */
export interface EntryFix {
  readonly source: string;
  readonly tag: string;
}

export interface Drift {
  /** What the mirror holds under the tag. */
  readonly targetDigest: string;
  /** What the source serves under it now. */
  readonly sourceDigest: string;
  /** Platforms in the source, not in the target. */
  readonly added: readonly string[];
  /** Platforms in the target, gone from the source. */
  readonly removed: readonly string[];
  /** Platforms in both, with other content. */
  readonly changed: readonly string[];
  readonly targetCreated?: string;
  readonly sourceCreated?: string;
  /** Keep what the mirror holds: the entry pinned to the target's digest (the next run is `exists`). */
  readonly pin: EntryFix;
  /** Or mirror the new content under a new tag. */
  readonly newTag: EntryFix;
  /** Set when the platforms could not be compared (the reason); the fix holds regardless. */
  readonly unexplained?: string;
}

/**
 * The repository part of a source as the user wrote it: `python:3.14` →
 * `python`, `ghcr.io/a/b:1@sha256:…` → `ghcr.io/a/b`, `host:5000/a:1` → `host:5000/a`.
 */
export function sourceName(written: string): string {
  const withoutDigest = written.split('@')[0] as string;
  const colon = withoutDigest.lastIndexOf(':');
  return colon > withoutDigest.lastIndexOf('/') ? withoutDigest.slice(0, colon) : withoutDigest;
}

/** `name@digest`: the source of an entry pinned to `digest`, in the user's own spelling of the name. */
export function pinnedSource(written: string, digest: string): string {
  return `${sourceName(written)}@${digest}`;
}

/** A new tag for new content: the old tag and the digest's first 12 hex digits (≤ 128 characters). */
export function freshTag(tag: string, digest: string): string {
  const suffix = `-${digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13)}`;
  return `${tag.slice(0, 128 - suffix.length)}${suffix}`;
}

function byPlatform(offered: readonly OfferedPlatform[]): Map<string, OfferedPlatform> {
  return new Map(offered.map((o) => [formatPlatform(o.platform), o]));
}

/** Compares the two images platform by platform; never throws (an explanation is best effort). */
export async function explainDrift(input: {
  readonly written: string;
  readonly tag: string;
  readonly source: RegistryClient;
  readonly sourceRepository: string;
  readonly sourceDigest: string;
  readonly target: RegistryClient;
  readonly targetRepository: string;
  readonly targetDigest: string;
}): Promise<Drift> {
  const base = {
    targetDigest: input.targetDigest,
    sourceDigest: input.sourceDigest,
    pin: { source: pinnedSource(input.written, input.targetDigest), tag: input.tag },
    newTag: {
      source: pinnedSource(input.written, input.sourceDigest),
      tag: freshTag(input.tag, input.sourceDigest),
    },
  };
  try {
    const [before, after] = await Promise.all([
      input.target
        .getManifest(input.targetRepository, input.targetDigest)
        .then((m) => offeredPlatforms(input.target, input.targetRepository, m)),
      input.source
        .getManifest(input.sourceRepository, input.sourceDigest)
        .then((m) => offeredPlatforms(input.source, input.sourceRepository, m)),
    ]);
    const old = byPlatform(before);
    const now = byPlatform(after);
    const added = [...now.keys()].filter((p) => !old.has(p));
    const removed = [...old.keys()].filter((p) => !now.has(p));
    const changed = [...now].filter(([p, o]) => old.has(p) && old.get(p)?.digest !== o.digest);
    const targetCreated = before.find((o) => o.created)?.created;
    const sourceCreated = after.find((o) => o.created)?.created;
    return {
      ...base,
      added,
      removed,
      changed: changed.map(([p]) => p),
      ...(targetCreated && { targetCreated }),
      ...(sourceCreated && { sourceCreated }),
    };
  } catch (error) {
    return {
      ...base,
      added: [],
      removed: [],
      changed: [],
      unexplained: error instanceof Error ? error.message : String(error),
    };
  }
}

/** One line: what moved between the mirror's image and the source's. */
export function describeDrift(drift: Drift): string {
  const parts: string[] = [];
  if (drift.changed.length > 0) parts.push(`changed ${drift.changed.join(', ')}`);
  if (drift.added.length > 0) parts.push(`added ${drift.added.join(', ')}`);
  if (drift.removed.length > 0) parts.push(`removed ${drift.removed.join(', ')}`);
  const what = parts.length > 0 ? `platforms ${parts.join('; ')}` : 'same platforms, other bytes';
  const when =
    drift.targetCreated || drift.sourceCreated
      ? ` (created ${drift.targetCreated ?? '?'} → ${drift.sourceCreated ?? '?'})`
      : '';
  return `upstream re-published the tag: ${drift.unexplained ? `not compared (${drift.unexplained})` : what}${when}`;
}

/** The fix as YAML list entries, ready to paste over the entry. */
export function driftFixYaml(drift: Drift): { keep: string; newTag: string } {
  const entry = (fix: EntryFix) => `- source: "${fix.source}"\n  tag: "${fix.tag}"`;
  return { keep: entry(drift.pin), newTag: entry(drift.newTag) };
}

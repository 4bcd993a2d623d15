// What Renovate reads in an images file through the preset this repository
// ships (renovate/external-images.json), and `validate`'s warnings about the
// entries it would miss or update into a conflict.
//
// The preset's own patterns are loaded and applied as Renovate's regex
// manager applies them with `matchStringsStrategy: recursive`: each pattern,
// global, runs over every match of the one before; the named groups of all
// levels merge; the last level's match is the `replaceString` Renovate later
// rewrites (renovate 44, lib/modules/manager/custom/regex/strategies.ts,
// handleRecursive; https://docs.renovatebot.com/configuration-options/#matchstringsstrategy).
// Renovate compiles them with RE2 where it can and JavaScript's RegExp
// otherwise (lib/util/regex.ts): the patterns use only what both read alike
// (no lookaround, no backreference; test/unit/renovate-preset.test.ts).
// test/integration/renovate.test.ts runs Renovate itself on every form of the
// file and compares what it extracted with presetDependencies.

import { readFileSync } from 'node:fs';
import { describeError } from '../errors.ts';
import type { Diagnostic } from '../images-file/diagnostics.ts';
import { entryNodes } from '../images-file/entry-nodes.ts';
import type { ImageEntry } from '../images-file/types.ts';

export const PRESET_FILE = 'renovate/external-images.json';

/** One dependency as Renovate's regex manager extracts it. */
export interface PresetDependency {
  readonly depName: string;
  readonly currentValue: string;
  readonly currentDigest?: string;
  /** The text Renovate replaces on an update. */
  readonly replaceString: string;
  /** Where replaceString starts in the file. */
  readonly offset: number;
}

/** Renovate stops a pattern after this many matches (regexMatchAll's maxIterations). */
const MAX_MATCHES = 10_000;

let cachedPatterns: readonly string[] | undefined;

/** The preset's `matchStrings`, read once from the file teams extend. */
export function presetPatterns(): readonly string[] {
  if (cachedPatterns) return cachedPatterns;
  const preset = JSON.parse(
    readFileSync(new URL(`../../${PRESET_FILE}`, import.meta.url), 'utf8'),
  ) as {
    customManagers?: {
      customType?: string;
      matchStringsStrategy?: string;
      matchStrings?: string[];
    }[];
  };
  const manager = preset.customManagers?.find((m) => m.customType === 'regex');
  if (manager?.matchStringsStrategy !== 'recursive' || !manager.matchStrings?.length) {
    throw new Error(`${PRESET_FILE} has no regex manager with recursive matchStrings`);
  }
  cachedPatterns = manager.matchStrings;
  return cachedPatterns;
}

/** Every dependency Renovate's regex manager extracts from `text` with `patterns`, in its order. */
export function presetDependencies(
  text: string,
  patterns: readonly string[] = presetPatterns(),
): PresetDependency[] {
  const regexes = patterns.map((p) => new RegExp(p, 'g'));
  const walk = (
    content: string,
    level: number,
    offset: number,
    groups: Record<string, string | undefined>,
  ): PresetDependency[] => {
    if (level === regexes.length) {
      const { depName, currentValue, currentDigest } = groups;
      if (!depName || !(currentValue || currentDigest)) return [];
      return [
        {
          depName,
          currentValue: currentValue as string,
          ...(currentDigest && { currentDigest }),
          replaceString: content,
          offset,
        },
      ];
    }
    const regex = regexes[level] as RegExp;
    regex.lastIndex = 0;
    const out: PresetDependency[] = [];
    for (let n = 0; n < MAX_MATCHES; n++) {
      const match = regex.exec(content);
      if (!match) break;
      out.push(...walk(match[0], level + 1, offset + match.index, { ...groups, ...match.groups }));
    }
    return out;
  };
  return walk(text, 0, 0, {});
}

const written = (d: PresetDependency) =>
  `${d.depName}:${d.currentValue}${d.currentDigest ? `@${d.currentDigest}` : ''}`;

function advice(entry: ImageEntry, seen: boolean): string | undefined {
  const { sourceRef, tag, source } = entry;
  if (sourceRef.digest !== undefined && sourceRef.tag === undefined) return undefined;
  if (!seen && sourceRef.tag === undefined) {
    return `Renovate's preset (${PRESET_FILE}) reads only sources with a tag: write "${source}:latest" (the same target) to have it kept current`;
  }
  if (!seen) {
    return `Renovate's preset (${PRESET_FILE}) cannot read this source: write it as one plain or quoted value on the line of "source:" (no block scalar, anchor, YAML tag or escape)`;
  }
  if (tag === undefined) return undefined;
  const fix =
    tag === sourceRef.tag
      ? 'drop tag: (the target stays the same)'
      : "drop tag: to mirror under the source's tag, or name the source by digest alone (name@sha256:…), which Renovate leaves alone";
  return `Renovate's preset updates this source, but tag: ${tag} keeps the target tag, so its next update would conflict; ${fix}`;
}

/**
 * `validate`'s warnings: an entry following an upstream tag that the preset
 * would not read, an entry it reads whose `tag:` would turn an update into a
 * conflict, and a reference it reads outside any entry (in a comment).
 * Entries by digest alone are left alone by design and get none.
 */
export function renovateWarnings(
  file: string,
  text: string,
  entries: readonly ImageEntry[],
  patterns: () => readonly string[] = presetPatterns,
): Diagnostic[] {
  let deps: PresetDependency[];
  try {
    deps = presetDependencies(text, patterns());
  } catch (error) {
    return [
      {
        file,
        line: 1,
        field: '',
        message: `entries not checked against Renovate's preset: ${describeError(error)}`,
      },
    ];
  }
  const { entries: nodes, lineAt } = entryNodes(text);
  const ranges = new Map(
    nodes.flatMap((n) => (n.source?.valueRange ? [[n.index, n.source.valueRange]] : [])),
  );
  const inside = (range: readonly [number, number] | undefined) =>
    range ? deps.filter((d) => d.offset >= range[0] && d.offset < range[1]) : [];
  const warnings: Diagnostic[] = [];
  for (const entry of entries) {
    const range = ranges.get(entry.index);
    const read = inside(range);
    const message = advice(
      entry,
      read.length === 1 && written(read[0] as PresetDependency) === entry.source,
    );
    if (message) {
      const line = range ? lineAt(range[0]) : entry.line;
      warnings.push({ file, line, field: `images[${entry.index}].source`, message });
    }
  }
  const claimed = new Set([...ranges.values()].flatMap(inside));
  for (const dep of deps.filter((d) => !claimed.has(d))) {
    warnings.push({
      file,
      line: lineAt(dep.offset),
      field: '',
      message: `Renovate's preset (${PRESET_FILE}) reads "${dep.replaceString}" here, which is no entry's source (a comment?), and would update it`,
    });
  }
  return warnings;
}

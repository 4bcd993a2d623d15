// The `platforms` field (per entry, or at the top level as the file's default)
// and the advice on tags that move: checked offline, each problem on its own
// line. A mistyped platform (`linux/x86_64`) is an error, not a requirement no
// image could ever meet.

import { isScalar, isSeq, type Node } from 'yaml';
import {
  formatPlatform,
  InvalidPlatformError,
  type Platform,
  parsePlatform,
} from '../oci/platform.ts';
import type { ImageReference } from '../reference/reference.ts';
import type { Diagnostic } from './diagnostics.ts';

/**
 * Reads `[linux/amd64, linux/arm64]` (flow or block). Problems go to `problems`
 * with the line of the offending item; `undefined` when any item is wrong.
 * An empty list is valid: it lifts the file's or deployment's requirement.
 */
export function readPlatforms(
  value: Node | null,
  where: { file: string; field: string; line: number },
  lineOf: (node: Node | null | undefined) => number,
  problems: Diagnostic[],
): Platform[] | undefined {
  const { file, field, line } = where;
  if (!value || !isSeq(value)) {
    problems.push({
      file,
      line,
      field,
      message: 'must be a list of platforms, e.g. [linux/amd64, linux/arm64]',
    });
    return undefined;
  }
  const platforms: Platform[] = [];
  let valid = true;
  value.items.forEach((item, i) => {
    const node = item as Node;
    const at = { file, line: lineOf(node) || line, field: `${field}[${i}]` };
    if (!isScalar(node) || typeof node.value !== 'string') {
      problems.push({ ...at, message: 'must be a string such as linux/amd64' });
      valid = false;
      return;
    }
    try {
      const platform = parsePlatform(node.value);
      if (platforms.some((p) => formatPlatform(p) === formatPlatform(platform))) {
        problems.push({ ...at, message: `${node.value} is listed twice` });
        valid = false;
        return;
      }
      platforms.push(platform);
    } catch (error) {
      if (!(error instanceof InvalidPlatformError)) throw error;
      problems.push({ ...at, message: error.message });
      valid = false;
    }
  });
  return valid ? platforms : undefined;
}

/** `latest`, a bare major version (`3`, `v2`): tags upstream moves by convention. */
export function isMutableByConvention(tag: string): boolean {
  return tag === 'latest' || /^v?\d+$/.test(tag);
}

/**
 * `validate`'s advice for entries that mirror a tag upstream moves on purpose
 * (none for digest pins): the next upstream push becomes a conflict.
 */
export function mutableTagWarnings(
  file: string,
  entries: readonly { index: number; line: number; sourceRef: ImageReference }[],
): Diagnostic[] {
  return entries.flatMap(({ index, line, sourceRef }) => {
    if (sourceRef.digest !== undefined) return [];
    const tag = sourceRef.tag ?? 'latest';
    if (!isMutableByConvention(tag)) return [];
    return [
      {
        file,
        line,
        field: `images[${index}].source`,
        message: `tag "${tag}" is moved by upstream by convention: the next push conflicts with the mirrored copy; pin it to a digest (image-syncer pin)`,
      },
    ];
  });
}

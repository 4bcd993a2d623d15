// One entry of the images list: its keys, its source, its tag, its target.
// Problems and warnings go to the caller's lists; a valid entry is returned.

import { isMap, isScalar, type Node } from 'yaml';
import { describeError } from '../errors.ts';
import type { Platform } from '../oci/platform.ts';
import { type ImageReference, isValidTag, parseReference } from '../reference/reference.ts';
import { type TargetPrefix, targetReference } from '../reference/target.ts';
import type { Diagnostic } from './diagnostics.ts';
import { readPlatforms } from './platforms-field.ts';
import { REQUIRE_SIGNATURE, readRequireSignature } from './policy-fields.ts';
import type { CheckOptions, ImageEntry } from './types.ts';
import { closest, scalarText } from './yaml-text.ts';

/** Keys the Go tool's users have in their entries; accepted, ignored, and warned about. */
const LEGACY_ENTRY = new Set(['amd64Only']);
const ENTRY_KEYS = ['source', 'tag', 'platforms', REQUIRE_SIGNATURE];

export interface EntryContext {
  readonly file: string;
  readonly prefix: TargetPrefix;
  readonly options: CheckOptions;
  readonly lineOf: (node: Node | null | undefined) => number;
  readonly problems: Diagnostic[];
  readonly warnings: Diagnostic[];
  readonly listed: { index: number; line: number; source?: string }[];
  /** The file's top-level `platforms`, for entries without their own. */
  readonly defaultPlatforms?: readonly Platform[];
}

export function checkEntry(
  item: unknown,
  index: number,
  ctx: EntryContext,
): ImageEntry | undefined {
  const { file, prefix, options, lineOf, problems, warnings, listed } = ctx;
  const node = item as Node;
  const line = lineOf(node);
  const at = `images[${index}]`;
  const sourceNode = isMap(node) ? node.get('source', true) : undefined;
  const listedSource = sourceNode && isScalar(sourceNode) ? scalarText(sourceNode) : undefined;
  listed.push({ index, line, ...(listedSource !== undefined && { source: listedSource }) });
  if (!isMap(node)) {
    problems.push({
      file,
      line,
      field: at,
      message: 'must be a mapping with a "source" (and optionally a "tag")',
    });
    return undefined;
  }
  let source: string | undefined;
  let sourceLine = line;
  let tag: string | undefined;
  let tagLine = line;
  let platforms: readonly Platform[] | undefined;
  let entryValid = true;
  let requireSignature: boolean | undefined;
  const seen = new Map<string, number>();
  for (const pair of node.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const valueNode = pair.value as Node | null;
    const keyLine = lineOf(keyNode);
    const firstLine = seen.get(key);
    if (firstLine !== undefined) {
      problems.push({
        file,
        line: keyLine,
        field: `${at}.${key}`,
        message: `duplicate field (first on line ${firstLine})`,
      });
      entryValid = false;
      continue;
    }
    seen.set(key, keyLine);
    if (key === 'source' || key === 'tag') {
      const value = valueNode && isScalar(valueNode) ? scalarText(valueNode) : undefined;
      if (value === undefined) {
        problems.push({
          file,
          line: keyLine,
          field: `${at}.${key}`,
          message: 'must be a string',
        });
        entryValid = false;
      } else if (key === 'source') {
        source = value;
        sourceLine = keyLine;
      } else {
        tag = value;
        tagLine = keyLine;
      }
    } else if (key === REQUIRE_SIGNATURE) {
      const value = readRequireSignature(
        valueNode,
        { file, line: keyLine, field: `${at}.${key}` },
        problems,
      );
      if (value === undefined) entryValid = false;
      else requireSignature = value;
    } else if (key === 'platforms') {
      platforms = readPlatforms(
        valueNode,
        { file, field: `${at}.platforms`, line: keyLine },
        lineOf,
        problems,
      );
      if (!platforms) entryValid = false;
    } else if (LEGACY_ENTRY.has(key)) {
      warnings.push({
        file,
        line: keyLine,
        field: `${at}.${key}`,
        message:
          'ignored: the whole index is always copied; to require platforms, write platforms: [linux/amd64]',
      });
    } else {
      const hint = closest(key, ENTRY_KEYS);
      problems.push({
        file,
        line: keyLine,
        field: `${at}.${key}`,
        message: `unknown field${hint ? ` (did you mean "${hint}"?)` : ''}`,
      });
      entryValid = false;
    }
  }
  if (source === undefined) {
    if (entryValid) problems.push({ file, line, field: `${at}.source`, message: 'missing' });
    return undefined;
  }
  let sourceRef: ImageReference;
  try {
    sourceRef = parseReference(source);
  } catch (error) {
    problems.push({
      file,
      line: sourceLine,
      field: `${at}.source`,
      message: describeError(error),
    });
    return undefined;
  }
  if (options.isRegistryAllowed && !options.isRegistryAllowed(sourceRef.registry)) {
    problems.push({
      file,
      line: sourceLine,
      field: `${at}.source`,
      message: `registry ${sourceRef.registry} is not on this deployment's allow-list of source registries`,
    });
    return undefined;
  }
  if (tag !== undefined && !isValidTag(tag)) {
    problems.push({
      file,
      line: tagLine,
      field: `${at}.tag`,
      message: `invalid tag ${JSON.stringify(tag)}: 1 to 128 characters of A-Z, a-z, 0-9, "_", "." or "-", not starting with "." or "-"`,
    });
    return undefined;
  }
  if (sourceRef.digest !== undefined && sourceRef.tag === undefined && tag === undefined) {
    problems.push({
      file,
      line: sourceLine,
      field: `${at}.tag`,
      message: 'required when the source is a digest: it names the tag in the target',
    });
    return undefined;
  }
  if (!entryValid) return undefined;
  let target: ImageReference;
  try {
    target = targetReference(sourceRef, prefix, tag);
  } catch (error) {
    problems.push({
      file,
      line: sourceLine,
      field: `${at}.source`,
      message: `no valid target name: ${describeError(error)}`,
    });
    return undefined;
  }
  const entry: ImageEntry = {
    index,
    line,
    source,
    sourceRef,
    ...(tag !== undefined && { tag }),
    target,
    ...(requireSignature !== undefined && { requireSignature }),
    ...((platforms ?? ctx.defaultPlatforms) && { platforms: platforms ?? ctx.defaultPlatforms }),
  };
  return entry;
}

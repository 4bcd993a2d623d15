// One entry of the images list: its keys, its source, its tag, its target.
// Problems and warnings go to the caller's lists; a valid entry is returned.

import { isMap, isScalar, type Node, type YAMLMap } from 'yaml';
import type { ImagePolicy } from '../engine/types.ts';
import { describeError } from '../errors.ts';
import { type ImageReference, isValidTag, parseReference } from '../reference/reference.ts';
import { type TargetPrefix, targetReference } from '../reference/target.ts';
import type { Diagnostic } from './diagnostics.ts';
import { FIELD_NAMES, type FieldName, IMAGE_FIELDS, withDefaults } from './fields.ts';
import type { CheckOptions, ImageEntry } from './types.ts';
import { closest, scalarText } from './yaml-text.ts';

/** Keys the Go tool's users have in their entries; accepted, ignored, and warned about. */
const LEGACY_ENTRY = new Set(['amd64Only']);
const ENTRY_KEYS: readonly string[] = ['source', 'tag', ...FIELD_NAMES];
const isField = (key: string): key is FieldName => (FIELD_NAMES as string[]).includes(key);

export interface EntryContext {
  readonly file: string;
  readonly prefix: TargetPrefix;
  readonly options: CheckOptions;
  readonly lineOf: (node: Node | null | undefined) => number;
  readonly problems: Diagnostic[];
  readonly warnings: Diagnostic[];
  readonly listed: { index: number; line: number; source?: string }[];
  /** What the file's top level states, for entries without their own. */
  readonly defaults: ImagePolicy;
}

export function checkEntry(
  item: unknown,
  index: number,
  ctx: EntryContext,
): ImageEntry | undefined {
  const node = item as Node;
  const line = ctx.lineOf(node);
  const at = `images[${index}]`;
  const sourceNode = isMap(node) ? node.get('source', true) : undefined;
  const listedSource = sourceNode && isScalar(sourceNode) ? scalarText(sourceNode) : undefined;
  ctx.listed.push({ index, line, ...(listedSource !== undefined && { source: listedSource }) });
  if (!isMap(node)) {
    ctx.problems.push({
      file: ctx.file,
      line,
      field: at,
      message: 'must be a mapping with a "source" (and optionally a "tag")',
    });
    return undefined;
  }
  const fields = readFields(node, at, ctx);
  if (fields.source === undefined) {
    if (fields.valid)
      ctx.problems.push({ file: ctx.file, line, field: `${at}.source`, message: 'missing' });
    return undefined;
  }
  const named = nameTarget(fields as Fields & { source: Written }, at, ctx);
  if (!named || !fields.valid) return undefined;
  return {
    index,
    line,
    source: fields.source.value,
    sourceRef: named.sourceRef,
    ...(fields.tag !== undefined && { tag: fields.tag.value }),
    target: named.target,
    ...withDefaults(fields.policy, ctx.defaults),
  };
}

/** A string the entry wrote, and the line it is on. */
interface Written {
  readonly value: string;
  readonly line: number;
}

interface Fields {
  source?: Written;
  tag?: Written;
  readonly policy: ImagePolicy;
  /** No key of the entry was refused. */
  valid: boolean;
}

/** Every key of the entry: its source, its tag, its policy (fields.ts); each problem reported at its line. */
function readFields(node: YAMLMap, at: string, ctx: EntryContext): Fields {
  const { file, lineOf, problems, warnings } = ctx;
  const policy: Record<string, unknown> = {};
  const fields: Fields = { policy: policy as ImagePolicy, valid: true };
  const refuse = (where: Omit<Diagnostic, 'message'>, message: string) => {
    problems.push({ ...where, message });
    fields.valid = false;
  };
  const seen = new Map<string, number>();
  for (const pair of node.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const valueNode = pair.value as Node | null;
    const where = { file, line: lineOf(keyNode), field: `${at}.${key}` };
    const first = seen.get(key);
    if (first !== undefined) {
      refuse(where, `duplicate field (first on line ${first})`);
      continue;
    }
    seen.set(key, where.line);
    if (key === 'source' || key === 'tag') {
      const value = valueNode && isScalar(valueNode) ? scalarText(valueNode) : undefined;
      if (value === undefined) refuse(where, 'must be a string');
      else fields[key] = { value, line: where.line };
    } else if (isField(key)) {
      const value = IMAGE_FIELDS[key].read(valueNode, where, lineOf, problems);
      if (value === undefined) fields.valid = false;
      else policy[key] = value;
    } else if (LEGACY_ENTRY.has(key)) {
      warnings.push({
        ...where,
        message:
          'ignored: the whole index is always copied; to require platforms, write platforms: [linux/amd64]',
      });
    } else {
      const hint = closest(key, ENTRY_KEYS);
      refuse(where, `unknown field${hint ? ` (did you mean "${hint}"?)` : ''}`);
    }
  }
  return fields;
}

/** The source as a reference and the target it maps to, or undefined after saying why there is none. */
function nameTarget(
  { source, tag }: Fields & { source: Written },
  at: string,
  ctx: EntryContext,
): { sourceRef: ImageReference; target: ImageReference } | undefined {
  const refuse = (line: number, field: string, message: string) => {
    ctx.problems.push({ file: ctx.file, line, field: `${at}.${field}`, message });
    return undefined;
  };
  let sourceRef: ImageReference;
  try {
    sourceRef = parseReference(source.value);
  } catch (error) {
    return refuse(source.line, 'source', describeError(error));
  }
  if (ctx.options.isRegistryAllowed && !ctx.options.isRegistryAllowed(sourceRef.registry))
    return refuse(
      source.line,
      'source',
      `registry ${sourceRef.registry} is not on this deployment's allow-list of source registries`,
    );
  if (tag !== undefined && !isValidTag(tag.value))
    return refuse(
      tag.line,
      'tag',
      `invalid tag ${JSON.stringify(tag.value)}: 1 to 128 characters of A-Z, a-z, 0-9, "_", "." or "-", not starting with "." or "-"`,
    );
  if (sourceRef.digest !== undefined && sourceRef.tag === undefined && tag === undefined)
    return refuse(
      source.line,
      'tag',
      'required when the source is a digest: it names the tag in the target',
    );
  try {
    return { sourceRef, target: targetReference(sourceRef, ctx.prefix, tag?.value) };
  } catch (error) {
    return refuse(source.line, 'source', `no valid target name: ${describeError(error)}`);
  }
}

// The per-image fields of the images file (engine/types.ts ImagePolicy), each
// declared once: how an entry writes it (and the file's top level, as the
// default of entries without it), how two entries of one target merge it, and
// how a job message carries it. The checker, the fan-out's plan, the job
// message, the copy function, /plan and the CLI all go through this table and
// `copyRequest` below, so a new per-image field is one property of
// ImagePolicy, its declaration here, its effect in the engine, and its line
// in the README; the compiler refuses a policy field without a declaration.

import { isScalar, type Node } from 'yaml';
import type { CopyJob, ImagePolicy } from '../engine/types.ts';
import { formatPlatform, type Platform, parsePlatform } from '../oci/platform.ts';
import type { Diagnostic } from './diagnostics.ts';
import { readPlatforms } from './platforms-field.ts';

/** Where a field's value stands: file, line, and its path (`images[3].platforms`). */
type FieldAt = Omit<Diagnostic, 'message'>;

interface FieldSpec<T, Encoded> {
  /** The value written at `at`, or undefined after adding a problem naming file, line and field. */
  read(
    node: Node | null,
    at: FieldAt,
    lineOf: (node: Node | null | undefined) => number,
    problems: Diagnostic[],
  ): T | undefined;
  /** The file's top level may state it too, as the default of entries without their own. */
  readonly fileDefault?: boolean;
  /**
   * Two entries with the same source and target, merged into one: the value
   * that holds, or, when no value can honour both, why (`requires …, not …`).
   */
  merge(
    earlier: T | undefined,
    later: T | undefined,
  ): { value: T | undefined } | { conflict: string };
  /** Its JSON in the run's plan and the job message. */
  encode(value: T): Encoded;
  /** Back from JSON; throws a plain message when malformed. */
  decode(raw: unknown): T;
}

/** `true` over the deployment's default (absent) over the exemption `false`. */
const strictness = (required: boolean | undefined) =>
  required === true ? 2 : required === undefined ? 1 : 0;

const MAX_PLATFORMS = 64;

const describePlatforms = (platforms: readonly Platform[] | undefined) =>
  platforms === undefined
    ? 'the default platforms'
    : platforms.length === 0
      ? 'no platforms'
      : platforms.map(formatPlatform).join(', ');

const samePlatforms = (a: readonly Platform[] | undefined, b: readonly Platform[] | undefined) =>
  JSON.stringify(a?.map(formatPlatform).sort()) === JSON.stringify(b?.map(formatPlatform).sort());

const requireSignature: FieldSpec<boolean, boolean> = {
  read(node, at, _lineOf, problems) {
    if (node && isScalar(node) && typeof node.value === 'boolean') return node.value;
    problems.push({ ...at, message: 'must be true or false (unquoted)' });
    return undefined;
  },
  // Merged, the stricter policy holds.
  merge: (earlier, later) => ({
    value: strictness(later) > strictness(earlier) ? later : earlier,
  }),
  encode: (value) => value,
  decode(raw) {
    if (typeof raw !== 'boolean') throw new Error('requireSignature must be a boolean');
    return raw;
  },
};

const platforms: FieldSpec<readonly Platform[], string[]> = {
  read: (node, at, lineOf, problems) => readPlatforms(node, at, lineOf, problems),
  fileDefault: true,
  // Keeping one requirement would make the other vanish unseen.
  merge: (earlier, later) =>
    samePlatforms(earlier, later)
      ? { value: earlier }
      : {
          conflict: `requires ${describePlatforms(earlier)}, not ${describePlatforms(later)}; give both the same platforms or keep one`,
        },
  encode: (value) => value.map(formatPlatform),
  decode(raw) {
    if (!Array.isArray(raw) || raw.length > MAX_PLATFORMS)
      throw new Error(`platforms must be a list of at most ${MAX_PLATFORMS} os/arch[/variant]`);
    return raw.map((platform) => {
      if (typeof platform !== 'string') throw new Error('platforms must be strings');
      return parsePlatform(platform);
    });
  },
};

export const IMAGE_FIELDS = {
  requireSignature,
  platforms,
} satisfies {
  readonly [K in keyof ImagePolicy]-?: FieldSpec<NonNullable<ImagePolicy[K]>, unknown>;
};

export type FieldName = keyof typeof IMAGE_FIELDS;
export const FIELD_NAMES = Object.keys(IMAGE_FIELDS) as FieldName[];

/** A policy as the run's plan and the job message hold it: each field's JSON, when set. */
export type EncodedPolicy = {
  readonly [K in FieldName]?: ReturnType<(typeof IMAGE_FIELDS)[K]['encode']>;
};

type AnySpec = FieldSpec<unknown, unknown>;
const spec = (name: FieldName) => IMAGE_FIELDS[name] as AnySpec;

export function encodePolicy(policy: ImagePolicy): EncodedPolicy {
  const encoded: Record<string, unknown> = {};
  for (const name of FIELD_NAMES)
    if (policy[name] !== undefined) encoded[name] = spec(name).encode(policy[name]);
  return encoded as EncodedPolicy;
}

/** Only the encoded policy fields of a planned job or a message. */
export function encodedPolicyOf(fields: EncodedPolicy): EncodedPolicy {
  const encoded: Record<string, unknown> = {};
  const all = fields as Readonly<Record<string, unknown>>;
  for (const name of FIELD_NAMES) if (all[name] !== undefined) encoded[name] = all[name];
  return encoded as EncodedPolicy;
}

/** The policy a message or plan holds; throws a plain message naming the malformed field. */
export function decodePolicy(fields: object): ImagePolicy {
  const given = fields as Readonly<Record<string, unknown>>;
  const policy: Record<string, unknown> = {};
  for (const name of FIELD_NAMES)
    if (given[name] !== undefined) policy[name] = spec(name).decode(given[name]);
  return policy as ImagePolicy;
}

/** The merged policy of two entries for one target, or each field that cannot merge. */
export function mergePolicies(
  earlier: ImagePolicy,
  later: ImagePolicy,
): { policy: ImagePolicy } | { conflicts: { field: FieldName; conflict: string }[] } {
  const policy: Record<string, unknown> = {};
  const conflicts: { field: FieldName; conflict: string }[] = [];
  for (const name of FIELD_NAMES) {
    const merged = spec(name).merge(earlier[name], later[name]);
    if ('conflict' in merged) conflicts.push({ field: name, conflict: merged.conflict });
    else if (merged.value !== undefined) policy[name] = merged.value;
  }
  return conflicts.length > 0 ? { conflicts } : { policy: policy as ImagePolicy };
}

/** Each field the entry leaves out, from `defaults` (the file's top level, or the deployment's settings). */
export function withDefaults(policy: ImagePolicy, defaults: ImagePolicy): ImagePolicy {
  const resolved: Record<string, unknown> = {};
  for (const name of FIELD_NAMES) {
    const value = policy[name] ?? defaults[name];
    if (value !== undefined) resolved[name] = value;
  }
  return resolved as ImagePolicy;
}

/** `fields` with its policy replaced by `policy`. */
export function withPolicy<T extends ImagePolicy>(fields: T, policy: ImagePolicy): T {
  const rest: Record<string, unknown> = { ...(fields as object) };
  for (const name of FIELD_NAMES) delete rest[name];
  return { ...rest, ...policy } as T;
}

/**
 * The engine's request for one image: the entry (or planned job) and the
 * deployment's defaults for what it leaves out. The CLI, /plan and the copy
 * function all build their requests here.
 */
export function copyRequest(
  image: Pick<CopyJob, 'source' | 'sourceRef' | 'target' | 'sourceDigest'> & ImagePolicy,
  defaults: ImagePolicy,
): CopyJob {
  return {
    source: image.source,
    sourceRef: image.sourceRef,
    target: image.target,
    ...(image.sourceDigest !== undefined && { sourceDigest: image.sourceDigest }),
    ...withDefaults(image, defaults),
  };
}

// The images file: `images: [{source, tag?}]`. It is parsed with positions kept
// and validated as a whole before anything is copied: every problem is reported
// at once with file, line and field, and a file with any problem yields no job.

import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from 'yaml';
import type { ImagePolicy } from '../engine/types.ts';
import { formatReference } from '../reference/reference.ts';
import type { TargetPrefix } from '../reference/target.ts';
import { type Diagnostic, ImagesFileError } from './diagnostics.ts';
import { checkEntry, type EntryContext } from './entry.ts';
import { FIELD_NAMES, IMAGE_FIELDS, mergePolicies, withPolicy } from './fields.ts';
import type { CheckOptions, ImageEntry } from './types.ts';
import { closest, decodeUtf8, nestingDepth } from './yaml-text.ts';

export type { CheckOptions, ImageEntry } from './types.ts';

export const MAX_FILE_BYTES = 1024 * 1024;
export const MAX_ENTRIES = 10_000;
/** Deeper than any images file is (it needs three levels). */
const MAX_DEPTH = 16;
/** Aliases are legitimate YAML, but a handful suffices for any real images file. */
const MAX_ALIASES = 100;

/** Keys the Go tool's users have in their files; accepted, ignored, and warned about. */
const LEGACY_TOP_LEVEL = new Set(['targetRepoPrefix']);

export interface ImagesFile {
  readonly file: string;
  readonly entries: readonly ImageEntry[];
  readonly warnings: readonly Diagnostic[];
}

/** Everything found in a file, valid or not, for `validate` and its report. */
export interface ImagesFileCheck extends ImagesFile {
  readonly problems: readonly Diagnostic[];
  /** Every list entry in file order, with its source where it has a readable one. */
  readonly listed: readonly {
    readonly index: number;
    readonly line: number;
    readonly source?: string;
  }[];
}

/** Parses and validates; throws ImagesFileError with every problem if there is any. */
export function parseImagesFile(
  file: string,
  bytes: Uint8Array,
  prefix: TargetPrefix,
  options: CheckOptions = {},
): ImagesFile {
  const check = checkImagesFile(file, bytes, prefix, options);
  if (check.problems.length > 0) throw new ImagesFileError(check.problems);
  return { file, entries: check.entries, warnings: check.warnings };
}

export function checkImagesFile(
  file: string,
  bytes: Uint8Array,
  prefix: TargetPrefix,
  options: CheckOptions = {},
): ImagesFileCheck {
  const found: Found = { file, problems: [], warnings: [], listed: [], entries: [] };
  const parsed = readDocument(file, bytes, found.problems);
  if (!parsed) return found;
  const top = readTopLevel(parsed, found);
  if (!top) return found;
  const items = imagesList(top, found);
  if (items)
    addEntries(items, { ...found, prefix, options, lineOf: parsed.lineOf, defaults: top.defaults });
  return found;
}

/** What a check has found so far: every problem and warning, every listed and valid entry. */
interface Found {
  readonly file: string;
  readonly problems: Diagnostic[];
  readonly warnings: Diagnostic[];
  readonly listed: { index: number; line: number; source?: string }[];
  readonly entries: ImageEntry[];
}

interface Parsed {
  readonly doc: Document;
  readonly lineOf: (node: Node | null | undefined) => number;
}

/** The file as a YAML document, or undefined after saying why it is none: size, encoding, syntax, depth, aliases. */
function readDocument(file: string, bytes: Uint8Array, problems: Diagnostic[]): Parsed | undefined {
  const whole = (line: number, message: string) =>
    problems.push({ file, line, field: '', message });
  if (bytes.length > MAX_FILE_BYTES) {
    whole(1, `file is ${bytes.length} bytes; the limit is ${MAX_FILE_BYTES} (1 MiB)`);
    return undefined;
  }
  const text = decodeUtf8(file, bytes);
  if (typeof text !== 'string') {
    problems.push(text);
    return undefined;
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    uniqueKeys: false, // duplicates are reported on their own line
    prettyErrors: false,
    strict: true,
  });
  const lineOf = (node: Node | null | undefined): number =>
    node?.range ? lineCounter.linePos(node.range[0]).line : 1;
  // The same syntax error can be reported many times over (deep nesting);
  // each distinct one is said once, at its own line.
  const seen = new Set<string>();
  for (const error of doc.errors) {
    const message = `invalid YAML: ${error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`;
    if (seen.has(message)) continue;
    seen.add(message);
    whole(error.linePos?.[0]?.line ?? lineCounter.linePos(error.pos[0]).line, message);
  }
  if (problems.length > 0) return undefined;
  // An images file is three levels deep; refuse absurd nesting before any
  // recursive walk could exhaust the stack on it.
  const depth = nestingDepth(doc.contents as Node | null, MAX_DEPTH);
  if (depth > MAX_DEPTH) {
    whole(1, `invalid YAML: nested ${depth} levels deep; the limit is ${MAX_DEPTH}`);
    return undefined;
  }
  // The document is walked as nodes and never expanded, so a "billion laughs"
  // file costs nothing; still, no honest images file needs many aliases.
  let aliases = 0;
  let firstAlias: Node | undefined;
  visit(doc, {
    Alias(_key, node) {
      aliases++;
      firstAlias ??= node;
    },
  });
  if (aliases > MAX_ALIASES) {
    whole(lineOf(firstAlias), `invalid YAML: ${aliases} aliases; the limit is ${MAX_ALIASES}`);
    return undefined;
  }
  return { doc, lineOf };
}

interface TopLevel {
  readonly images: Node | null | undefined;
  readonly imagesLine: number;
  /** The policy the top level states for entries without their own (fields.ts `fileDefault`). */
  readonly defaults: ImagePolicy;
}

const TOP_LEVEL_FIELDS = FIELD_NAMES.filter((name) => IMAGE_FIELDS[name].fileDefault === true);

/** The top-level mapping's keys, or undefined after saying what the file is instead. */
function readTopLevel({ doc, lineOf }: Parsed, found: Found): TopLevel | undefined {
  const { file, problems, warnings } = found;
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) {
    problems.push({
      file,
      line: 1,
      field: '',
      message: 'file is empty; expected a mapping with an "images" list',
    });
    return undefined;
  }
  if (!isMap(root)) {
    problems.push({
      file,
      line: lineOf(root),
      field: '',
      message: 'expected a mapping with an "images" list at the top level',
    });
    return undefined;
  }
  let images: Node | null | undefined;
  let imagesLine = 1;
  const defaults: Record<string, unknown> = {};
  const seen = new Map<string, number>();
  for (const pair of root.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const line = lineOf(keyNode);
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push({
        file,
        line,
        field: key,
        message: `duplicate field (first on line ${first})`,
      });
      continue;
    }
    seen.set(key, line);
    const field = TOP_LEVEL_FIELDS.find((name) => name === key);
    if (key === 'images') {
      images = pair.value as Node | null;
      imagesLine = line;
    } else if (field) {
      const value = IMAGE_FIELDS[field].read(
        pair.value as Node | null,
        { file, line, field },
        lineOf,
        problems,
      );
      if (value !== undefined) defaults[field] = value;
    } else if (LEGACY_TOP_LEVEL.has(key)) {
      warnings.push({
        file,
        line,
        field: key,
        message:
          "ignored: the target prefix is deployment configuration (--target-repo-prefix), never the file's",
      });
    } else {
      const hint = closest(key, ['images', ...TOP_LEVEL_FIELDS]);
      problems.push({
        file,
        line,
        field: key,
        message: `unknown field${hint ? ` (did you mean "${hint}"?)` : ''}`,
      });
    }
  }
  if (images === undefined) {
    problems.push({
      file,
      line: 1,
      field: 'images',
      message: 'missing: the file must have an "images" list',
    });
    return undefined;
  }
  return { images, imagesLine, defaults: defaults as ImagePolicy };
}

/** The list's items (none for an empty `images:`), or undefined after saying why it is no list. */
function imagesList(
  { images, imagesLine }: TopLevel,
  { file, problems }: Found,
): readonly unknown[] | undefined {
  if (images === null || (isScalar(images) && images.value === null)) return [];
  if (!isSeq(images)) {
    problems.push({
      file,
      line: imagesLine,
      field: 'images',
      message: 'must be a list of {source, tag} entries',
    });
    return undefined;
  }
  if (images.items.length > MAX_ENTRIES) {
    problems.push({
      file,
      line: imagesLine,
      field: 'images',
      message: `${images.items.length} entries; the limit is ${MAX_ENTRIES}`,
    });
    return undefined;
  }
  return images.items;
}

/**
 * Checks each entry and keeps the valid ones. Two entries for one target are
 * one image when their sources are the same (merged, their policies by each
 * field's rule), and a problem when they are not.
 */
function addEntries(items: readonly unknown[], ctx: Found & EntryContext): void {
  const { file, problems, warnings, entries } = ctx;
  const byTarget = new Map<string, ImageEntry>();
  items.forEach((item, index) => {
    const entry = checkEntry(item, index, ctx);
    if (!entry) return;
    const at = `images[${index}]`;
    const key = formatReference(entry.target);
    const earlier = byTarget.get(key);
    if (!earlier) {
      byTarget.set(key, entry);
      entries.push(entry);
      return;
    }
    if (formatReference(earlier.sourceRef) !== formatReference(entry.sourceRef)) {
      problems.push({
        file,
        line: entry.line,
        field: at,
        message: `target ${key} is also the target of "${earlier.source}" on line ${earlier.line}; give one of them another tag`,
      });
      return;
    }
    const merged = mergePolicies(earlier, entry);
    if ('conflicts' in merged) {
      for (const { field, conflict } of merged.conflicts)
        problems.push({
          file,
          line: entry.line,
          field: `${at}.${field}`,
          message: `duplicate of the entry on line ${earlier.line}, which ${conflict}`,
        });
      return;
    }
    warnings.push({
      file,
      line: entry.line,
      field: at,
      message: `duplicate of the entry on line ${earlier.line}; merged`,
    });
    const replaced = withPolicy(earlier, merged.policy);
    entries[entries.indexOf(earlier)] = replaced;
    byTarget.set(key, replaced);
  });
}

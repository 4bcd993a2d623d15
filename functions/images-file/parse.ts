// The images file: `images: [{source, tag?}]`. It is parsed with positions kept
// and validated as a whole before anything is copied: every problem is reported
// at once with file, line and field, and a file with any problem yields no job.

import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type Scalar,
  visit,
} from 'yaml';
import { describeError } from '../errors.ts';
import {
  formatReference,
  type ImageReference,
  isValidTag,
  parseReference,
} from '../reference/reference.ts';
import { type TargetPrefix, targetReference } from '../reference/target.ts';
import { type Diagnostic, ImagesFileError } from './diagnostics.ts';

export const MAX_FILE_BYTES = 1024 * 1024;
export const MAX_ENTRIES = 10_000;
/** Deeper than any images file is (it needs three levels). */
const MAX_DEPTH = 16;
/** Aliases are legitimate YAML, but a handful suffices for any real images file. */
const MAX_ALIASES = 100;

/** Keys the Go tool's users have in their files; accepted, ignored, and warned about. */
const LEGACY_TOP_LEVEL = new Set(['targetRepoPrefix']);
const LEGACY_ENTRY = new Set(['amd64Only']);
const ENTRY_KEYS = ['source', 'tag'];

export interface ImageEntry {
  /** Position in the file's list, from 0. */
  readonly index: number;
  readonly line: number;
  /** The source exactly as written. */
  readonly source: string;
  readonly sourceRef: ImageReference;
  readonly tag?: string;
  readonly target: ImageReference;
}

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

/** How deep collections nest, walked without recursion. */
function nestingDepth(root: Node | null): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (isMap(node) || isSeq(node)) {
      deepest = Math.max(deepest, depth);
      if (deepest > MAX_DEPTH) return deepest;
      for (const item of node.items as unknown[]) {
        if (item && typeof item === 'object' && 'value' in item && 'key' in item) {
          stack.push([(item as { value: unknown }).value, depth + 1]);
          stack.push([(item as { key: unknown }).key, depth + 1]);
        } else {
          stack.push([item, depth + 1]);
        }
      }
    }
  }
  return deepest;
}

/** Finds the first line that is not valid UTF-8, so the error can point at it. */
function decodeUtf8(file: string, bytes: Uint8Array): string | Diagnostic {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  try {
    return decoder.decode(bytes);
  } catch {
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i === bytes.length || bytes[i] === 0x0a) {
        try {
          decoder.decode(bytes.subarray(start, i));
        } catch {
          return { file, line, field: '', message: 'not valid UTF-8 text' };
        }
        line++;
        start = i + 1;
      }
    }
    return { file, line: 1, field: '', message: 'not valid UTF-8 text' };
  }
}

function closest(key: string, candidates: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  return candidates.find(
    (c) => lower.startsWith(c) || c.startsWith(lower) || lower.replace(/s$/, '') === c,
  );
}

/** A scalar's text as written: `tag: 1.10` means the tag "1.10", not the number 1.1. */
function scalarText(node: Scalar): string | undefined {
  if (typeof node.value === 'string') return node.value;
  if (typeof node.value === 'number' && typeof node.source === 'string') return node.source;
  return undefined;
}

export interface CheckOptions {
  /** Whether a source registry may be mirrored from (the network policy's allow-list). */
  readonly isRegistryAllowed?: (registry: string) => boolean;
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
  const problems: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const listed: { index: number; line: number; source?: string }[] = [];
  const entries: ImageEntry[] = [];
  const done = (more: Diagnostic[] = []): ImagesFileCheck => ({
    file,
    entries,
    warnings,
    problems: [...problems, ...more],
    listed,
  });
  if (bytes.length > MAX_FILE_BYTES) {
    return done([
      {
        file,
        line: 1,
        field: '',
        message: `file is ${bytes.length} bytes; the limit is ${MAX_FILE_BYTES} (1 MiB)`,
      },
    ]);
  }
  const text = decodeUtf8(file, bytes);
  if (typeof text !== 'string') return done([text]);

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    uniqueKeys: false, // duplicates are reported below, on their own line
    prettyErrors: false,
    strict: true,
  });
  const lineOf = (node: Node | null | undefined): number =>
    node?.range ? lineCounter.linePos(node.range[0]).line : 1;

  // The same syntax error can be reported many times over (deep nesting);
  // each distinct one is said once, at its own line.
  const seenErrors = new Set<string>();
  for (const error of doc.errors) {
    const message = `invalid YAML: ${error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`;
    const line = error.linePos?.[0]?.line ?? lineCounter.linePos(error.pos[0]).line;
    if (seenErrors.has(message)) continue;
    seenErrors.add(message);
    problems.push({ file, line, field: '', message });
  }
  if (problems.length > 0) return done();

  // An images file is three levels deep; refuse absurd nesting before any
  // recursive walk could exhaust the stack on it.
  const depth = nestingDepth(doc.contents as Node | null);
  if (depth > MAX_DEPTH) {
    return done([
      {
        file,
        line: 1,
        field: '',
        message: `invalid YAML: nested ${depth} levels deep; the limit is ${MAX_DEPTH}`,
      },
    ]);
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
    return done([
      {
        file,
        line: lineOf(firstAlias),
        field: '',
        message: `invalid YAML: ${aliases} aliases; the limit is ${MAX_ALIASES}`,
      },
    ]);
  }

  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) {
    return done([
      {
        file,
        line: 1,
        field: '',
        message: 'file is empty; expected a mapping with an "images" list',
      },
    ]);
  }
  if (!isMap(root)) {
    return done([
      {
        file,
        line: lineOf(root),
        field: '',
        message: 'expected a mapping with an "images" list at the top level',
      },
    ]);
  }

  let images: Node | null | undefined;
  let imagesLine = 1;
  const seenTop = new Map<string, number>();
  for (const pair of root.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const firstLine = seenTop.get(key);
    if (firstLine !== undefined) {
      problems.push({
        file,
        line: lineOf(keyNode),
        field: key,
        message: `duplicate field (first on line ${firstLine})`,
      });
      continue;
    }
    seenTop.set(key, lineOf(keyNode));
    if (key === 'images') {
      images = pair.value as Node | null;
      imagesLine = lineOf(keyNode);
    } else if (LEGACY_TOP_LEVEL.has(key)) {
      warnings.push({
        file,
        line: lineOf(keyNode),
        field: key,
        message:
          "ignored: the target prefix is deployment configuration (--target-repo-prefix), never the file's",
      });
    } else {
      const hint = closest(key, ['images']);
      problems.push({
        file,
        line: lineOf(keyNode),
        field: key,
        message: `unknown field${hint ? ` (did you mean "${hint}"?)` : ''}`,
      });
    }
  }
  if (images === undefined) {
    return done([
      { file, line: 1, field: 'images', message: 'missing: the file must have an "images" list' },
    ]);
  }
  if (images === null || (isScalar(images) && images.value === null)) {
    images = undefined;
  } else if (!isSeq(images)) {
    return done([
      {
        file,
        line: imagesLine,
        field: 'images',
        message: 'must be a list of {source, tag} entries',
      },
    ]);
  }
  const items = images && isSeq(images) ? images.items : [];
  if (items.length > MAX_ENTRIES) {
    return done([
      {
        file,
        line: imagesLine,
        field: 'images',
        message: `${items.length} entries; the limit is ${MAX_ENTRIES}`,
      },
    ]);
  }

  const byTarget = new Map<string, ImageEntry>();
  items.forEach((item, index) => {
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
      return;
    }
    let source: string | undefined;
    let sourceLine = line;
    let tag: string | undefined;
    let tagLine = line;
    let entryValid = true;
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
      } else if (LEGACY_ENTRY.has(key)) {
        warnings.push({
          file,
          line: keyLine,
          field: `${at}.${key}`,
          message: 'ignored: the whole index is always copied',
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
      return;
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
      return;
    }
    if (options.isRegistryAllowed && !options.isRegistryAllowed(sourceRef.registry)) {
      problems.push({
        file,
        line: sourceLine,
        field: `${at}.source`,
        message: `registry ${sourceRef.registry} is not on this deployment's allow-list of source registries`,
      });
      return;
    }
    if (tag !== undefined && !isValidTag(tag)) {
      problems.push({
        file,
        line: tagLine,
        field: `${at}.tag`,
        message: `invalid tag ${JSON.stringify(tag)}: 1 to 128 characters of A-Z, a-z, 0-9, "_", "." or "-", not starting with "." or "-"`,
      });
      return;
    }
    if (sourceRef.digest !== undefined && sourceRef.tag === undefined && tag === undefined) {
      problems.push({
        file,
        line: sourceLine,
        field: `${at}.tag`,
        message: 'required when the source is a digest: it names the tag in the target',
      });
      return;
    }
    if (!entryValid) return;
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
      return;
    }
    const entry: ImageEntry = {
      index,
      line,
      source,
      sourceRef,
      ...(tag !== undefined && { tag }),
      target,
    };
    const key = formatReference(target);
    const earlier = byTarget.get(key);
    if (earlier) {
      if (formatReference(earlier.sourceRef) === formatReference(sourceRef)) {
        warnings.push({
          file,
          line,
          field: at,
          message: `duplicate of the entry on line ${earlier.line}; merged`,
        });
      } else {
        problems.push({
          file,
          line,
          field: at,
          message: `target ${key} is also the target of "${earlier.source}" on line ${earlier.line}; give one of them another tag`,
        });
      }
      return;
    }
    byTarget.set(key, entry);
    entries.push(entry);
  });

  return done();
}

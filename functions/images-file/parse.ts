// The images file: `images: [{source, tag?}]`. It is parsed with positions kept
// and validated as a whole before anything is copied: every problem is reported
// at once with file, line and field, and a file with any problem yields no job.

import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import { formatPlatform, type Platform } from '../oci/platform.ts';
import { formatReference } from '../reference/reference.ts';
import type { TargetPrefix } from '../reference/target.ts';
import { type Diagnostic, ImagesFileError } from './diagnostics.ts';
import { checkEntry } from './entry.ts';
import { readPlatforms } from './platforms-field.ts';
import type { CheckOptions, ImageEntry } from './types.ts';
import { closest, decodeUtf8, nestingDepth } from './yaml-text.ts';

export type { CheckOptions, ImageEntry } from './types.ts';

/** The same requirement in any order gives the same key; `undefined`: the default applies. */
function platformsKey(platforms: readonly Platform[] | undefined): string | undefined {
  return platforms && JSON.stringify(platforms.map(formatPlatform).sort());
}

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
  const depth = nestingDepth(doc.contents as Node | null, MAX_DEPTH);
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
  let defaultPlatforms: Platform[] | undefined;
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
    } else if (key === 'platforms') {
      defaultPlatforms = readPlatforms(
        pair.value as Node | null,
        { file, field: key, line: lineOf(keyNode) },
        lineOf,
        problems,
      );
    } else if (LEGACY_TOP_LEVEL.has(key)) {
      warnings.push({
        file,
        line: lineOf(keyNode),
        field: key,
        message:
          "ignored: the target prefix is deployment configuration (--target-repo-prefix), never the file's",
      });
    } else {
      const hint = closest(key, ['images', 'platforms']);
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
    const entry = checkEntry(item, index, {
      file,
      prefix,
      options,
      lineOf,
      problems,
      warnings,
      listed,
      ...(defaultPlatforms && { defaultPlatforms }),
    });
    if (!entry) return;
    const { line, sourceRef, target } = entry;
    const at = `images[${index}]`;
    const key = formatReference(target);
    const earlier = byTarget.get(key);
    if (earlier) {
      if (
        formatReference(earlier.sourceRef) === formatReference(sourceRef) &&
        platformsKey(earlier.platforms) !== platformsKey(entry.platforms)
      ) {
        // Merging keeps the earlier entry: the other's requirement would vanish unseen.
        const describe = (p: readonly Platform[] | undefined) =>
          p === undefined
            ? 'the default platforms'
            : p.length === 0
              ? 'no platforms'
              : p.map(formatPlatform).join(', ');
        problems.push({
          file,
          line,
          field: `${at}.platforms`,
          message: `duplicate of the entry on line ${earlier.line}, which requires ${describe(earlier.platforms)}, not ${describe(entry.platforms)}; give both the same platforms or keep one`,
        });
      } else if (formatReference(earlier.sourceRef) === formatReference(sourceRef)) {
        warnings.push({
          file,
          line,
          field: at,
          message: `duplicate of the entry on line ${earlier.line}; merged`,
        });
        // Merged, the stricter signature policy holds: `true` over the global
        // default (absent) over the exemption `false`.
        const strictness = (r: boolean | undefined) => (r === true ? 2 : r === undefined ? 1 : 0);
        if (strictness(entry.requireSignature) > strictness(earlier.requireSignature)) {
          const { requireSignature: _, ...rest } = earlier;
          const merged = {
            ...rest,
            ...(entry.requireSignature !== undefined && {
              requireSignature: entry.requireSignature,
            }),
          };
          entries[entries.indexOf(earlier)] = merged;
          byTarget.set(key, merged);
        }
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

// Rewriting an images file so every tag source is pinned to a digest, keeping
// everything else byte for byte: comments, order, quoting, blank lines, line
// endings. The `yaml` Document API locates each entry's nodes (their source
// ranges); the file's own text is then edited in place at those ranges, which
// is the only way to leave every untouched byte as it was (re-serialising a
// Document normalises indentation and spacing).

import { isMap, isScalar, isSeq, type Node, parse, parseDocument, type Scalar } from 'yaml';
import { pinnedSource } from '../engine/drift.ts';
import { parseReference } from '../reference/reference.ts';

/** An entry whose source is given by tag, found in the file. */
export interface UnpinnedEntry {
  readonly index: number;
  /** 1-based line of the source. */
  readonly line: number;
  readonly source: string;
  /** The tag the target gets: the entry's `tag`, else the source's, else `latest`. */
  readonly targetTag: string;
  readonly sourceNode: Scalar;
  readonly hasTag: boolean;
  readonly flow: boolean;
  /** Offset where the `source` key starts, for the indentation of an added `tag`. */
  readonly keyOffset: number;
}

interface Edit {
  readonly at: number;
  readonly remove: number;
  readonly insert: string;
}

export interface Hunk {
  /** 1-based first line in the old and the new text. */
  readonly oldLine: number;
  readonly newLine: number;
  readonly removed: readonly string[];
  readonly added: readonly string[];
}

/** Every entry of a valid file whose source names no digest, in file order. */
export function unpinnedEntries(text: string): UnpinnedEntry[] {
  const doc = parseDocument(text, { uniqueKeys: false });
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
  const lineAt = (offset: number) => {
    let line = 0;
    while (line + 1 < lineStarts.length && (lineStarts[line + 1] as number) <= offset) line++;
    return line + 1;
  };
  const images = isMap(doc.contents) ? doc.contents.get('images', true) : undefined;
  if (!isSeq(images)) return [];
  const out: UnpinnedEntry[] = [];
  images.items.forEach((item, index) => {
    if (!isMap(item)) return;
    const pair = item.items.find((p) => isScalar(p.key) && p.key.value === 'source');
    const node = pair?.value as Node | undefined;
    if (!pair || !isScalar(node) || typeof node.value !== 'string' || !node.range) return;
    const reference = parseReference(node.value);
    if (reference.digest !== undefined) return;
    const tagNode = item.get('tag', true);
    const tag = isScalar(tagNode) ? String(tagNode.source ?? tagNode.value) : undefined;
    out.push({
      index,
      line: lineAt(node.range[0]),
      source: node.value,
      targetTag: tag ?? reference.tag ?? 'latest',
      sourceNode: node,
      hasTag: tagNode !== undefined,
      flow: item.flow === true,
      keyOffset: (pair.key as Node).range?.[0] ?? node.range[0],
    });
  });
  return out;
}

/** A scalar written in the style of `like`: the same quotes, plain only where plain reads back the same. */
function render(value: string, like: Scalar): string {
  if (like.type === 'QUOTE_SINGLE') return `'${value.replaceAll("'", "''")}'`;
  if (like.type === 'PLAIN') {
    try {
      if (parse(value) === value && !/[#,[\]{}]/.test(value)) return value;
    } catch {
      // not readable as plain: quote it
    }
  }
  return JSON.stringify(value);
}

/**
 * Where a scalar's value starts and ends. A block scalar (`>-`, `|-`) ends
 * after its last line break, which belongs to the line, not to the value:
 * replacing it would glue the next key onto the source's line.
 */
function valueRange(text: string, node: Scalar): [number, number] {
  const [start, to] = node.range as [number, number, number];
  let end = to;
  while (end > start && (text[end - 1] === '\n' || text[end - 1] === '\r')) end--;
  return [start, end];
}

function editsFor(text: string, entry: UnpinnedEntry, digest: string): Edit[] {
  const [start, end] = valueRange(text, entry.sourceNode);
  const edits: Edit[] = [
    {
      at: start,
      remove: end - start,
      insert: render(pinnedSource(entry.source, digest), entry.sourceNode),
    },
  ];
  if (entry.hasTag) return edits;
  const tag = render(entry.targetTag, entry.sourceNode);
  if (entry.flow) return [...edits, { at: end, remove: 0, insert: `, tag: ${tag}` }];
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lineStart = text.lastIndexOf('\n', entry.keyOffset - 1) + 1;
  const indent = ' '.repeat(entry.keyOffset - lineStart);
  const newline = text.indexOf('\n', end);
  if (newline < 0)
    return [...edits, { at: text.length, remove: 0, insert: `${eol}${indent}tag: ${tag}` }];
  return [...edits, { at: newline + 1, remove: 0, insert: `${indent}tag: ${tag}${eol}` }];
}

/** The pinned text and its hunks: the whole lines of each entry's source, entries sharing a line merged. */
export function pinText(
  text: string,
  entries: readonly UnpinnedEntry[],
  digests: ReadonlyMap<string, string>,
): { text: string; hunks: Hunk[] } {
  const regions: { start: number; end: number; edits: Edit[] }[] = [];
  const groups = entries
    .map((entry) => {
      const [from, to] = valueRange(text, entry.sourceNode);
      const newline = text.indexOf('\n', to);
      return {
        start: text.lastIndexOf('\n', from - 1) + 1,
        end: newline < 0 ? text.length : newline + 1,
        edits: editsFor(text, entry, digests.get(entry.source) as string),
      };
    })
    .sort((a, b) => a.start - b.start);
  for (const group of groups) {
    const last = regions.at(-1);
    if (last && group.start < last.end) {
      last.end = Math.max(last.end, group.end);
      last.edits.push(...group.edits);
    } else {
      regions.push({ ...group, edits: [...group.edits] });
    }
  }
  let out = '';
  let cursor = 0;
  let delta = 0;
  const hunks: Hunk[] = [];
  const lines = (s: string) => (s === '' ? [] : s.replace(/\r?\n$/, '').split(/\r?\n/));
  for (const region of regions) {
    const old = text.slice(region.start, region.end);
    let changed = old;
    for (const edit of [...region.edits].sort((a, b) => b.at - a.at)) {
      const at = edit.at - region.start;
      changed = changed.slice(0, at) + edit.insert + changed.slice(at + edit.remove);
    }
    out += text.slice(cursor, region.start) + changed;
    cursor = region.end;
    const oldLine = text.slice(0, region.start).split('\n').length;
    const removed = lines(old);
    const added = lines(changed);
    hunks.push({ oldLine, newLine: oldLine + delta, removed, added });
    delta += added.length - removed.length;
  }
  out += text.slice(cursor);
  return { text: out, hunks };
}

/** A unified diff of the hunks, as `diff -u` prints it (without context lines). */
export function formatDiff(file: string, hunks: readonly Hunk[]): string {
  if (hunks.length === 0) return '';
  const out = [`--- ${file}`, `+++ ${file} (pinned)`];
  for (const h of hunks) {
    out.push(`@@ -${h.oldLine},${h.removed.length} +${h.newLine},${h.added.length} @@`);
    out.push(...h.removed.map((l) => `-${l}`), ...h.added.map((l) => `+${l}`));
  }
  return `${out.join('\n')}\n`;
}

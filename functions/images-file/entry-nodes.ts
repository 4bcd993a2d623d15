// Where each entry's `source` and `tag` sit in the file's text, for the tools
// that read or edit the text itself rather than the parsed values: `pin`
// edits bytes in place, and `validate` compares what a text-matching tool
// (Renovate's regex manager) would read with what the entry says.

import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type Pair,
  parseDocument,
  type Scalar,
} from 'yaml';

/** A key and its value as the file has them; `value` is undefined for an alias or a collection. */
export interface FieldNodes {
  readonly key: Scalar;
  /** Offset of the key's first character. */
  readonly keyOffset: number;
  readonly value?: Scalar;
  /** Offsets of the value's first character and just past its last (line breaks after a block scalar excluded). */
  readonly valueRange?: readonly [number, number];
}

interface EntryNodes {
  readonly index: number;
  /** A flow mapping (`{source: …, tag: …}`) rather than a block one. */
  readonly flow: boolean;
  readonly source?: FieldNodes;
  readonly tag?: FieldNodes;
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

function fieldNodes(text: string, pair: Pair | undefined): FieldNodes | undefined {
  const key = pair?.key as Node | undefined;
  if (!pair || !isScalar(key) || !key.range) return undefined;
  const value = pair.value as Node | null;
  const scalar = isScalar(value) && value.range ? value : undefined;
  return {
    key,
    keyOffset: key.range[0],
    ...(scalar && { value: scalar, valueRange: valueRange(text, scalar) }),
  };
}

/**
 * Each mapping of the `images` list, in file order, with its source and tag
 * nodes; and the 1-based line of any offset in `text` (yaml's LineCounter,
 * which the parser feeds every line start).
 */
export function entryNodes(text: string): {
  entries: EntryNodes[];
  lineAt: (offset: number) => number;
} {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, lineCounter });
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;
  const images = isMap(doc.contents) ? doc.contents.get('images', true) : undefined;
  const entries: EntryNodes[] = [];
  if (isSeq(images))
    images.items.forEach((item, index) => {
      if (!isMap(item)) return;
      const find = (name: string) =>
        item.items.find((p) => isScalar(p.key) && p.key.value === name) as Pair | undefined;
      const source = fieldNodes(text, find('source'));
      const tag = fieldNodes(text, find('tag'));
      entries.push({
        index,
        flow: item.flow === true,
        ...(source && { source }),
        ...(tag && { tag }),
      });
    });
  return { entries, lineAt };
}

// Rewriting an images file so every tag source is pinned to a digest, keeping
// everything else byte for byte: comments, order, quoting, blank lines, line
// endings. The `yaml` Document API locates each entry's nodes (their source
// ranges); the file's own text is then edited in place at those ranges, which
// is the only way to leave every untouched byte as it was (re-serialising a
// Document normalises indentation and spacing).
//
// Two forms, the same targets:
// - `renovate`: `source: name:tag@sha256:…` and no `tag:`. The target tag is
//   the source's tag, so when Renovate moves tag and digest together the
//   entry maps to a new target tag and never conflicts with the old one.
// - `digest`: `source: name@sha256:…` plus `tag:` (the Go tool's form).
// An entry whose own `tag:` differs from its source's tag keeps the `digest`
// form in either style: written as `name:tag@…` with that `tag:`, a Renovate
// update would put new content under the same target tag (a conflict).

import { parse, type Scalar } from 'yaml';
import { pinnedSource, sourceName } from '../engine/drift.ts';
import { entryNodes, type FieldNodes } from '../images-file/entry-nodes.ts';
import { parseReference } from '../reference/reference.ts';

export type PinStyle = 'renovate' | 'digest';

/** `--style`'s text (the settings reader names the flag or variable it came from). */
export function parsePinStyle(value: string): PinStyle {
  if (value === 'renovate' || value === 'digest') return value;
  throw new Error(`expected renovate or digest, got "${value}"`);
}

/** An entry whose source is given by tag, found in the file. */
export interface UnpinnedEntry {
  readonly index: number;
  /** 1-based line of the source. */
  readonly line: number;
  readonly source: string;
  /** The source's own tag, `latest` when it names none. */
  readonly sourceTag: string;
  /** The tag the target gets: the entry's `tag`, else the source's, else `latest`. */
  readonly targetTag: string;
  readonly flow: boolean;
  readonly sourceField: FieldNodes & {
    readonly value: Scalar;
    readonly valueRange: readonly [number, number];
  };
  readonly tagField?: FieldNodes;
}

/** How one entry is pinned; `note` says why an entry kept its `tag:` under the renovate style. */
interface PinPlan {
  readonly entry: UnpinnedEntry;
  readonly form: PinStyle;
  readonly dropTag?: Edit;
  readonly note?: string;
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
  const { entries, lineAt } = entryNodes(text);
  const out: UnpinnedEntry[] = [];
  for (const { index, flow, source, tag } of entries) {
    const node = source?.value;
    if (!source?.valueRange || !node) continue;
    // The text as written, as the images file's check reads it: `source: 0` is
    // the image `0`, not a number.
    const text = String(node.source ?? node.value);
    const reference = parseReference(text);
    if (reference.digest !== undefined) continue;
    const tagValue = tag?.value && String(tag.value.source ?? tag.value.value);
    out.push({
      index,
      line: lineAt(source.valueRange[0]),
      source: text,
      sourceTag: reference.tag ?? 'latest',
      targetTag: tagValue ?? reference.tag ?? 'latest',
      flow,
      sourceField: source as UnpinnedEntry['sourceField'],
      ...(tag && { tagField: tag }),
    });
  }
  return out;
}

const isBlank = (s: string) => /^[ \t]*$/.test(s);

/**
 * The edit that removes an entry's `tag` pair, or undefined where that would
 * take more than the pair: a block pair must start its own line (not follow
 * the list's `- `), a flow pair must have a comma beside it. A comment after
 * a block pair stays, as a comment line of its own.
 */
function tagRemoval(text: string, field: FieldNodes, flow: boolean): Edit | undefined {
  if (!field.valueRange) return undefined;
  const [from, to] = [field.keyOffset, field.valueRange[1]];
  if (flow) {
    const before = text.slice(0, from).trimEnd();
    if (before.endsWith(','))
      return { at: before.length - 1, remove: to - before.length + 1, insert: '' };
    const after = text.slice(to).match(/^\s*,\s*/);
    return after ? { at: from, remove: to - from + after[0].length, insert: '' } : undefined;
  }
  const lineStart = text.lastIndexOf('\n', from - 1) + 1;
  if (!isBlank(text.slice(lineStart, from))) return undefined;
  const newline = text.indexOf('\n', to);
  const rest = text.slice(to, newline < 0 ? text.length : newline).replace(/\r$/, '');
  if (/^[ \t]+#/.test(rest)) return { at: from, remove: text.indexOf('#', to) - from, insert: '' };
  if (!isBlank(rest)) return undefined;
  if (newline >= 0) return { at: lineStart, remove: newline + 1 - lineStart, insert: '' };
  // The last line, without a line break: the break before it goes instead.
  const start = lineStart - (text[lineStart - 2] === '\r' ? 2 : 1);
  return lineStart === 0 ? undefined : { at: start, remove: text.length - start, insert: '' };
}

/** The form each entry is pinned in under `style`. */
export function planPins(
  text: string,
  entries: readonly UnpinnedEntry[],
  style: PinStyle,
): PinPlan[] {
  return entries.map((entry) => {
    if (style === 'digest' || !entry.tagField) return { entry, form: style };
    const kept = `is pinned as ${sourceName(entry.source)}@sha256:… and keeps its tag: (Renovate leaves it alone)`;
    if (!entry.tagField.value)
      return { entry, form: 'digest', note: `${kept}: its tag: is not a plain value` };
    if (entry.targetTag !== entry.sourceTag) {
      return {
        entry,
        form: 'digest',
        note: `${kept}: its tag: ${entry.targetTag} is not the source's tag ${entry.sourceTag}, so an update by Renovate would conflict`,
      };
    }
    const dropTag = tagRemoval(text, entry.tagField, entry.flow);
    if (!dropTag) {
      return {
        entry,
        form: 'digest',
        note: `${kept}: its tag: shares a line with other text; remove it by hand to let Renovate update the entry`,
      };
    }
    return { entry, form: 'renovate', dropTag };
  });
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

function editsFor(text: string, plan: PinPlan, digest: string): Edit[] {
  const { entry } = plan;
  const { value: node, valueRange, keyOffset } = entry.sourceField;
  const [start, end] = valueRange;
  const pinned =
    plan.form === 'renovate'
      ? `${sourceName(entry.source)}:${entry.sourceTag}@${digest}`
      : pinnedSource(entry.source, digest);
  const edits: Edit[] = [{ at: start, remove: end - start, insert: render(pinned, node) }];
  if (plan.dropTag) return [...edits, plan.dropTag];
  if (entry.tagField || plan.form === 'renovate') return edits;
  const tag = render(entry.targetTag, node);
  if (entry.flow) return [...edits, { at: end, remove: 0, insert: `, tag: ${tag}` }];
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lineStart = text.lastIndexOf('\n', keyOffset - 1) + 1;
  const indent = ' '.repeat(keyOffset - lineStart);
  const newline = text.indexOf('\n', end);
  if (newline < 0)
    return [...edits, { at: text.length, remove: 0, insert: `${eol}${indent}tag: ${tag}` }];
  return [...edits, { at: newline + 1, remove: 0, insert: `${indent}tag: ${tag}${eol}` }];
}

/** The whole lines holding [from, to): from the first line's start to past the last line's break. */
function linesAround(text: string, from: number, to: number): [number, number] {
  const start = text.lastIndexOf('\n', from - 1) + 1;
  if (to > from && text[to - 1] === '\n') return [start, to];
  const newline = text.indexOf('\n', to);
  return [start, newline < 0 ? text.length : newline + 1];
}

/** The pinned text and its hunks: the whole lines of each entry's edits, entries sharing a line merged. */
export function pinText(
  text: string,
  plans: readonly PinPlan[],
  digests: ReadonlyMap<string, string>,
): { text: string; hunks: Hunk[] } {
  const regions: { start: number; end: number; edits: Edit[] }[] = [];
  const groups = plans
    .map((plan) => {
      const [from, to] = plan.entry.sourceField.valueRange;
      let [start, end] = linesAround(text, from, to);
      if (plan.dropTag) {
        const [a, b] = linesAround(text, plan.dropTag.at, plan.dropTag.at + plan.dropTag.remove);
        [start, end] = [Math.min(start, a), Math.max(end, b)];
      }
      return { start, end, edits: editsFor(text, plan, digests.get(plan.entry.source) as string) };
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

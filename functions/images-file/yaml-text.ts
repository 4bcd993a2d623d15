// Reading the raw file before validation: UTF-8 with the line of the first
// bad byte, nesting depth without recursion, scalars as written, and the
// "did you mean" for mistyped keys.

import { isMap, isSeq, type Node, type Scalar } from 'yaml';
import type { Diagnostic } from './diagnostics.ts';

/** How deep collections nest, walked without recursion. */
export function nestingDepth(root: Node | null, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (isMap(node) || isSeq(node)) {
      deepest = Math.max(deepest, depth);
      if (deepest > limit) return deepest;
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
export function decodeUtf8(file: string, bytes: Uint8Array): string | Diagnostic {
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

/** The known key a mistyped one was probably meant to be (`tags` → `tag`). */
export function closest(key: string, candidates: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  return candidates.find(
    (c) => lower.startsWith(c) || c.startsWith(lower) || lower.replace(/s$/, '') === c,
  );
}

/** A scalar's text as written: `tag: 1.10` means the tag "1.10", not the number 1.1. */
export function scalarText(node: Scalar): string | undefined {
  if (typeof node.value === 'string') return node.value;
  if (typeof node.value === 'number' && typeof node.source === 'string') return node.source;
  return undefined;
}

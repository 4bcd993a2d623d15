// The types the images-file modules share: an entry as checked, and the
// options of a check. In a module of their own so that parse.ts (the file)
// and entry.ts (one entry) both use them without importing each other.

import type { ImagePolicy } from '../engine/types.ts';
import type { ImageReference } from '../reference/reference.ts';

/** A valid entry: its source, its target, and its policy (fields.ts), the file's defaults applied. */
export interface ImageEntry extends ImagePolicy {
  /** Position in the file's list, from 0. */
  readonly index: number;
  readonly line: number;
  /** The source exactly as written. */
  readonly source: string;
  readonly sourceRef: ImageReference;
  readonly tag?: string;
  readonly target: ImageReference;
}

export interface CheckOptions {
  /** Whether a source registry may be mirrored from (the network policy's allow-list). */
  readonly isRegistryAllowed?: (registry: string) => boolean;
}

// The types the images-file modules share: an entry as checked, and the
// options of a check. In a module of their own so that parse.ts (the file)
// and entry.ts (one entry) both use them without importing each other.

import type { Platform } from '../oci/platform.ts';
import type { ImageReference } from '../reference/reference.ts';

export interface ImageEntry {
  /** Position in the file's list, from 0. */
  readonly index: number;
  readonly line: number;
  /** The source exactly as written. */
  readonly source: string;
  readonly sourceRef: ImageReference;
  readonly tag?: string;
  readonly target: ImageReference;
  /** `requireSignature: true`: fail the image if the source has no signature or attestation. */
  readonly requireSignature?: boolean;
  /** Required platforms: the entry's own, else the file's top-level `platforms`. */
  readonly platforms?: readonly Platform[];
}

export interface CheckOptions {
  /** Whether a source registry may be mirrored from (the network policy's allow-list). */
  readonly isRegistryAllowed?: (registry: string) => boolean;
}

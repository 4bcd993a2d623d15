// Per-entry policy fields of the images file: `requireSignature: true` makes
// an image without a signature or attestation fail (SIGNATURE_REQUIRED) with
// nothing of it written.

import { isScalar, type Node } from 'yaml';
import type { Diagnostic } from './diagnostics.ts';

export const REQUIRE_SIGNATURE = 'requireSignature';

/** The field's boolean, or undefined after adding a problem naming file, line and field. */
export function readRequireSignature(
  node: Node | null,
  at: Omit<Diagnostic, 'message'>,
  problems: Diagnostic[],
): boolean | undefined {
  if (node && isScalar(node) && typeof node.value === 'boolean') return node.value;
  problems.push({ ...at, message: 'must be true or false (unquoted)' });
  return undefined;
}

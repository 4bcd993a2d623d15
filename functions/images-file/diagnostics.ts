// A problem found in an images file, located precisely enough for a person to
// fix it without searching: file, line and the field's path in the document.

import { SyncerError } from '../errors.ts';

export interface Diagnostic {
  readonly file: string;
  readonly line: number;
  /** The field's path, e.g. `images[3].source`; empty for the file as a whole. */
  readonly field: string;
  readonly message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}: ${d.field ? `${d.field}: ` : ''}${d.message}`;
}

/** Every problem of a file at once; nothing of the file is used when this is thrown. */
export class ImagesFileError extends SyncerError {
  readonly diagnostics: readonly Diagnostic[];

  constructor(diagnostics: readonly Diagnostic[]) {
    const count = diagnostics.length;
    super(
      'INVALID_IMAGES_FILE',
      `${count} problem${count === 1 ? '' : 's'} in the images file:\n${diagnostics.map(formatDiagnostic).join('\n')}`,
    );
    this.diagnostics = diagnostics;
  }
}

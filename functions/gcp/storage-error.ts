// Cloud Storage failures, in a module of their own so that naming one does not
// load the Storage client library.

import { SyncerError } from '../errors.ts';

/** A Cloud Storage failure the client's retries did not overcome. */
export class StorageError extends SyncerError {
  /** The HTTP status, when the service answered. */
  readonly status: number | undefined;

  constructor(status: number | undefined, message: string, options?: { cause?: unknown }) {
    const transient = status === undefined || status === 408 || status === 429 || status >= 500;
    super(transient ? 'STORAGE_UNAVAILABLE' : 'STORAGE_ERROR', message, options);
    this.status = status;
  }
}

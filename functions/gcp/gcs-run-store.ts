// Run records in a Cloud Storage bucket, under runs/<runId>/ (layout in
// pipeline/run-store.ts). Small JSON objects, written with single-request
// (non-resumable) uploads. Job records and the completion marker are written
// with generation preconditions (ifGenerationMatch; see pipeline/record-result.ts
// and pipeline/run-completed.ts): a mismatch comes back as 412 conditionNotMet
// (https://cloud.google.com/storage/docs/request-preconditions) and is raised
// as PreconditionFailedError for the caller to decide again.

import { mapLimited } from '../engine/limiter.ts';
import type { CompletionMarker } from '../pipeline/run-completed.ts';
import {
  completionPath,
  isFinal,
  type JobResultRecord,
  PreconditionFailedError,
  type ResultOutcome,
  type RunRecord,
  type RunStore,
  resultPath,
  runPath,
  type Versioned,
  type WritePrecondition,
} from '../pipeline/run-store.ts';
import { StorageApiError, type StorageClient } from './storage-client.ts';

/** 412 conditionNotMet: the object is not at the generation the write named. */
function isConditionNotMet(error: unknown): boolean {
  return error instanceof StorageApiError && error.status === 412;
}

/** Custom metadata on job records, so a listing tells ended jobs from pending ones. */
const OUTCOME_KEY = 'syncerOutcome';

export class GcsRunStore implements RunStore {
  readonly #storage: StorageClient;
  readonly #bucket: string;

  constructor(storage: StorageClient, bucket: string) {
    this.#storage = storage;
    this.#bucket = bucket;
  }

  /** One request: for reading only, where no write will depend on the generation. */
  async #read<T>(path: string): Promise<T | undefined> {
    const bytes = await this.#storage.download(this.#bucket, path);
    return bytes && (JSON.parse(bytes.toString('utf8')) as T);
  }

  /**
   * The object's generation from its metadata, then its bytes AT that
   * generation: value and generation always belong together, even if another
   * writer replaces the object in between (the old generation is then gone
   * unless the bucket is versioned, and we read again).
   */
  async #readVersioned<T>(path: string): Promise<Versioned<T> | undefined> {
    for (let round = 0; round < 3; round++) {
      const metadata = await this.#storage.metadata(this.#bucket, path);
      if (!metadata) return undefined;
      const generation = String(metadata.generation);
      const bytes = await this.#storage.download(this.#bucket, path, generation);
      // Undefined: replaced between the two requests (and not kept as a noncurrent version): read again.
      if (bytes) return { value: JSON.parse(bytes.toString('utf8')) as T, generation };
    }
    throw new PreconditionFailedError(path, 'any', {
      cause: new Error('replaced three times while being read'),
    });
  }

  async #write(
    path: string,
    value: unknown,
    precondition?: WritePrecondition,
    custom?: Record<string, string>,
  ): Promise<string> {
    try {
      const written = await this.#storage.upload(this.#bucket, path, JSON.stringify(value), {
        contentType: 'application/json',
        ...(custom && { metadata: custom }),
        ...(precondition && { ifGenerationMatch: precondition.ifGenerationMatch }),
      });
      return String(written.generation);
    } catch (error) {
      if (precondition && isConditionNotMet(error))
        throw new PreconditionFailedError(path, precondition.ifGenerationMatch, { cause: error });
      throw error;
    }
  }

  readRun(runId: string): Promise<RunRecord | undefined> {
    return this.#read(runPath(runId));
  }

  writeRun(run: RunRecord, precondition?: WritePrecondition): Promise<string> {
    return this.#write(runPath(run.runId), run, precondition);
  }

  async listRuns(limit: number): Promise<RunRecord[]> {
    // matchGlob: `*` matches within one path segment, so only the runs' plans are listed.
    const files = await this.#storage.list(this.#bucket, {
      prefix: 'runs/',
      matchGlob: 'runs/*/run.json',
    });
    const newest = files.sort((a, b) => b.timeCreated.localeCompare(a.timeCreated)).slice(0, limit);
    const runs = await mapLimited(newest, 16, (file) => this.#read<RunRecord>(file.name));
    return runs
      .filter((r): r is RunRecord => r !== undefined)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  readResult(runId: string, key: string): Promise<JobResultRecord | undefined> {
    return this.#read(resultPath(runId, key));
  }

  readResultVersion(runId: string, key: string): Promise<Versioned<JobResultRecord> | undefined> {
    return this.#readVersioned(resultPath(runId, key));
  }

  writeResult(result: JobResultRecord, precondition?: WritePrecondition): Promise<string> {
    return this.#write(resultPath(result.runId, result.key), result, precondition, {
      [OUTCOME_KEY]: isFinal(result) ? 'final' : 'pending',
    });
  }

  async #listResults(runId: string) {
    return this.#storage.list(this.#bucket, { prefix: `runs/${runId}/results/` });
  }

  async readResults(runId: string): Promise<JobResultRecord[]> {
    const files = await this.#listResults(runId);
    const results = await mapLimited(files, 16, (file) => this.#read<JobResultRecord>(file.name));
    return results.filter((r): r is JobResultRecord => r !== undefined);
  }

  async listResultOutcomes(runId: string): Promise<ResultOutcome[]> {
    const files = await this.#listResults(runId);
    const outcomes = await mapLimited(files, 16, async (file) => {
      const marked = file.metadata?.[OUTCOME_KEY];
      if (marked === 'final' || marked === 'pending') {
        const key = file.name.slice(file.name.lastIndexOf('/') + 1).replace(/\.json$/, '');
        return { key, final: marked === 'final' };
      }
      // Written before outcomes were kept in metadata: read the body.
      const record = await this.#read<JobResultRecord>(file.name);
      return record && { key: record.key, final: isFinal(record) };
    });
    return outcomes.filter((o): o is ResultOutcome => o !== undefined);
  }

  readCompletion(runId: string): Promise<Versioned<CompletionMarker> | undefined> {
    return this.#readVersioned(completionPath(runId));
  }

  writeCompletion(marker: CompletionMarker, precondition: WritePrecondition): Promise<string> {
    return this.#write(completionPath(marker.runId), marker, precondition);
  }
}

/** Downloads `gs://bucket/object` (at a generation, when the event names one). */
export async function downloadObject(
  storage: StorageClient,
  bucket: string,
  name: string,
  generation?: string,
): Promise<Buffer> {
  const bytes = await storage.download(bucket, name, generation);
  if (!bytes)
    throw new StorageApiError(
      404,
      'notFound',
      `gs://${bucket}/${name}${generation ? `#${generation}` : ''} does not exist (deleted or replaced since the event)`,
    );
  return bytes;
}

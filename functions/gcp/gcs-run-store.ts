// Run records in a Cloud Storage bucket, under runs/<runId>/ (layout in
// pipeline/run-store.ts). Small JSON objects, written with single-request
// (non-resumable) uploads. Job records and the completion marker are written
// with generation preconditions (ifGenerationMatch; see pipeline/record-result.ts
// and pipeline/run-completed.ts): a mismatch comes back as 412 conditionNotMet
// (https://cloud.google.com/storage/docs/request-preconditions) and is raised
// as PreconditionFailedError for the caller to decide again.

import type { Storage } from '@google-cloud/storage';
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

function isNotFound(error: unknown): boolean {
  return (error as { code?: number }).code === 404;
}

/** 412 conditionNotMet: the object is not at the generation the write named. */
function isConditionNotMet(error: unknown): boolean {
  return (error as { code?: number }).code === 412;
}

/** Custom metadata on job records, so a listing tells ended jobs from pending ones. */
const OUTCOME_KEY = 'syncerOutcome';

export class GcsRunStore implements RunStore {
  readonly #storage: Storage;
  readonly #bucket: string;

  constructor(storage: Storage, bucket: string) {
    this.#storage = storage;
    this.#bucket = bucket;
  }

  /** One request: for reading only, where no write will depend on the generation. */
  async #read<T>(path: string): Promise<T | undefined> {
    try {
      const [bytes] = await this.#storage.bucket(this.#bucket).file(path).download();
      return JSON.parse(bytes.toString('utf8')) as T;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * The object's generation from its metadata, then its bytes AT that
   * generation: value and generation always belong together, even if another
   * writer replaces the object in between (the old generation is then gone
   * unless the bucket is versioned, and we read again).
   */
  async #readVersioned<T>(path: string): Promise<Versioned<T> | undefined> {
    const bucket = this.#storage.bucket(this.#bucket);
    for (let round = 0; round < 3; round++) {
      let generation: string;
      try {
        const [metadata] = await bucket.file(path).getMetadata();
        generation = String(metadata.generation);
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
      try {
        const [bytes] = await bucket
          .file(path, { generation: Number(generation) })
          .download({ validation: false });
        return { value: JSON.parse(bytes.toString('utf8')) as T, generation };
      } catch (error) {
        // Replaced between the two requests (and not kept as a noncurrent version): read again.
        if (!isNotFound(error)) throw error;
      }
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
    const file = this.#storage.bucket(this.#bucket).file(path);
    try {
      await file.save(JSON.stringify(value), {
        resumable: false,
        contentType: 'application/json',
        validation: false,
        ...(custom && { metadata: { metadata: custom } }),
        ...(precondition && {
          preconditionOpts: { ifGenerationMatch: precondition.ifGenerationMatch },
        }),
      });
    } catch (error) {
      if (precondition && isConditionNotMet(error))
        throw new PreconditionFailedError(path, precondition.ifGenerationMatch, { cause: error });
      throw error;
    }
    return String(file.metadata.generation);
  }

  readRun(runId: string): Promise<RunRecord | undefined> {
    return this.#read(runPath(runId));
  }

  writeRun(run: RunRecord, precondition?: WritePrecondition): Promise<string> {
    return this.#write(runPath(run.runId), run, precondition);
  }

  async listRuns(limit: number): Promise<RunRecord[]> {
    // matchGlob: `*` matches within one path segment, so only the runs' plans are listed.
    const [files] = await this.#storage
      .bucket(this.#bucket)
      .getFiles({ prefix: 'runs/', matchGlob: 'runs/*/run.json' });
    const newest = files
      .sort((a, b) => String(b.metadata.timeCreated).localeCompare(String(a.metadata.timeCreated)))
      .slice(0, limit);
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
    const [files] = await this.#storage
      .bucket(this.#bucket)
      .getFiles({ prefix: `runs/${runId}/results/` });
    return files;
  }

  async readResults(runId: string): Promise<JobResultRecord[]> {
    const files = await this.#listResults(runId);
    const results = await mapLimited(files, 16, (file) => this.#read<JobResultRecord>(file.name));
    return results.filter((r): r is JobResultRecord => r !== undefined);
  }

  async listResultOutcomes(runId: string): Promise<ResultOutcome[]> {
    const files = await this.#listResults(runId);
    const outcomes = await mapLimited(files, 16, async (file) => {
      const marked = file.metadata.metadata?.[OUTCOME_KEY];
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
  storage: Storage,
  bucket: string,
  name: string,
  generation?: string,
): Promise<Buffer> {
  const file = storage
    .bucket(bucket)
    .file(name, generation ? { generation: Number(generation) } : {});
  const [bytes] = await file.download({ validation: false });
  return bytes;
}

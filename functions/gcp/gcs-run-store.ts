// Run records in a Cloud Storage bucket, under runs/<runId>/ (layout in
// pipeline/run-store.ts). Small JSON objects, written with single-request
// (non-resumable) uploads.

import type { Storage } from '@google-cloud/storage';
import { mapLimited } from '../engine/limiter.ts';
import {
  type JobResultRecord,
  type RunRecord,
  type RunStore,
  resultPath,
  runPath,
} from '../pipeline/run-store.ts';

function isNotFound(error: unknown): boolean {
  return (error as { code?: number }).code === 404;
}

export class GcsRunStore implements RunStore {
  readonly #storage: Storage;
  readonly #bucket: string;

  constructor(storage: Storage, bucket: string) {
    this.#storage = storage;
    this.#bucket = bucket;
  }

  async #read<T>(path: string): Promise<T | undefined> {
    try {
      const [bytes] = await this.#storage.bucket(this.#bucket).file(path).download();
      return JSON.parse(bytes.toString('utf8')) as T;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async #write(path: string, value: unknown): Promise<void> {
    await this.#storage.bucket(this.#bucket).file(path).save(JSON.stringify(value), {
      resumable: false,
      contentType: 'application/json',
      validation: false,
    });
  }

  readRun(runId: string): Promise<RunRecord | undefined> {
    return this.#read(runPath(runId));
  }

  writeRun(run: RunRecord): Promise<void> {
    return this.#write(runPath(run.runId), run);
  }

  readResult(runId: string, key: string): Promise<JobResultRecord | undefined> {
    return this.#read(resultPath(runId, key));
  }

  writeResult(result: JobResultRecord): Promise<void> {
    return this.#write(resultPath(result.runId, result.key), result);
  }

  async readResults(runId: string): Promise<JobResultRecord[]> {
    const [files] = await this.#storage
      .bucket(this.#bucket)
      .getFiles({ prefix: `runs/${runId}/results/` });
    const results = await mapLimited(files, 16, (file) => this.#read<JobResultRecord>(file.name));
    return results.filter((r): r is JobResultRecord => r !== undefined);
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

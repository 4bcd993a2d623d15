// The run store over each object store a test proves it on: memory, and
// Cloud Storage through @google-cloud/storage against the Storage test server.

import { Storage } from '@google-cloud/storage';
import { GcsObjectStore, READ_RETRY } from '../../functions/gcp/gcs-object-store.ts';
import { jobKey } from '../../functions/pipeline/job.ts';
import { MemoryObjectStore } from '../../functions/pipeline/memory-object-store.ts';
import type { JobResultRecord, RunRecord } from '../../functions/pipeline/records.ts';
import { RunStore } from '../../functions/pipeline/run-store.ts';
import { type GcsServer, startGcsServer } from '../../scripts/local/gcs-server.ts';

export const STORE_KINDS = ['memory', 'gcs'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

export interface TestRunStore {
  readonly store: RunStore;
  /** The Storage test server behind a `gcs` store. */
  readonly gcs?: GcsServer;
  close(): Promise<void>;
}

/**
 * A bucket on the Storage test server, as the functions open one, with the
 * library's retries at delays of at most 1 s (its first) and ours at 50 ms,
 * so an injected 503 costs a test at most a second.
 */
export function testBucket(url: string, name: string): GcsObjectStore {
  const options = {
    apiEndpoint: url,
    projectId: 'test',
    retryOptions: { retryDelayMultiplier: 1.01, maxRetryDelay: 1, totalTimeout: 20 },
  };
  const reads = new Storage({ ...options, retryOptions: { autoRetry: false } });
  return new GcsObjectStore(new Storage(options).bucket(name), reads.bucket(name), {
    ...READ_RETRY,
    baseDelayMs: 50,
  });
}

export async function openRunStore(kind: StoreKind, bucket = 'runs'): Promise<TestRunStore> {
  if (kind === 'memory')
    return { store: new RunStore(new MemoryObjectStore()), close: async () => undefined };
  const gcs = await startGcsServer();
  return {
    store: new RunStore(testBucket(gcs.url, bucket)),
    gcs,
    close: () => gcs.close(),
  };
}

/** A job key as the pipeline makes them (hex), for image `name`. */
export function keyOf(name: string): string {
  return jobKey(`mirror.example/${name}:1`);
}

export function result(
  runId: string,
  key: string,
  fields: Partial<JobResultRecord> = {},
): JobResultRecord {
  return {
    key,
    runId,
    source: `docker.io/library/${key}:1`,
    target: `mirror.example/${key}:1`,
    status: 'copied',
    finishedAt: new Date().toISOString(),
    ...fields,
  };
}

export function plannedRun(runId: string, keys: readonly string[]): RunRecord {
  return {
    runId,
    createdAt: new Date(Date.now() - 5_000).toISOString(),
    trigger: { type: 'http' },
    file: 'request body',
    dryRun: false,
    state: 'published',
    jobs: keys.map((key) => ({
      key,
      source: `docker.io/library/${key}:1`,
      target: `mirror.example/${key}:1`,
    })),
  };
}

/** A run store in memory (its objects in a MemoryObjectStore). */
export function memoryRunStore(): RunStore {
  return new RunStore(new MemoryObjectStore());
}

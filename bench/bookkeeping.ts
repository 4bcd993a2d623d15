// The bookkeeping benchmark: the run-record path of runs of 1,000 and 10,000
// jobs (BENCH_BOOKKEEPING_SIZES), through Google's Storage client against the
// Storage test server, which counts every request and the bytes of every
// answer. What is counted, per run: the fan-out's records (run.json and the
// shard plans), then for every job what the copy function does around the
// copy: read its record, write the final one, check whether the run is
// complete (pipeline/completion.ts), and, once, announce the run. Jobs end in
// random order, 40 at a time (the sizing's slots, infra/README.md); a
// delivery handed back while another announces the run is delivered again.
//
// One line per size:
//   bookkeeping: N jobs, R storage requests/job, K KiB read/job, E run-completed messages

import { setTimeout as sleep } from 'node:timers/promises';
import { mapLimited } from '../functions/engine/limiter.ts';
import {
  completeRunIfDone,
  RunCompletingError,
  writeShardPlans,
} from '../functions/pipeline/completion.ts';
import { jobKey } from '../functions/pipeline/job.ts';
import { recordResult } from '../functions/pipeline/record-result.ts';
import type { RunCompletedEvent, RunRecord } from '../functions/pipeline/records.ts';
import { ABSENT, RunStore } from '../functions/pipeline/run-store.ts';
import { silentLogger } from '../functions/util/logger.ts';
import { startGcsServer } from '../scripts/local/gcs-server.ts';
import { testBucket } from '../test/support/run-stores.ts';

export interface BookkeepingFigure {
  readonly jobs: number;
  readonly requestsPerJob: number;
  readonly kibPerJob: number;
  readonly messages: number;
  readonly seconds: number;
}

const SLOTS = 40;
const DIGEST = `sha256:${'4'.repeat(64)}`;

function plannedRun(runId: string, jobs: number): RunRecord {
  return {
    runId,
    createdAt: new Date().toISOString(),
    trigger: { type: 'storage', bucket: 'images', object: 'team/external-images.yaml' },
    file: 'gs://images/team/external-images.yaml',
    dryRun: false,
    state: 'published',
    jobs: Array.from({ length: jobs }, (_, i) => {
      const source = `ghcr.io/some-org/service-${i}:v1.${i % 50}.0`;
      const target = `europe-docker.pkg.dev/project/mirror/external/${source}`;
      return { key: jobKey(target), source, target, sourceDigest: DIGEST };
    }),
  };
}

export async function benchBookkeeping(
  sizes: readonly number[],
  say: (line: string) => void,
): Promise<BookkeepingFigure[]> {
  const gcs = await startGcsServer();
  const figures: BookkeepingFigure[] = [];
  try {
    const store = new RunStore(testBucket(gcs.url, 'runs'));
    for (const jobs of sizes) {
      const runId = `bench-${jobs}`;
      const messages: RunCompletedEvent[] = [];
      const events = {
        publishRunCompleted: async (event: RunCompletedEvent) => String(messages.push(event)),
      };
      const before = gcs.requests.length;
      const started = performance.now();
      const run = plannedRun(runId, jobs);
      await store.writeRun(run, ABSENT);
      await writeShardPlans(store, run);
      const order = [...run.jobs].sort(() => Math.random() - 0.5);
      /** One delivery of a job, as the copy function does it around the copy. */
      const deliver = async (job: RunRecord['jobs'][number]) => {
        const previous = (await store.readResult(runId, job.key)) ?? null;
        if (!previous?.value || previous.value.retrying) {
          const record = {
            key: job.key,
            runId,
            source: job.source,
            target: job.target,
            status: 'copied' as const,
            digest: DIGEST,
            mediaType: 'application/vnd.oci.image.index.v1+json',
            attempt: 1,
            finishedAt: new Date().toISOString(),
            durationMs: 1234,
            bytes: 12_345_678,
          };
          await recordResult(store, record, silentLogger, previous);
        }
        await completeRunIfDone(
          { runId, key: job.key, runJobs: jobs },
          { store, logger: silentLogger, events },
        );
      };
      await mapLimited(order, SLOTS, async (job) => {
        // A delivery handed back while another announces the run comes again.
        for (;;) {
          try {
            return await deliver(job);
          } catch (error) {
            if (!(error instanceof RunCompletingError)) throw error;
            await sleep(100);
          }
        }
      });
      const served = gcs.requests.slice(before);
      const figure = {
        jobs,
        requestsPerJob: served.length / jobs,
        kibPerJob: served.reduce((sum, r) => sum + r.bytes, 0) / 1024 / jobs,
        messages: messages.length,
        seconds: (performance.now() - started) / 1000,
      };
      figures.push(figure);
      say(
        `bookkeeping: ${jobs} jobs, ${figure.requestsPerJob.toFixed(2)} storage requests/job, ${figure.kibPerJob.toFixed(2)} KiB read/job, ${figure.messages} run-completed messages`,
      );
    }
  } finally {
    await gcs.close();
  }
  return figures;
}

if (import.meta.main) {
  const sizes = (process.env.BENCH_BOOKKEEPING_SIZES ?? '1000,10000').split(',').map(Number);
  await benchBookkeeping(sizes, (line) => process.stdout.write(`${line}\n`));
}

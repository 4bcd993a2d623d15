// Run records in a bucket. Layout (a contract, docs/pipeline.md "Run records"):
//
//   runs/<runId>/run.json               the plan: trigger, jobs, or the file's errors
//   runs/<runId>/results/<jobKey>.json  one per job, written by the copy function
//   runs/<runId>/shards/<shard>.json    the planned keys of one shard (completion.ts)
//   runs/<runId>/ended/<shard>          created once every job of the shard has ended
//   runs/<runId>/claim.json             who is announcing the run, until when
//   runs/<runId>/completed.json         the run-completed message, once it is out
//   mirrors/<jobKey>.json               an image a pull request mirrored early, and which
//
// Every write carries a generation precondition: a create is
// ifGenerationMatch=0, an update names the generation it read, so concurrent
// and late deliveries decide by compare-and-swap, never last-writer-wins, and
// a retried write cannot put an older state over a newer one.
//
// A job record's outcome is also in its custom metadata (`syncer*` keys), so
// a listing tells ended jobs from pending ones, and counts them by status and
// category, without reading a body.

import { mapLimited } from '../engine/limiter.ts';
import type { ObjectStore } from './object-store.ts';
import { PreconditionFailedError } from './object-store.ts';
import {
  type CompletionClaim,
  type CompletionMarker,
  type EarlyMirrorRecord,
  isFinal,
  type JobResultRecord,
  type ResultStatus,
  type ResultSummary,
  type RunRecord,
  type ShardPlan,
} from './records.ts';

/** A stored record and the generation that holds it. */
export interface Versioned<T> {
  readonly value: T;
  /** Cloud Storage's generation number, as a decimal string (an int64). */
  readonly generation: string;
}

/** The ifGenerationMatch of a create: only if the object does not exist yet. */
export const ABSENT = '0';

const META = {
  outcome: 'syncerOutcome',
  status: 'syncerStatus',
  category: 'syncerCategory',
  deadLettered: 'syncerDeadLettered',
} as const;

export const runPath = (runId: string) => `runs/${runId}/run.json`;
export const resultPath = (runId: string, key: string) => `runs/${runId}/results/${key}.json`;
const resultsPrefix = (runId: string) => `runs/${runId}/results/`;
const shardPath = (runId: string, shard: string) => `runs/${runId}/shards/${shard}.json`;
const endedPrefix = (runId: string) => `runs/${runId}/ended/`;
const claimPath = (runId: string) => `runs/${runId}/claim.json`;
export const completionPath = (runId: string) => `runs/${runId}/completed.json`;
const mirrorPath = (key: string) => `mirrors/${key}.json`;

function keyOfResult(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1).replace(/\.json$/, '');
}

function summaryMetadata(result: JobResultRecord): Record<string, string> {
  return {
    [META.outcome]: isFinal(result) ? 'final' : 'pending',
    [META.status]: result.status,
    ...(result.category && { [META.category]: result.category }),
    ...(result.deadLettered && { [META.deadLettered]: 'true' }),
  };
}

export class RunStore {
  readonly objects: ObjectStore;

  constructor(objects: ObjectStore) {
    this.objects = objects;
  }

  async #read<T>(name: string): Promise<Versioned<T> | undefined> {
    const stored = await this.objects.read(name);
    return (
      stored && {
        value: JSON.parse(stored.bytes.toString('utf8')) as T,
        generation: stored.generation,
      }
    );
  }

  #write(
    name: string,
    value: unknown,
    ifGenerationMatch: string,
    metadata?: Record<string, string>,
  ): Promise<string> {
    return this.objects.write(name, JSON.stringify(value), {
      ifGenerationMatch,
      ...(metadata && { metadata }),
    });
  }

  /** Creates `name`; false when it exists already (someone made it first, or an earlier try did). */
  async #create(name: string, value: unknown): Promise<boolean> {
    try {
      await this.#write(name, value, ABSENT);
      return true;
    } catch (error) {
      if (error instanceof PreconditionFailedError) return false;
      throw error;
    }
  }

  readRun(runId: string): Promise<Versioned<RunRecord> | undefined> {
    return this.#read(runPath(runId));
  }

  /** `ifGenerationMatch`: ABSENT to create, else the generation read. */
  writeRun(run: RunRecord, ifGenerationMatch: string): Promise<string> {
    return this.#write(runPath(run.runId), run, ifGenerationMatch);
  }

  /** The newest runs first, at most `limit`. */
  async listRuns(limit: number): Promise<RunRecord[]> {
    // matchGlob: `*` matches within one path segment, so only the runs' plans are listed.
    const files = await this.objects.list('runs/', { glob: 'runs/*/run.json' });
    const newest = files.sort((a, b) => b.created.localeCompare(a.created)).slice(0, limit);
    const runs = await mapLimited(newest, 16, (file) => this.#read<RunRecord>(file.name));
    return runs
      .flatMap((run) => (run ? [run.value] : []))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  readResult(runId: string, key: string): Promise<Versioned<JobResultRecord> | undefined> {
    return this.#read(resultPath(runId, key));
  }

  /** Returns the written generation; throws PreconditionFailedError on a mismatch. */
  writeResult(result: JobResultRecord, ifGenerationMatch: string): Promise<string> {
    const name = resultPath(result.runId, result.key);
    return this.#write(name, result, ifGenerationMatch, summaryMetadata(result));
  }

  /** Every job record of a run, bodies read: for a run's status page, not for each job. */
  async readResults(runId: string): Promise<JobResultRecord[]> {
    const files = await this.objects.list(resultsPrefix(runId));
    const results = await mapLimited(files, 16, (file) => this.#read<JobResultRecord>(file.name));
    return results.flatMap((result) => (result ? [result.value] : []));
  }

  /** The job records whose key starts with `keyPrefix`, from one listing: no body read. */
  async listResults(runId: string, keyPrefix = ''): Promise<ResultSummary[]> {
    const files = await this.objects.list(resultsPrefix(runId) + keyPrefix);
    return mapLimited(files, 16, async (file): Promise<ResultSummary> => {
      const meta = file.metadata ?? {};
      const key = keyOfResult(file.name);
      const outcome = meta[META.outcome];
      if (outcome !== 'final' && outcome !== 'pending') {
        // Written without the summary in its metadata: read the body.
        const record = (await this.#read<JobResultRecord>(file.name))?.value;
        return record ? summaryOf(record) : { key, final: false };
      }
      return {
        key,
        final: outcome === 'final',
        ...(meta[META.status] && { status: meta[META.status] as ResultStatus }),
        ...(meta[META.category] && { category: meta[META.category] }),
        ...(meta[META.deadLettered] === 'true' && { deadLettered: true }),
      };
    });
  }

  /** False when the plan exists already (the fan-out wrote it on an earlier delivery). */
  writeShardPlan(plan: ShardPlan): Promise<boolean> {
    return this.#create(shardPath(plan.runId, plan.shard), plan);
  }

  async readShardPlan(runId: string, shard: string): Promise<ShardPlan | undefined> {
    return (await this.#read<ShardPlan>(shardPath(runId, shard)))?.value;
  }

  async markShardEnded(runId: string, shard: string): Promise<void> {
    await this.#create(`${endedPrefix(runId)}${shard}`, { shard });
  }

  async countEndedShards(runId: string): Promise<number> {
    return (await this.objects.list(endedPrefix(runId))).length;
  }

  readClaim(runId: string): Promise<Versioned<CompletionClaim> | undefined> {
    return this.#read(claimPath(runId));
  }

  writeClaim(claim: CompletionClaim, ifGenerationMatch: string): Promise<string> {
    return this.#write(claimPath(claim.runId), claim, ifGenerationMatch);
  }

  async readCompletion(runId: string): Promise<CompletionMarker | undefined> {
    return (await this.#read<CompletionMarker>(completionPath(runId)))?.value;
  }

  /** False when the marker exists already: the run was announced before. */
  writeCompletion(marker: CompletionMarker): Promise<boolean> {
    return this.#create(completionPath(marker.runId), marker);
  }

  /** The first pull request to mirror a target keeps the record (a tag never changes after). */
  writeEarlyMirror(key: string, record: EarlyMirrorRecord): Promise<boolean> {
    return this.#create(mirrorPath(key), record);
  }

  async readEarlyMirror(key: string): Promise<EarlyMirrorRecord | undefined> {
    return (await this.#read<EarlyMirrorRecord>(mirrorPath(key)))?.value;
  }
}

export function summaryOf(record: JobResultRecord): ResultSummary {
  return {
    key: record.key,
    final: isFinal(record),
    status: record.status,
    ...(record.category && { category: record.category }),
    ...(record.deadLettered && { deadLettered: true }),
  };
}

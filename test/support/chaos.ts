// A chaos run of the pipeline on this machine: hundreds of images through the
// real Pub/Sub emulator into copy functions that are real Functions Framework
// processes, SIGKILLed at random moments and started again, and once exactly
// between claiming a run's announcement and publishing it. Used by
// test/integration/chaos.test.ts and the `chaos` phase of `npm run bench`.
//
// Like Cloud Run, a front that never dies takes the pushes and hands each to a
// live instance (front.ts).

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { mapLimited } from '../../functions/engine/limiter.ts';
import type { RunCompletedEvent } from '../../functions/pipeline/records.ts';
import { RunStore } from '../../functions/pipeline/run-store.ts';
import type { GcsServer } from '../../scripts/local/gcs-server.ts';
import { Pusher } from './artifacts.ts';
import { type Pair, SOURCE_PUSHER, TARGET_WRITER } from './fixture.ts';
import { frontOf, type Instance, kill, startInstance } from './front.ts';
import { listenOnLoopback } from './listen.ts';
import { type Endpoint, type Pipeline, RUNS_BUCKET, startPipeline } from './pipeline-fixture.ts';
import { testBucket } from './run-stores.ts';

const PROJECT = 'image-syncer-chaos';
const REPOSITORIES = 10;

export interface ChaosOptions {
  readonly images: number;
  /** Copy function processes behind the front. */
  readonly instances: number;
  /** A random instance is killed every this many milliseconds (at random within the range). */
  readonly killEveryMs: readonly [number, number];
  readonly timeoutMs: number;
  readonly say?: (line: string) => void;
}

export interface ChaosOutcome {
  readonly runId: string;
  readonly seconds: number;
  readonly kills: number;
  /** Random kills before the run's last job ended (the claim), while copies were in flight. */
  readonly killsBeforeClaim: number;
  /** The claimer was killed between its claim and the publish. */
  readonly claimerKilled: boolean;
  /** Pushes the front answered, by status. */
  readonly pushes: Readonly<Record<number, number>>;
  readonly messages: readonly { data: RunCompletedEvent; attributes: Record<string, string> }[];
  readonly deadLetters: number;
  /** Every record of the run: status and whether it is final, by key. */
  readonly records: ReadonlyMap<string, { status: string; final: boolean }>;
  readonly plannedKeys: readonly string[];
  /** GET /runs/{runId} at the end. */
  readonly status: { phase: string; done: boolean; counts: Record<string, number> };
  /** Target tags that exist, by repository. */
  readonly targetTags: number;
}

/** Pushes `count` distinct small images (a config each, layers shared) over `REPOSITORIES` repositories. */
async function seedImages(pair: Pair, count: number): Promise<string[]> {
  const pusher = new Pusher(pair.source.url, SOURCE_PUSHER);
  const layer = randomBytes(4096);
  const repositories = Array.from({ length: REPOSITORIES }, (_, r) => `chaos/app-${r}`);
  const layers = await mapLimited(repositories, 8, (repository) =>
    pusher.blob(repository, layer, 'application/vnd.oci.image.layer.v1.tar+gzip'),
  );
  return mapLimited(
    Array.from({ length: count }, (_, i) => i),
    8,
    async (i) => {
      const repository = repositories[i % REPOSITORIES] as string;
      const shared = layers[i % REPOSITORIES] as {
        mediaType: string;
        digest: string;
        size: number;
      };
      const config = await pusher.blob(
        repository,
        Buffer.from(
          JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { i: `${i}` } } }),
        ),
        'application/vnd.oci.image.config.v1+json',
      );
      await pusher.manifest(
        repository,
        {
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
          layers: [{ mediaType: shared.mediaType, digest: shared.digest, size: shared.size }],
        },
        `v${i}`,
      );
      return `${pair.source.host}/${repository}:v${i}`;
    },
  );
}

export async function runChaos(options: ChaosOptions): Promise<ChaosOutcome> {
  const say = options.say ?? (() => undefined);
  const stops: (() => Promise<unknown> | unknown)[] = [];
  try {
    // The copy function instances, and the front that takes the pushes.
    const instances: Instance[] = [];
    const pushes: Record<number, number> = {};
    const frontAt = await listenOnLoopback(frontOf(instances, pushes));
    stops.push(() => frontAt.close());
    const { pipeline, sources } = await startChaosPipeline(options.images, frontAt.url);
    stops.push(() => pipeline.stop());
    stops.push(() => instances.forEach(kill));
    say(`chaos: ${sources.length} images in ${REPOSITORIES} repositories`);
    const slots = new Slots(instances, {
      ...pipeline.env,
      FUNCTION_TARGET: 'copyJob',
      PUBSUB_EMULATOR_HOST: pipeline.emulator.host,
      METADATA_SERVER_DETECTION: 'none',
    });
    await Promise.all(Array.from({ length: options.instances }, (_, slot) => slots.start(slot)));
    const claim = killAtClaim(pipeline.gcs, slots, say);

    const started = Date.now();
    const runId = 'chaos-run';
    const planned = await fanOut(pipeline, runId, sources);
    say(`chaos: run ${runId} fanned out, ${planned} jobs`);
    const killer = new Killer(slots, options.killEveryMs, claim);
    await untilAnnounced(pipeline, runId, options.timeoutMs, pushes);
    const seconds = (Date.now() - started) / 1000;
    const { kills, killsBeforeClaim } = await killer.stop();
    // Duplicates or late redeliveries, if any, have a moment to show.
    await sleep(3000);
    return {
      runId,
      seconds,
      kills,
      killsBeforeClaim,
      claimerKilled: claim.killed,
      pushes,
      ...(await runOutcome(pipeline, runId)),
    };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
  }
}

type ChaosPipeline = Pipeline<Record<never, Endpoint>>;

/** The pipeline with the api function in this process, the jobs pushed to `frontUrl`, `images` seeded. */
async function startChaosPipeline(
  images: number,
  frontUrl: string,
): Promise<{ pipeline: ChaosPipeline; sources: string[] }> {
  let sources: string[] = [];
  const pipeline = await startPipeline({
    project: PROJECT,
    // The fan-out, in this process: POST /sync to the api function.
    functions: ['api'],
    seed: async (pair) => {
      sources = await seedImages(pair, images);
    },
    env: {
      SYNCER_RUNS_TOPIC: 'runs',
      SYNCER_DEAD_LETTER_TOPIC: 'jobs-dead-letter',
      SYNCER_MAX_DELIVERY_ATTEMPTS: '5',
      SYNCER_COMPLETION_LEASE_SECONDS: '5',
      // Signatures are another test's subject; here they would only add requests.
      SYNCER_REFERRERS: 'false',
    },
    jobsPush: { endpoint: frontUrl, maxDeliveryAttempts: 100 },
  });
  return { pipeline, sources };
}

/** The copy function's instance slots: each started with the same environment, killed and started again. */
class Slots {
  readonly #instances: Instance[];
  readonly #env: NodeJS.ProcessEnv;

  constructor(instances: Instance[], env: NodeJS.ProcessEnv) {
    this.#instances = instances;
    this.#env = env;
  }

  get count(): number {
    return this.#instances.length;
  }

  at(slot: number): Instance | undefined {
    return this.#instances[slot];
  }

  async start(slot: number): Promise<void> {
    const instance = startInstance(this.#env);
    this.#instances[slot] = instance;
    await instance.serving;
  }

  killAll(): void {
    this.#instances.forEach(kill);
  }

  restartAll(): void {
    void Promise.all(this.#instances.map((_, slot) => this.start(slot)));
  }
}

/** The kill between claim and publish: the claim is committed, its answer never arrives. */
function killAtClaim(gcs: GcsServer, slots: Slots, say: (line: string) => void) {
  const claim = { killed: false };
  gcs.onCommit = async (name) => {
    if (claim.killed || !name.endsWith('/claim.json')) return;
    claim.killed = true;
    say('chaos: the claim of the run is written; every copy instance is killed before it hears so');
    slots.killAll();
    await sleep(50);
    slots.restartAll();
  };
  return claim;
}

/** Kills a random live instance every `killEveryMs`, and starts its slot again, until stopped. */
class Killer {
  kills = 0;
  killsBeforeClaim = 0;
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(slots: Slots, killEveryMs: readonly [number, number], claim: { killed: boolean }) {
    this.#done = this.#run(slots, killEveryMs, claim);
  }

  async #run(slots: Slots, [least, most]: readonly [number, number], claim: { killed: boolean }) {
    while (!this.#stopped) {
      await sleep(least + Math.random() * (most - least));
      if (this.#stopped) break;
      const slot = Math.floor(Math.random() * slots.count);
      const victim = slots.at(slot);
      if (!victim?.ready) continue;
      kill(victim);
      this.kills++;
      if (!claim.killed) this.killsBeforeClaim++;
      await sleep(Math.random() * 300);
      // Unless the claim's kill has started this slot again meanwhile (a
      // second start would leave that instance running, untracked).
      if (slots.at(slot) === victim) await slots.start(slot);
    }
  }

  async stop(): Promise<{ kills: number; killsBeforeClaim: number }> {
    this.#stopped = true;
    await this.#done;
    return { kills: this.kills, killsBeforeClaim: this.killsBeforeClaim };
  }
}

/** POST /sync of an images file listing `sources`; the number of jobs planned. */
async function fanOut(pipeline: ChaosPipeline, runId: string, sources: string[]): Promise<number> {
  const file = `images:\n${sources.map((s) => `- source: ${s}\n`).join('')}`;
  const sync = await pipeline.api(`/sync?runId=${runId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/yaml' },
    body: file,
  });
  if (sync.status !== 202) throw new Error(`/sync answered ${sync.status}: ${await sync.text()}`);
  return ((await sync.json()) as { jobs: unknown[] }).jobs.length;
}

function runMessages(pipeline: ChaosPipeline, runId: string): ChaosOutcome['messages'] {
  return pipeline.taps.runs
    .filter((m) => m.attributes.runId === runId)
    .map((m) => ({ data: m.data as unknown as RunCompletedEvent, attributes: m.attributes }));
}

async function untilAnnounced(
  pipeline: ChaosPipeline,
  runId: string,
  timeoutMs: number,
  pushes: Record<number, number>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (runMessages(pipeline, runId).length === 0) {
    if (Date.now() > deadline)
      throw new Error(
        `no run-completed message in ${timeoutMs} ms; pushes ${JSON.stringify(pushes)}`,
      );
    await sleep(100);
  }
}

/** What the run left: its records, planned keys, announcements, page, dead letters and target tags. */
async function runOutcome(pipeline: ChaosPipeline, runId: string) {
  const store = new RunStore(testBucket(pipeline.gcs.url, RUNS_BUCKET));
  const records = new Map(
    (await store.listResults(runId)).map((s) => [
      s.key,
      { status: s.status ?? '', final: s.final },
    ]),
  );
  const plannedKeys = ((await store.readRun(runId))?.value.jobs ?? []).map((j) => j.key);
  const status = (await (await pipeline.api(`/runs/${runId}`)).json()) as ChaosOutcome['status'];
  return {
    messages: runMessages(pipeline, runId),
    deadLetters: pipeline.taps['jobs-dead-letter'].length,
    records,
    plannedKeys,
    status,
    targetTags: await targetTags(pipeline.pair),
  };
}

/** Target tags that exist, over every repository. */
async function targetTags(pair: Pair): Promise<number> {
  let tags = 0;
  for (let r = 0; r < REPOSITORIES; r++) {
    const list = await fetch(
      `${pair.target.url}/v2/mirror/${pair.source.host.replace(':', '_')}/chaos/app-${r}/tags/list`,
      { headers: { authorization: `Basic ${Buffer.from(TARGET_WRITER).toString('base64')}` } },
    );
    if (list.ok) tags += ((await list.json()) as { tags: string[] }).tags.length;
  }
  return tags;
}

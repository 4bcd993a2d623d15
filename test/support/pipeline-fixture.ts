// One serverless pipeline on this machine, for the tests that run it end to
// end: a registry pair (fixture.ts), the Cloud Storage test server
// (scripts/local/gcs-server.ts), the real Pub/Sub emulator holding the topics
// and subscriptions infra/pubsub.tf and infra/monitoring.tf declare, and the
// functions under the real Functions Framework in this process (functions.ts).
// A pull subscription on each topic (the taps) shows the test every message.
// What differs between tests is an option: registries answered by proxies in
// front of the source, settings, which functions run here, where the jobs
// subscription pushes and how it retries.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { PubSub, type Subscription } from '@google-cloud/pubsub';
import { loadConfig } from '../../functions/gcp/config.ts';
import { storageRunId } from '../../functions/gcp/fanout-events.ts';
import { registerFunctions } from '../../functions/gcp/register.ts';
import { createRuntime } from '../../functions/gcp/runtime.ts';
import { MemoryLogger } from '../../functions/util/logger.ts';
import { type GcsServer, startGcsServer } from '../../scripts/local/gcs-server.ts';
import { type Pair, pairFunctionEnv, startPair } from './fixture.ts';
import { type FunctionServer, sendStorageFinalized, serveFunction } from './functions.ts';
import { type PubSubEmulator, startPubSubEmulator } from './pubsub-emulator.ts';

export const RUNS_BUCKET = 'runs';
export const IMAGES_BUCKET = 'images';

export type FunctionName = 'fanOutUpload' | 'fanOutRequest' | 'copyJob' | 'api' | 'planApi';
export type Topic = 'jobs' | 'jobs-dead-letter' | 'runs' | 'requests';

/** Something listening on loopback that stands for a registry (a proxy, a fake). */
export interface Endpoint {
  readonly url: string;
  readonly host: string;
  close(): Promise<void>;
}

/** The jobs push subscription (infra/pubsub.tf `jobs_push`), sized for a test. */
export interface JobsPush {
  readonly ackDeadlineSeconds?: number;
  readonly minimumBackoffSeconds?: number;
  readonly maximumBackoffSeconds?: number;
  readonly maxDeliveryAttempts?: number;
  /** Where it pushes: the in-process copy function unless given. */
  readonly endpoint?: string;
}

export interface PipelineOptions<R extends Record<string, Endpoint>> {
  readonly project: string;
  /** The functions served in this process. */
  readonly functions: readonly FunctionName[];
  /** Logical registries (`flaky.example`) answered by endpoints started in front of the pair. */
  readonly registries?: (pair: Pair) => Promise<R>;
  /** Pushes the test's images; runs while the emulator and the functions start. */
  readonly seed?: (pair: Pair) => Promise<unknown>;
  /** Settings beside the fixture's own; these win. */
  readonly env?:
    | Readonly<Record<string, string>>
    | ((pair: Pair) => Readonly<Record<string, string>>);
  readonly jobsPush?: JobsPush;
}

/** A message a tap received. */
export interface Tapped {
  readonly messageId: string;
  readonly attributes: Record<string, string>;
  readonly text: string;
  /** The data as a JSON object, when it is one. */
  readonly data: Readonly<Record<string, unknown>> | undefined;
}

export interface RunStatus {
  done: boolean;
  state: string;
  phase: string;
  counts: Record<string, number>;
  images: {
    source: string;
    target: string;
    status: string;
    digest?: string;
    error?: string;
    deadLettered?: boolean;
  }[];
  errors?: unknown[];
}

export interface Pipeline<R extends Record<string, Endpoint>> {
  readonly pair: Pair;
  readonly gcs: GcsServer;
  readonly emulator: PubSubEmulator;
  readonly pubsub: PubSub;
  readonly registries: R;
  /** The functions' settings, as their deployment would set them. */
  readonly env: Readonly<Record<string, string>>;
  readonly fns: Readonly<Partial<Record<FunctionName, FunctionServer>>>;
  readonly logs: MemoryLogger;
  /** Every message each topic carried, in the order its tap received them. */
  readonly taps: Readonly<Record<Topic, Tapped[]>>;
  /** A request to the api function. */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** Polls GET /runs/{runId} until the run is done. */
  waitForRun(runId: string, timeoutMs?: number): Promise<RunStatus>;
  /**
   * Publishes a marker after everything published so far and waits until the
   * topic's tap (and, for jobs, the in-process copy function) has it: what
   * was published before has come through by then.
   */
  drain(topic: Topic): Promise<void>;
  /**
   * Puts `text` in the images bucket as `name` and sends the fan-out its
   * finalized event, as Eventarc would; the fan-out must answer 204.
   */
  upload(name: string, text: string): Promise<Uploaded>;
  /** The messages a topic's tap saw for a run (their data's runId). */
  tapped(topic: Topic, runId: string): Tapped[];
  stop(): Promise<void>;
}

/** An object put in the images bucket, and the run id its finalized event starts. */
export interface Uploaded {
  readonly runId: string;
  readonly generation: number;
}

/** Polls `probe` until it gives a value (not undefined, null or false). */
export async function until<T>(
  what: string,
  probe: () => T | undefined | null | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function tapped(message: { id: string; attributes: Record<string, string>; data: Buffer }): Tapped {
  const text = message.data.toString();
  let data: Tapped['data'];
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      data = parsed as Record<string, unknown>;
  } catch {
    // not JSON: kept as text
  }
  return { messageId: message.id, attributes: message.attributes, text, data };
}

export async function startPipeline<R extends Record<string, Endpoint> = Record<never, Endpoint>>(
  options: PipelineOptions<R>,
): Promise<Pipeline<R>> {
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch(() => undefined);
  };
  try {
    const [pair, gcs, emulator] = await Promise.all([
      startPair(),
      startGcsServer(),
      startPubSubEmulator(),
    ]);
    stops.push(() => Promise.all([pair.stop(), gcs.close(), emulator.stop()]));
    const registries = (await options.registries?.(pair)) ?? ({} as R);
    stops.push(() => Promise.all(Object.values(registries).map((r) => r.close())));
    const [, served] = await Promise.all([
      options.seed?.(pair),
      serve(options, pair, gcs, emulator, registries, stops),
    ]);
    return { pair, gcs, emulator, registries, ...served, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The functions' settings: the pair's, the topics', the registries', then the test's own. */
function settings(
  options: PipelineOptions<Record<string, Endpoint>>,
  pair: Pair,
  gcs: GcsServer,
  registries: Record<string, Endpoint>,
): Record<string, string> {
  const named = Object.entries(registries);
  return {
    ...pairFunctionEnv(pair, {
      storage: gcs.url,
      project: options.project,
      hosts: named.map(([, r]) => r.host),
    }),
    SYNCER_JOBS_TOPIC: 'jobs',
    SYNCER_RUNS_BUCKET: RUNS_BUCKET,
    ...(named.length > 0 && {
      SYNCER_REGISTRY_ENDPOINT: named.map(([name, r]) => `${name}=${r.url}`).join(','),
    }),
    SYNCER_ALLOWED_REGISTRY: [pair.source.host, ...named.map(([name]) => name)].join(','),
    ...(typeof options.env === 'function' ? options.env(pair) : options.env),
  };
}

async function serve<R extends Record<string, Endpoint>>(
  options: PipelineOptions<R>,
  pair: Pair,
  gcs: GcsServer,
  emulator: PubSubEmulator,
  registries: R,
  stops: (() => Promise<unknown>)[],
) {
  process.env.PUBSUB_EMULATOR_HOST = emulator.host;
  process.env.METADATA_SERVER_DETECTION = 'none';
  const env = settings(options, pair, gcs, registries);
  const logs = new MemoryLogger();
  // One entry point alone loads only its own modules, as on Cloud Run.
  const only = options.functions.length === 1 ? options.functions[0] : undefined;
  await registerFunctions(createRuntime(loadConfig(env), logs), only);
  const fns: Partial<Record<FunctionName, FunctionServer>> = {};
  for (const name of options.functions) {
    const fn = await serveFunction(name);
    fns[name] = fn;
    stops.push(() => fn.close());
  }
  const pubsub = new PubSub({ projectId: options.project });
  stops.push(() => pubsub.close());
  const taps = await createTopics(pubsub, options, fns, stops);

  const api = (path: string, init?: RequestInit) => {
    assert.ok(fns.api, 'the api function is not served');
    return fetch(`${fns.api.url}${path}`, init);
  };
  const waitForRun = async (runId: string, timeoutMs = 60_000): Promise<RunStatus> => {
    let last = '';
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await api(`/runs/${runId}`);
      last = response.status === 200 ? '' : `GET /runs answered ${response.status}`;
      if (response.status === 200) {
        const status = (await response.json()) as RunStatus;
        if (status.done) return status;
        last = JSON.stringify(status);
      }
      if (Date.now() > deadline) assert.fail(`run ${runId} not done in time: ${last}`);
      await sleep(200);
    }
  };
  const drain = async (topic: Topic) => {
    const marker = `marker-${Date.now()}-${Math.random()}`;
    await pubsub.topic(topic).publishMessage({ data: Buffer.from(JSON.stringify({ marker })) });
    await until(`the marker on the ${topic} tap`, () =>
      taps[topic].some((m) => m.data?.marker === marker),
    );
    const copyJob = fns.copyJob;
    if (topic === 'jobs' && copyJob && !options.jobsPush?.endpoint)
      await until('the marker pushed to the copy function', () =>
        copyJob.deliveries.some((d) => d.data.includes(marker)),
      );
  };
  const upload = async (name: string, text: string): Promise<Uploaded> => {
    const generation = gcs.put(IMAGES_BUCKET, name, text);
    const response = await sendStorageFinalized(fns.fanOutUpload as FunctionServer, {
      bucket: IMAGES_BUCKET,
      name,
      generation,
    });
    assert.equal(response.status, 204, await response.text());
    return { runId: storageRunId(IMAGES_BUCKET, name, String(generation)), generation };
  };
  const tapped = (topic: Topic, runId: string) =>
    taps[topic].filter((m) => m.data?.runId === runId);
  return { env, logs, fns, pubsub, taps, api, waitForRun, drain, upload, tapped };
}

/** The topics and subscriptions of infra/pubsub.tf and infra/monitoring.tf, plus a tap on each topic. */
async function createTopics(
  pubsub: PubSub,
  options: PipelineOptions<Record<string, Endpoint>>,
  fns: Partial<Record<FunctionName, FunctionServer>>,
  stops: (() => Promise<unknown>)[],
): Promise<Record<Topic, Tapped[]>> {
  const push = (fn: FunctionServer | undefined, topic: Topic, endpoint = fn?.url) =>
    endpoint && { pushEndpoint: `${endpoint}/projects/${options.project}/topics/${topic}` };
  const taps: Record<Topic, Tapped[]> = {
    jobs: [],
    'jobs-dead-letter': [],
    runs: [],
    requests: [],
  };
  const topics = Object.fromEntries(
    await Promise.all(
      (Object.keys(taps) as Topic[]).map(async (name) => {
        const [topic] = await pubsub.createTopic(name);
        // The dead-letter topic's tap is infra's `dead_letter_keep` subscription.
        const tapName = name === 'jobs-dead-letter' ? 'jobs-dead-letter-keep' : `${name}-tap`;
        const [tap] = await topic.createSubscription(tapName);
        tap.on('message', (message) => {
          taps[name].push(tapped(message));
          message.ack();
        });
        stops.push(() => (tap as Subscription).close());
        return [name, topic] as const;
      }),
    ),
  );
  const jobs = options.jobsPush ?? {};
  const jobsEndpoint = push(fns.copyJob, 'jobs', jobs.endpoint);
  if (jobsEndpoint) {
    await topics.jobs?.createSubscription('jobs-push', {
      pushConfig: jobsEndpoint,
      ackDeadlineSeconds: jobs.ackDeadlineSeconds ?? 60,
      retryPolicy: {
        minimumBackoff: { seconds: jobs.minimumBackoffSeconds ?? 1 },
        maximumBackoff: { seconds: jobs.maximumBackoffSeconds ?? 2 },
      },
      deadLetterPolicy: {
        deadLetterTopic: topics['jobs-dead-letter']?.name,
        maxDeliveryAttempts: jobs.maxDeliveryAttempts ?? 5,
      },
    });
  }
  // CI's requests reach the fan-out (infra/functions.tf: its event trigger on this topic).
  const requests = push(fns.fanOutRequest, 'requests');
  if (requests)
    await topics.requests?.createSubscription('requests-push', { pushConfig: requests });
  return taps;
}

// The deployed pipeline, on loopback: the Pub/Sub emulator with the topics and
// subscriptions infra/pubsub.tf creates, and every Cloud Run function under
// the real Functions Framework, each its own process with the environment
// Terraform gives it (scripts/terraform/environment.ts) plus the few local
// stand-ins listed in LOCAL_ONLY. Used by `npm run demo:pipeline`.

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PubSub, type Topic } from '@google-cloud/pubsub';
import { storageRunId } from '../../functions/gcp/fanout-events.ts';
import { sendStorageFinalized } from '../../test/support/functions.ts';
import { listening, servingPort } from '../../test/support/ports.ts';
import { EMULATOR, isEmulator } from '../../test/support/pubsub-emulator.ts';
import type { TestRegistry } from '../../test/support/registry.ts';
import { defaultOf, loadInfra } from '../terraform/config.ts';
import { type DeployedFunction, deployedFunctions } from '../terraform/environment.ts';
import type { GcsServer } from './gcs-server.ts';
import type { Processes } from './processes.ts';

const PROJECT = 'image-syncer-demo';
const NAME = 'image-syncer';
const FRAMEWORK = 'node_modules/@google-cloud/functions-framework/build/src/main.js';

/**
 * What exists only on this machine, and why: everything else comes from
 * Terraform. The demo's registries live on loopback, which the deployed
 * functions refuse (network policy), and are not on the public allow-list.
 */
const LOCAL_ONLY = [
  'PUBSUB_EMULATOR_HOST',
  'STORAGE_EMULATOR_HOST',
  'METADATA_SERVER_DETECTION',
  'GOOGLE_CLOUD_PROJECT',
  'FUNCTION_TARGET',
  'SYNCER_ALLOWED_REGISTRY',
  'SYNCER_ALLOW_PRIVATE_NETWORKS',
] as const;

export interface RunStatusAnswer {
  readonly runId: string;
  readonly done: boolean;
  readonly counts: Record<string, number>;
  readonly images: { source: string; status: string; digest?: string; error?: string }[];
}

export interface LocalPipelineOptions {
  readonly processes: Processes;
  readonly gcs: GcsServer;
  readonly source: TestRegistry;
  readonly target: TestRegistry;
  /** `user:password` of the target registry, given to the functions as Terraform's secret would. */
  readonly targetCredentials: string;
  /** Where the credentials secret is mounted (Terraform mounts it at local.credentials_mount). */
  readonly secretsDir: string;
  readonly say: (text: string) => void;
  readonly line: (text: string) => void;
}

/** The names of the topics and buckets Terraform would create. */
const NAMES = {
  jobs: `${NAME}-jobs`,
  requests: `${NAME}-requests`,
  deadLetter: `${NAME}-jobs-dead-letter`,
  runs: `${NAME}-runs`,
  runsBucket: `${NAME}-runs-demo`,
  imagesBucket: `${NAME}-images-demo`,
};

export async function startLocalPipeline(options: LocalPipelineOptions): Promise<LocalPipeline> {
  const { processes, gcs, source, target, say, line } = options;
  const infra = await loadInfra();
  // Everything not stood in for (var.x, join(",", var.x)) is the variable's default.
  const functions = deployedFunctions(infra, terraformStandIns(target, options.secretsDir));
  const maxDeliveryAttempts = Number(defaultOf(infra, 'max_delivery_attempts'));
  writeCredentialsSecret(options);

  // Every server here starts on port 0: the kernel picks a free port, read back once it serves.
  const emulator = processes.spawn(EMULATOR, ['--host=127.0.0.1', '--port=0'], process.env);
  const emulatorHost = `127.0.0.1:${await servingPort(emulator.child, 'the Pub/Sub emulator', isEmulator, { output: emulator.output })}`;
  const tokenHost = source.tokenServer ? new URL(source.tokenServer.url).host : undefined;
  const local: Record<(typeof LOCAL_ONLY)[number], string> = {
    PUBSUB_EMULATOR_HOST: emulatorHost,
    STORAGE_EMULATOR_HOST: gcs.url,
    METADATA_SERVER_DETECTION: 'none',
    GOOGLE_CLOUD_PROJECT: PROJECT,
    FUNCTION_TARGET: '',
    SYNCER_ALLOWED_REGISTRY: source.host,
    SYNCER_ALLOW_PRIVATE_NETWORKS: [source.host, target.host, tokenHost].filter(Boolean).join(','),
  };

  say(`functions under the Functions Framework, environment from infra/*.tf (${functions.length})`);
  const urls = await startFunctions(processes, functions, local);
  for (const fn of functions) {
    line(
      `${fn.entryPoint.padEnd(14)} ${urls[fn.entryPoint]}  ${Object.keys(fn.env).sort().join(' ')}`,
    );
  }
  line(`local stand-ins: ${LOCAL_ONLY.join(' ')}`);
  line(`processes: ${processes.pids.join(' ')}`);

  process.env.PUBSUB_EMULATOR_HOST = emulatorHost;
  const pubsub = new PubSub({ projectId: PROJECT });
  processes.onStop(() => pubsub.close());
  const topics = await createTopics(pubsub, urls, maxDeliveryAttempts);
  checkDeadLettering(functions, maxDeliveryAttempts, line);
  const published = await tapJobs(topics.jobs, options);
  const pipeline = new LocalPipeline(options, urls, topics.requests, published);
  const watcher = setInterval(() => pipeline.showRecords(), 100);
  processes.onStop(() => clearInterval(watcher));
  return pipeline;
}

/** Terraform expressions → the local stand-in of what they name. */
function terraformStandIns(target: TestRegistry, secretsDir: string): Record<string, string> {
  return {
    'google_pubsub_topic.jobs.name': NAMES.jobs,
    'google_pubsub_topic.requests.name': NAMES.requests,
    'google_pubsub_topic.runs.name': NAMES.runs,
    'google_pubsub_topic.dead_letter.name': NAMES.deadLetter,
    'google_storage_bucket.runs.name': NAMES.runsBucket,
    'google_storage_bucket.images.name': NAMES.imagesBucket,
    'local.target_prefix': `${target.host}/external/`,
    'var.project_id': PROJECT,
    // The source-credentials secret, mounted as a file as infra/secrets.tf does,
    // holding the local target's credentials in Docker's config.json form.
    'local.credentials_enabled': 'true',
    'local.mirrors_early': 'false',
    'local.credentials_mount': secretsDir,
  };
}

function writeCredentialsSecret(options: LocalPipelineOptions): void {
  const auth = Buffer.from(options.targetCredentials).toString('base64');
  writeFileSync(
    join(options.secretsDir, 'config.json'),
    JSON.stringify({ auths: { [options.target.host]: { auth } } }),
  );
}

/** Each function in its own Functions Framework process; their URLs by entry point. */
async function startFunctions(
  processes: Processes,
  functions: readonly DeployedFunction[],
  local: Record<string, string>,
): Promise<Record<string, string>> {
  const urls: Record<string, string> = {};
  await Promise.all(
    functions.map(async (fn) => {
      const child = processes.spawn(
        process.execPath,
        [FRAMEWORK, `--target=${fn.entryPoint}`, '--source=functions/gcp/index.ts', '--port=0'],
        { PATH: process.env.PATH, ...fn.env, ...local, FUNCTION_TARGET: fn.entryPoint },
      );
      const port = await servingPort(child.child, fn.entryPoint, listening, {
        output: child.output,
      });
      urls[fn.entryPoint] = `http://127.0.0.1:${port}`;
    }),
  );
  return urls;
}

/** Topics and subscriptions as infra/pubsub.tf declares them. */
async function createTopics(
  pubsub: PubSub,
  urls: Record<string, string>,
  maxDeliveryAttempts: number,
): Promise<{ jobs: Topic; requests: Topic }> {
  const [jobs] = await pubsub.createTopic(NAMES.jobs);
  const [deadLetter] = await pubsub.createTopic(NAMES.deadLetter);
  await deadLetter.createSubscription(`${NAMES.deadLetter}-keep`);
  await jobs.createSubscription(`${NAME}-jobs-push`, {
    pushConfig: { pushEndpoint: `${urls.copyJob}/projects/${PROJECT}/topics/${NAMES.jobs}` },
    ackDeadlineSeconds: 60,
    retryPolicy: { minimumBackoff: { seconds: 1 }, maximumBackoff: { seconds: 5 } },
    deadLetterPolicy: { deadLetterTopic: deadLetter.name, maxDeliveryAttempts },
  });
  // The run-completed messages go here; nothing in the demo subscribes.
  await pubsub.createTopic(NAMES.runs);
  const [requests] = await pubsub.createTopic(NAMES.requests);
  await requests.createSubscription(`${NAME}-requests-push`, {
    pushConfig: {
      pushEndpoint: `${urls.fanOutRequest}/projects/${PROJECT}/topics/${NAMES.requests}`,
    },
  });
  return { jobs, requests };
}

/**
 * copyJob dead-letters by its own count, to the topic Terraform names; the
 * jobs subscription's policy is the backstop (infra/README.md, Sizing).
 */
function checkDeadLettering(
  functions: readonly DeployedFunction[],
  maxDeliveryAttempts: number,
  line: (text: string) => void,
): void {
  const copyEnv = functions.find((fn) => fn.entryPoint === 'copyJob')?.env ?? {};
  if (copyEnv.SYNCER_DEAD_LETTER_TOPIC !== NAMES.deadLetter) {
    throw new Error(
      `copyJob's SYNCER_DEAD_LETTER_TOPIC (${copyEnv.SYNCER_DEAD_LETTER_TOPIC}) is not the jobs subscription's dead-letter topic ${NAMES.deadLetter}`,
    );
  }
  line(
    `copyJob dead-letters to ${copyEnv.SYNCER_DEAD_LETTER_TOPIC} after ${copyEnv.SYNCER_MAX_DELIVERY_ATTEMPTS} counted failures; the subscription's backstop: ${maxDeliveryAttempts} attempts`,
  );
}

/** A pull subscription beside the push one: the demo's view of jobs as they are published, counted by run. */
async function tapJobs(jobs: Topic, options: LocalPipelineOptions): Promise<Map<string, number>> {
  const [tap] = await jobs.createSubscription(`${NAME}-jobs-demo-tap`);
  const published = new Map<string, number>();
  tap.on('message', (message) => {
    const runId = message.attributes.runId ?? '?';
    published.set(runId, (published.get(runId) ?? 0) + 1);
    options.line(`published  ${runId}  ${message.attributes.source ?? ''}`);
    message.ack();
  });
  options.processes.onStop(() => tap.close());
  return published;
}

/** The running pipeline, driven as its users drive it: uploads, request messages, the HTTP API. */
export class LocalPipeline {
  readonly runsBucket = NAMES.runsBucket;
  readonly #statuses = new Map<string, RunStatusAnswer>();
  readonly #seen = new Set<string>();

  readonly #options: LocalPipelineOptions;
  readonly #urls: Record<string, string>;
  readonly #requests: Topic;
  /** Jobs published, by run id. */
  readonly #published: Map<string, number>;

  constructor(
    options: LocalPipelineOptions,
    urls: Record<string, string>,
    requests: Topic,
    published: Map<string, number>,
  ) {
    this.#options = options;
    this.#urls = urls;
    this.#requests = requests;
    this.#published = published;
  }

  /** Prints each job's result once its record is in the runs bucket. */
  showRecords(): void {
    const { gcs, line } = this.#options;
    for (const name of gcs.list(NAMES.runsBucket, 'runs/')) {
      if (!name.includes('/results/') || this.#seen.has(name)) continue;
      const record = JSON.parse(gcs.get(NAMES.runsBucket, name)?.toString() ?? '{}');
      if (record.retrying) continue;
      this.#seen.add(name);
      const size = record.bytes ? ` ${(record.bytes / 1048576).toFixed(1)} MiB` : '';
      const took = record.durationMs !== undefined ? ` in ${record.durationMs} ms` : '';
      line(`finished   ${record.runId}  ${record.source} → ${record.status}${size}${took}`);
    }
  }

  async upload(name: string, text: string): Promise<string> {
    const { gcs, line } = this.#options;
    const generation = gcs.put(NAMES.imagesBucket, name, text, { contentType: 'application/yaml' });
    line(`uploaded gs://${NAMES.imagesBucket}/${name} (generation ${generation})`);
    const response = await sendStorageFinalized(
      { url: this.#urls.fanOutUpload as string },
      { bucket: NAMES.imagesBucket, name, generation },
    );
    if (!response.ok) throw new Error(`fanOutUpload answered ${response.status}`);
    const runId = storageRunId(NAMES.imagesBucket, name, String(generation));
    line(`fanOutUpload answered ${response.status}: run ${runId}`);
    return runId;
  }

  async publishRequest(text: string, runId: string): Promise<string> {
    const messageId = await this.#requests.publishMessage({
      data: Buffer.from(text),
      attributes: { runId },
    });
    this.#options.line(`published request message ${messageId} with runId=${runId}`);
    return runId;
  }

  /** `image-syncer remote sync`, as the reusable workflow runs it. */
  remoteSync(file: string, runId: string): Promise<{ code: number | null; output: string }> {
    const args = ['remote', 'sync', '-i', file, '--url', this.#urls.api as string];
    return new Promise((resolvePromise) => {
      const child = spawn(process.execPath, ['bin/image-syncer.js', ...args, '--run-id', runId], {
        env: { PATH: process.env.PATH },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      const show = (chunk: Buffer) => {
        output += chunk;
        for (const l of chunk.toString().trimEnd().split('\n')) this.#options.line(`remote | ${l}`);
      };
      child.stdout.on('data', show);
      child.stderr.on('data', show);
      child.once('exit', (code) => resolvePromise({ code, output }));
    });
  }

  /** Waits until the run is done, as GET /runs/{id} says. */
  async follow(runId: string, timeoutMs = 120_000): Promise<RunStatusAnswer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await this.#status(runId);
      if (response.ok) {
        const answer = (await response.json()) as RunStatusAnswer;
        if (answer.done) {
          this.showRecords();
          this.#statuses.set(runId, answer);
          const counts = Object.entries(answer.counts).map(([k, v]) => `${v} ${k}`);
          const jobs = this.#published.get(runId) ?? 0;
          this.#options.line(`run ${runId} done: ${counts.join(', ')} (${jobs} jobs published)`);
          return answer;
        }
      } else {
        await response.body?.cancel();
      }
      if (Date.now() > deadline) throw new Error(`run ${runId} did not finish in time`);
      await sleep(200);
    }
  }

  async markdownStatus(runId: string): Promise<string> {
    return (await this.#status(runId, 'text/markdown')).text();
  }

  allCopied(runIds: readonly string[]): boolean {
    return runIds.every(
      (id) => this.#statuses.get(id)?.images.every((i) => i.status === 'copied') === true,
    );
  }

  #status(runId: string, accept = 'application/json'): Promise<Response> {
    return fetch(`${this.#urls.api}/runs/${encodeURIComponent(runId)}`, { headers: { accept } });
  }
}

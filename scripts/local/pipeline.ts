// The deployed pipeline, on loopback: the Pub/Sub emulator with the topics and
// subscriptions infra/pubsub.tf creates, and every Cloud Run function under
// the real Functions Framework, each its own process with the environment
// Terraform gives it (scripts/terraform/environment.ts) plus the few local
// stand-ins listed in LOCAL_ONLY. Used by `npm run demo:pipeline`.

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PubSub } from '@google-cloud/pubsub';
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

export async function startLocalPipeline(options: LocalPipelineOptions) {
  const { processes, gcs, source, target, say, line } = options;
  const infra = await loadInfra();
  const names = {
    jobs: `${NAME}-jobs`,
    requests: `${NAME}-requests`,
    deadLetter: `${NAME}-jobs-dead-letter`,
    runs: `${NAME}-runs`,
    runsBucket: `${NAME}-runs-demo`,
    imagesBucket: `${NAME}-images-demo`,
  };
  const prefix = `${target.host}/external/`;
  // Terraform expressions → the local stand-in of what they name.
  const standIns: Record<string, string> = {
    'google_pubsub_topic.jobs.name': names.jobs,
    'google_pubsub_topic.requests.name': names.requests,
    'google_pubsub_topic.runs.name': names.runs,
    'google_pubsub_topic.dead_letter.name': names.deadLetter,
    'google_storage_bucket.runs.name': names.runsBucket,
    'google_storage_bucket.images.name': names.imagesBucket,
    'local.target_prefix': prefix,
    'var.project_id': PROJECT,
    // The source-credentials secret, mounted as a file as infra/secrets.tf does,
    // holding the local target's credentials in Docker's config.json form.
    'local.credentials_enabled': 'true',
    'local.mirrors_early': 'false',
    'local.credentials_mount': options.secretsDir,
  };
  // Everything else (var.x, join(",", var.x)) stands in as the variable's default.
  const functions = deployedFunctions(infra, standIns);
  const maxDeliveryAttempts = Number(defaultOf(infra, 'max_delivery_attempts'));
  writeFileSync(
    join(options.secretsDir, 'config.json'),
    JSON.stringify({
      auths: {
        [target.host]: { auth: Buffer.from(options.targetCredentials).toString('base64') },
      },
    }),
  );

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

  const urls: Record<string, string> = {};
  say(`functions under the Functions Framework, environment from infra/*.tf (${functions.length})`);
  await Promise.all(
    functions.map(async (fn) => {
      urls[fn.entryPoint] = await startFunction(fn, { ...local, FUNCTION_TARGET: fn.entryPoint });
    }),
  );
  for (const fn of functions) {
    line(
      `${fn.entryPoint.padEnd(14)} ${urls[fn.entryPoint]}  ${Object.keys(fn.env).sort().join(' ')}`,
    );
  }
  line(`local stand-ins: ${LOCAL_ONLY.join(' ')}`);
  line(`processes: ${processes.pids.join(' ')}`);

  async function startFunction(fn: DeployedFunction, extra: Record<string, string>) {
    const child = processes.spawn(
      process.execPath,
      [FRAMEWORK, `--target=${fn.entryPoint}`, '--source=functions/gcp/index.ts', '--port=0'],
      { PATH: process.env.PATH, ...fn.env, ...extra },
    );
    const port = await servingPort(child.child, fn.entryPoint, listening, { output: child.output });
    return `http://127.0.0.1:${port}`;
  }

  // Topics and subscriptions as infra/pubsub.tf declares them.
  process.env.PUBSUB_EMULATOR_HOST = emulatorHost;
  const pubsub = new PubSub({ projectId: PROJECT });
  processes.onStop(() => pubsub.close());
  const [jobs] = await pubsub.createTopic(names.jobs);
  const [deadLetter] = await pubsub.createTopic(names.deadLetter);
  await deadLetter.createSubscription(`${names.deadLetter}-keep`);
  await jobs.createSubscription(`${NAME}-jobs-push`, {
    pushConfig: { pushEndpoint: `${urls.copyJob}/projects/${PROJECT}/topics/${names.jobs}` },
    ackDeadlineSeconds: 60,
    retryPolicy: { minimumBackoff: { seconds: 1 }, maximumBackoff: { seconds: 5 } },
    deadLetterPolicy: {
      deadLetterTopic: deadLetter.name,
      maxDeliveryAttempts,
    },
  });
  // copyJob dead-letters by its own count, to the topic Terraform names; the
  // subscription's policy above is the backstop (infra/README.md, Sizing).
  const copyEnv = functions.find((fn) => fn.entryPoint === 'copyJob')?.env ?? {};
  if (copyEnv.SYNCER_DEAD_LETTER_TOPIC !== names.deadLetter) {
    throw new Error(
      `copyJob's SYNCER_DEAD_LETTER_TOPIC (${copyEnv.SYNCER_DEAD_LETTER_TOPIC}) is not the jobs subscription's dead-letter topic ${names.deadLetter}`,
    );
  }
  line(
    `copyJob dead-letters to ${copyEnv.SYNCER_DEAD_LETTER_TOPIC} after ${copyEnv.SYNCER_MAX_DELIVERY_ATTEMPTS} counted failures; the subscription's backstop: ${maxDeliveryAttempts} attempts`,
  );
  // The run-completed messages go here; nothing in the demo subscribes.
  await pubsub.createTopic(names.runs);
  const [requests] = await pubsub.createTopic(names.requests);
  await requests.createSubscription(`${NAME}-requests-push`, {
    pushConfig: {
      pushEndpoint: `${urls.fanOutRequest}/projects/${PROJECT}/topics/${names.requests}`,
    },
  });
  // A pull subscription beside the push one: the demo's view of jobs as they are published.
  const [tap] = await jobs.createSubscription(`${NAME}-jobs-demo-tap`);
  const published = new Map<string, number>();
  tap.on('message', (message) => {
    const runId = message.attributes.runId ?? '?';
    published.set(runId, (published.get(runId) ?? 0) + 1);
    line(`published  ${runId}  ${message.attributes.source ?? ''}`);
    message.ack();
  });
  processes.onStop(() => tap.close());

  const statuses = new Map<string, RunStatusAnswer>();

  async function status(runId: string, accept = 'application/json'): Promise<Response> {
    return fetch(`${urls.api}/runs/${encodeURIComponent(runId)}`, { headers: { accept } });
  }

  /** Prints each job's result once its record is in the runs bucket. */
  const seen = new Set<string>();
  function showRecords(): void {
    for (const name of gcs.list(names.runsBucket, 'runs/')) {
      if (!name.includes('/results/') || seen.has(name)) continue;
      const record = JSON.parse(gcs.get(names.runsBucket, name)?.toString() ?? '{}');
      if (record.retrying) continue;
      seen.add(name);
      const size = record.bytes ? ` ${(record.bytes / 1048576).toFixed(1)} MiB` : '';
      const took = record.durationMs !== undefined ? ` in ${record.durationMs} ms` : '';
      line(`finished   ${record.runId}  ${record.source} → ${record.status}${size}${took}`);
    }
  }
  const watcher = setInterval(showRecords, 100);
  processes.onStop(() => clearInterval(watcher));

  return {
    runsBucket: names.runsBucket,

    async upload(name: string, text: string): Promise<string> {
      const generation = gcs.put(names.imagesBucket, name, text, {
        contentType: 'application/yaml',
      });
      line(`uploaded gs://${names.imagesBucket}/${name} (generation ${generation})`);
      const response = await sendStorageFinalized(
        { url: urls.fanOutUpload as string },
        { bucket: names.imagesBucket, name, generation },
      );
      if (!response.ok) throw new Error(`fanOutUpload answered ${response.status}`);
      const runId = storageRunId(names.imagesBucket, name, String(generation));
      line(`fanOutUpload answered ${response.status}: run ${runId}`);
      return runId;
    },

    async publishRequest(text: string, runId: string): Promise<string> {
      const messageId = await requests.publishMessage({
        data: Buffer.from(text),
        attributes: { runId },
      });
      line(`published request message ${messageId} with runId=${runId}`);
      return runId;
    },

    /** `image-syncer remote sync`, as the reusable workflow runs it. */
    remoteSync(file: string, runId: string): Promise<{ code: number | null; output: string }> {
      return new Promise((resolvePromise) => {
        const child = spawn(
          process.execPath,
          [
            'bin/image-syncer.js',
            'remote',
            'sync',
            '-i',
            file,
            '--url',
            urls.api as string,
            '--run-id',
            runId,
          ],
          { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let output = '';
        const show = (chunk: Buffer) => {
          output += chunk;
          for (const l of chunk.toString().trimEnd().split('\n')) line(`remote | ${l}`);
        };
        child.stdout.on('data', show);
        child.stderr.on('data', show);
        child.once('exit', (code) => resolvePromise({ code, output }));
      });
    },

    /** Waits until the run is done, as GET /runs/{id} says. */
    async follow(runId: string, timeoutMs = 120_000): Promise<RunStatusAnswer> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const response = await status(runId);
        if (response.ok) {
          const answer = (await response.json()) as RunStatusAnswer;
          if (answer.done) {
            showRecords();
            statuses.set(runId, answer);
            line(
              `run ${runId} done: ${Object.entries(answer.counts)
                .map(([k, v]) => `${v} ${k}`)
                .join(', ')} (${published.get(runId) ?? 0} jobs published)`,
            );
            return answer;
          }
        } else {
          await response.body?.cancel();
        }
        if (Date.now() > deadline) throw new Error(`run ${runId} did not finish in time`);
        await sleep(200);
      }
    },

    async markdownStatus(runId: string): Promise<string> {
      const response = await status(runId, 'text/markdown');
      return response.text();
    },

    allCopied(runIds: readonly string[]): boolean {
      return runIds.every((id) => {
        const answer = statuses.get(id);
        return answer?.images.every((i) => i.status === 'copied') === true;
      });
    },
  };
}

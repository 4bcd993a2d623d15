// The fan-out benchmark: a 2,000-entry images file uploaded to the (test)
// bucket, through the fanOutUpload function under the Functions Framework,
// into the real Pub/Sub emulator. The function answers only once every
// publish is acknowledged, so its response time is the figure.

import { PubSub } from '@google-cloud/pubsub';
import { loadConfig } from '../functions/gcp/config.ts';
import { storageRunId } from '../functions/gcp/fanout-events.ts';
import { registerFunctions } from '../functions/gcp/register.ts';
import { createRuntime } from '../functions/gcp/runtime.ts';
import { silentLogger } from '../functions/util/logger.ts';
import { startGcsServer } from '../scripts/local/gcs-server.ts';
import { sendStorageFinalized, serveFunction } from '../test/support/functions.ts';
import { startPubSubEmulator } from '../test/support/pubsub-emulator.ts';

export async function benchFanOut(
  sourceHost: string,
  entries: number,
): Promise<{ seconds: number; pinnedSeconds: number }> {
  const gcs = await startGcsServer();
  const emulator = await startPubSubEmulator();
  process.env.PUBSUB_EMULATOR_HOST = emulator.host;
  process.env.METADATA_SERVER_DETECTION = 'none';
  const pubsub = new PubSub({ projectId: 'bench' });
  try {
    const [topic] = await pubsub.createTopic('jobs');
    await topic.createSubscription('jobs-keep');
    const file = `images:\n${Array.from({ length: entries }, (_, i) => `- source: ${sourceHost}/bench/fan-${String(i).padStart(4, '0')}:v1`).join('\n')}\n`;
    const time = async (pin: boolean, name: string): Promise<number> => {
      const env = {
        STORAGE_EMULATOR_HOST: gcs.url,
        SYNCER_TARGET_REPO_PREFIX: 'europe-docker.pkg.dev/bench/mirror/',
        SYNCER_PROJECT: 'bench',
        SYNCER_JOBS_TOPIC: 'jobs',
        SYNCER_RUNS_BUCKET: 'runs',
        SYNCER_PIN_DIGESTS: String(pin),
        SYNCER_ALLOWED_REGISTRY: '*',
        SYNCER_ALLOW_PRIVATE_NETWORKS: 'true',
      };
      await registerFunctions(createRuntime(loadConfig(env), silentLogger));
      const fn = await serveFunction('fanOutUpload');
      try {
        const generation = gcs.put('images', name, file);
        const started = performance.now();
        const response = await sendStorageFinalized(fn, { bucket: 'images', name, generation });
        const seconds = (performance.now() - started) / 1000;
        if (response.status !== 204)
          throw new Error(`fan-out answered ${response.status}: ${await response.text()}`);
        // The figure only counts if every entry really went out as a job.
        const record = JSON.parse(
          String(
            gcs.get('runs', `runs/${storageRunId('images', name, String(generation))}/run.json`),
          ),
        );
        if (record.state !== 'published' || record.jobs.length !== entries) {
          throw new Error(`fan-out did not publish ${entries} jobs: ${record.state}`);
        }
        return seconds;
      } finally {
        await fn.close();
      }
    };
    const seconds = await time(false, 'bench/external-images.yaml');
    const pinnedSeconds = await time(true, 'bench-pinned/external-images.yaml');
    process.stdout.write(
      `  fan-out of ${entries}: ${seconds.toFixed(2)} s (${pinnedSeconds.toFixed(2)} s with digests pinned)\n`,
    );
    return { seconds, pinnedSeconds };
  } finally {
    await pubsub.close();
    await Promise.all([gcs.close(), emulator.stop()]);
  }
}

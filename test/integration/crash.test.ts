// The copy function killed in the middle of a copy (the process exits), then
// the job redelivered by the real Pub/Sub emulator to a fresh instance under
// the real functions-framework command, behind Cloud Run's front
// (test/support/front.ts): the redelivery finishes the image and does not
// upload again the blobs the first instance had already put.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PubSub } from '@google-cloud/pubsub';
import { type GcsServer, startGcsServer } from '../../scripts/local/gcs-server.ts';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import {
  type Pair,
  pairFunctionEnv,
  SOURCE_PUSHER,
  settledLog,
  startPair,
  TARGET_WRITER,
} from '../support/fixture.ts';
import { frontOf, type Instance, kill, startInstance } from '../support/front.ts';
import { type Descriptor, inspectRaw, Layout, push, sha256 } from '../support/images.ts';
import { type Listening, listenOnLoopback } from '../support/listen.ts';
import { type PubSubEmulator, startPubSubEmulator } from '../support/pubsub-emulator.ts';

describe('copy function killed mid-copy', () => {
  let pair: Pair;
  let gcs: GcsServer;
  let emulator: PubSubEmulator;
  let proxy: FaultProxy;
  let pubsub: PubSub;
  let image: Descriptor;
  let layers: Descriptor[];
  let front: Listening;
  /** The one instance behind the front (Cloud Run's maximum of one, here). */
  const instances: Instance[] = [];

  async function startCopyInstance(): Promise<Instance> {
    const instance = startInstance(
      {
        FUNCTION_TARGET: 'copyJob',
        METADATA_SERVER_DETECTION: 'none',
        ...pairFunctionEnv(pair, {
          storage: gcs.url,
          project: 'crash-test',
          prefix: 'crash',
          hosts: [proxy.host],
        }),
        SYNCER_RUNS_BUCKET: 'runs',
        SYNCER_ALLOWED_REGISTRY: proxy.host,
      },
      ['--signature-type=cloudevent'],
    );
    instances.push(instance);
    assert.ok(await instance.serving, 'the copy function serves');
    return instance;
  }

  before(async () => {
    pair = await startPair();
    gcs = await startGcsServer();
    emulator = await startPubSubEmulator();
    proxy = await startFaultProxy(pair.source.url);
    const layout = new Layout();
    layers = [layout.layer(24_000_000), layout.layer(150_000), layout.layer(120_000)];
    image = layout.image({ layers });
    layout.tag('v1', image);
    await push(layout, 'v1', `${pair.source.host}/team/crash:v1`, { creds: SOURCE_PUSHER });
    front = await listenOnLoopback(frontOf(instances, {}));
    process.env.PUBSUB_EMULATOR_HOST = emulator.host;
    process.env.METADATA_SERVER_DETECTION = 'none';
    pubsub = new PubSub({ projectId: 'crash-test' });
  });

  after(async () => {
    instances.forEach(kill);
    await pubsub?.close();
    await Promise.all([
      pair?.stop(),
      gcs?.close(),
      emulator?.stop(),
      proxy?.close(),
      front?.close(),
    ]);
  });

  it('finishes on redelivery without uploading again what was already there', async () => {
    // The big layer crawls at 1 MB/s the first time, so the instance dies mid-transfer.
    const big = layers[0] as Descriptor;
    proxy.add({
      method: 'GET',
      path: new RegExp(`/blobs/${big.digest}`),
      faults: [{ kind: 'throttle', bytesPerSecond: 1_000_000 }],
    });
    const first = await startCopyInstance();
    const [topic] = await pubsub.createTopic('jobs');
    await topic.createSubscription('jobs-push', {
      pushConfig: { pushEndpoint: `${front.url}/projects/crash-test/topics/jobs` },
      ackDeadlineSeconds: 60,
      retryPolicy: { minimumBackoff: { seconds: 1 }, maximumBackoff: { seconds: 2 } },
    });
    await topic.publishMessage({
      data: Buffer.from(
        JSON.stringify({ runId: 'crash-run', source: `${proxy.host}/team/crash:v1` }),
      ),
    });

    const uploaded = (digest: string, log: { method: string; path: string; status: number }[]) =>
      log.filter(
        (e) =>
          e.method === 'PUT' &&
          e.status === 201 &&
          e.path.includes(`digest=${encodeURIComponent(digest)}`),
      ).length;
    const small = layers.slice(1) as Descriptor[];
    const deadline = Date.now() + 30_000;
    for (;;) {
      const log = pair.target.accessLog();
      if (
        small.every((l) => uploaded(l.digest, log) === 1) &&
        proxy.count('GET', new RegExp(`/blobs/${big.digest}`)) === 1
      )
        break;
      if (Date.now() > deadline) assert.fail('the first instance never got the small layers in');
      await sleep(100);
    }
    kill(first);
    await new Promise((resolve) => first.child.once('exit', resolve));
    assert.equal(
      gcs.list('runs', 'runs/crash-run/').length,
      0,
      'the killed instance recorded nothing',
    );

    await startCopyInstance();
    const done = Date.now() + 60_000;
    let record: { status: string; digest?: string } | undefined;
    while (!record && Date.now() < done) {
      const name = gcs.list('runs', 'runs/crash-run/results/')[0];
      if (name) record = JSON.parse(String(gcs.get('runs', name)));
      else await sleep(200);
    }
    assert.equal(record?.status, 'copied', JSON.stringify(record));
    assert.equal(record?.digest, image.digest);
    const log = await settledLog(pair.target);
    for (const layer of small)
      assert.equal(
        uploaded(layer.digest, log),
        1,
        'a blob already in the target is not uploaded again',
      );
    assert.equal(uploaded(big.digest, log), 1);
    assert.equal(
      sha256(
        await inspectRaw(
          `${pair.target.host}/crash/${proxy.host.replace(':', '_')}/team/crash:v1`,
          TARGET_WRITER,
        ),
      ),
      image.digest,
    );
  });
});

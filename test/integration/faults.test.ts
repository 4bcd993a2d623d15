// Faults injected between image-syncer and real registries. Each run ends with
// the correct image (checked by digest with skopeo) or a `failed` result that
// names the cause after a bounded number of attempts, and never with a target
// tag pointing at an incomplete or different image. Each test states the
// number of attempts it expects.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { syncImages } from '../../functions/engine/sync.ts';
import type { CopyJob, CopyResult } from '../../functions/engine/types.ts';
import { formatReference, parseReference } from '../../functions/reference/reference.ts';
import { parseTargetPrefix, targetReference } from '../../functions/reference/target.ts';
import { StaticCredentials } from '../../functions/registry/credentials.ts';
import { Registries, type RegistriesOptions } from '../../functions/registry/registries.ts';
import { type FaultProxy, ledger, startFaultProxy } from '../support/fault-proxy.ts';
import { SOURCE_PUSHER, TARGET_WRITER } from '../support/fixture.ts';
import { type Descriptor, inspectRaw, Layout, push, sha256 } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

const outcomes = { survived: 0, copied: 0, failedWithCause: 0, corruptTargets: 0 };

describe('faults between image-syncer and real registries', () => {
  let source: TestRegistry;
  let target: TestRegistry;
  let sourceProxy: FaultProxy;
  let targetProxy: FaultProxy;
  let image: Descriptor;
  let bigLayer: Descriptor;
  let run = 0;

  before(async () => {
    const [pushUser, pushPassword] = SOURCE_PUSHER.split(':') as [string, string];
    const [writeUser, writePassword] = TARGET_WRITER.split(':') as [string, string];
    source = await startRegistry({ kind: 'token', users: { [pushUser]: pushPassword } });
    target = await startRegistry({ kind: 'basic', users: { [writeUser]: writePassword } });
    sourceProxy = await startFaultProxy(source.url);
    targetProxy = await startFaultProxy(target.url);
    const layout = new Layout();
    bigLayer = layout.layer(2_000_000);
    image = layout.image({ layers: [bigLayer, 100_000] });
    layout.tag('v1', image);
    await push(layout, 'v1', `${source.host}/team/app:v1`, { creds: SOURCE_PUSHER });
  });

  after(async () => {
    await Promise.all([sourceProxy.close(), targetProxy.close(), source.stop(), target.stop()]);
    process.stdout.write(
      `# fault injection: ${ledger.injected} faults injected (${[...ledger.byKind].map(([k, n]) => `${n} ${k}`).join(', ')}); ` +
        `${outcomes.survived} runs survived them (${outcomes.copied} with the correct image, ${outcomes.failedWithCause} failed naming the cause); ` +
        `${outcomes.corruptTargets} targets corrupt or overwritten\n`,
    );
  });

  function registries(extra: RegistriesOptions = {}): Registries {
    const [username, password] = TARGET_WRITER.split(':') as [string, string];
    return new Registries({
      credentials: new StaticCredentials([[targetProxy.host, { username, password }]]),
      retry: { attempts: 4, baseDelayMs: 20, maxDelayMs: 100 },
      ...(process.env.DEBUG_FAULTS && {
        logger: {
          debug: (m: string) => process.stderr.write(`${Date.now() % 100000} ${m}\n`),
          info() {},
          warn() {},
        },
      }),
      ...extra,
    });
  }

  function job(prefix: string): CopyJob {
    const sourceRef = parseReference(`${sourceProxy.host}/team/app:v1`);
    return {
      source: formatReference(sourceRef),
      sourceRef,
      target: targetReference(sourceRef, parseTargetPrefix(`${targetProxy.host}/${prefix}/`)),
    };
  }

  /** Runs one sync into a fresh prefix and checks the invariant whatever the outcome. */
  async function sync(
    options: { registries?: Registries; prefix?: string } = {},
  ): Promise<{ result: CopyResult; target: string }> {
    const prefix = options.prefix ?? `run${++run}`;
    const regs = options.registries ?? registries();
    const [result] = await syncImages([job(prefix)], regs);
    if (!options.registries) await regs.close();
    const targetTag = `${target.host}/${prefix}/${sourceProxy.host.replace(':', '_')}/team/app:v1`;
    assert.ok(result);
    if (result.status === 'copied' || result.status === 'exists') {
      const digest = sha256(await inspectRaw(targetTag, TARGET_WRITER));
      if (digest !== image.digest) outcomes.corruptTargets++;
      assert.equal(digest, image.digest, 'the target holds exactly the source image');
      outcomes.copied++;
    } else {
      // A failure never leaves a tag behind.
      await assert.rejects(inspectRaw(targetTag, TARGET_WRITER), /manifest unknown/);
      outcomes.failedWithCause++;
    }
    outcomes.survived++;
    return { result, target: targetTag };
  }

  const bigBlob = () => new RegExp(`/v2/team/app/blobs/${bigLayer.digest}`);
  const manifest = /\/v2\/team\/app\/manifests\//;

  it('survives connection resets in the middle of a blob download (3 attempts)', async () => {
    sourceProxy.add({
      method: 'GET',
      path: bigBlob(),
      faults: [
        { kind: 'reset-after', bytes: 500_000 },
        { kind: 'reset-after', bytes: 1_500_000 },
      ],
    });
    const before = sourceProxy.count('GET', bigBlob());
    const { result } = await sync();
    assert.equal(result.status, 'copied');
    assert.equal(sourceProxy.count('GET', bigBlob()) - before, 3);
  });

  it('catches a truncated body by its digest and fetches it again (2 attempts)', async () => {
    sourceProxy.add({
      method: 'GET',
      path: bigBlob(),
      faults: [{ kind: 'truncate', bytes: 1_000_000 }],
    });
    const before = sourceProxy.count('GET', bigBlob());
    assert.equal((await sync()).result.status, 'copied');
    assert.equal(sourceProxy.count('GET', bigBlob()) - before, 2);
  });

  it('catches bytes that do not match their digest (2 attempts), and fails naming it when they never do (4)', async () => {
    sourceProxy.add({
      method: 'GET',
      path: bigBlob(),
      faults: [{ kind: 'corrupt', offset: 1_234_567 }],
    });
    let before = sourceProxy.count('GET', bigBlob());
    assert.equal((await sync()).result.status, 'copied');
    assert.equal(sourceProxy.count('GET', bigBlob()) - before, 2);

    sourceProxy.add({
      method: 'GET',
      path: bigBlob(),
      faults: Array.from({ length: 4 }, () => ({ kind: 'corrupt' as const, offset: 42 })),
    });
    before = sourceProxy.count('GET', bigBlob());
    const { result } = await sync();
    assert.equal(result.status, 'failed');
    assert.equal(result.errorCode, 'DIGEST_MISMATCH');
    assert.match(
      result.error ?? '',
      /expected digest sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64} \(after 4 attempts\)/,
    );
    assert.equal(sourceProxy.count('GET', bigBlob()) - before, 4);
  });

  it('gives up on a stalled response after the per-request timeout and tries again (2 attempts)', async () => {
    // The stall outlasts the 400 ms header timeout many times over. What
    // proves the timeout worked is not the wall time (a loaded machine can
    // take seconds for the rest of the copy) but the proxy's record: image-
    // syncer closed the stalled request itself, before any answer, and got
    // the manifest from a second GET.
    sourceProxy.add({ method: 'GET', path: manifest, faults: [{ kind: 'stall', ms: 30_000 }] });
    const regs = registries({ headersTimeoutMs: 400 });
    const before = sourceProxy.seen.length;
    const { result } = await sync({ registries: regs });
    await regs.close();
    assert.equal(result.status, 'copied');
    const gets = sourceProxy.seen
      .slice(before)
      .filter((s) => s.method === 'GET' && manifest.test(s.path));
    assert.deepEqual(
      gets.map((s) => [s.fault, s.abandoned]),
      [
        ['stall', true],
        [undefined, undefined],
      ],
      'the stalled GET was abandoned by the client, then tried again',
    );
  });

  it('honours 429 Retry-After, and backs off on a 429 without it (2 attempts each)', async () => {
    sourceProxy.add({
      method: 'GET',
      path: manifest,
      faults: [{ kind: 'status', status: 429, headers: { 'retry-after': '1' } }],
    });
    let before = sourceProxy.count('GET', manifest);
    const started = Date.now();
    assert.equal((await sync()).result.status, 'copied');
    assert.ok(Date.now() - started >= 1_000, 'waited as asked');
    assert.equal(sourceProxy.count('GET', manifest) - before, 2);

    sourceProxy.add({ method: 'GET', path: manifest, faults: [{ kind: 'status', status: 429 }] });
    before = sourceProxy.count('GET', manifest);
    assert.equal((await sync()).result.status, 'copied');
    assert.equal(sourceProxy.count('GET', manifest) - before, 2);
  });

  it('rides out a burst of 500/502/503 (4 attempts) and fails naming the status when it lasts (4)', async () => {
    // The image's own HEAD (the referrers and cosign tags are HEADed after it).
    const manifest = /\/v2\/team\/app\/manifests\/v1$/;
    sourceProxy.add({
      method: 'HEAD',
      path: manifest,
      faults: [500, 502, 503].map((status) => ({ kind: 'status' as const, status })),
    });
    let before = sourceProxy.count('HEAD', manifest);
    assert.equal((await sync()).result.status, 'copied');
    assert.equal(sourceProxy.count('HEAD', manifest) - before, 4);

    sourceProxy.add({
      method: 'HEAD',
      path: manifest,
      faults: Array.from({ length: 4 }, () => ({ kind: 'status' as const, status: 503 })),
    });
    before = sourceProxy.count('HEAD', manifest);
    const { result } = await sync();
    assert.equal(result.status, 'failed');
    assert.match(
      result.error ?? '',
      /HEAD http:\/\/127\.0\.0\.1:\d+\/v2\/team\/app\/manifests\/v1 answered 503 .*\(after 4 attempts\)/,
    );
    assert.equal(sourceProxy.count('HEAD', manifest) - before, 4);
  });

  it('survives a connection reset in the middle of an upload: a new session, one complete upload', async () => {
    targetProxy.add({
      method: 'PUT',
      path: /\/blobs\/uploads\//,
      faults: [{ kind: 'reset-upload', bytes: 300_000 }],
    });
    const posts = targetProxy.count('POST', /\/blobs\/uploads\//);
    // A reset that lands while the client is not reading the socket is only
    // seen when the answer fails to come: a short header timeout bounds that.
    const regs = registries({ headersTimeoutMs: 3_000 });
    const { result } = await sync({ registries: regs });
    await regs.close();
    assert.equal(result.status, 'copied');
    // Three blobs (config and two layers), one started at least twice; each in the end uploaded once.
    assert.ok(targetProxy.count('POST', /\/blobs\/uploads\//) - posts >= 4);
    assert.equal(result.stats?.blobsCopied, 3);
  });

  it('survives a token endpoint that fails once (2 token requests)', async () => {
    const tokens = source.tokenServer;
    assert.ok(tokens);
    tokens.failNext(1, 503);
    ledger.injected++;
    ledger.byKind.set('token-503', (ledger.byKind.get('token-503') ?? 0) + 1);
    const before = tokens.requests.length;
    assert.equal((await sync()).result.status, 'copied');
    assert.equal(tokens.requests.length - before, 2);
  });

  it('fetches a new token when the one it holds has expired (the registry answers 401)', async () => {
    const tokens = source.tokenServer;
    assert.ok(tokens);
    // Announced as good for 300 s, already expired: the cache cannot know.
    tokens.expireNext(1);
    ledger.injected++;
    ledger.byKind.set('token-expiry', (ledger.byKind.get('token-expiry') ?? 0) + 1);
    source.clearLog();
    const before = tokens.requests.length;
    assert.equal((await sync()).result.status, 'copied');
    await sleep(150);
    assert.ok(
      source.accessLog().some((e) => e.status === 401 && e.method === 'HEAD'),
      'the expired token was refused',
    );
    assert.equal(tokens.requests.length - before, 2, 'one refused token, one fresh');
  });

  it('ends with one correct target when two copies of one job run at once, and when runs overlap', async () => {
    const regsA = registries();
    const regsB = registries();
    const [a, b] = await Promise.all([
      syncImages([job('twin')], regsA),
      syncImages([job('twin')], regsB),
    ]);
    for (const result of [...a, ...b])
      assert.ok(result.status === 'copied' || result.status === 'exists', JSON.stringify(result));
    const twin = `${target.host}/twin/${sourceProxy.host.replace(':', '_')}/team/app:v1`;
    assert.equal(sha256(await inspectRaw(twin, TARGET_WRITER)), image.digest);
    const [c, d] = await Promise.all([
      syncImages([job('lap1'), job('lap2')], regsA),
      syncImages([job('lap2'), job('lap3')], regsB),
    ]);
    for (const result of [...(c ?? []), ...(d ?? [])])
      assert.ok(result.status === 'copied' || result.status === 'exists');
    for (const prefix of ['lap1', 'lap2', 'lap3']) {
      assert.equal(
        sha256(
          await inspectRaw(
            `${target.host}/${prefix}/${sourceProxy.host.replace(':', '_')}/team/app:v1`,
            TARGET_WRITER,
          ),
        ),
        image.digest,
      );
    }
    await Promise.all([regsA.close(), regsB.close()]);
    outcomes.survived += 2;
    outcomes.copied += 2;
  });
});

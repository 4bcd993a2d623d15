// The registry zoo: every registry on the default allow-list, reproduced by a
// proxy profile (test/support/zoo/profiles/, each citing where its behaviour
// comes from) in front of real docker-registry servers, and image-syncer's
// whole matrix run through each one: OCI index with attestation, Docker
// manifest list, single OCI and Docker manifests, digest + tag, a re-run that
// is `exists` without a single source GET, a conflict left untouched, a
// missing source. Then each registry's failure modes as they appear to a user
// (redirects, a spent pull limit, schema 1, mount refusals, credential
// helpers, the immutable-tag race), the manifests some registries describe
// oddly, and the token cache.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CopyResult } from '../../functions/engine/types.ts';
import { handleCopyJob } from '../../functions/pipeline/copy-job.ts';
import { fanOut } from '../../functions/pipeline/fanout.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import {
  DockerConfigCredentials,
  StaticCredentials,
} from '../../functions/registry/credentials.ts';
import { DEFAULT_ALLOWED_REGISTRIES } from '../../functions/registry/network-policy.ts';
import { MemoryLogger, silentLogger } from '../../functions/util/logger.ts';
import { SOURCE_PUSHER, TARGET_WRITER } from '../support/fixture.ts';
import { inspectRaw, OCI_INDEX, OCI_MANIFEST, push, sha256 } from '../support/images.ts';
import { startRegistry } from '../support/registry.ts';
import { memoryRunStore } from '../support/run-stores.ts';
import type { MountBehaviour } from '../support/zoo/behaviours.ts';
import type { Front } from '../support/zoo/engine.ts';
import { PROFILES } from '../support/zoo/profiles/index.ts';
import {
  basic,
  contentGets,
  jobsFor,
  mark,
  registriesFor,
  runOnce,
  WRITER,
  writesUnder,
} from '../support/zoo/run.ts';
import { startZoo, type Zoo } from '../support/zoo/zoo.ts';

const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

let zoo: Zoo;
let started = 0;
let ready = 0;

before(async () => {
  started = performance.now();
  zoo = await startZoo();
  ready = performance.now();
});
after(async () => {
  await zoo?.stop();
  process.stdout.write(
    `# registry zoo: ${PROFILES.length} profiles, ${((performance.now() - started) / 1000).toFixed(1)} s ` +
      `(${((ready - started) / 1000).toFixed(1)} s to start the registries and push the images)\n`,
  );
});

function front(id: string): Front {
  const found = zoo.fronts.get(id);
  assert.ok(found, `profile ${id}`);
  return found;
}

/** The hosts a profile's source traffic reaches (registry.k8s.io: also the registry it redirects to). */
function sourceFronts(f: Front): Front[] {
  return f.profile.behaviours.redirectEverything ? [f, zoo.k8sBackend] : [f];
}

function statuses(results: CopyResult[]): string[] {
  return results.map((r) => `${r.status} ${r.digest ?? r.errorCode ?? ''}`);
}

describe('the matrix through every profile', { concurrency: true }, () => {
  for (const profile of PROFILES) {
    it(`${profile.registry} (${profile.id})`, async () => {
      const f = front(profile.id);
      const { index, amd64, single, dockerListDigest, dockerSingleDigest } = zoo.images;
      const src = (rest: string) => `${profile.registry}/team/${rest}`;
      const entries: [string, string?][] = [
        [src('multi:v1')],
        [src('dockerlist:v1')],
        [src('single:v1')],
        [src('dockersingle:v1')],
        [src(`single@${single.digest}`), 'pinned'],
        [src('missing:v1')],
        [src(`multi@${amd64.digest}`), 'clash'],
      ];
      const first = await runOnce(
        registriesFor(f, zoo.targetFront),
        jobsFor(zoo.targetFront, profile.id, entries),
      );
      assert.deepEqual(statuses(first), [
        `copied ${index.digest}`,
        `copied ${dockerListDigest}`,
        `copied ${single.digest}`,
        `copied ${dockerSingleDigest}`,
        `copied ${single.digest}`,
        'failed SOURCE_NOT_FOUND',
        `copied ${amd64.digest}`,
      ]);
      assert.deepEqual(
        first.slice(0, 4).map((r) => r.mediaType),
        [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST],
      );
      assert.equal(first[5]?.retryable, false, 'a missing source is not retried');
      // Artifact Registry mounts what another repository of the run already holds:
      // the Docker list's layers come from the OCI index's repository.
      assert.ok(
        zoo.targetFront.seen.some(
          (s) =>
            s.method === 'POST' &&
            s.path.startsWith(`/v2/zoo/${profile.id}/`) &&
            s.path.includes('mount=') &&
            s.status === 201,
        ),
        'a blob was mounted across repositories',
      );
      const b = profile.behaviours;
      if (b.realm) {
        // Tokens came from the realm the profile advertises (its origin or its auth host).
        assert.ok(
          f.authSeen.some((s) => s.status === 200),
          'a token from the advertised realm',
        );
      }
      if (b.challengeWithoutService) {
        assert.deepEqual(
          f.authSeen.filter((s) => s.path.includes('service=')),
          [],
        );
      }
      if (b.blobRedirect?.storage === 'other-host') {
        // Blobs really came from storage, and storage never saw a credential.
        assert.ok(f.storageSeen.length > 0, 'blobs were fetched from the storage host');
        assert.deepEqual(
          f.storageSeen.filter((s) => s.authorization !== undefined || s.status !== 200),
          [],
        );
      }
      if (b.blobRedirect?.storage === 'same-host') {
        assert.ok(
          f.seen.some((s) => s.path.startsWith('/artifacts-downloads/') && s.status === 200),
        );
      }

      // A re-run (new registries: a new run) HEADs and writes nothing.
      const sourceMarks = sourceFronts(f).map(mark);
      let targetMark = zoo.targetFront.seen.length;
      const pullsBefore = f.pulls();
      const second = await runOnce(
        registriesFor(f, zoo.targetFront),
        jobsFor(zoo.targetFront, profile.id, entries),
      );
      assert.deepEqual(statuses(second), [
        `exists ${index.digest}`,
        `exists ${dockerListDigest}`,
        `exists ${single.digest}`,
        `exists ${dockerSingleDigest}`,
        `exists ${single.digest}`,
        'failed SOURCE_NOT_FOUND',
        `exists ${amd64.digest}`,
      ]);
      const gets = sourceFronts(f).reduce((n, s, i) => n + contentGets(s, sourceMarks[i]), 0);
      assert.equal(gets, 0, 'no manifest or blob GET at the source on a re-run');
      assert.deepEqual(writesUnder(zoo.targetFront, profile.id, targetMark), []);
      if (b.pullLimit !== undefined) assert.equal(f.pulls(), pullsBefore, 'no pull counted');

      // The tag `clash` holds the amd64 manifest: the index for it is a
      // conflict, and the tag is left as it is (nothing written).
      targetMark = zoo.targetFront.seen.length;
      const [conflict] = await runOnce(
        registriesFor(f, zoo.targetFront),
        jobsFor(zoo.targetFront, profile.id, [[src(`multi@${index.digest}`), 'clash']]),
      );
      assert.equal(conflict?.status, 'conflict', conflict?.error);
      assert.equal(conflict?.targetDigest, amd64.digest);
      assert.deepEqual(writesUnder(zoo.targetFront, profile.id, targetMark), []);
    });
  }
});

describe('results checked independently with skopeo', () => {
  it('holds every image kind byte for byte (docker.io profile)', async () => {
    const { index, amd64, single, dockerListDigest, dockerSingleDigest } = zoo.images;
    const at = (repo: string) => `${zoo.target.host}/zoo/dockerhub/team/${repo}`;
    const digest = async (ref: string) => sha256(await inspectRaw(ref, TARGET_WRITER));
    const attestation = JSON.parse((await inspectRaw(at('multi:v1'), TARGET_WRITER)).toString())
      .manifests[2].digest as string;
    const expected: [string, string][] = [
      ['multi:v1', index.digest],
      [`multi@${amd64.digest}`, amd64.digest],
      [`multi@${attestation}`, attestation],
      ['dockerlist:v1', dockerListDigest],
      ['single:v1', single.digest],
      ['single:pinned', single.digest],
      ['dockersingle:v1', dockerSingleDigest],
      // The conflict left the tag as it was.
      ['multi:clash', amd64.digest],
    ];
    const found = await Promise.all(expected.map(([ref]) => digest(at(ref))));
    assert.deepEqual(
      found,
      expected.map(([, want]) => want),
    );
  });

  it('never sent a chunked upload (PATCH) to Artifact Registry', () => {
    assert.deepEqual(
      zoo.targetFront.seen.filter((s) => s.method === 'PATCH'),
      [],
    );
  });
});

describe('the evidence for each profile', () => {
  it('every profile cites its sources, and docs/registries.md lists each profile file', () => {
    const section = readFileSync(join(import.meta.dirname, '../../docs/registries.md'), 'utf8');
    const files = readdirSync(join(import.meta.dirname, '../support/zoo/profiles')).filter(
      (name) => name !== 'index.ts',
    );
    assert.equal(files.length, PROFILES.length, 'every profile file is in PROFILES');
    for (const file of files)
      assert.ok(section.includes(`\`${file}\``), `docs/registries.md names ${file}`);
    for (const profile of PROFILES) {
      assert.ok(profile.sources.length > 0, `${profile.id} cites a source`);
      assert.ok(section.includes(profile.registry.replace('europe-docker.pkg.dev', '*.pkg.dev')));
    }
  });
});

describe('the functions through a profile', () => {
  it('copies a job message from docker.io, then records a redelivery as exists', async () => {
    const f = front('dockerhub');
    const store = memoryRunStore();
    const deps = {
      prefix: parseTargetPrefix(`${zoo.targetFront.host}/zoo/functions/`),
      store,
      registries: registriesFor(f, zoo.targetFront, {
        policy: { allowedRegistries: DEFAULT_ALLOWED_REGISTRIES, privateNetworks: true },
      }),
      logger: silentLogger,
      maxDeliveryAttempts: 5,
    };
    const data = Buffer.from(
      JSON.stringify({ runId: 'zoo-run', source: 'docker.io/team/multi:v1' }),
    );
    try {
      const first = await handleCopyJob({ data, messageId: '1', attempt: 1 }, deps);
      assert.equal(first?.status, 'copied');
      assert.equal(first?.digest, zoo.images.index.digest);
      const again = await handleCopyJob({ data, messageId: '1', attempt: 2 }, deps);
      assert.equal(again?.status, 'copied', 'a redelivery never demotes copied to exists');
    } finally {
      await deps.registries.close();
    }
    assert.equal(
      sha256(await inspectRaw(`${zoo.target.host}/zoo/functions/team/multi:v1`, TARGET_WRITER)),
      zoo.images.index.digest,
    );
  });

  it('the fan-out pins the digest through registry.k8s.io’s redirects, with no warning', async () => {
    const logger = new MemoryLogger();
    const registries = registriesFor(front('k8s'), zoo.targetFront);
    try {
      const { run } = await fanOut(
        {
          runId: 'zoo-k8s-pin',
          file: 'external-images.yaml',
          bytes: Buffer.from(
            'images:\n- source: registry.k8s.io/team/multi:v1\n- source: registry.k8s.io/team/multi:v1\n  tag: again\n',
          ),
          trigger: { type: 'test' },
          dryRun: false,
        },
        {
          prefix: parseTargetPrefix(`${zoo.targetFront.host}/zoo/fanout/`),
          store: memoryRunStore(),
          publisher: { publish: async () => undefined },
          logger,
          registries,
        },
      );
      assert.deepEqual(
        run.jobs.map((j) => j.sourceDigest),
        [zoo.images.index.digest, zoo.images.index.digest],
      );
      assert.ok(!logger.lines.some((l) => l.message === 'could not resolve source digest'));
    } finally {
      await registries.close();
    }
  });
});

describe('failure modes of real registries', { concurrency: true }, () => {
  it('registry.k8s.io: the ping and manifest HEADs follow 307; the host redirected to gets its own anonymous token, never the first host’s credentials', async () => {
    const k8s = front('k8s');
    const backend = zoo.k8sBackend;
    const k8sSecret = { username: 'k8s-user', password: 'k8s-secret-3' };
    const marks = {
      k8s: k8s.seen.length,
      seen: backend.seen.length,
      auth: backend.authSeen.length,
    };
    const [result] = await runOnce(
      registriesFor(k8s, zoo.targetFront, {
        credentials: new StaticCredentials([
          [k8s.host, k8sSecret],
          [zoo.targetFront.host, WRITER],
        ]),
      }),
      jobsFor(zoo.targetFront, 'k8s-creds', [['registry.k8s.io/team/single:v1']]),
    );
    assert.equal(result?.status, 'copied', result?.error);
    const atK8s = k8s.seen.slice(marks.k8s);
    assert.ok(atK8s.some((s) => s.method === 'GET' && s.path === '/v2/' && s.status === 307));
    assert.ok(
      atK8s.some((s) => s.method === 'HEAD' && /\/manifests\/v1$/.test(s.path) && s.status === 307),
    );
    // The host redirected to challenged with its own realm; the token was asked
    // anonymously, to pull the repository under archeio's upstream path only.
    const tokens = backend.authSeen.slice(marks.auth);
    assert.ok(tokens.length > 0, 'a token was fetched from the redirected host’s realm');
    assert.deepEqual(
      tokens.filter((s) => s.authorization !== undefined),
      [],
    );
    // Other tests of this concurrent suite pull other team/ images through the
    // same backend, so their scopes may be here too: each is a pull scope under
    // the upstream path, and this copy's own is among them.
    const scopes = tokens.flatMap((s) => new URL(s.path, 'http://x').searchParams.getAll('scope'));
    for (const scope of scopes)
      assert.match(scope, /^repository:k8s-artifacts-prod\/images\/team\/[^:]+:pull$/);
    assert.ok(
      scopes.includes('repository:k8s-artifacts-prod/images/team/single:pull'),
      `${scopes}`,
    );
    assert.equal(
      sha256(
        await inspectRaw(
          `${zoo.target.host}/zoo/k8s-creds/registry.k8s.io/team/single:v1`,
          TARGET_WRITER,
        ),
      ),
      zoo.images.single.digest,
    );
    const leaked = basic(k8sSecret.username, k8sSecret.password);
    for (const s of [...backend.seen.slice(marks.seen), ...tokens]) {
      assert.notEqual(
        s.authorization,
        leaked,
        `${s.method} ${s.path} got registry.k8s.io’s credentials`,
      );
      assert.ok(
        !s.authorization?.startsWith('Basic '),
        `${s.method} ${s.path} got Basic credentials`,
      );
    }
  });

  it('Docker Hub with the pull limit used up: existing images are still exists (a HEAD is no pull), a new copy fails as rate-limited, to be retried', async () => {
    const hub = await zoo.sourceVariant('dockerhub', { pullLimit: 0 });
    const results = await runOnce(registriesFor(hub, zoo.targetFront), [
      // Copied by the matrix already.
      ...jobsFor(zoo.targetFront, 'dockerhub', [['docker.io/team/multi:v1']]),
      ...jobsFor(zoo.targetFront, 'pull-limit', [['docker.io/team/single:v1']]),
    ]);
    assert.deepEqual(statuses(results), [
      `exists ${zoo.images.index.digest}`,
      'failed TOO_MANY_REQUESTS',
    ]);
    assert.equal(results[1]?.retryable, true, 'a rate limit is transient');
    const gets = hub.seen.filter((s) => s.method === 'GET' && s.path.includes('/manifests/'));
    assert.ok(gets.length > 0 && gets.every((s) => s.status === 429));
    assert.deepEqual(writesUnder(zoo.targetFront, 'pull-limit'), []);
  });

  it('a signed schema 1 manifest is refused after one HEAD, with no GET, permanently', async () => {
    const hub = front('dockerhub');
    const since = hub.seen.length;
    const [result] = await runOnce(
      registriesFor(hub, zoo.targetFront),
      jobsFor(zoo.targetFront, 'schema1', [['docker.io/team/single:legacy']]),
    );
    assert.equal(result?.status, 'failed');
    assert.equal(result?.retryable, false);
    assert.match(result?.error ?? '', /schema 1/);
    const legacy = hub.seen.slice(since).filter((s) => s.path.endsWith('/manifests/legacy'));
    assert.deepEqual(
      legacy.map((s) => s.method),
      ['HEAD'],
    );
    assert.deepEqual(writesUnder(zoo.targetFront, 'schema1'), []);
  });

  /** Two images sharing layers into two target repositories: the second one mounts. */
  async function copyWithMount(name: string, mount: MountBehaviour) {
    const target = await zoo.targetVariant({ mount });
    const ghcr = front('ghcr');
    const results = await runOnce(
      registriesFor(ghcr, target, {
        credentials: new StaticCredentials([[target.host, WRITER]]),
      }),
      jobsFor(target, name, [['ghcr.io/team/single:v1'], ['ghcr.io/team/dockersingle:v1']]),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      ['copied', 'copied'],
      JSON.stringify(results.map((r) => r.error)),
    );
    const posts = target.seen.filter((s) => s.method === 'POST');
    const mounts = posts.filter((s) => s.path.includes('mount='));
    // The blobs the two images share, each mounted once (refused or not).
    const blobs = async (repo: string) => {
      const m = JSON.parse(
        (await inspectRaw(`${zoo.tokenSource.host}/team/${repo}:v1`)).toString(),
      );
      return [m.config, ...m.layers].map((d: { digest: string }) => d.digest);
    };
    const second = await blobs('dockersingle');
    const shared = (await blobs('single')).filter((d) => second.includes(d));
    assert.ok(shared.length > 0);
    assert.equal(mounts.length, shared.length, 'one mount asked per shared blob');
    for (const [repo, digest] of [
      ['single', zoo.images.single.digest],
      ['dockersingle', zoo.images.dockerSingleDigest],
    ] as const) {
      const ref = `${zoo.target.host}/zoo/${name}/ghcr.io/team/${repo}:v1`;
      assert.equal(sha256(await inspectRaw(ref, TARGET_WRITER)), digest);
    }
    return { target, posts, mounts };
  }

  for (const status of [401, 403] as const) {
    it(`a mount refused with ${status} falls back to a plain upload`, async () => {
      const { target, posts, mounts } = await copyWithMount(
        `mount-${status}`,
        status === 401 ? 'refuse-401' : 'refuse-403',
      );
      assert.ok(mounts.every((s) => s.status === status));
      // Each refused mount was followed by an upload of its own.
      const plain = posts.filter((s) => !s.path.includes('mount=') && s.status === 202);
      assert.ok(plain.length >= mounts.length + 2, 'refused blobs were uploaded');
      assert.deepEqual(
        target.seen.filter((s) => s.method === 'PATCH'),
        [],
      );
    });
  }

  it('docker-registry answers a mount from a repository lacking the blob with 202 and a session; the upload goes on in it', async () => {
    // OCI distribution-spec v1.1, "Mounting a blob from another repository":
    // a registry that cannot mount answers 202 with an upload session.
    const registries = registriesFor(front('ghcr'), zoo.targetFront);
    try {
      const target = registries.client(zoo.targetFront.host);
      const since = zoo.targetFront.seen.length;
      const { shared } = zoo.images;
      const mount = await target.mountBlob('zoo/mount-native/two', shared.digest, 'zoo/no/such');
      assert.ok(!mount.mounted && mount.location, 'the 202 opened an upload session');
      await target.copyBlobFrom(
        registries.client('ghcr.io'),
        'team/multi',
        shared,
        'zoo/mount-native/two',
        { location: mount.location },
      );
      assert.equal(await target.hasBlob('zoo/mount-native/two', shared.digest), true);
      const exchanges = zoo.targetFront.seen
        .slice(since)
        .filter((s) => s.path.startsWith('/v2/zoo/mount-native/') && s.method !== 'HEAD');
      assert.deepEqual(
        exchanges.map((s) => `${s.method} ${s.status}`),
        ['POST 202', 'PUT 201'],
        'one session, opened by the mount, used by the upload',
      );
    } finally {
      await registries.close();
    }
  });

  it('a mount answered 202 continues with the upload session it opened', async () => {
    const { target, mounts } = await copyWithMount('mount-202', 'session-202');
    assert.ok(mounts.every((s) => s.status === 202));
    // Every blob went up through one session, the mount's own when it was
    // asked: three blobs per image, six POSTs and six PUTs in all, none extra.
    const prefix = '/v2/zoo/mount-202/';
    const uploads = (method: string) =>
      target.seen.filter(
        (s) =>
          s.method === method && s.path.startsWith(prefix) && s.path.includes('/blobs/uploads/'),
      );
    assert.equal(uploads('POST').length, 6);
    assert.equal(uploads('PUT').length, 6);
  });

  it('a credential helper is asked once per host per run, and one that exits at once is named in the error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zoo-helpers-'));
    const calls = join(dir, 'calls.log');
    const helper = (name: string, body: string) => {
      writeFileSync(join(dir, `docker-credential-${name}`), `#!/bin/sh\n${body}\n`);
      chmodSync(join(dir, `docker-credential-${name}`), 0o755);
    };
    // The target's credentials for the target, the source pusher's for the source.
    helper(
      'zoo',
      [
        `host=$(cat); echo "$host" >> ${calls}`,
        `case "$host" in *${zoo.targetFront.host}*) user=${WRITER.username}; secret=${WRITER.password};;`,
        `*) user=${SOURCE_PUSHER.split(':')[0]}; secret=${SOURCE_PUSHER.split(':')[1]};; esac`,
        `printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "$host" "$user" "$secret"`,
      ].join('\n'),
    );
    // Exits before reading stdin: writing the server URL to it fails with EPIPE.
    helper('zoo-broken', 'exit 3');
    const config = (helpers: Record<string, string>) => {
      const path = join(mkdtempSync(join(dir, 'config-')), 'config.json');
      writeFileSync(path, JSON.stringify({ credHelpers: helpers }));
      return new DockerConfigCredentials(path);
    };
    const path = process.env.PATH;
    process.env.PATH = `${dir}:${path}`;
    try {
      const quay = front('quay');
      const results = await runOnce(
        registriesFor(quay, zoo.targetFront, {
          credentials: config({ [zoo.targetFront.host]: 'zoo', [quay.host]: 'zoo' }),
        }),
        jobsFor(zoo.targetFront, 'helpers', [
          ['quay.io/team/multi:v1'],
          ['quay.io/team/dockerlist:v1'],
          ['quay.io/team/single:v1'],
          ['quay.io/team/dockersingle:v1'],
        ]),
      );
      assert.deepEqual(
        results.map((r) => r.status),
        ['copied', 'copied', 'copied', 'copied'],
        JSON.stringify(results.map((r) => r.error)),
      );
      const asked = readFileSync(calls, 'utf8').trim().split('\n');
      assert.deepEqual(
        asked.filter((host) => host.includes(zoo.targetFront.host)).length,
        1,
        'the target’s helper ran once',
      );
      assert.deepEqual(
        asked.filter((host) => host.includes(quay.host)).length,
        1,
        'the source’s helper ran once',
      );

      const [broken] = await runOnce(
        registriesFor(quay, zoo.targetFront, {
          credentials: config({ [zoo.targetFront.host]: 'zoo-broken' }),
        }),
        jobsFor(zoo.targetFront, 'helpers-broken', [['quay.io/team/single:v1']]),
      );
      assert.equal(broken?.status, 'failed');
      assert.match(broken?.error ?? '', /docker-credential-zoo-broken/);
      assert.deepEqual(writesUnder(zoo.targetFront, 'helpers-broken'), []);

      // A default store for every host, and a target with Basic auth (every
      // request carries the credential): asked once, for the target only. The
      // sources need none (registry.k8s.io redirects to a host that gets none
      // of ours; mcr.microsoft.com asks for no auth at all).
      writeFileSync(calls, '');
      helper(
        'zoo-store',
        `host=$(cat); echo "$host" >> ${calls}; printf '{"Username":"%s","Secret":"%s"}' ${WRITER.username} ${WRITER.password}`,
      );
      const store = join(mkdtempSync(join(dir, 'config-')), 'config.json');
      writeFileSync(store, JSON.stringify({ credsStore: 'zoo-store' }));
      const basicTarget = await startRegistry({
        kind: 'basic',
        users: { [WRITER.username]: WRITER.password },
      });
      try {
        const stored = await runOnce(
          registriesFor([front('k8s'), front('mcr')], basicTarget, {
            credentials: new DockerConfigCredentials(store),
          }),
          jobsFor(basicTarget, 'helpers-store', [
            ['registry.k8s.io/team/single:v1'],
            ['registry.k8s.io/team/multi:v1'],
            ['mcr.microsoft.com/team/dockersingle:v1'],
          ]),
        );
        assert.deepEqual(
          stored.map((r) => r.status),
          ['copied', 'copied', 'copied'],
          JSON.stringify(stored.map((r) => r.error)),
        );
        assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), [basicTarget.host]);
        const copied = `${basicTarget.host}/zoo/helpers-store/registry.k8s.io/team/multi:v1`;
        assert.equal(sha256(await inspectRaw(copied, TARGET_WRITER)), zoo.images.index.digest);
      } finally {
        await basicTarget.stop();
      }
    } finally {
      process.env.PATH = path;
    }
  });

  it('an immutable tag set by another writer meanwhile ends as a conflict, the tag untouched', async () => {
    const target = zoo.targetFront;
    const tag = /\/v2\/zoo\/race\/ghcr\.io\/team\/single\/manifests\/v1$/;
    // Between image-syncer's HEAD of the tag (absent) and its PUT, another writer sets it.
    target.beforeNext('PUT', tag, () =>
      push(zoo.images.layout, 'other', `${zoo.target.host}/zoo/race/ghcr.io/team/single:v1`, {
        creds: TARGET_WRITER,
      }),
    );
    const [result] = await runOnce(
      registriesFor(front('ghcr'), target),
      jobsFor(target, 'race', [['ghcr.io/team/single:v1']]),
    );
    assert.equal(result?.status, 'conflict', result?.error);
    assert.equal(result?.category, 'conflict');
    assert.equal(result?.targetDigest, zoo.images.other.digest);
    const refused = target.seen.filter((s) => s.method === 'PUT' && tag.test(s.path));
    assert.deepEqual(
      refused.map((s) => s.status),
      [400],
      'the PUT was refused once and not retried',
    );
    assert.equal(
      sha256(await inspectRaw(`${zoo.target.host}/zoo/race/ghcr.io/team/single:v1`, TARGET_WRITER)),
      zoo.images.other.digest,
    );
  });
});

describe('manifests a registry describes oddly', { concurrency: true }, () => {
  it('a HEAD without digest and length falls back to the GET, whose doubled digest header is only a hint', async () => {
    const odd = await zoo.sourceVariant('ghcr', { brokenManifestHeaders: true });
    const [result] = await runOnce(
      registriesFor(odd, zoo.targetFront),
      jobsFor(zoo.targetFront, 'broken-headers', [['ghcr.io/team/multi:v1']]),
    );
    assert.equal(result?.status, 'copied', result?.error);
    assert.equal(result?.digest, zoo.images.index.digest);
    const byTag = odd.seen.filter((s) => s.path === '/v2/team/multi/manifests/v1');
    assert.deepEqual(
      byTag.map((s) => `${s.method} ${s.status}`),
      ['HEAD 200', 'GET 200'],
      'the HEAD said too little, so the manifest was read and hashed',
    );
  });

  it('a source pinned by sha512 is copied, and a re-run is exists, not a false conflict', async () => {
    const sha512 = await zoo.sourceVariant('ghcr', { sha512Manifests: true });
    const bytes = await inspectRaw(`${zoo.tokenSource.host}/team/multi:v1`);
    const digest = `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
    const jobs = () =>
      jobsFor(zoo.targetFront, 'sha512', [['ghcr.io/team/multi:v1']]).map((job) => ({
        ...job,
        sourceDigest: digest,
      }));
    const [first] = await runOnce(registriesFor(sha512, zoo.targetFront), jobs());
    assert.equal(first?.status, 'copied', first?.error);
    assert.equal(first?.digest, digest);
    // The target knows the tag by sha256: compared in sha512, it is the same manifest.
    const [again] = await runOnce(registriesFor(sha512, zoo.targetFront), jobs());
    assert.equal(again?.status, 'exists', again?.error);
    assert.equal(
      sha256(
        await inspectRaw(`${zoo.target.host}/zoo/sha512/ghcr.io/team/multi:v1`, TARGET_WRITER),
      ),
      zoo.images.index.digest,
    );
  });
});

// Alone (not beside concurrent tests): the token server's expiry switch is shared.
describe('tokens', () => {
  it('many requests refused with one expired token share one new token (single flight)', async () => {
    const ghcr = front('ghcr');
    const tokens = zoo.tokenSource.tokenServer;
    assert.ok(tokens);
    // The first token is announced fresh but already expired: every request is refused.
    tokens.expireNext(1);
    const since = ghcr.authSeen.length;
    const registries = registriesFor(ghcr, zoo.targetFront);
    try {
      const client = registries.client('ghcr.io');
      const heads = await Promise.all(
        [1, 2, 3, 4, 5].map(() => client.headManifest('team/multi', 'v1')),
      );
      assert.ok(heads.every((h) => h?.digest === zoo.images.index.digest));
    } finally {
      await registries.close();
    }
    assert.equal(
      ghcr.authSeen.length - since,
      2,
      'the refused token, then one new token for all five',
    );
  });
});

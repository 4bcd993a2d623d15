// The copy engine and CLI against real docker-registry servers: a token-auth
// source (anonymous pull tokens, like Docker Hub) and a Basic-auth target.
// Results are checked with skopeo as well as with image-syncer's own client,
// and request counts come from the registries' access logs.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { RegistryClient } from '../../functions/registry/client.ts';
import { StaticCredentials } from '../../functions/registry/credentials.ts';
import { Registries } from '../../functions/registry/registries.ts';
import {
  type Pair,
  SOURCE_PUSHER,
  settledLog,
  startPair,
  TARGET_WRITER,
  writes,
} from '../support/fixture.ts';
import { type Descriptor, inspectRaw, Layout, push, sha256 } from '../support/images.ts';

const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

interface Seeded {
  index: Descriptor;
  platforms: Descriptor[];
  attestation: Descriptor;
  sharedLayer: Descriptor;
  single: Descriptor;
  otherSharing: Descriptor;
  dockerListDigest: string;
  dockerSingleDigest: string;
}

async function seed(pair: Pair): Promise<Seeded> {
  const layout = new Layout();
  const sharedLayer = layout.layer(300_000);
  const amd64 = layout.image({ layers: [sharedLayer, 50_000] });
  const arm64 = layout.image({ layers: [sharedLayer, 60_000], architecture: 'arm64' });
  const attestation = layout.attestation(amd64);
  const index = layout.index([amd64, arm64, attestation]);
  layout.tag('multi', index);
  const single = layout.image({ layers: [10_000, 20_000] });
  layout.tag('single', single);
  const otherSharing = layout.image({ layers: [sharedLayer, 5_000] });
  layout.tag('other', otherSharing);
  layout.tag('plain-index', layout.index([amd64, arm64]));
  const src = pair.source.host;
  const creds = SOURCE_PUSHER;
  await push(layout, 'multi', `${src}/team/multi:v1`, { creds });
  await push(layout, 'single', `${src}/team/single:v1`, { creds });
  await push(layout, 'other', `${src}/team/other:v1`, { creds });
  await push(layout, 'plain-index', `${src}/team/dockerlist:v1`, { creds, dockerFormat: true });
  await push(layout, 'single', `${src}/team/dockersingle:v1`, { creds, dockerFormat: true });
  await push(layout, 'single', `${src}/library/alpine:3.20`, { creds });
  const dockerListDigest = sha256(await inspectRaw(`${src}/team/dockerlist:v1`));
  const dockerSingleDigest = sha256(await inspectRaw(`${src}/team/dockersingle:v1`));
  return {
    index,
    platforms: [amd64, arm64],
    attestation,
    sharedLayer,
    single,
    otherSharing,
    dockerListDigest,
    dockerSingleDigest,
  };
}

describe('sync against real registries', () => {
  let pair: Pair;
  let seeded: Seeded;
  let imagesFile: string;
  let prefix: string;
  let hostPath: string;

  before(async () => {
    pair = await startPair();
    seeded = await seed(pair);
    prefix = `${pair.target.host}/mirror/`;
    hostPath = pair.source.host.replace(':', '_');
    imagesFile = pair.writeFile(
      'external-images.yaml',
      [
        'images:',
        `- source: "${pair.source.host}/team/multi:v1"`,
        `- source: "${pair.source.host}/team/dockerlist:v1"`,
        `- source: "${pair.source.host}/team/single:v1"`,
        `- source: "${pair.source.host}/team/dockersingle:v1"`,
        `- source: "${pair.source.host}/team/single@${seeded.single.digest}"`,
        '  tag: "pinned"',
        `- source: "${pair.source.host}/team/other:v1"`,
        '',
      ].join('\n'),
    );
  });
  after(() => pair.stop());

  it('copies every kind of image with digests preserved, sharing blobs', async () => {
    pair.target.clearLog();
    const report = `${pair.dir}/report.json`;
    const run = await pair.cli(['-i', imagesFile, '-r', prefix, '--report', report]);
    assert.equal(run.code, 0, run.stdout + run.stderr);

    const results = JSON.parse(readFileSync(report, 'utf8'));
    assert.equal(results.dryRun, false);
    const t = `${prefix}${hostPath}/team`;
    assert.deepEqual(
      results.results.map((r: Record<string, string>) => [
        r.source,
        r.target,
        r.status,
        r.digest,
        r.mediaType,
      ]),
      [
        [
          `${pair.source.host}/team/multi:v1`,
          `${t}/multi:v1`,
          'copied',
          seeded.index.digest,
          'application/vnd.oci.image.index.v1+json',
        ],
        [
          `${pair.source.host}/team/dockerlist:v1`,
          `${t}/dockerlist:v1`,
          'copied',
          seeded.dockerListDigest,
          DOCKER_LIST,
        ],
        [
          `${pair.source.host}/team/single:v1`,
          `${t}/single:v1`,
          'copied',
          seeded.single.digest,
          'application/vnd.oci.image.manifest.v1+json',
        ],
        [
          `${pair.source.host}/team/dockersingle:v1`,
          `${t}/dockersingle:v1`,
          'copied',
          seeded.dockerSingleDigest,
          DOCKER_MANIFEST,
        ],
        [
          `${pair.source.host}/team/single@${seeded.single.digest}`,
          `${t}/single:pinned`,
          'copied',
          seeded.single.digest,
          'application/vnd.oci.image.manifest.v1+json',
        ],
        [
          `${pair.source.host}/team/other:v1`,
          `${t}/other:v1`,
          'copied',
          seeded.otherSharing.digest,
          'application/vnd.oci.image.manifest.v1+json',
        ],
      ],
    );

    // skopeo, independently: the bytes under each target tag hash to the source digest.
    for (const [path, digest] of [
      ['multi:v1', seeded.index.digest],
      ['dockerlist:v1', seeded.dockerListDigest],
      ['single:v1', seeded.single.digest],
      ['dockersingle:v1', seeded.dockerSingleDigest],
      ['single:pinned', seeded.single.digest],
    ] as const) {
      assert.equal(sha256(await inspectRaw(`${t}/${path}`, TARGET_WRITER)), digest, path);
    }
    // Every child of the index, the attestation included, is there by digest.
    for (const child of [...seeded.platforms, seeded.attestation]) {
      assert.equal(
        sha256(await inspectRaw(`${t}/multi@${child.digest}`, TARGET_WRITER)),
        child.digest,
      );
    }

    // The layer shared by both platforms, by team/other and by the Docker list
    // (skopeo's conversion keeps layers) was uploaded once, then mounted once
    // into each other repository.
    const log = await settledLog(pair.target);
    const uploadsOfShared = log.filter(
      (e) =>
        e.method === 'PUT' &&
        e.path.includes(`digest=${encodeURIComponent(seeded.sharedLayer.digest)}`),
    );
    assert.equal(uploadsOfShared.length, 1, JSON.stringify(uploadsOfShared));
    const mounts = log.filter(
      (e) =>
        e.method === 'POST' &&
        e.path.includes(`mount=${encodeURIComponent(seeded.sharedLayer.digest)}`),
    );
    // Whichever repository won the race uploaded it; the others mounted it.
    const repo = (e: { path: string }) =>
      e.path.split('/blobs/')[0]?.replace(`/v2/mirror/${hostPath}/team/`, '');
    assert.deepEqual(
      mounts.map((e) => e.status),
      [201, 201],
    );
    assert.deepEqual([...uploadsOfShared, ...mounts].map(repo).sort(), [
      'dockerlist',
      'multi',
      'other',
    ]);
  });

  it("checks the target with image-syncer's own client too", async () => {
    const registries = new Registries({
      credentials: new StaticCredentials([
        [pair.target.host, { username: 'writer', password: 'write-secret-2' }],
      ]),
    });
    try {
      const client: RegistryClient = registries.client(pair.target.host);
      const manifest = await client.getManifest(`mirror/${hostPath}/team/multi`, 'v1');
      assert.equal(manifest.digest, seeded.index.digest);
      assert.equal(manifest.parsed.kind, 'index');
      const attestation = await client.getManifest(
        `mirror/${hostPath}/team/multi`,
        seeded.attestation.digest,
      );
      assert.equal(
        attestation.parsed.kind === 'manifest' && attestation.parsed.layers[0]?.mediaType,
        'application/vnd.in-toto+json',
      );
      assert.ok(await client.hasBlob(`mirror/${hostPath}/team/other`, seeded.sharedLayer.digest));
    } finally {
      await registries.close();
    }
  });

  it('makes a second run with zero writes and zero source GETs', async () => {
    pair.source.clearLog();
    pair.target.clearLog();
    const run = await pair.cli(['-i', imagesFile, '-r', prefix]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.stdout.match(/^exists /gm)?.length, 6, run.stdout);
    const sourceLog = await settledLog(pair.source);
    const targetLog = await settledLog(pair.target);
    assert.deepEqual(writes(targetLog), []);
    const sourceGets = sourceLog.filter((e) => e.method === 'GET' && e.path !== '/v2/');
    // The referrers API is asked once for the registry (docker-registry 2.8
    // answers 404, so OCI distribution-spec v1.1 §Listing Referrers: the
    // registry lacks it and the tag schema is used): no manifest or blob GET.
    assert.deepEqual(
      sourceGets.map((e) => [e.method, e.path.replace(/\/v2\/[^/]+\/[^/]+\//, ''), e.status]),
      [['GET', sourceGets[0]?.path.replace(/\/v2\/[^/]+\/[^/]+\//, ''), 404]],
      'no manifest or blob GET on the source',
    );
    assert.match(sourceGets[0]?.path ?? '', /\/referrers\/sha256:/);
    // Per image: its HEAD, the referrers tag schema's HEAD and cosign's .sig/.att/.sbom HEADs.
    assert.equal(sourceLog.filter((e) => e.method === 'HEAD').length, 6 * 5);
    assert.ok(sourceLog.length <= 6 * 5 + 2, JSON.stringify(sourceLog));
  });

  it('without referrers (--referrers=false) a second run is one source HEAD per image', async () => {
    pair.source.clearLog();
    const run = await pair.cli(['-i', imagesFile, '-r', prefix, '--referrers=false']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const sourceLog = await settledLog(pair.source);
    assert.deepEqual(
      sourceLog.filter((e) => e.method === 'GET' && e.path !== '/v2/'),
      [],
    );
    assert.equal(sourceLog.filter((e) => e.method === 'HEAD').length, 6);
  });

  it('reports a conflict and leaves the target tag alone', async () => {
    const layout = new Layout();
    const intruder = layout.image({ layers: [1_000] });
    layout.tag('x', intruder);
    await push(layout, 'x', `${pair.target.host}/mirror/${hostPath}/team/conflicting:v1`, {
      creds: TARGET_WRITER,
    });
    const layout2 = new Layout();
    const upstream = layout2.image({ layers: [2_000] });
    layout2.tag('x', upstream);
    await push(layout2, 'x', `${pair.source.host}/team/conflicting:v1`, { creds: SOURCE_PUSHER });

    const file = pair.writeFile(
      'conflict.yaml',
      `images:\n- source: ${pair.source.host}/team/conflicting:v1\n- source: ${pair.source.host}/team/single:v1\n`,
    );
    pair.target.clearLog();
    const report = `${pair.dir}/conflict.json`;
    const run = await pair.cli(['-i', file, '-r', prefix, '--report', report]);
    assert.equal(run.code, 1);
    const results = JSON.parse(readFileSync(report, 'utf8')).results;
    assert.equal(results[0].status, 'conflict');
    assert.match(results[0].error, new RegExp(`already points at ${intruder.digest}`));
    assert.equal(results[1].status, 'exists');
    assert.deepEqual(writes(await settledLog(pair.target)), []);
    assert.equal(
      sha256(
        await inspectRaw(
          `${pair.target.host}/mirror/${hostPath}/team/conflicting:v1`,
          TARGET_WRITER,
        ),
      ),
      intruder.digest,
    );
  });

  it('plans without writing in a dry run (flag or SYNCER_DRY_RUN)', async () => {
    const fresh = `${pair.target.host}/dry/`;
    for (const [args, env] of [
      [['--dry-run'], {}],
      [[], { SYNCER_DRY_RUN: 'true' }],
    ] as const) {
      pair.target.clearLog();
      const report = `${pair.dir}/dry.json`;
      const run = await pair.cli(['-i', imagesFile, '-r', fresh, '--report', report, ...args], env);
      assert.equal(run.code, 0, run.stderr);
      const parsed = JSON.parse(readFileSync(report, 'utf8'));
      assert.equal(parsed.dryRun, true);
      assert.deepEqual(
        new Set(parsed.results.map((r: { status: string }) => r.status)),
        new Set(['planned']),
      );
      assert.equal(parsed.results[0].digest, seeded.index.digest);
      assert.deepEqual(writes(await settledLog(pair.target)), []);
    }
    // The command line wins over the environment.
    pair.target.clearLog();
    const single = pair.writeFile(
      'one.yaml',
      `images:\n- source: ${pair.source.host}/team/single:v1\n`,
    );
    const run = await pair.cli(['-i', single, '-r', fresh, '--dry-run=false'], {
      SYNCER_DRY_RUN: 'true',
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^copied /m);
    assert.ok(writes(await settledLog(pair.target)).length > 0);
  });

  it('copies nothing from an invalid file and exits 2', async () => {
    pair.source.clearLog();
    pair.target.clearLog();
    const file = pair.writeFile(
      'bad.yaml',
      `images:\n- source: ${pair.source.host}/team/single:v1\n- source: ${pair.source.host}/team/Bad:v1\n`,
    );
    const run = await pair.cli(['-i', file, '-r', `${pair.target.host}/invalid/`]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /bad\.yaml:3: images\[1\]\.source: .*lowercase/);
    assert.deepEqual(await settledLog(pair.target), []);
    assert.deepEqual(await settledLog(pair.source), []);
  });

  it('reports a missing source as failed and copies the rest', async () => {
    const file = pair.writeFile(
      'missing.yaml',
      `images:\n- source: ${pair.source.host}/team/absent:v1\n- source: ${pair.source.host}/team/single:v1\n`,
    );
    const report = `${pair.dir}/missing.json`;
    const run = await pair.cli([
      '-i',
      file,
      '-r',
      `${pair.target.host}/partial/`,
      '--report',
      report,
    ]);
    assert.equal(run.code, 1);
    const results = JSON.parse(readFileSync(report, 'utf8')).results;
    assert.equal(results[0].status, 'failed');
    assert.match(results[0].error, /source not found/);
    assert.equal(results[1].status, 'copied');
  });

  it('fetches through --registry-endpoint while naming targets after the logical registry', async () => {
    const file = pair.writeFile(
      'hub.yaml',
      'images:\n- source: alpine:3.20\n- source: docker.io/library/alpine:3.20\n',
    );
    const run = await pair.cli([
      '-i',
      file,
      '-r',
      `${pair.target.host}/hub/`,
      '--registry-endpoint',
      `docker.io=${pair.source.url}`,
    ]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(
      run.stdout,
      new RegExp(`copied +alpine:3\\.20 → ${pair.target.host}/hub/library/alpine:3\\.20`),
    );
    assert.equal(
      sha256(await inspectRaw(`${pair.target.host}/hub/library/alpine:3.20`, TARGET_WRITER)),
      seeded.single.digest,
    );
  });

  it('pushes into a token-auth registry with credentials, mounting within it', async () => {
    // Source and target on the same token registry: blobs mount from the source repository.
    const file = pair.writeFile(
      'same.yaml',
      `images:\n- source: ${pair.source.host}/team/multi:v1\n`,
    );
    pair.source.clearLog();
    const run = await pair.cli(
      ['-i', file, '-r', `${pair.source.host}/copies/`, '--access-token', 'unused'],
      { SYNCER_ACCESS_TOKEN: '' },
    );
    // --access-token goes to the target host only; the token server refuses the wrong user.
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stdout, /access denied/);

    const dockerConfig = pair.writeFile(
      'push-config.json',
      JSON.stringify({
        auths: { [pair.source.host]: { username: 'pusher', password: 'push-secret-1' } },
      }),
    );
    const configDir = dockerConfig.replace(/\/push-config\.json$/, '/pushcfg');
    const { mkdirSync, copyFileSync } = await import('node:fs');
    mkdirSync(configDir, { recursive: true });
    copyFileSync(dockerConfig, `${configDir}/config.json`);
    pair.source.clearLog();
    const tokenHost = new URL(pair.source.tokenServer?.url as string).host;
    const ok = await pair.cli(
      [
        '-i',
        file,
        '-r',
        `${pair.source.host}/copies/`,
        '--registry-auth-host',
        `${pair.source.host}=${tokenHost}`,
      ],
      {
        DOCKER_CONFIG: configDir,
      },
    );
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const log = await settledLog(pair.source);
    assert.ok(
      log.some((e) => e.method === 'POST' && e.path.includes('mount=') && e.status === 201),
      'blobs are mounted',
    );
    // Blobs are linked, not copied: no blob content is uploaded, unless the
    // registry declined that blob's mount (a mount is best effort, and
    // docker-registry answers 202 with an upload session instead). A GET of a
    // blob is not a copy: the engine may read a config blob to inspect it,
    // and CI saw such a read land in this log.
    const declined = log.filter((e) => e.method === 'POST' && e.status === 202).length;
    const uploads = log.filter((e) => e.method === 'PUT' && e.path.includes('/blobs/uploads/'));
    assert.ok(
      uploads.length <= declined,
      `no blob is uploaded unless its mount was declined:\n${log
        .filter((e) => e.path.includes('/blobs/'))
        .map((e) => `${e.method} ${e.path} ${e.status}`)
        .join('\n')}`,
    );
    assert.equal(
      sha256(await inspectRaw(`${pair.source.host}/copies/${hostPath}/team/multi:v1`)),
      seeded.index.digest,
    );
    const tokenRequests = pair.source.tokenServer?.requests ?? [];
    assert.ok(
      tokenRequests.some(
        (r) =>
          r.user === 'pusher' &&
          r.scopes.includes(`repository:team/multi:pull`) &&
          r.scopes.some((s) => s.endsWith(':pull,push')),
      ),
      'a push scope plus a pull scope for the mount source',
    );
  });
});

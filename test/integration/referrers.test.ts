// Signatures, attestations and SBOMs travelling with images, against real
// docker-registry servers (token-auth source, Basic-auth target): cosign's tag
// convention, OCI 1.1 referrers listed through the referrers tag schema (the
// registry has no referrers API: OCI distribution-spec v1.1 §Listing
// Referrers, it answers 404, so §Unavailable Referrers API applies), platform
// attestations, a changed .sig, the signature policy, and a no-op re-run.
// Results are checked with `skopeo inspect --raw` and image-syncer's client.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { handleCopyJob } from '../../functions/pipeline/copy-job.ts';
import { planImagesFile } from '../../functions/pipeline/plan.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { StaticCredentials } from '../../functions/registry/credentials.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { silentLogger } from '../../functions/util/logger.ts';
import { planEntries } from '../../functions/views/entries.ts';
import { markdownTable } from '../../functions/views/markdown.ts';
import {
  OCI_INDEX,
  OCI_MANIFEST,
  type Pushed,
  Pusher,
  SIGSTORE_BUNDLE,
  SPDX,
  strip,
} from '../support/artifacts.ts';
import {
  type Pair,
  SOURCE_PUSHER,
  settledLog,
  startPair,
  TARGET_WRITER,
  writes,
} from '../support/fixture.ts';
import { inspectRaw, sha256 } from '../support/images.ts';
import { memoryRunStore } from '../support/run-stores.ts';

interface ReportEntry {
  source: string;
  status: string;
  errorCode?: string;
  category?: string;
  error?: string;
  referrers?: {
    found: number;
    copied: number;
    exists: number;
    planned: number;
    skipped: number;
    changed: number;
    signed: boolean;
    items: {
      digest: string;
      kind: string;
      tag?: string;
      via: string;
      status: string;
      reason?: string;
    }[];
  };
}

const tagOf = (digest: string) => digest.replace(':', '-');

describe('signatures, attestations and SBOMs', () => {
  let pair: Pair;
  let src: Pusher;
  let prefix: string;
  let t: string;
  let file: string;
  type Name =
    | 'cosigned'
    | 'sig'
    | 'att'
    | 'sbom'
    | 'referred'
    | 'bundle'
    | 'spdx'
    | 'index'
    | 'spdxSig'
    | 'multi'
    | 'amd64Att'
    | 'arm64Att'
    | 'unsigned';
  const seeded = {} as Record<Name, Pushed>;

  async function run(
    args: string[] = [],
    images = file,
  ): Promise<{ code: number; results: ReportEntry[]; out: string }> {
    const report = `${pair.dir}/report-${Math.random().toString(36).slice(2)}.json`;
    const result = await pair.cli(['-i', images, '-r', prefix, '--report', report, ...args]);
    const parsed = JSON.parse(readFileSync(report, 'utf8')) as { results: ReportEntry[] };
    return { code: result.code, results: parsed.results, out: result.stdout + result.stderr };
  }

  const byName = (results: ReportEntry[], name: string) =>
    results.find((r) => r.source.includes(`/team/${name}:`)) as ReportEntry;

  before(async () => {
    pair = await startPair();
    src = new Pusher(pair.source.url, SOURCE_PUSHER);
    prefix = `${pair.target.host}/mirror/`;
    t = `${pair.target.host}/mirror/${pair.source.host.replace(':', '_')}/team`;

    // cosign's layout: .sig, .att and .sbom tags beside the image.
    seeded.cosigned = await src.image('team/cosigned', 'v1');
    seeded.sig = await src.cosign('team/cosigned', seeded.cosigned.digest, 'sig');
    seeded.att = await src.cosign('team/cosigned', seeded.cosigned.digest, 'att');
    seeded.sbom = await src.cosign('team/cosigned', seeded.cosigned.digest, 'sbom');

    // OCI 1.1 referrers with a subject, listed by the tag schema, and a
    // signature on the SBOM (a referrer of a referrer).
    seeded.referred = await src.image('team/referred', 'v1');
    seeded.bundle = await src.referrer('team/referred', seeded.referred, SIGSTORE_BUNDLE);
    seeded.spdx = await src.referrer('team/referred', seeded.referred, SPDX);
    seeded.index = await src.tagSchema('team/referred', seeded.referred.digest, [
      seeded.bundle,
      seeded.spdx,
    ]);
    seeded.spdxSig = await src.referrer('team/referred', seeded.spdx, SIGSTORE_BUNDLE);
    await src.tagSchema('team/referred', seeded.spdx.digest, [seeded.spdxSig]);

    // An index whose platform manifests carry cosign attestations (not the index itself).
    const amd64 = await src.image('team/multi', 'amd64');
    const arm64 = await src.image('team/multi', 'arm64');
    seeded.multi = await src.manifest(
      'team/multi',
      {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { ...strip(amd64), platform: { os: 'linux', architecture: 'amd64' } },
          { ...strip(arm64), platform: { os: 'linux', architecture: 'arm64' } },
        ],
      },
      'v1',
    );
    seeded.amd64Att = await src.cosign('team/multi', amd64.digest, 'att');
    seeded.arm64Att = await src.cosign('team/multi', arm64.digest, 'att');

    seeded.unsigned = await src.image('team/unsigned', 'v1');

    file = pair.writeFile(
      'images.yaml',
      ['cosigned', 'referred', 'multi']
        .map((n) => `- source: "${pair.source.host}/team/${n}:v1"`)
        .join('\n')
        .replace(/^/, 'images:\n')
        .concat('\n'),
    );
  });
  after(() => pair.stop());

  it('plans referrers in a dry run and writes nothing', async () => {
    pair.target.clearLog();
    const { code, results } = await run(['--dry-run']);
    assert.equal(code, 0);
    const cosigned = byName(results, 'cosigned');
    assert.equal(cosigned.status, 'planned');
    assert.deepEqual(
      cosigned.referrers?.items.map((i) => [i.tag, i.kind, i.status]),
      [
        [`${tagOf(seeded.cosigned.digest)}.sig`, 'signature', 'planned'],
        [`${tagOf(seeded.cosigned.digest)}.att`, 'attestation', 'planned'],
        [`${tagOf(seeded.cosigned.digest)}.sbom`, 'sbom', 'planned'],
      ],
    );
    assert.equal(cosigned.referrers?.signed, true);
    // By default only the image's own digest: the platforms' attestations wait for --referrers-all-platforms.
    const multi = byName(results, 'multi');
    assert.deepEqual([multi.referrers?.found, multi.referrers?.signed], [0, false]);
    assert.deepEqual(writes(await settledLog(pair.target)), []);
  });

  it("copies cosign's tags and OCI referrers byte for byte, with the tag schema in the target", async () => {
    const { code, results, out } = await run(['--referrers-all-platforms', '--referrers-depth=2']);
    assert.equal(code, 0, out);

    const cosigned = byName(results, 'cosigned');
    assert.equal(cosigned.status, 'copied');
    assert.deepEqual(
      [cosigned.referrers?.found, cosigned.referrers?.copied, cosigned.referrers?.signed],
      [3, 3, true],
    );
    for (const kind of ['sig', 'att', 'sbom'] as const) {
      const tag = `${tagOf(seeded.cosigned.digest)}.${kind}`;
      const raw = await inspectRaw(`${t}/cosigned:${tag}`, TARGET_WRITER);
      assert.equal(sha256(raw), seeded[kind].digest, `${kind} byte for byte`);
    }

    const referred = byName(results, 'referred');
    assert.equal(referred.status, 'copied');
    assert.deepEqual(
      referred.referrers?.items.map((i) => [i.digest, i.kind, i.via, i.status]),
      [
        [seeded.bundle.digest, 'signature', 'tag-schema', 'copied'],
        [seeded.spdx.digest, 'sbom', 'tag-schema', 'copied'],
        [seeded.spdxSig.digest, 'signature', 'tag-schema', 'copied'],
      ],
    );
    // The target has no referrers API either: the tag schema index is created
    // there, with the source's very bytes since it lists exactly what was copied.
    const index = await inspectRaw(`${t}/referred:${tagOf(seeded.referred.digest)}`, TARGET_WRITER);
    assert.equal(sha256(index), seeded.index.digest);
    const sbomIndex = JSON.parse(
      (await inspectRaw(`${t}/referred:${tagOf(seeded.spdx.digest)}`, TARGET_WRITER)).toString(),
    );
    assert.deepEqual(
      sbomIndex.manifests.map((m: { digest: string }) => m.digest),
      [seeded.spdxSig.digest],
    );

    const multi = byName(results, 'multi');
    assert.equal(multi.status, 'copied');
    assert.deepEqual(
      multi.referrers?.items.map((i) => [i.digest, i.kind, i.status]),
      [
        [seeded.amd64Att.digest, 'attestation', 'copied'],
        [seeded.arm64Att.digest, 'attestation', 'copied'],
      ],
    );

    // image-syncer's own client sees the same bytes, subject included.
    const registries = new Registries({
      credentials: new StaticCredentials([
        [pair.target.host, { username: 'writer', password: 'write-secret-2' }],
      ]),
    });
    try {
      const client = registries.client(pair.target.host);
      const repo = `mirror/${pair.source.host.replace(':', '_')}/team/referred`;
      const bundle = await client.getManifest(repo, seeded.bundle.digest);
      assert.equal(JSON.parse(bundle.bytes.toString()).subject.digest, seeded.referred.digest);
      assert.ok(await client.hasBlob(repo, JSON.parse(bundle.bytes.toString()).layers[0].digest));
    } finally {
      await registries.close();
    }
  });

  it('re-runs with zero manifest or blob GETs on the source, every referrer already there', async () => {
    pair.source.clearLog();
    pair.target.clearLog();
    const { code, results, out } = await run(['--referrers-all-platforms', '--referrers-depth=2']);
    assert.equal(code, 0, out);
    for (const r of results) {
      assert.equal(r.status, 'exists');
      assert.ok((r.referrers?.found ?? 0) > 0);
      assert.equal(r.referrers?.exists, r.referrers?.found, JSON.stringify(r.referrers));
    }
    const log = await settledLog(pair.source);
    assert.deepEqual(
      log.filter((e) => e.method === 'GET' && /\/(manifests|blobs)\//.test(e.path)),
      [],
      'no manifest or blob GET on the source',
    );
    assert.deepEqual(writes(await settledLog(pair.target)), []);
  });

  it('reports a changed .sig in the target as a signature change, not a failure', async () => {
    // Upstream replaced the signature (cosign appends to the .sig manifest).
    const newer = await src.cosign('team/cosigned', seeded.cosigned.digest, 'sig');
    const { code, results, out } = await run();
    assert.equal(code, 0, out);
    const cosigned = byName(results, 'cosigned');
    assert.equal(cosigned.status, 'exists');
    const sig = cosigned.referrers?.items.find((i) => i.kind === 'signature');
    assert.equal(sig?.status, 'changed');
    assert.equal(sig?.digest, newer.digest);
    assert.match(sig?.reason ?? '', /tags are immutable/);
    assert.equal(cosigned.referrers?.changed, 1);
    // The target's tag was kept.
    const raw = await inspectRaw(
      `${t}/cosigned:${tagOf(seeded.cosigned.digest)}.sig`,
      TARGET_WRITER,
    );
    assert.equal(sha256(raw), seeded.sig.digest);
  });

  it('fails an unsigned image that must be signed, writing nothing of it', async () => {
    const policyFile = pair.writeFile(
      'policy.yaml',
      [
        'images:',
        `- source: "${pair.source.host}/team/unsigned:v1"`,
        '  requireSignature: true',
        `- source: "${pair.source.host}/team/cosigned:v1"`,
        '  requireSignature: true',
        '',
      ].join('\n'),
    );
    pair.target.clearLog();
    const { code, results } = await run([], policyFile);
    assert.equal(code, 1);
    const unsigned = byName(results, 'unsigned');
    assert.equal(unsigned.status, 'failed');
    assert.equal(unsigned.errorCode, 'SIGNATURE_REQUIRED');
    assert.equal(unsigned.category, 'unsigned');
    assert.match(unsigned.error ?? '', /no signature or attestation/);
    assert.equal(byName(results, 'cosigned').status, 'exists');
    const log = await settledLog(pair.target);
    assert.deepEqual(
      log.filter((e) => e.path.includes('/team/unsigned') && e.method !== 'HEAD'),
      [],
      'nothing but a HEAD of its tag in the target for the refused image',
    );
    assert.deepEqual(writes(log), []);

    // The same globally, and in a dry run (what /plan shows).
    // The index whose platforms alone carry attestations is unsigned itself.
    const dry = await run(['--dry-run', '--require-signature']);
    assert.equal(dry.code, 1);
    assert.deepEqual(
      dry.results.map((r) => [r.source.replace(/.*\/team\//, ''), r.status, r.errorCode]),
      [
        ['cosigned:v1', 'exists', undefined],
        ['referred:v1', 'exists', undefined],
        ['multi:v1', 'failed', 'SIGNATURE_REQUIRED'],
      ],
    );
    const plain = pair.writeFile(
      'plain.yaml',
      `images:\n- source: "${pair.source.host}/team/unsigned:v1"\n`,
    );
    const refused = await run(['--dry-run'], plain);
    assert.equal(refused.code, 0);
    const env = await pair.cli(['-i', plain, '-r', prefix, '--dry-run'], {
      SYNCER_REQUIRE_SIGNATURE: 'true',
    });
    assert.equal(env.code, 1);
    assert.match(env.stdout + env.stderr, /no signature or attestation/);
  });

  it('copies only the referrer types asked for, and nothing with --referrers=false', async () => {
    const image = await src.image('team/filtered', 'v1');
    await src.cosign('team/filtered', image.digest, 'sig');
    await src.cosign('team/filtered', image.digest, 'sbom');
    const one = pair.writeFile(
      'filtered.yaml',
      `images:\n- source: "${pair.source.host}/team/filtered:v1"\n`,
    );
    const { results } = await run(['--referrer-types', 'sbom'], one);
    const filtered = byName(results, 'filtered');
    assert.deepEqual(
      filtered.referrers?.items.map((i) => [i.kind, i.status, i.reason]),
      [
        ['signature', 'skipped', 'not among --referrer-types'],
        ['sbom', 'copied', undefined],
      ],
    );
    assert.equal(filtered.referrers?.signed, true);
    const off = await run(['--referrers=false'], one);
    assert.equal(byName(off.results, 'filtered').referrers, undefined);
    assert.equal(OCI_MANIFEST.length > 0, true);
  });

  it('keeps a referrer already in the target and reports what an existing referrers tag cannot list', async () => {
    const image = await src.image('team/preseed', 'v1');
    const a = await src.referrer('team/preseed', image, SIGSTORE_BUNDLE, 'nonce-a');
    const b = await src.referrer('team/preseed', image, SPDX);
    await src.tagSchema('team/preseed', image.digest, [a, b]);
    // The target already holds the same signature, listed by its own referrers tag.
    const dst = new Pusher(pair.target.url, TARGET_WRITER);
    const repo = `mirror/${pair.source.host.replace(':', '_')}/team/preseed`;
    assert.equal((await dst.referrer(repo, image, SIGSTORE_BUNDLE, 'nonce-a')).digest, a.digest);
    const theirs = await dst.tagSchema(repo, image.digest, [a]);

    const one = pair.writeFile(
      'preseed.yaml',
      `images:\n- source: "${pair.source.host}/team/preseed:v1"\n`,
    );
    const { code, results, out } = await run([], one);
    assert.equal(code, 0, out);
    const entry = byName(results, 'preseed');
    assert.deepEqual(
      entry.referrers?.items.map((i) => [i.digest, i.status, /not listed/.test(i.reason ?? '')]),
      [
        [a.digest, 'exists', false],
        [b.digest, 'copied', true],
      ],
    );
    // Never overwritten: the target's referrers tag is as it was.
    const tag = await inspectRaw(`${t}/preseed:${tagOf(image.digest)}`, TARGET_WRITER);
    assert.equal(sha256(tag), theirs.digest);
    assert.match(out, /not listed in the target's referrers tag/);
  });

  it('/plan shows referrers and which images are unsigned, and never writes', async () => {
    const planned = pair.writeFile(
      'plan.yaml',
      [
        'images:',
        `- source: "${pair.source.host}/team/cosigned:v1"`,
        `- source: "${pair.source.host}/team/unsigned:v1"`,
        '  requireSignature: true',
        '',
      ].join('\n'),
    );
    const registries = new Registries({
      credentials: new StaticCredentials([
        [pair.target.host, { username: 'writer', password: 'write-secret-2' }],
      ]),
    });
    pair.target.clearLog();
    try {
      const outcome = await planImagesFile(planned, readFileSync(planned), {
        prefix: parseTargetPrefix(prefix),
        registries,
      });
      assert.deepEqual(
        planEntries(outcome).map((r) => [r.status, r.errorCode, r.referrers?.signed]),
        [
          ['exists', undefined, true],
          ['failed', 'SIGNATURE_REQUIRED', undefined],
        ],
      );
      const markdown = markdownTable('plan', planEntries(outcome));
      assert.match(markdown, /· signed · 3 referrer\(s\): /);
      assert.match(markdown, /SIGNATURE_REQUIRED|no signature or attestation/);
    } finally {
      await registries.close();
    }
    assert.deepEqual(writes(await settledLog(pair.target)), []);
  });

  it('the copy function: a job message carries requireSignature, the run record carries referrers', async () => {
    const registries = new Registries({
      credentials: new StaticCredentials([
        [pair.target.host, { username: 'writer', password: 'write-secret-2' }],
      ]),
    });
    const deps = {
      prefix: parseTargetPrefix(prefix),
      store: memoryRunStore(),
      registries,
      logger: silentLogger,
    };
    const deliver = (name: string, extra: object = {}) =>
      handleCopyJob(
        {
          data: Buffer.from(
            JSON.stringify({
              runId: 'run-sig',
              source: `${pair.source.host}/team/${name}:v1`,
              ...extra,
            }),
          ),
        },
        deps,
      );
    pair.target.clearLog();
    try {
      const refused = await deliver('unsigned', { requireSignature: true });
      assert.equal(refused?.status, 'failed');
      assert.equal(refused?.errorCode, 'SIGNATURE_REQUIRED', 'permanent: recorded, not thrown');
      assert.equal(refused?.category, 'unsigned');
      const signed = await deliver('cosigned', { requireSignature: true });
      assert.equal(signed?.status, 'exists');
      assert.equal(signed?.referrers?.signed, true);
      assert.equal(signed?.referrers?.found, 3);
      // Unsigned but not required (another run: in run-sig that job has ended): copied,
      // and the record says unsigned.
      const plain = await deliver('unsigned', { runId: 'run-plain' });
      assert.equal(plain?.status, 'copied');
      assert.equal(plain?.referrers?.signed, false);
    } finally {
      await registries.close();
    }
  });

  it('refuses a listed referrer whose own subject is another image', async () => {
    const image = await src.image('team/claimed', 'v1');
    const other = await src.image('team/claimed', 'other');
    const stranger = await src.referrer('team/claimed', other, SIGSTORE_BUNDLE);
    // A referrers tag anyone can push, listing a signature of another image.
    await src.tagSchema('team/claimed', image.digest, [stranger]);
    const one = pair.writeFile(
      'claimed.yaml',
      `images:\n- source: "${pair.source.host}/team/claimed:v1"\n`,
    );
    const { results } = await run([], one);
    const entry = byName(results, 'claimed');
    assert.equal(entry.status, 'copied');
    assert.deepEqual(
      entry.referrers?.items.map((i) => [i.digest, i.status]),
      [[stranger.digest, 'skipped']],
    );
    assert.match(
      entry.referrers?.items[0]?.reason ?? '',
      new RegExp(`its subject is ${other.digest}`),
    );
    assert.equal(entry.referrers?.signed, false, 'a stranger does not sign it');
  });

  it('a listed signature of another image does not satisfy --require-signature', async () => {
    // The referrers tag is only a claim: the policy must not accept an image
    // whose only "signature" turns out (by its own subject) to sign another.
    const image = await src.image('team/forged', 'v1');
    const other = await src.image('team/forged', 'other');
    const stranger = await src.referrer('team/forged', other, SIGSTORE_BUNDLE);
    await src.tagSchema('team/forged', image.digest, [stranger]);
    const one = pair.writeFile(
      'forged.yaml',
      `images:\n- source: "${pair.source.host}/team/forged:v1"\n`,
    );
    pair.target.clearLog();
    const { code, results } = await run(['--require-signature'], one);
    const entry = byName(results, 'forged');
    assert.equal(code, 1);
    assert.equal(entry.status, 'failed');
    assert.equal(entry.errorCode, 'SIGNATURE_REQUIRED');
    assert.deepEqual(writes(await settledLog(pair.target)), [], 'nothing of it written');
    // Dry run (what /plan shows) says the same.
    const dry = await run(['--require-signature', '--dry-run'], one);
    assert.equal(byName(dry.results, 'forged').errorCode, 'SIGNATURE_REQUIRED');
  });

  it('skips a referrer its referrers tag lists but the source no longer has, and copies the image', async () => {
    // The tag schema is kept by clients: deleting a signature leaves the index
    // listing it. That must not fail the image (every re-run, for good).
    const image = await src.image('team/stale', 'v1');
    const gone = await src.referrer('team/stale', image, SIGSTORE_BUNDLE);
    const kept = await src.referrer('team/stale', image, SPDX);
    await src.tagSchema('team/stale', image.digest, [gone, kept]);
    await promisify(execFile)(
      'skopeo',
      [
        'delete',
        '--tls-verify=false',
        '--creds',
        SOURCE_PUSHER,
        `docker://${pair.source.host}/team/stale@${gone.digest}`,
      ],
      { env: { ...process.env, REGISTRY_AUTH_FILE: '/dev/null' } },
    );
    const one = pair.writeFile(
      'stale.yaml',
      `images:\n- source: "${pair.source.host}/team/stale:v1"\n`,
    );
    const { results } = await run([], one);
    const entry = byName(results, 'stale');
    assert.equal(entry.status, 'copied', entry.error);
    assert.deepEqual(
      entry.referrers?.items.map((i) => [i.digest, i.status]),
      [
        [gone.digest, 'skipped'],
        [kept.digest, 'copied'],
      ],
    );
    assert.match(entry.referrers?.items[0]?.reason ?? '', /no longer/);
    assert.equal(entry.referrers?.signed, false, 'a signature that is gone signs nothing');
    // Under the policy the same image is refused as unsigned, not failed on the 404.
    const again = pair.writeFile(
      'stale2.yaml',
      `images:\n- source: "${pair.source.host}/team/stale:v1"\n  tag: other\n`,
    );
    const refused = byName((await run(['--require-signature'], again)).results, 'stale');
    assert.equal(refused.errorCode, 'SIGNATURE_REQUIRED', refused.error);
  });
});

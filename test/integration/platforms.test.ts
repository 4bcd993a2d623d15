// Required platforms and explained drift against real docker-registry
// servers. Images are built as OCI layouts and pushed with skopeo; what the
// target holds is checked with skopeo and the registries' access logs.
//
// Protocol facts relied on, each reproduced here:
// - an index names each entry's platform (OCI image-index spec, "platform");
//   BuildKit attestations sit in it as unknown/unknown with a
//   `vnd.docker.reference.type` annotation and are not a platform;
// - a single manifest names no platform: its config blob does (OCI image
//   config spec, `os`/`architecture`), read with a blob GET, which Docker Hub
//   does not count as a pull (docs.docker.com/docker-hub/usage/pulls/).

import assert from 'node:assert/strict';
import { lstatSync, readFileSync, symlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parsePlatform } from '../../functions/oci/platform.ts';
import { handleCopyJob } from '../../functions/pipeline/copy-job.ts';
import { planImagesFile } from '../../functions/pipeline/plan.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { StaticCredentials } from '../../functions/registry/credentials.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { silentLogger } from '../../functions/util/logger.ts';
import { planEntries } from '../../functions/views/entries.ts';
import { markdownTable } from '../../functions/views/markdown.ts';
import {
  type Pair,
  SOURCE_PUSHER,
  settledLog,
  startPair,
  TARGET_WRITER,
  writes,
} from '../support/fixture.ts';
import { inspectRaw, Layout, push, sha256 } from '../support/images.ts';
import { memoryRunStore } from '../support/run-stores.ts';

interface ReportEntry {
  source: string;
  target: string;
  status: string;
  digest?: string;
  errorCode?: string;
  category?: string;
  platforms?: { required: string[]; available: string[]; missing: string[] };
  drift?: {
    targetDigest: string;
    sourceDigest: string;
    added: string[];
    removed: string[];
    changed: string[];
    pin: { source: string; tag: string };
    newTag: { source: string; tag: string };
  };
}

describe('required platforms and drift, against real registries', () => {
  let pair: Pair;
  let src: string;
  let prefix: string;
  let mirror: string;
  const layout = new Layout();

  before(async () => {
    pair = await startPair();
    src = pair.source.host;
    prefix = `${pair.target.host}/mirror/`;
    mirror = `${pair.target.host}/mirror/${src.replace(':', '_')}`;
    const amd64 = layout.image({ layers: [2_000] });
    const arm64 = layout.image({ layers: [2_000], architecture: 'arm64' });
    // amd64 plus an attestation that would be "unknown/unknown": arm64 is still missing.
    layout.tag('amd-only', layout.index([amd64, layout.attestation(amd64)]));
    layout.tag('both', layout.index([amd64, arm64, layout.attestation(arm64)]));
    layout.tag('arm-single', layout.image({ layers: [1_000], architecture: 'arm64' }));
    layout.tag('amd-list', layout.index([amd64]));
    const creds = SOURCE_PUSHER;
    await Promise.all([
      push(layout, 'amd-only', `${src}/team/amdonly:1`, { creds }),
      push(layout, 'both', `${src}/team/both:1`, { creds }),
      push(layout, 'arm-single', `${src}/team/armsingle:1`, { creds }),
      // A Docker manifest list (skopeo converts the index): its entries count the same way.
      push(layout, 'amd-list', `${src}/team/amdlist:1`, { creds, dockerFormat: true }),
    ]);
  });
  after(() => pair.stop());

  const report = async (file: string, args: string[] = []) => {
    const path = `${pair.dir}/report-${Math.random().toString(36).slice(2)}.json`;
    const run = await pair.cli(['-i', file, '-r', prefix, '--report', path, ...args]);
    const results = JSON.parse(readFileSync(path, 'utf8')).results as ReportEntry[];
    return { run, results };
  };

  it('refuses an index missing a required platform, writing nothing; attestations do not count', async () => {
    const file = pair.writeFile(
      'amd.yaml',
      `images:\n- source: ${src}/team/amdonly:1\n  platforms: [linux/amd64, linux/arm64]\n`,
    );
    pair.target.clearLog();
    const { run, results } = await report(file);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const [r] = results as [ReportEntry];
    assert.equal(r.status, 'failed');
    assert.equal(r.errorCode, 'PLATFORM_MISSING');
    assert.equal(r.category, 'platform-missing');
    assert.deepEqual(r.platforms, {
      required: ['linux/amd64', 'linux/arm64'],
      available: ['linux/amd64'], // the attestation (unknown/unknown) is not listed
      missing: ['linux/arm64'],
    });
    assert.match(
      run.stdout,
      /FAILED.*\n\s+\[platform-missing \(PLATFORM_MISSING\)\] required platform linux\/arm64 missing: the image has linux\/amd64/,
    );
    assert.deepEqual(writes(await settledLog(pair.target)), [], 'nothing was written');
    await assert.rejects(
      inspectRaw(`${mirror}/team/amdonly:1`, TARGET_WRITER),
      'no tag in the target',
    );

    const list = pair.writeFile(
      'list.yaml',
      `images:\n- source: ${src}/team/amdlist:1\n  platforms: [linux/arm64]\n`,
    );
    const listed = await report(list);
    assert.match(String(await inspectRaw(`${src}/team/amdlist:1`)), /manifest\.list\.v2\+json/);
    assert.deepEqual(listed.results[0]?.platforms, {
      required: ['linux/arm64'],
      available: ['linux/amd64'],
      missing: ['linux/arm64'],
    });
  });

  it('takes the deployment default from SYNCER_REQUIRE_PLATFORMS, and the file default over it', async () => {
    const plain = pair.writeFile('plain.yaml', `images:\n- source: ${src}/team/amdonly:1\n`);
    const byEnv = await pair.cli(['-i', plain, '-r', prefix, '--dry-run'], {
      SYNCER_REQUIRE_PLATFORMS: 'linux/amd64,linux/arm64',
    });
    assert.equal(byEnv.code, 1);
    assert.match(byEnv.stdout, /required platform linux\/arm64 missing/);
    // A file-wide `platforms` replaces the deployment's: amd64 alone is met.
    const fileWide = pair.writeFile(
      'filewide.yaml',
      `platforms: [linux/amd64]\nimages:\n- source: ${src}/team/amdonly:1\n`,
    );
    const met = await pair.cli(['-i', fileWide, '-r', prefix, '--dry-run'], {
      SYNCER_REQUIRE_PLATFORMS: 'linux/amd64,linux/arm64',
    });
    assert.equal(met.code, 0, met.stdout + met.stderr);
    assert.match(met.stdout, /planned/);
    const bad = await pair.cli(['-i', plain, '-r', prefix, '--require-platforms', 'linux/aarch64']);
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /--require-platforms: .*unknown architecture "aarch64" \(did you mean "arm64"\?\)/,
    );
  });

  it('counts a single manifest as the platform its config names (one config blob GET)', async () => {
    const file = pair.writeFile(
      'single.yaml',
      `images:\n- source: ${src}/team/armsingle:1\n  platforms: [linux/arm64]\n`,
    );
    pair.source.clearLog();
    const { run, results } = await report(file);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(results[0]?.status, 'copied');
    const configGets = (await settledLog(pair.source)).filter(
      (e) => e.method === 'GET' && e.path.includes('/blobs/') && e.status === 200,
    );
    assert.ok(configGets.length >= 1, 'the config was read from the source');
    // Required amd64 of the same (already mirrored) image: checked in the target, refused.
    const wrong = pair.writeFile(
      'single-wrong.yaml',
      `images:\n- source: ${src}/team/armsingle:1\n  platforms: [linux/amd64]\n`,
    );
    pair.source.clearLog();
    const refused = await report(wrong);
    assert.equal(refused.results[0]?.errorCode, 'PLATFORM_MISSING');
    assert.deepEqual(refused.results[0]?.platforms?.available, ['linux/arm64']);
    const sourceGets = (await settledLog(pair.source)).filter(
      (e) => e.method === 'GET' && /\/(manifests|blobs)\//.test(e.path),
    );
    assert.deepEqual(
      sourceGets,
      [],
      'an image that exists is checked in the target, no source GET',
    );
  });

  it('shows the refusal in /plan (JSON and Markdown) and accepts an index with every platform', async () => {
    const registries = new Registries({
      credentials: new StaticCredentials([
        [pair.target.host, { username: 'writer', password: 'write-secret-2' }],
      ]),
    });
    try {
      const yaml = [
        'platforms: [linux/amd64, linux/arm64]',
        'images:',
        `- source: ${src}/team/amdonly:1`,
        `- source: ${src}/team/both:1`,
        '',
      ].join('\n');
      const outcome = await planImagesFile('request body', Buffer.from(yaml), {
        prefix: parseTargetPrefix(prefix),
        registries,
      });
      assert.deepEqual(
        planEntries(outcome).map((r) => [r.status, r.errorCode]),
        [
          ['failed', 'PLATFORM_MISSING'],
          ['planned', undefined],
        ],
      );
      const markdown = markdownTable('plan', planEntries(outcome));
      assert.match(
        markdown,
        /\| failed \|.*required platform linux\/arm64 missing: the image has linux\/amd64/,
      );
    } finally {
      await registries.close();
    }
  });

  it('the copy function applies the job platforms, else its deployment default; [] lifts it', async () => {
    const registries = new Registries({
      credentials: new StaticCredentials([
        [pair.target.host, { username: 'writer', password: 'write-secret-2' }],
      ]),
    });
    const store = memoryRunStore();
    const deps = {
      prefix: parseTargetPrefix(prefix),
      store,
      registries,
      logger: silentLogger,
      dryRun: true,
      defaults: { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')] },
    };
    const deliver = (runId: string, extra: object = {}) =>
      handleCopyJob(
        {
          data: Buffer.from(JSON.stringify({ runId, source: `${src}/team/amdonly:1`, ...extra })),
        },
        deps,
      );
    try {
      const byDefault = await deliver('run-default');
      assert.equal(byDefault?.status, 'failed');
      assert.equal(byDefault?.errorCode, 'PLATFORM_MISSING', 'permanent: recorded, not thrown');
      assert.equal(byDefault?.category, 'platform-missing');
      assert.deepEqual(byDefault?.platforms?.missing, ['linux/arm64']);
      const lifted = await deliver('run-lifted', { platforms: [] });
      assert.equal(lifted?.status, 'planned');
      const own = await deliver('run-own', { platforms: ['linux/amd64'] });
      assert.equal(own?.status, 'planned');
    } finally {
      await registries.close();
    }
  });

  it('explains a conflict: the platform that changed and a pin that makes the next run exist', async () => {
    const amd64 = layout.image({ layers: [3_000] });
    const arm64 = layout.image({ layers: [3_000], architecture: 'arm64' });
    const armRebuilt = layout.image({ layers: [3_100], architecture: 'arm64' });
    layout.tag('first', layout.index([amd64, arm64]));
    layout.tag('rebuilt', layout.index([amd64, armRebuilt]));
    await push(layout, 'first', `${src}/team/moving:1.0`, { creds: SOURCE_PUSHER });
    const entry = `${src}/team/moving:1.0`;
    const file = pair.writeFile('moving.yaml', `images:\n# the app\n- source: "${entry}"\n`);
    assert.equal((await pair.cli(['-i', file, '-r', prefix])).code, 0);
    const held = sha256(await inspectRaw(`${mirror}/team/moving:1.0`, TARGET_WRITER));
    // Upstream re-publishes the tag with a rebuilt arm64 image.
    await push(layout, 'rebuilt', `${src}/team/moving:1.0`, { creds: SOURCE_PUSHER });
    const now = sha256(await inspectRaw(`${src}/team/moving:1.0`));

    const { run, results } = await report(file);
    assert.equal(run.code, 1);
    const drift = results[0]?.drift;
    assert.ok(drift, JSON.stringify(results));
    assert.equal(drift.targetDigest, held);
    assert.equal(drift.sourceDigest, now);
    assert.deepEqual([drift.changed, drift.added, drift.removed], [['linux/arm64'], [], []]);
    assert.deepEqual(drift.pin, { source: `${src}/team/moving@${held}`, tag: '1.0' });
    assert.equal(drift.newTag.source, `${src}/team/moving@${now}`);
    assert.match(run.stdout, /upstream re-published the tag: platforms changed linux\/arm64/);
    assert.match(run.stdout, new RegExp(`keep the mirror's: source: "${drift.pin.source}"`));
    const markdown = markdownTable('run', results as never);
    assert.ok(markdown.includes(`- source: "${drift.pin.source}"\n  tag: "1.0"`), markdown);

    // The pin, pasted into the file, makes the next run `exists`.
    const pinned = pair.writeFile(
      'moving.yaml',
      `images:\n# the app\n- source: "${drift.pin.source}"\n  tag: "${drift.pin.tag}"\n`,
    );
    const next = await report(pinned);
    assert.equal(next.run.code, 0, next.run.stdout + next.run.stderr);
    assert.equal(next.results[0]?.status, 'exists');
    assert.equal(next.results[0]?.target, `${mirror}/team/moving:1.0`);
  });

  it('gives the creation times of single-manifest images, whose configs it reads', async () => {
    layout.tag('solo-1', layout.image({ layers: [1_500] }));
    layout.tag('solo-2', layout.image({ layers: [1_600] }));
    await push(layout, 'solo-1', `${src}/team/solo:2`, { creds: SOURCE_PUSHER });
    const file = pair.writeFile('solo.yaml', `images:\n- source: ${src}/team/solo:2\n`);
    assert.equal((await pair.cli(['-i', file, '-r', prefix])).code, 0);
    await push(layout, 'solo-2', `${src}/team/solo:2`, { creds: SOURCE_PUSHER });
    const { results } = await report(file, ['--dry-run']);
    const drift = results[0]?.drift as Record<string, unknown>;
    assert.deepEqual(drift.changed, ['linux/amd64']);
    assert.match(String(drift.targetCreated), /^\d{4}-\d\d-\d\dT/);
    assert.match(String(drift.sourceCreated), /^\d{4}-\d\d-\d\dT/);
  });

  it('pin rewrites a commented file to the digests the registry serves, in both styles; --check and --dry-run', async () => {
    const text = [
      '# external images of team A',
      'images:',
      '  # multi-arch, from the test source',
      `  - source: "${src}/team/both:1" # keep`,
      '',
      `  - source: ${src}/team/armsingle:1`,
      '    tag: arm   # our name',
      '',
    ].join('\n');
    const file = pair.writeFile('pin.yaml', text);
    const targetsOf = async (images = file) => {
      const validate = await pair.cli(['validate', '-i', images, '-r', prefix]);
      assert.equal(validate.code, 0, validate.stderr);
      return validate.stdout.split('\n').map((l) => l.split(' → ')[1]?.split(' ')[0]);
    };
    const targetsBefore = await targetsOf();
    assert.ok(targetsBefore.includes(`${mirror}/team/armsingle:arm`));
    const check = await pair.cli(['pin', '--check', '-i', file]);
    assert.equal(check.code, 1);
    assert.match(check.stderr, new RegExp(`${file}:4: images\\[0\\]\\.source: .* is not pinned`));
    assert.match(check.stderr, new RegExp(`${file}:6: images\\[1\\]\\.source:`));

    const dry = await pair.cli(['pin', '--dry-run', '-i', file]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^--- .*\n\+\+\+ .*\n@@ -4,1 \+4,1 @@/);
    assert.equal(readFileSync(file, 'utf8'), text, '--dry-run changes nothing');

    // Pinned through a symlink (a shared file linked into a repository): the
    // link stays a link and the file it points to is rewritten.
    const link = `${file}.link.yaml`;
    symlinkSync(file, link);
    pair.source.clearLog();
    const run = await pair.cli(['pin', '-i', link]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      /:6: images\[1\] is pinned as .*armsingle@sha256:… .*its tag: arm is not the source's tag 1,/,
    );
    assert.ok(lstatSync(link).isSymbolicLink(), 'the link is still a link');
    const methods = (await settledLog(pair.source))
      .filter((e) => /\/(manifests|blobs)\//.test(e.path))
      .map((e) => e.method);
    assert.deepEqual([...new Set(methods)], ['HEAD'], 'resolved with HEADs only');
    const both = sha256(await inspectRaw(`${src}/team/both:1`));
    const arm = sha256(await inspectRaw(`${src}/team/armsingle:1`));
    // Only the sources change (and, in the digest style, the tag the first entry maps to is added).
    const pinned = (first: string, added: string[]) =>
      [
        '# external images of team A',
        'images:',
        '  # multi-arch, from the test source',
        `  - source: "${first}" # keep`,
        ...added,
        '',
        `  - source: ${src}/team/armsingle@${arm}`,
        '    tag: arm   # our name',
        '',
      ].join('\n');
    assert.equal(readFileSync(file, 'utf8'), pinned(`${src}/team/both:1@${both}`, []));
    assert.equal((await pair.cli(['pin', '--check', '-i', file])).code, 0);
    assert.deepEqual(await targetsOf(), targetsBefore, 'the same targets after pinning');

    // The Go tool's form: name@digest plus the target tag.
    const digestFile = pair.writeFile('pin-digest.yaml', text);
    const digestRun = await pair.cli(['pin', '--style', 'digest', '-i', digestFile]);
    assert.equal(digestRun.code, 0, digestRun.stdout + digestRun.stderr);
    assert.doesNotMatch(digestRun.stderr, /note:/);
    assert.equal(
      readFileSync(digestFile, 'utf8'),
      pinned(`${src}/team/both@${both}`, ['    tag: "1"']),
    );
    assert.deepEqual(await targetsOf(digestFile), targetsBefore, 'the same targets, digest style');
  });
});

// Platforms: parsing `os/arch[/variant]` against Go's GOOS/GOARCH
// lists and the OCI spec's variants, matching, the images file's `platforms`
// fields (errors with file and line), the CLI's validate advice, the job
// message's `platforms`, and the drift fix's names.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freshTag, pinnedSource, sourceName } from '../../functions/engine/drift.ts';
import { loadConfig } from '../../functions/gcp/config.ts';
import { checkImagesFile } from '../../functions/images-file/parse.ts';
import {
  formatPlatform,
  isAttestation,
  missingPlatforms,
  parsePlatform,
  satisfies,
} from '../../functions/oci/platform.ts';
import { fanOut } from '../../functions/pipeline/fanout.ts';
import { type JobMessage, parseJob } from '../../functions/pipeline/job.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { silentLogger } from '../../functions/util/logger.ts';
import { runCliCaptured } from '../support/fixture.ts';
import { memoryRunStore } from '../support/run-stores.ts';

const prefix = parseTargetPrefix('gcr.example.io/mirror/');
const check = (text: string) => checkImagesFile('images.yaml', Buffer.from(text), prefix);
const problems = (text: string) =>
  check(text).problems.map((d) => `${d.line}|${d.field}|${d.message}`);

describe('platforms', () => {
  it('parses os/arch[/variant] with the GOOS/GOARCH values the OCI spec names', () => {
    assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parsePlatform('linux/arm/v7'), {
      os: 'linux',
      architecture: 'arm',
      variant: 'v7',
    });
    assert.equal(formatPlatform(parsePlatform('windows/amd64')), 'windows/amd64');
    for (const [text, message] of [
      ['linux/x86_64', /unknown architecture "x86_64" \(did you mean "amd64"\?\)/],
      ['linux/aarch64', /did you mean "arm64"/],
      ['Linux/amd64', /unknown os "Linux" \(did you mean "linux"\?\)/],
      ['linux', /expected os\/arch/],
      ['amd64', /did you mean "linux\/amd64"/],
      ['linux/arm/v9', /unknown variant "v9" of arm/],
      ['linux/s390x/v2', /s390x \(it has no variants\)/],
      ['linux//amd64', /expected os\/arch/],
    ] as const) {
      assert.throws(() => parsePlatform(text), message, text);
    }
  });

  it('matches variants with baselines normalised, and no required variant matches any', () => {
    const p = parsePlatform;
    assert.ok(satisfies(p('linux/arm64/v8'), p('linux/arm64')));
    assert.ok(satisfies(p('linux/arm64'), p('linux/arm64/v8')));
    assert.ok(satisfies(p('linux/arm/v7'), p('linux/arm')));
    assert.ok(!satisfies(p('linux/arm/v6'), p('linux/arm/v7')));
    assert.ok(!satisfies(p('windows/amd64'), p('linux/amd64')));
    assert.deepEqual(
      missingPlatforms([p('linux/amd64'), p('linux/arm64')], [p('linux/amd64')]).map(
        formatPlatform,
      ),
      ['linux/arm64'],
    );
  });

  it('recognises attestation entries by platform or annotation', () => {
    const d = { mediaType: 'x', digest: `sha256:${'a'.repeat(64)}`, size: 1 };
    assert.ok(isAttestation({ ...d, platform: { os: 'unknown', architecture: 'unknown' } }));
    assert.ok(
      isAttestation({
        ...d,
        platform: { os: 'linux', architecture: 'amd64' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
      }),
    );
    assert.ok(!isAttestation({ ...d, platform: { os: 'linux', architecture: 'amd64' } }));
  });

  it('reads platforms per entry and for the whole file; an entry may lift the default with []', () => {
    const file = check(`platforms: [linux/amd64, linux/arm64]
images:
- source: a/b:1
- source: a/c:1
  platforms:
  - linux/arm/v7
- source: a/d:1
  platforms: []
`);
    assert.deepEqual(file.problems, []);
    assert.deepEqual(
      file.entries.map((e) => e.platforms?.map(formatPlatform)),
      [['linux/amd64', 'linux/arm64'], ['linux/arm/v7'], []],
    );
    assert.equal(check('images:\n- source: a/b:1\n').entries[0]?.platforms, undefined);
  });

  it('rejects mistyped platforms with file, line and field', () => {
    assert.deepEqual(
      problems(`images:
- source: a/b:1
  platforms:
  - linux/amd64
  - linux/x86_64
- source: a/c:1
  platforms: linux/amd64
- source: a/d:1
  platforms: [linux/amd64, linux/amd64]
`),
      [
        '5|images[0].platforms[1]|invalid platform "linux/x86_64": unknown architecture "x86_64" (did you mean "amd64"?); expected a Go GOARCH value such as amd64, arm64, arm, 386, ppc64le, s390x',
        '7|images[1].platforms|must be a list of platforms, e.g. [linux/amd64, linux/arm64]',
        '9|images[2].platforms[1]|linux/amd64 is listed twice',
      ],
    );
    assert.deepEqual(problems('platform: [linux/amd64]\nimages: []\n'), [
      '1|platform|unknown field (did you mean "platforms"?)',
    ]);
    assert.match(
      problems('platforms: [darwin/arm64, linux/armhf]\nimages: []\n').join('\n'),
      /^1\|platforms\[1\]\|invalid platform "linux\/armhf": .*did you mean "arm\/v7"/,
    );
  });

  it('refuses duplicates that require different platforms instead of dropping one requirement', () => {
    // Merging keeps the first entry: a second one's platforms would silently vanish.
    assert.deepEqual(
      problems(`images:
- source: a/b:1
- source: a/b:1
  platforms: [linux/arm64]
`),
      [
        '3|images[1].platforms|duplicate of the entry on line 2, which requires the default platforms, not linux/arm64; give both the same platforms or keep one',
      ],
    );
    // The same requirement (any order) merges as before.
    const same = check(`images:
- source: a/b:1
  platforms: [linux/amd64, linux/arm64]
- source: a/b:1
  platforms: [linux/arm64, linux/amd64]
`);
    assert.deepEqual(same.problems, []);
    assert.equal(same.entries.length, 1);
  });

  it('validate prints mistyped platforms as FILE:LINE and warns on tags moved by convention', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'platforms-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'images:\n- source: a/b:1.2\n  platforms: [linux/amd64, linux/aarch64]\n');
    const rejected = await runCliCaptured(['validate', '-i', bad], {});
    assert.equal(rejected.code, 2);
    assert.match(
      rejected.stderr,
      new RegExp(`${bad}:3: images\\[0\\]\\.platforms\\[1\\]: invalid platform "linux/aarch64"`),
    );

    const moving = join(dir, 'moving.yaml');
    const digest = `sha256:${'d'.repeat(64)}`;
    writeFileSync(
      moving,
      `images:\n- source: gcr.io/distroless/static:latest\n- source: a/b\n- source: a/c:3\n- source: a/d:v2\n- source: a/e:3.1\n- source: a/f@${digest}\n  tag: "3"\n`,
    );
    const warned = await runCliCaptured(['validate', '-i', moving], {});
    assert.equal(warned.code, 0, warned.stderr);
    const lines = warned.stderr.split('\n').filter((l) => l.includes('moved by upstream'));
    assert.deepEqual(
      lines.map((l) => /:(\d+): images\[(\d)\]\.source: tag "([^"]+)"/.exec(l)?.slice(1).join('|')),
      ['2|0|latest', '3|1|latest', '4|2|3', '5|3|v2'],
    );
    assert.match(lines[0] ?? '', /pin it to a digest \(image-syncer pin\)/);
  });

  it('carries platforms in the job message, checked like the file', () => {
    const job = (extra: object) =>
      parseJob(Buffer.from(JSON.stringify({ runId: 'r1', source: 'a/b:1', ...extra })));
    assert.deepEqual(job({ platforms: ['linux/amd64'] }).platforms, ['linux/amd64']);
    assert.deepEqual(job({ platforms: [] }).platforms, []);
    assert.equal(job({}).platforms, undefined);
    assert.throws(() => job({ platforms: ['linux/x86_64'] }), /unknown architecture "x86_64"/);
    assert.throws(() => job({ platforms: 'linux/amd64' }), /platforms must be a list/);
  });

  it('names the fix in the spelling the user wrote', () => {
    const d = `sha256:${'e'.repeat(64)}`;
    assert.equal(sourceName('python:3.14.6-alpine3.23'), 'python');
    assert.equal(sourceName('registry.example.com:5000/a/b:1'), 'registry.example.com:5000/a/b');
    assert.equal(sourceName('registry.example.com:5000/a/b'), 'registry.example.com:5000/a/b');
    assert.equal(sourceName(`ghcr.io/a/b:1@${d}`), 'ghcr.io/a/b');
    assert.equal(pinnedSource('python:3.14', d), `python@${d}`);
    assert.equal(freshTag('3.14', d), '3.14-eeeeeeeeeeee');
    assert.equal(freshTag('x'.repeat(128), d).length, 128);
  });

  it('fans out the file platforms in job messages, only where the file names them', async () => {
    const sent: JobMessage[] = [];
    await fanOut(
      {
        runId: 'run-p',
        file: 'f.yaml',
        bytes: Buffer.from(
          'images:\n- source: a/b:1\n  platforms: [linux/arm64]\n- source: a/c:1\n- source: a/d:1\n  platforms: []\n',
        ),
        trigger: { type: 'test' },
        dryRun: false,
      },
      {
        prefix,
        store: memoryRunStore(),
        publisher: { publish: async (jobs) => void sent.push(...jobs) },
        logger: silentLogger,
      },
    );
    assert.deepEqual(
      sent.map((j) => [j.source, j.platforms]),
      [
        ['a/b:1', ['linux/arm64']],
        ['a/c:1', undefined],
        ['a/d:1', []],
      ],
    );
    assert.ok(!('platforms' in (sent[1] as object)), 'no field when the file names none');
  });

  it('reads SYNCER_REQUIRE_PLATFORMS at cold start, naming the variable when it is wrong', () => {
    const base = { SYNCER_TARGET_REPO_PREFIX: 'europe-docker.pkg.dev/p/r/' };
    assert.deepEqual(loadConfig(base).requirePlatforms, []);
    assert.deepEqual(
      loadConfig({
        ...base,
        SYNCER_REQUIRE_PLATFORMS: 'linux/amd64, linux/arm64',
      }).requirePlatforms.map(formatPlatform),
      ['linux/amd64', 'linux/arm64'],
    );
    assert.throws(
      () => loadConfig({ ...base, SYNCER_REQUIRE_PLATFORMS: 'linux/x86_64' }),
      /^ConfigError: SYNCER_REQUIRE_PLATFORMS: invalid platform "linux\/x86_64"/,
    );
  });
});

// Renovate itself reads images files through the preset this repository ships
// (renovate/external-images.json). One offline run of the pinned `renovate`
// package (tools/renovate; `--platform=local --dry-run=lookup`) over a git repository holding
// every case file (test/support/renovate-cases.ts) and a file of images on a
// real docker-registry must:
// - extract from each case file exactly what the case says, and exactly what
//   `validate` computes with the same patterns (functions/cli/renovate-preset.ts);
// - propose, for `name:tag@digest`, the next tag with its digest together (a
//   new target tag, never a conflict), and pin `name:tag` to its digest.
// `extends` would fetch presets from the network, so the repository's
// renovate.json is the preset's content, plus what only the test needs: plain
// HTTP to the loopback registry, and no lookups for the case files (their
// images live on the internet). Renovate's HTTP statistics prove that nothing
// but loopback was asked.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PRESET_FILE, presetDependencies } from '../../functions/cli/renovate-preset.ts';
import { checkImagesFile } from '../../functions/images-file/parse.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { SOURCE_PUSHER } from '../support/fixture.ts';
import { inspectRaw, Layout, push, sha256 } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { D3, OTHER_FILE, RENOVATE_CASES } from '../support/renovate-cases.ts';

const run = promisify(execFile);
// A package of its own (tools/renovate), installed by `npm test`'s pretest
// (scripts/ensure-renovate.sh), so the functions' build never installs it.
const RENOVATE_DIST = join(import.meta.dirname, '../../tools/renovate/node_modules/renovate/dist');

interface ReportUpdate {
  updateType: string;
  newValue?: string;
  newDigest?: string;
}
interface ReportDependency {
  depName: string;
  currentValue?: string;
  currentDigest?: string;
  replaceString: string;
  datasource: string;
  depType: string;
  updates?: ReportUpdate[];
}
interface Report {
  problems: { msg: string }[];
  repositories: {
    local: {
      problems: { msg: string }[];
      packageFiles: Record<string, { packageFile: string; deps: ReportDependency[] }[]>;
    };
  };
}

describe('Renovate reads images files through the preset', () => {
  let dir: string;
  let registry: TestRegistry;
  let report: Report;
  let log: { msg: string; hosts?: Record<string, unknown> }[];
  const digests: Record<string, string> = {};

  before(async () => {
    if (!existsSync(RENOVATE_DIST)) {
      throw new Error(
        'Renovate is not installed in tools/renovate: run npm test (its pretest installs it) or bash scripts/ensure-renovate.sh',
      );
    }
    const [user, password] = SOURCE_PUSHER.split(':') as [string, string];
    registry = await startRegistry({ kind: 'token', users: { [user]: password } });
    const layout = new Layout();
    for (const [tag, size] of [
      ['1.0', 100],
      ['1.1', 200],
      ['2.0', 300],
    ] as const) {
      layout.tag(tag, layout.image({ layers: [size] }));
      const name = `${registry.host}/team/${tag === '2.0' ? 'moved' : 'app'}:${tag}`;
      await push(layout, tag, name, { creds: SOURCE_PUSHER });
      digests[tag] = sha256(await inspectRaw(name));
    }

    dir = mkdtempSync(join(tmpdir(), 'renovate-preset-'));
    const repo = join(dir, 'repo');
    const files = [
      ...[...RENOVATE_CASES, OTHER_FILE].map((c) => ({ ...c, path: `cases/${c.path}` })),
      {
        path: 'lookup/external-images.yaml',
        text: `images:
- source: ${registry.host}/team/app:1.0@${digests['1.0']}
- source: ${registry.host}/team/app:1.0
- source: ${registry.host}/team/moved:2.0@${D3}
`,
      },
    ];
    for (const f of files) {
      mkdirSync(dirname(join(repo, f.path)), { recursive: true });
      writeFileSync(join(repo, f.path), f.text);
    }
    const preset = JSON.parse(readFileSync(PRESET_FILE, 'utf8'));
    const config = {
      ...preset,
      hostRules: [{ matchHost: `https://${registry.host}`, insecureRegistry: true }],
      packageRules: [...preset.packageRules, { matchFileNames: ['cases/**'], enabled: false }],
    };
    writeFileSync(join(repo, 'renovate.json'), JSON.stringify(config));
    const git = (...args: string[]) =>
      run('git', ['-c', 'user.name=t', '-c', 'user.email=t@localhost', ...args], { cwd: repo });
    await git('init', '-q');
    await git('add', '-A');
    await git('commit', '-qm', 'cases');

    // Under this Node (24, which renovate 44 requires); nothing inherited but
    // PATH (for git): no token, no proxy, no user config reaches it.
    const { stdout } = await run(
      process.execPath,
      [
        join(RENOVATE_DIST, 'renovate.js'),
        '--platform=local',
        '--dry-run=lookup',
        '--onboarding=false',
        '--require-config=optional',
        '--enabled-managers=custom.regex',
        '--report-type=file',
        `--report-path=${join(dir, 'report.json')}`,
      ],
      {
        cwd: repo,
        env: {
          PATH: process.env.PATH,
          HOME: dir,
          LOG_LEVEL: 'debug',
          LOG_FORMAT: 'json',
          RENOVATE_BASE_DIR: join(dir, 'base'),
          RENOVATE_INTERNAL_HOST_ACCESS: 'allow',
        },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    log = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
  });
  after(async () => {
    await registry?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const packageFiles = () => report.repositories.local.packageFiles.regex ?? [];
  const depsOf = (path: string) => packageFiles().find((f) => f.packageFile === path)?.deps ?? [];

  it('takes the preset as a repository config, reports no problem and asks only loopback', () => {
    // Renovate uses RE2 where the optional `re2` package is built, else
    // JavaScript's RegExp and says so; the preset's patterns mean the same in both.
    const problems = [...report.problems, ...report.repositories.local.problems].filter(
      (p) => !/^RE2 not usable/.test(p.msg),
    );
    assert.deepEqual(problems, []);
    const stats = log.find((l) => l.msg === 'HTTP statistics');
    assert.deepEqual(Object.keys(stats?.hosts ?? {}), ['127.0.0.1']);
  });

  it('extracts every case file as the case says, and as validate computes it', () => {
    assert.deepEqual(
      packageFiles()
        .map((f) => f.packageFile)
        .filter((p) => p.startsWith('cases/'))
        .sort(),
      RENOVATE_CASES.map((c) => `cases/${c.path}`).sort(),
      `only files named external-images.yaml or .yml, not ${OTHER_FILE.path}`,
    );
    const prefix = parseTargetPrefix('gcr.example.io/mirror/');
    for (const c of RENOVATE_CASES) {
      assert.deepEqual(checkImagesFile(c.path, Buffer.from(c.text), prefix).problems, []);
      const extracted = depsOf(`cases/${c.path}`).map((d) => ({
        depName: d.depName,
        currentValue: d.currentValue,
        currentDigest: d.currentDigest,
        replaceString: d.replaceString,
        datasource: d.datasource,
        depType: d.depType,
      }));
      assert.deepEqual(
        extracted.map((d) => [d.depName, d.currentValue, d.currentDigest]),
        c.reads.map(([n, v, digest]) => [n, v, digest]),
        c.path,
      );
      assert.deepEqual(
        extracted,
        presetDependencies(c.text).map(({ offset: _, ...d }) => ({
          currentDigest: undefined,
          ...d,
          datasource: 'docker',
          depType: 'external-image',
        })),
        `${c.path}: validate computes what Renovate extracts`,
      );
    }
  });

  it('moves name:tag@digest to the next tag with its digest, and pins name:tag to its digest', () => {
    const [pinned, byTag, moved] = depsOf('lookup/external-images.yaml');
    const updates = (d?: ReportDependency) =>
      (d?.updates ?? []).map((u) => [u.updateType, u.newValue, u.newDigest]);
    assert.deepEqual(updates(pinned), [['minor', '1.1', digests['1.1']]]);
    assert.deepEqual(updates(byTag).sort(), [
      ['minor', '1.1', digests['1.1']],
      ['pinDigest', '1.0', digests['1.0']],
    ]);
    // Looked up, then dropped by the preset's rule (next test): a new digest
    // under 2.0 would conflict with what the mirror holds under 2.0.
    assert.deepEqual(updates(moved), [['digest', '2.0', digests['2.0']]]);
  });

  it("turns off digest-only updates with Renovate's own package rules, and pins digests", async () => {
    const previous = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL = 'fatal';
    try {
      await (await import(join(RENOVATE_DIST, 'logger/index.js'))).init();
      const { applyPackageRules } = await import(
        join(RENOVATE_DIST, 'util/package-rules/index.js')
      );
      const { packageRules } = JSON.parse(readFileSync(PRESET_FILE, 'utf8'));
      const applied = async (updateType: string, depType = 'external-image') =>
        applyPackageRules(
          {
            packageRules,
            manager: 'regex',
            depType,
            depName: 'a/b',
            datasource: 'docker',
            updateType,
          },
          'update',
        );
      for (const type of ['major', 'minor', 'patch', 'pinDigest']) {
        const config = await applied(type);
        assert.notEqual(config.enabled, false, type);
        assert.equal(config.pinDigests, true, type);
      }
      assert.equal((await applied('digest')).enabled, false);
      assert.notEqual(
        (await applied('digest', 'other')).enabled,
        false,
        'only its own dependencies',
      );
    } finally {
      if (previous === undefined) delete process.env.LOG_LEVEL;
      else process.env.LOG_LEVEL = previous;
    }
  });
});

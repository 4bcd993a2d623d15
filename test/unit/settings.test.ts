// The settings tables: every flag read alike from the command line and the
// environment, the command line winning, errors naming where a value came
// from, the CLI and the functions reading the shared settings the same way
// (with the defaults each declares), and --help and the README made from them.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CLI_FLAGS, type CliOptions, parseFlags, usage } from '../../functions/cli/flags.ts';
import { ConfigError } from '../../functions/errors.ts';
import { CLOUD_SETTINGS, loadConfig } from '../../functions/gcp/config.ts';
import { DEFAULT_ALLOWED_REGISTRIES } from '../../functions/registry/network-policy.ts';
import { bool } from '../../functions/settings/parsers.ts';
import {
  describeSetting,
  envName,
  flagNames,
  readingFor,
  type Setting,
} from '../../functions/settings/setting.ts';
import { SHARED_SETTINGS } from '../../functions/settings/shared.ts';

/**
 * A value for each flag other than its default; a list has two items. A flag
 * without one is tried with `true` (a switch), its default, or `x`.
 */
const SAMPLES: Readonly<Record<string, string>> = {
  'images-file': 'a.yaml',
  'target-repo-auth-key': 'key.json',
  'access-token': 'token',
  check: 'true',
  report: 'report.json',
  url: 'https://api.example',
  'run-id': 'run-1',
  timeout: '30',
  'id-token': 'id',
  help: 'true',
  version: 'true',
  'target-repo-prefix': 'gcr.io/p/',
  'dry-run': 'true',
  debug: 'true',
  'registry-endpoint': 'docker.io=https://m.example,ghcr.io=https://g.example',
  'insecure-registry': 'a.example:5000,b.example:5000',
  'registry-auth-host': 'r.example=auth.example,q.example=auth.q.example',
  'allowed-registry': 'ghcr.io,*.pkg.dev',
  'allow-private-networks': '10.0.0.0/8,mirror.internal:5000',
  concurrency: '3',
  'rate-limit-wait-seconds': '5',
  'require-platforms': 'linux/amd64,linux/arm64',
  referrers: 'false',
  'referrer-types': 'signature,application/spdx+json',
  'referrers-all-platforms': 'true',
  'referrers-depth': '2',
  'require-signature': 'true',
};

/** A value each flag refuses, with what the error says after naming the flag or variable. */
const BAD: Readonly<Record<string, [string, RegExp]>> = {
  timeout: ['0', /expected a number of seconds/],
  'target-repo-prefix': ['no-host/', /must start with a registry host/],
  'dry-run': ['perhaps', /expected true or false, got "perhaps"/],
  'registry-endpoint': ['docker.io', /expected REGISTRY=URL/],
  'registry-auth-host': ['auth.example', /expected REGISTRY=HOST/],
  concurrency: ['0', /expected a whole number from 1 to 256/],
  'rate-limit-wait-seconds': ['-1', /expected a number of seconds|from 0 to 300/],
  'require-platforms': ['linux/amd64,linux/x86_64', /invalid platform "linux\/x86_64"/],
  'referrer-types': ['sigs', /"sigs" is neither/],
  'referrers-depth': ['9', /expected a whole number from 1 to 4/],
};

const FLAGS = Object.entries(CLI_FLAGS);
const SHARED = Object.entries(SHARED_SETTINGS) as [string, Setting<unknown>][];
const BASE = { SYNCER_TARGET_REPO_PREFIX: 'europe-docker.pkg.dev/p/r/' };
const optionOf = (options: CliOptions, key: string) =>
  (options as unknown as Record<string, unknown>)[key];
const sampleOf = (declared: Setting<unknown>): string =>
  SAMPLES[declared.name] ??
  (declared.kind === 'switch' ? 'true' : (readingFor(declared, 'cli').default ?? 'x'));

function refuses(read: () => unknown, where: string, what: RegExp) {
  assert.throws(read, (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.ok(e.message.startsWith(`${where}: `), `${e.message} names ${where}`);
    assert.match(e.message, what);
    return true;
  });
}

describe('settings', () => {
  it('reads every flag alike from --flag V, --flag=V and its SYNCER_ variable', () => {
    const unset = parseFlags([], {});
    for (const [key, declared] of FLAGS) {
      const text = sampleOf(declared);
      const fromFlag = optionOf(parseFlags([`--${declared.name}=${text}`], {}), key);
      if (text !== readingFor(declared, 'cli').default)
        assert.notDeepEqual(fromFlag, optionOf(unset, key), `--${declared.name}=${text} is read`);
      if (declared.kind !== 'switch')
        assert.deepEqual(optionOf(parseFlags([`--${declared.name}`, text], {}), key), fromFlag);
      const env = { [envName(declared.name)]: text };
      assert.deepEqual(optionOf(parseFlags([], env), key), fromFlag, envName(declared.name));
    }
  });

  it('lets the command line win over the environment', () => {
    const unset = parseFlags([], {});
    for (const [key, declared] of FLAGS) {
      const env = { [envName(declared.name)]: sampleOf(declared) };
      // The default's text, or (none declared) the empty text: both read as not given.
      const fallback =
        readingFor(declared, 'cli').default ?? (declared.kind === 'switch' ? 'false' : '');
      const options = parseFlags([`--${declared.name}=${fallback}`], env);
      assert.deepEqual(optionOf(options, key), optionOf(unset, key), `--${declared.name}`);
    }
  });

  it('takes a list as a comma list or the flag repeated, from the command line as from the environment', () => {
    const lists = FLAGS.filter(([, declared]) => declared.kind === 'list');
    assert.ok(lists.length >= 6);
    for (const [key, declared] of lists) {
      const text = sampleOf(declared);
      const repeated = text.split(',').flatMap((item) => [`--${declared.name}`, item]);
      const fromEnv = optionOf(parseFlags([], { [envName(declared.name)]: text }), key);
      assert.deepEqual(optionOf(parseFlags(repeated, {}), key), fromEnv, declared.name);
      assert.deepEqual(optionOf(parseFlags([`--${declared.name}`, text], {}), key), fromEnv);
    }
    assert.deepEqual(
      parseFlags(['--require-platforms', 'linux/amd64, linux/arm64/v8'], {}).requirePlatforms,
      [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    );
  });

  it('names the flag or the variable a bad value came from, in the CLI and the functions', () => {
    for (const [name, [text, what]] of Object.entries(BAD)) {
      refuses(() => parseFlags([`--${name}=${text}`], {}), `--${name}`, what);
      refuses(() => parseFlags([], { [envName(name)]: text }), envName(name), what);
      if (SHARED.some(([, declared]) => declared.name === name))
        refuses(() => loadConfig({ ...BASE, [envName(name)]: text }), envName(name), what);
    }
    for (const [, declared] of FLAGS.filter(([, d]) => d.parse === bool))
      refuses(
        () => parseFlags([`--${declared.name}=maybe`], {}),
        `--${declared.name}`,
        /true or false/,
      );
  });

  it('reads each shared setting in the functions as the CLI does', () => {
    for (const [key, declared] of SHARED) {
      const text = sampleOf(declared);
      const config = loadConfig({ ...BASE, [envName(declared.name)]: text });
      const options = parseFlags([`--${declared.name}=${text}`], {});
      assert.deepEqual(config[key as keyof typeof config], optionOf(options, key), declared.name);
    }
    const options = parseFlags(['--referrer-types=sbom', '--allowed-registry=ghcr.io'], {});
    const config = loadConfig({
      ...BASE,
      SYNCER_REFERRER_TYPES: 'sbom',
      SYNCER_ALLOWED_REGISTRY: 'ghcr.io',
      SYNCER_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    assert.deepEqual(config.referrers, options.referrers);
    assert.deepEqual(config.policy, options.policy);
  });

  it('keeps the defaults each entry point declares: a person’s machine open, a function closed', () => {
    const cli = parseFlags([], {});
    const functions = loadConfig(BASE);
    assert.deepEqual(cli.policy, { privateNetworks: true });
    assert.deepEqual(functions.policy, {
      privateNetworks: false,
      allowedRegistries: DEFAULT_ALLOWED_REGISTRIES,
    });
    assert.deepEqual(loadConfig({ ...BASE, SYNCER_ALLOWED_REGISTRY: '*' }).policy, {
      privateNetworks: false,
    });
    assert.equal(cli.rateLimitWaitSeconds, 600);
    assert.equal(functions.rateLimitWaitSeconds, 10);
    assert.equal(parseFlags(['--rate-limit-wait-seconds=900.5'], {}).rateLimitWaitSeconds, 900.5);
    refuses(
      () => loadConfig({ ...BASE, SYNCER_RATE_LIMIT_WAIT_SECONDS: '301' }),
      'SYNCER_RATE_LIMIT_WAIT_SECONDS',
      /from 0 to 300/,
    );
    assert.deepEqual(cli.targetRepoPrefix, {
      registry: 'europe-docker.pkg.dev',
      path: 'kyma-project/prod/external',
    });
    assert.throws(() => loadConfig({}), /^ConfigError: SYNCER_TARGET_REPO_PREFIX is required/);
    assert.equal(cli.concurrency, functions.concurrency);
    assert.deepEqual(cli.referrers, functions.referrers);
  });
});

describe('help and README', () => {
  it('prints --help from the tables: every flag once, with its meaning and default', () => {
    const lines = usage().split('\n');
    const flagLines = lines.filter((line) => /^ {2}(-\w, )? *--/.test(line));
    assert.equal(flagLines.length, FLAGS.length);
    for (const [, declared] of FLAGS) {
      const line = flagLines.find((l) => l.trim().startsWith(flagNames(declared)));
      assert.ok(line, `--help shows ${flagNames(declared)}`);
      assert.ok(line.endsWith(describeSetting(declared, (t) => t).replaceAll('`', '')), line);
    }
    assert.match(usage(), /--concurrency N +blob transfers .* \(default 8\)$/m);
  });

  it("lists every flag in the README's table with its variable, meaning and defaults, and nothing else", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf('| flag | environment | meaning |');
    assert.ok(start > 0, 'the README has the flag table');
    const rows = readme.slice(start).split('\n\n')[0]?.split('\n').slice(2) ?? [];
    const expected = FLAGS.map(
      ([, d]) =>
        `| \`${flagNames(d)}\` | \`${envName(d.name)}\`${d.kind === 'list' ? ' (comma-separated)' : ''} | ${describeSetting(d, (t) => `\`${t}\``)} |`,
    );
    assert.deepEqual(rows, expected, `the README's rows should be:\n${expected.join('\n')}`);
  });

  it("lists every cloud-only setting in docs/pipeline.md's configuration table, and nothing else", () => {
    const doc = readFileSync(new URL('../../docs/pipeline.md', import.meta.url), 'utf8');
    const start = doc.indexOf('| variable | meaning |');
    assert.ok(start > 0, 'docs/pipeline.md has the configuration table');
    const rows = doc.slice(start).split('\n\n')[0]?.split('\n').slice(2) ?? [];
    const expected = Object.values(CLOUD_SETTINGS).map(
      (d) => `| \`${envName(d.name)}\` | ${describeSetting(d, (t) => `\`${t}\``)} |`,
    );
    assert.deepEqual(rows, expected, `the table's rows should be:\n${expected.join('\n')}`);
  });
});

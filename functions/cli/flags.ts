// The CLI's flags, compatible with the Go tool it replaces. Every flag can also
// come from the environment as SYNCER_<FLAG> (upper case, dashes as
// underscores: --dry-run = SYNCER_DRY_RUN); the command line wins. Repeatable
// flags take a comma-separated list from the environment.

import type { ReferrersOptions } from '../engine/referrer-options.ts';
import { ConfigError } from '../errors.ts';
import { DEFAULT_TARGET_PREFIX } from '../reference/target.ts';
import { REFERRER_FLAGS, referrerOptions } from './referrer-flags.ts';

interface FlagSpec {
  readonly name: string;
  readonly short?: string;
  readonly kind: 'string' | 'boolean' | 'list';
  readonly arg?: string;
  readonly help: string;
  readonly default?: string;
}

export const FLAGS: readonly FlagSpec[] = [
  {
    name: 'images-file',
    short: 'i',
    kind: 'string',
    arg: 'FILE',
    help: 'the images file (external-images.yaml); required',
  },
  {
    name: 'target-repo-prefix',
    short: 'r',
    kind: 'string',
    arg: 'PREFIX',
    help: 'where images go: <prefix><path>:<tag>',
    default: DEFAULT_TARGET_PREFIX,
  },
  {
    name: 'target-repo-auth-key',
    short: 't',
    kind: 'string',
    arg: 'FILE',
    help: 'service account JSON key for the target registry (user _json_key)',
  },
  {
    name: 'access-token',
    short: 'a',
    kind: 'string',
    arg: 'TOKEN',
    help: 'OAuth access token for the target registry (user oauth2accesstoken)',
  },
  {
    name: 'dry-run',
    kind: 'boolean',
    help: 'plan only: report planned/exists/conflict, write nothing',
  },
  {
    name: 'debug',
    kind: 'boolean',
    help: 'log every registry request (URLs redacted, never credentials)',
  },
  {
    name: 'registry-endpoint',
    kind: 'list',
    arg: 'REGISTRY=URL',
    help: "fetch a registry's images from another endpoint (repeatable), e.g. docker.io=https://mirror.gcr.io",
  },
  {
    name: 'insecure-registry',
    kind: 'list',
    arg: 'HOST',
    help: 'allow plain HTTP to this host (repeatable); loopback hosts always may',
  },
  {
    name: 'registry-auth-host',
    kind: 'list',
    arg: 'REGISTRY=HOST',
    help: "a token host on another origin that may receive REGISTRY's credentials (repeatable)",
  },
  {
    name: 'allowed-registry',
    kind: 'list',
    arg: 'HOST',
    help: 'only mirror from these registries (repeatable; host, host:port or *.suffix); default any',
  },
  {
    name: 'allow-private-networks',
    kind: 'boolean',
    help: 'allow loopback, private and link-local destinations (the default for the CLI; =false refuses them)',
  },
  {
    name: 'concurrency',
    kind: 'string',
    arg: 'N',
    help: 'blob transfers in flight at once (four times as many images are examined at once)',
    default: '8',
  },
  ...REFERRER_FLAGS,
  {
    name: 'rate-limit-wait-seconds',
    kind: 'string',
    arg: 'N',
    help: 'how long to wait out a spent pull budget (429s) before an image fails as rate-limited',
    default: '600',
  },
  {
    name: 'require-platforms',
    kind: 'list',
    arg: 'OS/ARCH',
    help: 'platforms every image must have unless its entry or the file says otherwise (repeatable), e.g. linux/amd64',
  },
  {
    name: 'check',
    kind: 'boolean',
    help: 'pin: change nothing; exit 1 when an entry is not pinned to a digest',
  },
  {
    name: 'style',
    kind: 'string',
    arg: 'renovate|digest',
    help: 'pin: write name:tag@sha256:… with no tag: (renovate, which Renovate updates without conflicts) or name@sha256:… plus tag: (digest)',
    default: 'renovate',
  },
  {
    name: 'report',
    kind: 'string',
    arg: 'FILE',
    help: 'write a JSON report of every image to FILE',
  },
  {
    name: 'url',
    kind: 'string',
    arg: 'URL',
    help: 'remote: the HTTP function (api for sync, planApi for plan)',
  },
  {
    name: 'run-id',
    kind: 'string',
    arg: 'ID',
    help: 'remote: the run id (sync: optional, makes retries idempotent; status: required)',
  },
  {
    name: 'timeout',
    kind: 'string',
    arg: 'SECONDS',
    help: 'remote sync: how long to wait for the run to finish',
    default: '900',
  },
  {
    name: 'id-token',
    kind: 'string',
    arg: 'TOKEN',
    help: 'remote: Google ID token for the function (default: from Application Default Credentials)',
  },
  { name: 'help', short: 'h', kind: 'boolean', help: 'show this help' },
  { name: 'version', kind: 'boolean', help: 'print the version' },
];

export type Command = 'sync' | 'validate' | 'remote' | 'pin';
export type RemoteCommand = 'plan' | 'sync' | 'status';

export interface CliOptions {
  readonly command: Command;
  readonly remoteCommand?: RemoteCommand;
  readonly url?: string;
  readonly runId?: string;
  readonly timeoutSeconds: number;
  readonly idToken?: string;
  readonly imagesFile?: string;
  readonly targetRepoPrefix: string;
  readonly targetRepoAuthKey?: string;
  readonly accessToken?: string;
  readonly dryRun: boolean;
  readonly debug: boolean;
  readonly registryEndpoints: readonly string[];
  readonly insecureRegistries: readonly string[];
  readonly allowedRegistries: readonly string[];
  readonly registryAuthHosts: readonly string[];
  readonly allowPrivateNetworks: boolean;
  readonly concurrency: number;
  readonly rateLimitWaitSeconds: number;
  readonly report?: string;
  /** Signatures, attestations, SBOMs: the --referrers… and --require-signature flags. */
  readonly referrers: ReferrersOptions;
  readonly requirePlatforms: readonly string[];
  readonly check: boolean;
  /** pin: how a pinned source is written, `renovate` or `digest` (checked by pin-edit.ts). */
  readonly style?: string;
  readonly help: boolean;
  readonly version: boolean;
}

export function envName(flag: string): string {
  return `SYNCER_${flag.toUpperCase().replaceAll('-', '_')}`;
}

function parseBoolean(value: string, source: string): boolean {
  const lower = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(lower)) return false;
  throw new ConfigError(`${source}: expected true or false, got "${value}"`);
}

export function parseFlags(argv: readonly string[], env: NodeJS.ProcessEnv): CliOptions {
  const values = new Map<string, string | boolean | string[]>();
  const byName = new Map(FLAGS.map((f) => [f.name, f]));
  const byShort = new Map(FLAGS.filter((f) => f.short).map((f) => [f.short as string, f]));
  const positional: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    let spec: FlagSpec | undefined;
    let inline: string | undefined;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
      spec = byName.get(name);
      if (!spec) throw new ConfigError(`unknown flag --${name} (see --help)`);
    } else if (arg.startsWith('-') && arg.length > 1) {
      const short = arg.slice(1, 2);
      spec = byShort.get(short);
      if (!spec) throw new ConfigError(`unknown flag -${short} (see --help)`);
      const rest = arg.slice(2);
      if (rest !== '') inline = rest.startsWith('=') ? rest.slice(1) : rest;
    } else {
      positional.push(arg);
      continue;
    }
    const shown = `--${spec.name}`;
    if (spec.kind === 'boolean') {
      values.set(spec.name, inline === undefined ? true : parseBoolean(inline, shown));
      continue;
    }
    let value = inline;
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(`${shown} needs a value (${spec.arg})`);
    }
    if (spec.kind === 'list') {
      const list = (values.get(spec.name) as string[] | undefined) ?? [];
      list.push(value);
      values.set(spec.name, list);
    } else {
      values.set(spec.name, value);
    }
  }

  for (const spec of FLAGS) {
    if (values.has(spec.name)) continue;
    const fromEnv = env[envName(spec.name)];
    if (fromEnv === undefined || fromEnv === '') continue;
    const shown = envName(spec.name);
    if (spec.kind === 'boolean') values.set(spec.name, parseBoolean(fromEnv, shown));
    else if (spec.kind === 'list')
      values.set(
        spec.name,
        fromEnv
          .split(',')
          .map((v) => v.trim())
          .filter(Boolean),
      );
    else values.set(spec.name, fromEnv);
  }

  const command = positional[0] ?? 'sync';
  if (command !== 'sync' && command !== 'validate' && command !== 'remote' && command !== 'pin') {
    throw new ConfigError(
      `unknown command "${command}": expected sync (the default), validate, pin or remote`,
    );
  }
  let remoteCommand: RemoteCommand | undefined;
  if (command === 'remote') {
    const sub = positional[1];
    if (sub !== 'plan' && sub !== 'sync' && sub !== 'status') {
      throw new ConfigError('remote needs a command: remote plan|sync|status --url URL');
    }
    remoteCommand = sub;
  }
  const extra = positional[command === 'remote' ? 2 : 1];
  if (extra !== undefined) throw new ConfigError(`unexpected argument "${extra}"`);

  const str = (name: string): string | undefined => values.get(name) as string | undefined;
  const concurrencyText = str('concurrency') ?? '8';
  const concurrency = Number(concurrencyText);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new ConfigError(
      `--concurrency: expected a whole number from 1 to 256, got "${concurrencyText}"`,
    );
  }
  const waitText = str('rate-limit-wait-seconds') ?? '600';
  const rateLimitWaitSeconds = Number(waitText);
  if (!Number.isFinite(rateLimitWaitSeconds) || rateLimitWaitSeconds < 0) {
    throw new ConfigError(
      `--rate-limit-wait-seconds: expected a number of seconds, got "${waitText}"`,
    );
  }
  const optional = (key: keyof CliOptions, name: string) => {
    const value = str(name);
    return value === undefined ? {} : { [key]: value };
  };
  const timeoutText = str('timeout') ?? '900';
  const timeoutSeconds = Number(timeoutText);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new ConfigError(`--timeout: expected a number of seconds, got "${timeoutText}"`);
  }
  return {
    command,
    ...(remoteCommand && { remoteCommand }),
    ...optional('url', 'url'),
    ...optional('runId', 'run-id'),
    timeoutSeconds,
    ...optional('idToken', 'id-token'),
    ...optional('imagesFile', 'images-file'),
    targetRepoPrefix: str('target-repo-prefix') ?? DEFAULT_TARGET_PREFIX,
    ...optional('targetRepoAuthKey', 'target-repo-auth-key'),
    ...optional('accessToken', 'access-token'),
    dryRun: values.get('dry-run') === true,
    debug: values.get('debug') === true,
    registryEndpoints: (values.get('registry-endpoint') as string[] | undefined) ?? [],
    insecureRegistries: (values.get('insecure-registry') as string[] | undefined) ?? [],
    allowedRegistries: (values.get('allowed-registry') as string[] | undefined) ?? [],
    registryAuthHosts: (values.get('registry-auth-host') as string[] | undefined) ?? [],
    allowPrivateNetworks: values.get('allow-private-networks') !== false,
    concurrency,
    rateLimitWaitSeconds,
    ...optional('report', 'report'),
    referrers: referrerOptions(values),
    requirePlatforms: (values.get('require-platforms') as string[] | undefined) ?? [],
    check: values.get('check') === true,
    ...optional('style', 'style'),
    help: values.get('help') === true,
    version: values.get('version') === true,
  };
}

export function usage(): string {
  const lines = [
    'Usage: image-syncer [sync] -i FILE [flags]     copy every image of FILE into the target',
    '       image-syncer validate -i FILE [flags]   check FILE offline and show each target',
    '       image-syncer pin -i FILE [--check] [--dry-run] [--style renovate|digest]   pin every tag source to its current digest',
    '       image-syncer remote plan|sync -i FILE --url URL   plan or run through the deployed HTTP function',
    '       image-syncer remote status --run-id ID --url URL  show a run of the deployed functions',
    '',
    'Flags (each also SYNCER_<FLAG> in the environment, e.g. --dry-run = SYNCER_DRY_RUN):',
  ];
  for (const f of FLAGS) {
    const names = `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.arg ? ` ${f.arg}` : ''}`;
    lines.push(`  ${names.padEnd(40)} ${f.help}${f.default ? ` (default ${f.default})` : ''}`);
  }
  lines.push(
    '',
    'Exit status: 0 all copied/exists/planned/valid, 1 any conflict or failure, 2 usage error or invalid file.',
  );
  return lines.join('\n');
}

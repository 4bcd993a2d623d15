// The CLI's command line, compatible with the Go tool it replaces. The flags
// are the settings shared with the functions (settings/shared.ts) plus the
// CLI's own below, each also SYNCER_<FLAG> in the environment (--dry-run =
// SYNCER_DRY_RUN); the command line wins.

import { ConfigError } from '../errors.ts';
import { bool, optionalText, seconds } from '../settings/parsers.ts';
import {
  describeSetting,
  flagNames,
  readSettings,
  type Setting,
  setting,
  type Values,
} from '../settings/setting.ts';
import { readSharedSettings, SHARED_SETTINGS, type SharedSettings } from '../settings/shared.ts';
import { parsePinStyle } from './pin-edit.ts';

/** The settings only the CLI reads. */
export const CLI_SETTINGS = {
  imagesFile: setting({
    name: 'images-file',
    short: 'i',
    kind: 'value',
    arg: 'FILE',
    meaning: 'the images file (`external-images.yaml`); required except by `remote status`',
    parse: optionalText,
  }),
  targetRepoAuthKey: setting({
    name: 'target-repo-auth-key',
    short: 't',
    kind: 'value',
    arg: 'FILE',
    meaning: 'service account JSON key for the target (user `_json_key`)',
    parse: optionalText,
  }),
  accessToken: setting({
    name: 'access-token',
    short: 'a',
    kind: 'value',
    arg: 'TOKEN',
    meaning: 'OAuth access token for the target (user `oauth2accesstoken`)',
    parse: optionalText,
  }),
  check: setting({
    name: 'check',
    kind: 'switch',
    meaning: '`pin`: change nothing, exit 1 when an entry is not pinned to a digest',
    parse: bool,
  }),
  style: setting({
    name: 'style',
    kind: 'value',
    arg: 'STYLE',
    meaning:
      '`pin`: write `name:tag@sha256:…` with no `tag:` (`renovate`: Renovate updates it without conflicts) or `name@sha256:…` plus `tag:` (`digest`)',
    parse: parsePinStyle,
    default: 'renovate',
  }),
  report: setting({
    name: 'report',
    kind: 'value',
    arg: 'FILE',
    meaning: 'write a JSON report of every image to FILE',
    parse: optionalText,
  }),
  url: setting({
    name: 'url',
    kind: 'value',
    arg: 'URL',
    meaning: '`remote`: the HTTP function (`api` for sync and status, `planApi` for plan)',
    parse: optionalText,
  }),
  runId: setting({
    name: 'run-id',
    kind: 'value',
    arg: 'ID',
    meaning: '`remote`: the run id (sync: optional, makes retries idempotent; status: required)',
    parse: optionalText,
  }),
  timeoutSeconds: setting({
    name: 'timeout',
    kind: 'value',
    arg: 'SECONDS',
    meaning: '`remote sync`: how long to wait for the run to finish',
    parse: seconds(true),
    default: '900',
  }),
  idToken: setting({
    name: 'id-token',
    kind: 'value',
    arg: 'TOKEN',
    meaning:
      '`remote`: Google ID token for the function (default: from Application Default Credentials)',
    parse: optionalText,
  }),
  help: setting({
    name: 'help',
    short: 'h',
    kind: 'switch',
    meaning: 'show this help',
    parse: bool,
  }),
  version: setting({ name: 'version', kind: 'switch', meaning: 'print the version', parse: bool }),
};

/** Every flag of the command line: the CLI's own, then those shared with the functions. */
export const CLI_FLAGS: Readonly<Record<string, Setting<unknown>>> = {
  ...CLI_SETTINGS,
  ...SHARED_SETTINGS,
};

export type Command = 'sync' | 'validate' | 'remote' | 'pin';
export type RemoteCommand = 'plan' | 'sync' | 'status';

export interface CliOptions extends Values<typeof CLI_SETTINGS>, SharedSettings {
  readonly command: Command;
  readonly remoteCommand?: RemoteCommand;
}

interface CommandLine {
  /** Flag texts by setting name; a list flag given more than once, joined with commas. */
  readonly given: Map<string, string>;
  readonly positional: string[];
}

function flagOf(arg: string): { declared: Setting<unknown>; inline?: string } {
  const flags = Object.values(CLI_FLAGS);
  if (arg.startsWith('--')) {
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const declared = flags.find((f) => f.name === name);
    if (!declared) throw new ConfigError(`unknown flag --${name} (see --help)`);
    return eq >= 0 ? { declared, inline: arg.slice(eq + 1) } : { declared };
  }
  const short = arg.slice(1, 2);
  const declared = flags.find((f) => f.short === short);
  if (!declared) throw new ConfigError(`unknown flag -${short} (see --help)`);
  const rest = arg.slice(2);
  return rest === '' ? { declared } : { declared, inline: rest.replace(/^=/, '') };
}

function scan(argv: readonly string[]): CommandLine {
  const given = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const { declared, inline } = flagOf(arg);
    let value = inline ?? (declared.kind === 'switch' ? 'true' : argv[++i]);
    if (value === undefined)
      throw new ConfigError(`--${declared.name} needs a value (${declared.arg})`);
    const earlier = given.get(declared.name);
    if (declared.kind === 'list' && earlier !== undefined) value = `${earlier},${value}`;
    given.set(declared.name, value);
  }
  return { given, positional };
}

function commandOf(positional: readonly string[]): Pick<CliOptions, 'command' | 'remoteCommand'> {
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
  return { command, ...(remoteCommand && { remoteCommand }) };
}

export function parseFlags(argv: readonly string[], env: NodeJS.ProcessEnv): CliOptions {
  const { given, positional } = scan(argv);
  return {
    ...commandOf(positional),
    ...readSettings(CLI_SETTINGS, 'cli', env, given),
    ...readSharedSettings('cli', env, given),
  };
}

function helpLines(table: Readonly<Record<string, Setting<unknown>>>): string[] {
  return Object.values(table).map((declared) => {
    const names = `${declared.short ? '' : '    '}${flagNames(declared)}`;
    return `  ${names.padEnd(40)} ${describeSetting(declared, (t) => t).replaceAll('`', '')}`;
  });
}

export function usage(): string {
  return [
    'Usage: image-syncer [sync] -i FILE [flags]     copy every image of FILE into the target',
    '       image-syncer validate -i FILE [flags]   check FILE offline and show each target',
    '       image-syncer pin -i FILE [--check] [--dry-run] [--style renovate|digest]   pin every tag source to its current digest',
    '       image-syncer remote plan|sync -i FILE --url URL   plan or run through the deployed HTTP function',
    '       image-syncer remote status --run-id ID --url URL  show a run of the deployed functions',
    '',
    'Each flag is also SYNCER_<FLAG> in the environment (--dry-run = SYNCER_DRY_RUN); the command line wins.',
    'A list takes a comma list or the flag repeated: --require-platforms linux/amd64,linux/arm64.',
    '',
    'Flags:',
    ...helpLines(CLI_SETTINGS),
    '',
    'Settings shared with the deployed functions:',
    ...helpLines(SHARED_SETTINGS),
    '',
    'Exit status: 0 all copied/exists/planned/valid, 1 any conflict or failure, 2 usage error or invalid file.',
  ].join('\n');
}

// The shape every setting is declared in, and how a table of them is read.
// A setting is one flag and one environment variable, SYNCER_ + the flag in
// upper case with dashes as underscores (the contract of the Go tool this
// project replaces); the command line wins over the environment. Its value is
// always text first, parsed by the setting's own parser, so a value means the
// same from a flag, from the environment and as a default. A list is a comma
// list from either place; a repeated flag adds to it.

import { ConfigError } from '../errors.ts';

/** Who reads a setting: the CLI or the deployed functions. */
export type Entry = 'cli' | 'functions';

/**
 * How the command line gives the value: `switch` is `--x`, `--x=true` or
 * `--x=false` (never the next argument); `value` is `--x V` or `--x=V`, the last
 * one winning; `list` is `--x A,B` or `--x A --x B`.
 */
export type Kind = 'switch' | 'value' | 'list';

/** How a value is read: these may differ between the CLI and the functions. */
export interface Reading<T> {
  /** Parses the text given (or the default); throws with what is wrong, the reader names the source. */
  readonly parse: (text: string) => T;
  /** Text parsed when the setting is not given; without one, the empty text is parsed. */
  readonly default?: string;
  /** Not given is an error naming the setting. */
  readonly required?: boolean;
}

export interface Setting<T> extends Reading<T> {
  /** The flag without dashes; the variable is envName(name). */
  readonly name: string;
  readonly short?: string;
  readonly kind: Kind;
  /** The value's placeholder in --help and the README (for a switch: what may follow `=`). */
  readonly arg?: string;
  /** What it does: the help text and the README's "meaning" column. */
  readonly meaning: string;
  /** The CLI's own default or parser, where it differs from the functions'. */
  readonly cli?: Partial<Reading<T>>;
  /** The functions' own default or parser, where it differs from the CLI's. */
  readonly functions?: Partial<Reading<T>>;
}

/** Declares one setting, keeping its parser's type. */
export function setting<T>(declaration: Setting<T>): Setting<T> {
  return declaration;
}

export type Table = Readonly<Record<string, Setting<unknown>>>;

/** The values of a table, each under its key, of its parser's type. */
export type Values<S extends Table> = {
  readonly [K in keyof S]: ReturnType<S[K]['parse']>;
};

export function envName(name: string): string {
  return `SYNCER_${name.toUpperCase().replaceAll('-', '_')}`;
}

/** The default, parser and requirement that apply to this entry point. */
export function readingFor<T>(declared: Setting<T>, entry: Entry): Reading<T> {
  return { ...declared, ...declared[entry] };
}

/** The flags as --help and the README show them: `-r, --target-repo-prefix PREFIX`. */
export function flagNames(declared: Setting<unknown>): string {
  const long = `--${declared.name}`;
  const arg = declared.arg
    ? declared.kind === 'switch'
      ? `[=${declared.arg}]`
      : ` ${declared.arg}`
    : '';
  return `${declared.short ? `-${declared.short}, ` : ''}${long}${arg}`;
}

/**
 * Reads every setting of a table: from `given` (flag texts by setting name,
 * as the CLI's command line gave them), else from its SYNCER_ variable (empty
 * counts as unset), else its default. A bad value is a ConfigError naming the
 * flag or the variable it came from.
 */
export function readSettings<S extends Table>(
  table: S,
  entry: Entry,
  env: NodeJS.ProcessEnv,
  given: ReadonlyMap<string, string> = new Map(),
): Values<S> {
  const values: Record<string, unknown> = {};
  for (const [key, declared] of Object.entries(table))
    values[key] = readSetting(declared, entry, env, given.get(declared.name));
  return values as Values<S>;
}

function readSetting<T>(
  declared: Setting<T>,
  entry: Entry,
  env: NodeJS.ProcessEnv,
  flagged: string | undefined,
): T {
  const { parse, default: fallback, required } = readingFor(declared, entry);
  const variable = envName(declared.name);
  const fromEnv = env[variable] || undefined;
  if (flagged !== undefined) return parseFrom(parse, flagged, `--${declared.name}`);
  if (fromEnv !== undefined) return parseFrom(parse, fromEnv, variable);
  if (required) {
    const shown = entry === 'cli' ? `--${declared.name} (or ${variable})` : variable;
    throw new ConfigError(`${shown} is required: ${declared.meaning}`);
  }
  return parseFrom(parse, fallback ?? '', `the default of ${variable}`);
}

function parseFrom<T>(parse: (text: string) => T, text: string, where: string): T {
  try {
    return parse(text);
  } catch (error) {
    throw new ConfigError(`${where}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The meaning and the default, as --help (`code` leaves a value as is) and
 * the README (`code` quotes it) show them; the functions' default is named
 * where it differs from the CLI's.
 */
export function describeSetting(
  declared: Setting<unknown>,
  code: (text: string) => string,
): string {
  const defaultOf = (entry: Entry): string | undefined => {
    const { default: fallback, required } = readingFor(declared, entry);
    if (required) return 'required';
    const text = fallback ?? (declared.kind === 'switch' ? 'false' : undefined);
    return text === undefined ? undefined : `default ${code(text)}`;
  };
  const cli = defaultOf('cli');
  const functions = defaultOf('functions');
  const implicit = declared.kind === 'switch' && cli === `default ${code('false')}`;
  const notes = [
    ...(cli && !implicit ? [cli] : []),
    ...(functions === cli ? [] : [`the functions: ${functions ?? 'no default'}`]),
  ];
  return `${declared.meaning}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`;
}

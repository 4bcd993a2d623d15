// The functions as Terraform deploys them, read from infra/*.tf through the
// one reader (config.ts): each Cloud Run function's entry point, its
// signature type, and the environment Terraform sets on it with every
// expression resolved. The local pipeline demo and the deployed-package test
// start every entry point with exactly these variables, so neither can drift
// from infra/: a variable added to Terraform reaches both, and one whose
// value has no local stand-in stops them with the expression named.

import { ArithmeticError, evaluateNumber } from './arithmetic.ts';
import {
  type Body,
  block,
  type Declared,
  functionsOf,
  type InfraConfig,
  lookupIn,
} from './config.ts';

export interface DeployedFunction {
  /** `google_cloudfunctions2_function.<name>`. */
  readonly address: string;
  readonly entryPoint: string;
  /** `http` or `cloudevent` when the build sets GOOGLE_FUNCTION_SIGNATURE_TYPE. */
  readonly signatureType?: string;
  /** Environment variables as Terraform sets them, every expression resolved. */
  readonly env: Readonly<Record<string, string>>;
}

/** Terraform expressions (without `${…}`) → their local values; checked before variable defaults. */
export type StandIns = Readonly<Record<string, string>>;

export class TerraformEnvError extends Error {
  readonly code = 'TERRAFORM_ENV_UNRESOLVED';
}

/** `"${expr}"` → `expr`; a plain string is a literal. */
function unwrap(value: string): { expression: string } | { literal: string } {
  const match = /^\$\{([\s\S]*)\}$/.exec(value.trim());
  return match ? { expression: (match[1] as string).trim() } : { literal: value };
}

/** The `KEY = expr` lines of an HCL object literal `{ … }`. */
function objectLiteral(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.replace(/^\{|\}$/g, '').split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*$/.exec(line);
    if (match) out[match[1] as string] = match[2] as string;
  }
  return out;
}

/** Splits `merge(a, {…})`'s arguments at top-level commas. */
function mergeArguments(text: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '(' || c === '[') depth++;
    else if (c === '}' || c === ')' || c === ']') depth--;
    else if (c === ',' && depth === 0) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  args.push(text.slice(start).trim());
  return args.filter(Boolean);
}

/** Resolves one expression: its stand-in, a plain-string local, or a variable's default. */
function resolver(config: InfraConfig, standIns: StandIns) {
  const variable = (name: string): unknown => config.variables.get(name)?.default;
  const own = (expression: string): string | undefined => {
    if (expression in standIns) return standIns[expression];
    const local = /^local\.(\w+)$/.exec(expression)?.[1];
    const value = local === undefined ? undefined : config.locals.get(local);
    if (typeof value === 'string' && !value.includes('${')) return value;
    const joined = /^join\("([^"]*)",\s*var\.(\w+)\)$/.exec(expression);
    if (joined) {
      const list = variable(joined[2] as string);
      return Array.isArray(list) ? list.join(joined[1]) : undefined;
    }
    const name = /^var\.(\w+)$/.exec(expression)?.[1];
    const fallback = name === undefined ? undefined : variable(name);
    if (fallback !== undefined && fallback !== null) return String(fallback);
    return computed(expression);
  };
  /** A number infra/ computes from variables and locals (arithmetic.ts). */
  const computed = (expression: string): string | undefined => {
    try {
      return String(evaluateNumber(expression, lookupIn(config)));
    } catch (error) {
      if (error instanceof ArithmeticError) return undefined;
      throw error;
    }
  };
  return (where: string, expression: string): string => {
    const inner = /^tostring\(([\s\S]*)\)$/.exec(expression);
    const resolved = own(inner ? (inner[1] as string).trim() : expression);
    if (resolved === undefined)
      throw new TerraformEnvError(
        `${where} = ${expression}: no local stand-in for this Terraform expression`,
      );
    return resolved;
  };
}

type Resolve = ReturnType<typeof resolver>;

/** Replaces every `${expr}` of a template string by its stand-in. */
function interpolate(where: string, template: string, resolve: Resolve): string {
  return template.replace(/\$\{([^}]*)\}/g, (_, expression: string) =>
    resolve(where, expression.trim()),
  );
}

function resolveValue(where: string, raw: string, resolve: Resolve): string {
  const trimmed = raw.trim();
  const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(trimmed);
  if (quoted) return interpolate(where, JSON.parse(`"${quoted[1]}"`) as string, resolve);
  const part = unwrap(trimmed);
  if ('literal' in part && !/^[a-z_]+[.(]/.test(part.literal))
    return interpolate(where, part.literal, resolve);
  return resolve(where, 'expression' in part ? part.expression : part.literal);
}

/** `COND ? {…} : {…}`: the branch the condition's stand-in (`true`/`false`) picks. */
function conditional(where: string, expression: string, resolve: Resolve): string | undefined {
  const match = /^([\w.]+)\s*\?\s*(\{[\s\S]*?\})\s*:\s*(\{[\s\S]*?\})$/.exec(expression);
  if (!match) return undefined;
  const condition = resolve(where, match[1] as string);
  if (condition !== 'true' && condition !== 'false')
    throw new TerraformEnvError(`${where}: ${match[1]} must stand in as true or false`);
  return (condition === 'true' ? match[2] : match[3]) as string;
}

function environment(
  where: string,
  value: unknown,
  config: InfraConfig,
  resolve: Resolve,
): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value as Body).map(([k, v]) => [
        k,
        resolveValue(`${where}.${k}`, String(v), resolve),
      ]),
    );
  }
  const part = unwrap(String(value));
  const raw = 'expression' in part ? part.expression : part.literal;
  const expression = conditional(where, raw, resolve) ?? raw;
  const merge = /^merge\(([\s\S]*)\)$/.exec(expression);
  const env: Record<string, string> = {};
  for (const part of merge ? mergeArguments(merge[1] as string) : [expression]) {
    const arg = conditional(where, part, resolve) ?? part;
    if (arg.startsWith('local.')) {
      const local = config.locals.get(arg.slice('local.'.length));
      Object.assign(env, environment(`${where} (${arg})`, local, config, resolve));
    } else if (arg.startsWith('{')) {
      for (const [k, v] of Object.entries(objectLiteral(arg)))
        env[k] = resolveValue(`${where}.${k}`, v, resolve);
    } else {
      throw new TerraformEnvError(`${where}: cannot read environment expression ${arg}`);
    }
  }
  return env;
}

function deployed(fn: Declared, config: InfraConfig, resolve: Resolve): DeployedFunction {
  const build = block(fn.body, 'build_config');
  const signatureType = (build.environment_variables as Record<string, string> | undefined)
    ?.GOOGLE_FUNCTION_SIGNATURE_TYPE;
  return {
    address: fn.address,
    entryPoint: String(build.entry_point),
    ...(signatureType && { signatureType }),
    env: environment(
      `${fn.address}.service_config.environment_variables`,
      block(fn.body, 'service_config').environment_variables,
      config,
      resolve,
    ),
  };
}

/** Every function of the configuration, with its entry point and resolved environment. */
export function deployedFunctions(config: InfraConfig, standIns: StandIns): DeployedFunction[] {
  const resolve = resolver(config, standIns);
  return functionsOf(config).map((fn) => deployed(fn, config, resolve));
}

// The functions as Terraform deploys them, read from infra/*.tf: each Cloud
// Run function's entry point and the environment Terraform sets on it. The
// local pipeline demo starts every entry point with exactly these variables,
// so it cannot drift from infra/: a variable added to Terraform reaches the
// demo, and one whose value the demo cannot stand in for locally stops it
// with the expression named.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@cdktf/hcl2json';

type Block = Record<string, unknown>;

export interface DeployedFunction {
  /** The Terraform resource name (`google_cloudfunctions2_function.<name>`). */
  readonly resource: string;
  readonly entryPoint: string;
  /** Environment variables as Terraform sets them, every expression resolved. */
  readonly env: Readonly<Record<string, string>>;
}

/** Turns one Terraform expression (without `${…}`) into the local value, or undefined if unknown. */
export type ExpressionResolver = (expression: string) => string | undefined;

export class TerraformEnvError extends Error {
  readonly code = 'TERRAFORM_ENV_UNRESOLVED';
}

async function parseInfra(dir: string): Promise<Block> {
  const merged: Block = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.tf'))) {
    const json = (await parse(file, readFileSync(join(dir, file), 'utf8'))) as Block;
    for (const [kind, value] of Object.entries(json)) {
      if (kind === 'locals') {
        merged.locals = Object.assign(
          (merged.locals as Block) ?? {},
          ...(value as Block[]).map((b) => b),
        );
        continue;
      }
      merged[kind] ??= {};
      const into = merged[kind] as Block;
      for (const [type, byName] of Object.entries(value as Block)) {
        // `variable "x" {…}` nests one level less than `resource "t" "x" {…}`.
        into[type] = Array.isArray(byName)
          ? byName
          : { ...((into[type] as Block) ?? {}), ...(byName as Block) };
      }
    }
  }
  return merged;
}

function one(value: unknown): Block {
  return (Array.isArray(value) ? value[0] : value) as Block;
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

/** Replaces every `${expr}` of a template string by its stand-in. */
function interpolate(where: string, template: string, resolve: ExpressionResolver): string {
  return template.replace(/\$\{([^}]*)\}/g, (_, expression: string) =>
    resolveExpression(where, expression.trim(), resolve),
  );
}

function resolveExpression(where: string, expression: string, resolve: ExpressionResolver): string {
  const inner = /^tostring\(([\s\S]*)\)$/.exec(expression);
  const resolved = resolve(inner ? (inner[1] as string).trim() : expression);
  if (resolved === undefined) {
    throw new TerraformEnvError(
      `${where} = ${expression}: the local pipeline has no stand-in for this Terraform expression`,
    );
  }
  return resolved;
}

function resolveValue(where: string, raw: string, resolve: ExpressionResolver): string {
  const trimmed = raw.trim();
  const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(trimmed);
  if (quoted) return interpolate(where, JSON.parse(`"${quoted[1]}"`) as string, resolve);
  const part = unwrap(trimmed);
  if ('literal' in part && !/^[a-z_]+[.(]/.test(part.literal))
    return interpolate(where, part.literal, resolve);
  return resolveExpression(where, 'expression' in part ? part.expression : part.literal, resolve);
}

/** `COND ? {…} : {…}`: the branch the condition's stand-in (`true`/`false`) picks. */
function conditional(
  where: string,
  expression: string,
  resolve: ExpressionResolver,
): string | undefined {
  const match = /^([\w.]+)\s*\?\s*(\{[\s\S]*?\})\s*:\s*(\{[\s\S]*?\})$/.exec(expression);
  if (!match) return undefined;
  const condition = resolveExpression(where, match[1] as string, resolve);
  if (condition !== 'true' && condition !== 'false') {
    throw new TerraformEnvError(`${where}: ${match[1]} must stand in as true or false`);
  }
  return (condition === 'true' ? match[2] : match[3]) as string;
}

function environment(
  where: string,
  value: unknown,
  locals: Block,
  resolve: ExpressionResolver,
): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value as Block).map(([k, v]) => [
        k,
        resolveValue(`${where}.${k}`, String(v), resolve),
      ]),
    );
  }
  const part = unwrap(String(value));
  const raw = 'expression' in part ? part.expression : part.literal;
  const expression = conditional(where, raw, resolve) ?? raw;
  const merge = /^merge\(([\s\S]*)\)$/.exec(expression);
  const args = merge ? mergeArguments(merge[1] as string) : [expression];
  const env: Record<string, string> = {};
  for (const arg of args) {
    if (arg.startsWith('local.')) {
      const name = arg.slice('local.'.length);
      Object.assign(env, environment(`${where} (${arg})`, locals[name], locals, resolve));
    } else if (arg.startsWith('{')) {
      for (const [k, v] of Object.entries(objectLiteral(arg)))
        env[k] = resolveValue(`${where}.${k}`, v, resolve);
    } else {
      throw new TerraformEnvError(`${where}: cannot read environment expression ${arg}`);
    }
  }
  return env;
}

/** Terraform's variable defaults (`var.x` → its default), for values the demo does not set itself. */
export async function variableDefaults(dir: string): Promise<Record<string, unknown>> {
  const tf = await parseInfra(dir);
  const variables = (tf.variable ?? {}) as Record<string, Block[]>;
  const out: Record<string, unknown> = {};
  for (const [name, blocks] of Object.entries(variables)) {
    const block = one(blocks);
    if (block && 'default' in block) out[name] = block.default;
  }
  return out;
}

/** Every `google_cloudfunctions2_function` in `dir`, with its entry point and resolved environment. */
export async function deployedFunctions(
  dir: string,
  resolve: ExpressionResolver,
): Promise<DeployedFunction[]> {
  const tf = await parseInfra(dir);
  const locals = (tf.locals ?? {}) as Block;
  // A local that is a plain string (`credentials_file = "config.json"`) stands for itself.
  const withLocals: ExpressionResolver = (expression) => {
    const own = resolve(expression);
    if (own !== undefined) return own;
    const local = /^local\.(\w+)$/.exec(expression)?.[1];
    const value = local === undefined ? undefined : locals[local];
    return typeof value === 'string' && !value.includes('${') ? value : undefined;
  };
  const functions = ((tf.resource as Block)?.google_cloudfunctions2_function ?? {}) as Record<
    string,
    Block[]
  >;
  return Object.entries(functions).map(([resource, blocks]) => {
    const fn = one(blocks);
    const entryPoint = String(one(fn.build_config).entry_point);
    const service = one(fn.service_config);
    return {
      resource,
      entryPoint,
      env: environment(
        `google_cloudfunctions2_function.${resource}.service_config.environment_variables`,
        service.environment_variables,
        locals,
        withLocals,
      ),
    };
  });
}

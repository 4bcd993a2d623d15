// The one reader of infra/*.tf: every file parsed offline with HashiCorp's
// HCL parser (compiled to WASM, via @cdktf/hcl2json) into one configuration,
// with every resource, data source, local, variable and output by address and
// the Terraform references each one makes. The offline checks (test/infra),
// the deployed-package test and the local pipeline (scripts/terraform/
// environment.ts) all read infra/ through this module; tests that prove a
// check catches a mistake load a copy with one file's text edited.

import { readdirSync, readFileSync } from 'node:fs';
import { parse } from '@cdktf/hcl2json';
import type { Lookup } from './arithmetic.ts';

export type Body = Record<string, unknown>;

export interface Declared {
  /** `google_pubsub_topic.jobs` (data sources: `data.google_project.this`). */
  readonly address: string;
  readonly type: string;
  readonly name: string;
  readonly file: string;
  readonly body: Body;
}

export interface InfraConfig {
  readonly resources: ReadonlyMap<string, Declared>;
  readonly data: ReadonlyMap<string, Declared>;
  readonly locals: ReadonlyMap<string, unknown>;
  readonly variables: ReadonlyMap<string, Body>;
  readonly outputs: ReadonlyMap<string, Body>;
  /** Every `${…}` expression of every file, for references outside resources (outputs). */
  readonly expressions: readonly { file: string; where: string; text: string }[];
}

export const INFRA_DIR = new URL('../../infra/', import.meta.url);

/** The `.tf` files of a directory (infra/ by default), name → text, in name order. */
export function infraFiles(dir: URL | string = INFRA_DIR): Map<string, string> {
  const base = typeof dir === 'string' ? `${dir.replace(/\/$/, '')}/` : dir;
  return new Map(
    readdirSync(base)
      .filter((f) => f.endsWith('.tf'))
      .sort()
      .map((f) => [
        f,
        readFileSync(typeof base === 'string' ? `${base}${f}` : new URL(f, base), 'utf8'),
      ]),
  );
}

/** A copy of the files with `from` replaced by `to` in `file`; `from` must occur exactly once. */
export function edited(
  files: ReadonlyMap<string, string>,
  file: string,
  from: string | RegExp,
  to: string,
): Map<string, string> {
  const text = files.get(file);
  if (text === undefined) throw new Error(`no infra/${file}`);
  const count =
    typeof from === 'string'
      ? text.split(from).length - 1
      : [...text.matchAll(new RegExp(from.source, `${from.flags.replace('g', '')}g`))].length;
  if (count !== 1)
    throw new Error(`the edit must match once in infra/${file} (${count}): ${String(from)}`);
  return new Map(files).set(file, text.replace(from, to));
}

const parsedCache = new Map<string, Body>();

async function parseFile(file: string, text: string): Promise<Body> {
  const key = `${file}\0${text}`;
  let parsed = parsedCache.get(key);
  if (!parsed) {
    parsed = (await parse(file, text)) as Body;
    parsedCache.set(key, parsed);
  }
  return parsed;
}

/** The `${…}` expressions inside a parsed value, braces balanced. */
export function expressionsOf(value: unknown): string[] {
  const found: string[] = [];
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      let at = v.indexOf('${');
      while (at >= 0) {
        let depth = 0;
        let end = at + 1;
        for (; end < v.length; end++) {
          if (v[end] === '{') depth++;
          else if (v[end] === '}' && --depth === 0) break;
        }
        found.push(v.slice(at + 2, end));
        at = v.indexOf('${', end);
      }
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(value);
  return found;
}

function declare(
  parsed: Body,
  file: string,
  resources: Map<string, Declared>,
  data: Map<string, Declared>,
) {
  for (const [kind, into] of [
    ['resource', resources],
    ['data', data],
  ] as const) {
    for (const [type, byName] of Object.entries((parsed[kind] ?? {}) as Record<string, Body>)) {
      for (const [name, bodies] of Object.entries(byName as Record<string, Body[]>)) {
        const address = kind === 'data' ? `data.${type}.${name}` : `${type}.${name}`;
        if (into.has(address)) throw new Error(`${file}: ${address} is declared twice`);
        into.set(address, { address, type, name, file, body: (bodies[0] ?? {}) as Body });
      }
    }
  }
}

/** Parses the files (infra/ by default) into one configuration. */
export async function loadInfra(files = infraFiles()): Promise<InfraConfig> {
  const resources = new Map<string, Declared>();
  const data = new Map<string, Declared>();
  const locals = new Map<string, unknown>();
  const variables = new Map<string, Body>();
  const outputs = new Map<string, Body>();
  const expressions: { file: string; where: string; text: string }[] = [];
  for (const [file, text] of files) {
    const parsed = await parseFile(file, text);
    declare(parsed, file, resources, data);
    for (const block of (parsed.locals ?? []) as Body[])
      for (const [name, value] of Object.entries(block)) locals.set(name, value);
    for (const [name, bodies] of Object.entries((parsed.variable ?? {}) as Record<string, Body[]>))
      variables.set(name, (bodies[0] ?? {}) as Body);
    for (const [name, bodies] of Object.entries((parsed.output ?? {}) as Record<string, Body[]>))
      outputs.set(name, (bodies[0] ?? {}) as Body);
    for (const [kind, byName] of Object.entries(parsed))
      if (kind === 'output' || kind === 'locals')
        for (const text of expressionsOf(byName)) expressions.push({ file, where: kind, text });
  }
  return { resources, data, locals, variables, outputs, expressions };
}

/** The providers whose resources the references below recognise. */
const REFERENCE =
  /(?<![\w.])(data\.)?((?:google|external|archive|time)[a-z0-9_]*)\.([a-zA-Z_][\w-]*)((?:\[[^\]]*\]|\.[a-zA-Z_]\w*)*)/g;

export interface Reference {
  /** `google_service_account.copy` or `data.google_project.this`. */
  readonly address: string;
  readonly data: boolean;
  readonly type: string;
  /** Attribute path after the address, indexes dropped: `service_config.uri`. */
  readonly path: readonly string[];
  readonly text: string;
}

/** The resource and data source references made anywhere in a value. */
export function referencesIn(value: unknown): Reference[] {
  const refs: Reference[] = [];
  for (const expression of expressionsOf(value)) {
    // Quoted strings inside an expression are not references.
    const code = expression.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
    for (const m of code.matchAll(REFERENCE)) {
      const isData = Boolean(m[1]);
      const type = m[2] as string;
      const name = m[3] as string;
      const path = [...(m[4] ?? '').matchAll(/\.([a-zA-Z_]\w*)/g)].map((p) => p[1] as string);
      refs.push({
        address: `${isData ? 'data.' : ''}${type}.${name}`,
        data: isData,
        type,
        path,
        text: m[0],
      });
    }
  }
  return refs;
}

/** The locals a value names (`local.x`). */
export function localsIn(value: unknown): string[] {
  return expressionsOf(value).flatMap((e) =>
    [...e.matchAll(/(?<![\w.])local\.(\w+)/g)].map((m) => m[1] as string),
  );
}

/** A string with every `${local.x}` that is itself a plain string substituted, repeatedly. */
export function resolveLocals(value: unknown, config: InfraConfig): string {
  let text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  for (let i = 0; i < 10; i++) {
    const next = text.replace(/\$\{local\.(\w+)\}/g, (whole, name: string) => {
      const local = config.locals.get(name);
      return typeof local === 'string' ? local : whole;
    });
    if (next === text) break;
    text = next;
  }
  return text;
}

/** The block list a body holds under `name` (statically or as `dynamic "name"` content). */
export function blocks(body: Body, name: string): Body[] {
  const direct = (body[name] ?? []) as Body[];
  const dynamic = (((body.dynamic ?? {}) as Body)[name] ?? []) as Body[];
  return [...direct, ...dynamic.flatMap((d) => (d.content ?? []) as Body[])];
}

/** The first block of `name` in a body (`service_config`, `build_config`), or an empty one. */
export function block(body: Body, name: string): Body {
  return blocks(body, name)[0] ?? {};
}

/**
 * A name's value as far as the configuration alone says: a variable's default
 * (`var.x`) or a local (`local.x`, its expression unevaluated), for
 * arithmetic.ts to evaluate.
 */
export function lookupIn(config: InfraConfig): Lookup {
  return (name) => {
    const variable = /^var\.(\w+)$/.exec(name)?.[1];
    if (variable !== undefined) return defaultOf(config, variable);
    const local = /^local\.(\w+)$/.exec(name)?.[1];
    return local === undefined ? undefined : config.locals.get(local);
  };
}

/** A variable's default, as written. */
export function defaultOf(config: InfraConfig, name: string): unknown {
  const variable = config.variables.get(name);
  if (!variable) throw new Error(`variable ${name} is not declared`);
  return variable.default;
}

/** The resources of one type. */
export function resourcesOf(config: InfraConfig, type: string): Declared[] {
  return [...config.resources.values()].filter((d) => d.type === type);
}

/**
 * Resources by type and name, each body in a one-element list as hcl2json
 * writes a block (`byTypeAndName(config).google_pubsub_topic?.jobs?.[0]`),
 * optionally only those of one file.
 */
export function byTypeAndName(
  config: InfraConfig,
  file?: string,
): Record<string, Record<string, Body[]>> {
  const out: Record<string, Record<string, Body[]>> = {};
  for (const d of config.resources.values()) {
    if (file !== undefined && d.file !== file) continue;
    out[d.type] = { ...out[d.type], [d.name]: [d.body] };
  }
  return out;
}

/** The Cloud Run functions (2nd gen) of the configuration. */
export function functionsOf(config: InfraConfig): Declared[] {
  return resourcesOf(config, 'google_cloudfunctions2_function');
}

/** The addresses a declaration's depends_on names. */
export function dependsOn(d: Declared): string[] {
  return referencesIn(d.body.depends_on).map((r) => r.address);
}

/**
 * What a declaration waits for: its depends_on, and everything each time_sleep
 * among them depends on or references (its triggers), through any number of
 * sleeps. `throughSleep` holds what is reached only past a time_sleep, that is
 * what it waits for and then some more.
 */
export function waitsFor(
  config: InfraConfig,
  d: Declared,
): { all: Set<string>; throughSleep: Set<string> } {
  const all = new Set(dependsOn(d));
  const throughSleep = new Set<string>();
  const sleeps = [...all].filter((a) => a.startsWith('time_sleep.'));
  for (let sleep = sleeps.shift(); sleep !== undefined; sleep = sleeps.shift()) {
    const body = config.resources.get(sleep)?.body ?? {};
    for (const ref of referencesIn([body.depends_on, body.triggers])) {
      if (throughSleep.has(ref.address)) continue;
      throughSleep.add(ref.address);
      all.add(ref.address);
      if (ref.type === 'time_sleep') sleeps.push(ref.address);
    }
  }
  return { all, throughSleep };
}

/** The right-hand side of `NAME = …` in a function's service_config.environment_variables, as written. */
export function environmentValue(fn: Declared, name: string): string | undefined {
  const env = String(block(fn.body, 'service_config').environment_variables ?? '');
  return new RegExp(`\\b${name}\\s*=\\s*(.+?)\\s*$`, 'm').exec(env)?.[1];
}

// infra/*.tf parsed offline with HashiCorp's HCL parser (compiled to WASM, via
// @cdktf/hcl2json), as one configuration: every resource, data source, local
// and variable by address, plus the Terraform references each one makes. The
// rule and schema checks (terraform-checks.ts) read this, and the tests that
// prove each check catches a mistake load a copy with one file's text edited.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { parse } from '@cdktf/hcl2json';

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
  /** Every `${…}` expression of every file, for references outside resources (outputs). */
  readonly expressions: readonly { file: string; where: string; text: string }[];
}

export const INFRA_DIR = new URL('../../infra/', import.meta.url);

export function infraFiles(): Map<string, string> {
  return new Map(
    readdirSync(INFRA_DIR)
      .filter((f) => f.endsWith('.tf'))
      .sort()
      .map((f) => [f, readFileSync(new URL(f, INFRA_DIR), 'utf8')]),
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
  assert.ok(text !== undefined, `no infra/${file}`);
  const count =
    typeof from === 'string'
      ? text.split(from).length - 1
      : [...text.matchAll(new RegExp(from.source, `${from.flags.replace('g', '')}g`))].length;
  assert.equal(count, 1, `the edit must match once in infra/${file}: ${String(from)}`);
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

export async function loadInfra(files = infraFiles()): Promise<InfraConfig> {
  const resources = new Map<string, Declared>();
  const data = new Map<string, Declared>();
  const locals = new Map<string, unknown>();
  const variables = new Map<string, Body>();
  const expressions: { file: string; where: string; text: string }[] = [];
  for (const [file, text] of files) {
    const parsed = await parseFile(file, text);
    for (const [kind, into] of [
      ['resource', resources],
      ['data', data],
    ] as const) {
      for (const [type, byName] of Object.entries((parsed[kind] ?? {}) as Record<string, Body>)) {
        for (const [name, bodies] of Object.entries(byName as Record<string, Body[]>)) {
          const address = kind === 'data' ? `data.${type}.${name}` : `${type}.${name}`;
          assert.ok(!into.has(address), `${address} is declared twice`);
          into.set(address, { address, type, name, file, body: (bodies[0] ?? {}) as Body });
        }
      }
    }
    for (const block of (parsed.locals ?? []) as Body[])
      for (const [name, value] of Object.entries(block)) locals.set(name, value);
    for (const [name, bodies] of Object.entries((parsed.variable ?? {}) as Record<string, Body[]>))
      variables.set(name, (bodies[0] ?? {}) as Body);
    for (const [kind, byName] of Object.entries(parsed))
      if (kind === 'output' || kind === 'locals')
        for (const text of expressionsOf(byName)) expressions.push({ file, where: kind, text });
  }
  return { resources, data, locals, variables, expressions };
}

const REFERENCE =
  /(?<![\w.])(data\.)?((?:google|external|archive)[a-z0-9_]*)\.([a-zA-Z_][\w-]*)((?:\[[^\]]*\]|\.[a-zA-Z_]\w*)*)/g;

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

/** A variable's default, as written. */
export function defaultOf(config: InfraConfig, name: string): unknown {
  const variable = config.variables.get(name);
  assert.ok(variable, `variable ${name} is declared`);
  return variable.default;
}

/** The right-hand side of `NAME = …` in a function's service_config.environment_variables, as written. */
export function environmentValue(fn: Declared, name: string): string | undefined {
  const service = (fn.body.service_config as Body[] | undefined)?.[0] ?? {};
  const env = String(service.environment_variables ?? '');
  return new RegExp(`\\b${name}\\s*=\\s*(.+?)\\s*$`, 'm').exec(env)?.[1];
}

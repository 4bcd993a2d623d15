// Derives the compact list of the Google provider's resource and data source
// schemas (attribute and block names, nested) that test/infra checks infra/*.tf
// against, offline. Terraform cannot run here, but @cdktf/provider-google is
// generated from the provider's own schema (`terraform providers schema -json`)
// and ships it as JavaScript: each resource class lists its settable arguments
// and blocks (synthesizeHclAttributes, with isBlock), and exposes every
// readable attribute, computed ones included, as a getter.
//
// Install the package OUTSIDE the repository (it is ~300 MB), then run:
//   npm install --prefix /tmp/pg @cdktf/provider-google@16.12.1
//   npm install --prefix /tmp/pgb @cdktf/provider-google-beta@16.12.1
//   ./node_modules/.bin/node scripts/derive-provider-schema.ts \
//     /tmp/pg/node_modules/@cdktf/provider-google \
//     /tmp/pgb/node_modules/@cdktf/provider-google-beta > test/infra/google-provider-schema.json
// The beta package is read only for the resources infra/ deploys with
// `provider = google-beta` (google_project_service_identity is beta-only).
// Pin hashicorp/google in infra/versions.tf to the version this prints.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One object type: settable arguments, read-only attributes, nested blocks. */
export interface SchemaNode {
  /** Arguments a configuration may set (optional+computed ones included). */
  a?: string[];
  /** Attributes that are only ever computed: readable, never settable. */
  c?: string[];
  /** Blocks (and nested attribute objects) by name. */
  b?: Record<string, SchemaNode>;
}

export interface ProviderSchema {
  provider: string;
  version: string;
  /** `provider = google-beta` resources, from the beta package. */
  beta: Record<string, SchemaNode>;
  resources: Record<string, SchemaNode>;
  data: Record<string, SchemaNode>;
}

interface Struct {
  settable: Map<string, string | null>;
  readable: Map<string, string | null>;
}

/** Top-level `function X(...) {...}` and `class X ... {...}` chunks of a generated module. */
function chunks(source: string, pattern: RegExp): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of source.matchAll(pattern)) {
    const start = match.index;
    const end = source.indexOf('\n}\n', start);
    found.set(match[1] as string, source.slice(start, end < 0 ? undefined : end));
  }
  return found;
}

const ENTRY = /\n\s+(\w+): \{\s*value: ([^\n]*),\s*isBlock: (true|false),/g;
const GETTER = /this\.get\w*Attribute\('(\w+)'\)|this\.interpolationForAttribute\('(\w+)'\)/g;
const CHILD = /new (\w+?)(?:OutputReference|List|Map)\(this, "(\w+)"/g;
const CDKTF_MAP = /new cdktf\.\w+\(this, "(\w+)"/g;
const NESTED_TO_HCL = /\b(\w+)ToHclTerraform\b/;

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/** Parses one generated module into its structs, keyed by their lower-camel base name. */
function parseModule(source: string): {
  structs: Map<string, Struct>;
  classes: Map<string, string>;
} {
  const functions = chunks(source, /^function (\w+)ToHclTerraform\(struct\) \{/gm);
  const classes = chunks(source, /^class (\w+) extends [\w.]+ \{/gm);
  const structs = new Map<string, Struct>();
  const ensure = (base: string): Struct => {
    let s = structs.get(base);
    if (!s) {
      s = { settable: new Map(), readable: new Map() };
      structs.set(base, s);
    }
    return s;
  };
  for (const [base, body] of functions) {
    const s = ensure(base);
    for (const m of body.matchAll(ENTRY)) {
      const nested = NESTED_TO_HCL.exec(m[2] as string)?.[1];
      const child = nested && functions.has(nested) ? nested : null;
      s.settable.set(m[1] as string, child);
    }
  }
  for (const [name, body] of classes) {
    const base = lowerFirst(name.replace(/OutputReference$/, ''));
    const isResource = source.includes(`${name}.tfResourceType = `);
    if (!name.endsWith('OutputReference') && !isResource) continue;
    const s = ensure(base);
    for (const m of body.matchAll(GETTER)) {
      const attr = (m[1] ?? m[2]) as string;
      if (!s.readable.has(attr)) s.readable.set(attr, null);
    }
    for (const m of body.matchAll(CDKTF_MAP))
      if (!s.readable.has(m[1] as string)) s.readable.set(m[1] as string, null);
    for (const m of body.matchAll(CHILD)) {
      const child = lowerFirst(m[1] as string);
      s.readable.set(m[2] as string, child);
    }
  }
  return { structs, classes };
}

function toNode(structs: Map<string, Struct>, base: string, depth = 0): SchemaNode {
  const s = structs.get(base);
  const node: SchemaNode = {};
  if (!s || depth > 12) return node;
  const settable = [...s.settable.keys()].sort();
  const computed = [...s.readable.keys()].filter((n) => !s.settable.has(n)).sort();
  const blocks: Record<string, SchemaNode> = {};
  for (const [name, child] of [...s.settable, ...s.readable]) {
    if (child && structs.has(child) && !(name in blocks))
      blocks[name] = toNode(structs, child, depth + 1);
  }
  const plain = settable.filter((n) => !(n in blocks));
  if (plain.length > 0) node.a = plain;
  const readOnly = computed.filter((n) => !(n in blocks));
  if (readOnly.length > 0) node.c = readOnly;
  if (Object.keys(blocks).length > 0) node.b = Object.fromEntries(Object.entries(blocks).sort());
  return node;
}

/** Every resource (or data source) the package defines: Terraform type → schema. */
export function deriveSchemas(packageDir: string): {
  version: string;
  resources: Record<string, SchemaNode>;
  data: Record<string, SchemaNode>;
} {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  const version = pkg.cdktf?.provider?.version as string;
  const resources: Record<string, SchemaNode> = {};
  const data: Record<string, SchemaNode> = {};
  const lib = join(packageDir, 'lib');
  for (const dir of readdirSync(lib, { withFileTypes: true })) {
    if (!dir.isDirectory() || dir.name === 'provider') continue;
    let source: string;
    try {
      source = readFileSync(join(lib, dir.name, 'index.js'), 'utf8');
    } catch {
      continue;
    }
    const type = /^(\w+)\.tfResourceType = "(\w+)";/m.exec(source);
    if (!type) continue;
    const { structs } = parseModule(source);
    // The resource class's own arguments come from synthesizeHclAttributes.
    const className = type[1] as string;
    const classBody = chunks(source, new RegExp(`^class (${className}) extends`, 'gm')).get(
      className,
    );
    const base = lowerFirst(className);
    const own: Struct = { settable: new Map(), readable: structs.get(base)?.readable ?? new Map() };
    const synth = classBody?.slice(classBody.indexOf('synthesizeHclAttributes()')) ?? '';
    const functionNames = new Set(
      [...source.matchAll(/^function (\w+)ToHclTerraform/gm)].map((m) => m[1]),
    );
    for (const m of synth.matchAll(ENTRY)) {
      const nested = NESTED_TO_HCL.exec(m[2] as string)?.[1];
      own.settable.set(m[1] as string, nested && functionNames.has(nested) ? nested : null);
    }
    structs.set(base, own);
    const node = toNode(structs, base);
    if (dir.name.startsWith('data-')) data[type[2] as string] = node;
    else resources[type[2] as string] = node;
  }
  return { version, resources, data };
}

/** Resource types declared with `provider = google-beta` anywhere under infra/. */
function betaTypes(infraDir: string): string[] {
  const types = new Set<string>();
  for (const file of readdirSync(infraDir).filter((f) => f.endsWith('.tf'))) {
    const text = readFileSync(join(infraDir, file), 'utf8');
    for (const m of text.matchAll(
      /resource "(google_\w+)" "\w+" \{[^}]*?provider\s*=\s*google-beta/g,
    ))
      types.add(m[1] as string);
  }
  return [...types].sort();
}

function main(): void {
  const [gaDir, betaDir] = process.argv.slice(2);
  if (!gaDir) {
    console.error('usage: derive-provider-schema.ts <@cdktf/provider-google dir> [<…-beta dir>]');
    process.exit(2);
  }
  const ga = deriveSchemas(gaDir);
  const beta: Record<string, SchemaNode> = {};
  if (betaDir) {
    const all = deriveSchemas(betaDir);
    if (all.version !== ga.version)
      throw new Error(`beta package is provider ${all.version}, GA is ${ga.version}`);
    for (const type of betaTypes(new URL('../infra/', import.meta.url).pathname)) {
      const node = all.resources[type];
      if (!node) throw new Error(`${type} is not in the beta provider either`);
      beta[type] = node;
    }
  }
  const schema: ProviderSchema = {
    provider: 'registry.terraform.io/hashicorp/google',
    version: ga.version,
    beta,
    resources: ga.resources,
    data: ga.data,
  };
  // One resource per line, so a provider upgrade reviews as a readable diff.
  const section = (entries: Record<string, SchemaNode>): string =>
    Object.keys(entries).length === 0
      ? '{}'
      : `{\n${Object.entries(entries)
          .sort(([x], [y]) => x.localeCompare(y))
          .map(([type, node]) => `    ${JSON.stringify(type)}: ${JSON.stringify(node)}`)
          .join(',\n')}\n  }`;
  process.stdout.write(
    `{\n  "provider": ${JSON.stringify(schema.provider)},\n  "version": ${JSON.stringify(schema.version)},\n` +
      `  "beta": ${section(schema.beta)},\n  "resources": ${section(schema.resources)},\n` +
      `  "data": ${section(schema.data)}\n}\n`,
  );
}

if (import.meta.main) main();

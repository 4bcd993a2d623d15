// infra/*.tf against the Google provider's schema: argument and block names,
// and `type.name.attr` references. Each check returns its problems (empty when
// the configuration is right), so a test can assert both that infra/ passes and
// that an injected mistake fails.

import { readFileSync } from 'node:fs';
import type { ProviderSchema, SchemaNode } from '../../scripts/derive-provider-schema.ts';
import {
  type Body,
  type Declared,
  type InfraConfig,
  referencesIn,
} from '../../scripts/terraform/config.ts';

export type { ProviderSchema };

/** The compact schema list committed beside the tests (scripts/derive-provider-schema.ts). */
export function loadSchema(): ProviderSchema {
  return JSON.parse(
    readFileSync(new URL('./google-provider-schema.json', import.meta.url), 'utf8'),
  ) as ProviderSchema;
}

const META_ARGUMENTS = new Set([
  'count',
  'for_each',
  'depends_on',
  'provider',
  'lifecycle',
  'provisioner',
  'connection',
]);

/**
 * hashicorp/time's resources this configuration uses, from its documentation
 * (the list above covers hashicorp/google only): time_sleep takes
 * create_duration, destroy_duration and triggers, and exports id
 * (https://registry.terraform.io/providers/hashicorp/time/latest/docs/resources/sleep).
 */
export const TIME_SCHEMA: Readonly<Record<string, SchemaNode>> = {
  time_sleep: { a: ['create_duration', 'destroy_duration', 'triggers', 'id'] },
};

function schemaFor(schema: ProviderSchema, d: Declared): SchemaNode | undefined {
  if (d.type.startsWith('time_')) return TIME_SCHEMA[d.type];
  const beta = d.body.provider === '${google-beta}' || d.body.provider === 'google-beta';
  if (d.address.startsWith('data.')) return schema.data[d.type];
  return beta ? schema.beta[d.type] : schema.resources[d.type];
}

function checkBody(body: Body, node: SchemaNode, where: string, problems: string[]): void {
  const settable = new Set(node.a ?? []);
  const readOnly = new Set(node.c ?? []);
  const nested = node.b ?? {};
  for (const [key, value] of Object.entries(body)) {
    if (key === 'dynamic') {
      for (const [name, dynamics] of Object.entries(value as Record<string, Body[]>)) {
        const child = nested[name];
        if (!child) {
          problems.push(`${where}: dynamic "${name}" is not a block of this type`);
          continue;
        }
        for (const d of dynamics)
          for (const content of (d.content ?? []) as Body[])
            checkBody(content, child, `${where}.${name}`, problems);
      }
    } else if (key in nested) {
      if (Array.isArray(value))
        for (const element of value as Body[])
          if (element && typeof element === 'object')
            checkBody(element, nested[key] as SchemaNode, `${where}.${key}`, problems);
    } else if (readOnly.has(key)) {
      problems.push(`${where}: ${key} is computed by the provider and cannot be set`);
    } else if (!settable.has(key)) {
      problems.push(`${where}: ${key} is not an argument or block of this type`);
    }
  }
}

/** The types checked against a schema: hashicorp/google's and hashicorp/time's. */
const checked = (type: string): boolean => type.startsWith('google_') || type.startsWith('time_');

/** Every google_* and time_* resource's and data source's argument and block names, against the schema. */
export function schemaProblems(config: InfraConfig, schema: ProviderSchema): string[] {
  const problems: string[] = [];
  for (const d of [...config.resources.values(), ...config.data.values()]) {
    if (!checked(d.type)) continue;
    const node = schemaFor(schema, d);
    if (!node) {
      const provider = d.type.startsWith('time_') ? 'hashicorp/time' : `provider ${schema.version}`;
      problems.push(`${d.file}: ${d.address}: ${d.type} is not in ${provider}`);
      continue;
    }
    const own = Object.fromEntries(Object.entries(d.body).filter(([k]) => !META_ARGUMENTS.has(k)));
    checkBody(own, node, `${d.file}: ${d.address}`, problems);
  }
  return problems;
}

/** Every `type.name.attr[.nested…]` reference names a declared resource and a real attribute. */
export function referenceProblems(config: InfraConfig, schema: ProviderSchema): string[] {
  const problems: string[] = [];
  const sources: { where: string; value: unknown }[] = [
    ...[...config.resources.values(), ...config.data.values()].map((d) => ({
      where: `${d.file}: ${d.address}`,
      value: d.body,
    })),
    ...config.expressions.map((e) => ({ where: `${e.file}: ${e.where}`, value: `\${${e.text}}` })),
  ];
  for (const { where, value } of sources) {
    for (const ref of referencesIn(value)) {
      const target = ref.data ? config.data.get(ref.address) : config.resources.get(ref.address);
      if (!target) {
        problems.push(`${where}: ${ref.text} names ${ref.address}, which is not declared`);
        continue;
      }
      if (!checked(ref.type)) continue;
      let node: SchemaNode | undefined = schemaFor(schema, target);
      if (!node) continue; // reported by schemaProblems
      for (const [i, attr] of ref.path.entries()) {
        const child: SchemaNode | undefined = node.b?.[attr];
        if (child) {
          node = child;
          continue;
        }
        const known = (node.a ?? []).includes(attr) || (node.c ?? []).includes(attr);
        if (!known)
          problems.push(
            `${where}: ${ref.text}: ${[ref.address, ...ref.path.slice(0, i + 1)].join('.')} is not an attribute`,
          );
        break; // past a plain attribute (a map, a string) the path is data, not schema
      }
    }
  }
  return problems;
}

// The checks that would have caught a deployment that fails its first apply:
// names against the Google provider's schema, and the ordering and security
// rules. Each returns its problems (empty when the configuration is right), so
// a test can assert both that infra/ passes and that an injected mistake fails.

import { readFileSync } from 'node:fs';
import type { ProviderSchema, SchemaNode } from '../../scripts/derive-provider-schema.ts';
import {
  type Body,
  blocks,
  type Declared,
  defaultOf,
  type InfraConfig,
  localsIn,
  referencesIn,
  resolveLocals,
} from './terraform-config.ts';

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

function schemaFor(schema: ProviderSchema, d: Declared): SchemaNode | undefined {
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

/** Every google_* resource's and data source's argument and block names, against the schema. */
export function schemaProblems(config: InfraConfig, schema: ProviderSchema): string[] {
  const problems: string[] = [];
  for (const d of [...config.resources.values(), ...config.data.values()]) {
    if (!d.type.startsWith('google_')) continue;
    const node = schemaFor(schema, d);
    if (!node) {
      problems.push(`${d.file}: ${d.address}: ${d.type} is not in provider ${schema.version}`);
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
      if (!ref.type.startsWith('google_')) continue;
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

/** Which API each resource type needs enabled before it can be created or read. */
const API_BY_TYPE: readonly (readonly [RegExp, string])[] = [
  [/^google_artifact_registry_/, 'artifactregistry.googleapis.com'],
  [/^google_cloudfunctions2_/, 'cloudfunctions.googleapis.com'],
  [/^google_cloud_run_/, 'run.googleapis.com'],
  [/^google_eventarc_/, 'eventarc.googleapis.com'],
  [/^google_iam_workload_identity_pool/, 'iam.googleapis.com'],
  [/^google_service_account/, 'iam.googleapis.com'],
  [/^google_project_iam_/, 'cloudresourcemanager.googleapis.com'],
  [/^google_project$/, 'cloudresourcemanager.googleapis.com'],
  [/^google_pubsub_/, 'pubsub.googleapis.com'],
  [/^google_secret_manager_/, 'secretmanager.googleapis.com'],
  [/^google_storage_/, 'storage.googleapis.com'],
  [/^google_logging_/, 'logging.googleapis.com'],
  [/^google_monitoring_/, 'monitoring.googleapis.com'],
];

/** Addresses (and `local.x`) a declaration depends on: its references and depends_on. */
function dependencies(value: unknown): string[] {
  return [
    ...referencesIn(value).map((r) => r.address),
    ...localsIn(value).map((l) => `local.${l}`),
  ];
}

/** The APIs a google_project_service resource enables (its service, or its for_each set). */
function enabledBy(config: InfraConfig, d: Declared): string[] {
  const service = String(d.body.service ?? '');
  if (!service.includes('${')) return [service];
  const source = /local\.(\w+)/.exec(String(d.body.for_each ?? ''))?.[1];
  const list = source ? config.locals.get(source) : undefined;
  return Array.isArray(list) ? (list as string[]) : [];
}

/** Every google_* resource and data source depends, directly or not, on its API being enabled. */
export function apiDependencyProblems(config: InfraConfig): string[] {
  const problems: string[] = [];
  const enabling = [...config.resources.values()].filter(
    (d) => d.type === 'google_project_service',
  );
  const graph = (address: string): string[] => {
    if (address.startsWith('local.')) return dependencies(config.locals.get(address.slice(6)));
    const d = config.resources.get(address) ?? config.data.get(address);
    return d ? dependencies(d.body) : [];
  };
  for (const d of [...config.resources.values(), ...config.data.values()]) {
    if (!d.type.startsWith('google_') || d.type === 'google_project_service') continue;
    const api =
      d.type === 'google_project_service_identity'
        ? String(d.body.service)
        : API_BY_TYPE.find(([pattern]) => pattern.test(d.type))?.[1];
    if (!api) {
      problems.push(`${d.file}: ${d.address}: no API known for ${d.type} (add it to API_BY_TYPE)`);
      continue;
    }
    const seen = new Set<string>();
    const queue = graph(d.address);
    let reached = false;
    while (queue.length > 0 && !reached) {
      const next = queue.shift() as string;
      if (seen.has(next)) continue;
      seen.add(next);
      const target = config.resources.get(next);
      if (target?.type === 'google_project_service' && enabledBy(config, target).includes(api))
        reached = true;
      else queue.push(...graph(next));
    }
    if (!reached) {
      const enabled = enabling.flatMap((e) => enabledBy(config, e));
      problems.push(
        enabled.includes(api)
          ? `${d.file}: ${d.address} does not depend on ${api} being enabled (add depends_on = [google_project_service.…] or reference something that does)`
          : `${d.file}: ${d.address} needs ${api}, which no google_project_service enables`,
      );
    }
  }
  return problems;
}

function functionsOf(config: InfraConfig): Declared[] {
  return [...config.resources.values()].filter((d) => d.type === 'google_cloudfunctions2_function');
}

const dependsOn = (d: Declared): string[] => referencesIn(d.body.depends_on).map((r) => r.address);

/** The service account a `${google_service_account.x.attr}` (or a local naming one) is. */
function accountOf(config: InfraConfig, value: unknown): string | undefined {
  return referencesIn(resolveLocals(value, config)).find((r) => r.type === 'google_service_account')
    ?.address;
}

/** Grants (any *_iam_member) whose member is the account, by address. */
function grantsTo(config: InfraConfig, account: string, type?: RegExp): Declared[] {
  return [...config.resources.values()].filter(
    (d) =>
      d.type.endsWith('_iam_member') &&
      (!type || type.test(d.type)) &&
      referencesIn([d.body.member, d.body.for_each]).some((r) => r.address === account),
  );
}

/** A function that mounts or reads a secret depends on the grants that let its account read it. */
export function secretGrantProblems(config: InfraConfig): string[] {
  const problems: string[] = [];
  const versions = [...config.resources.values()].filter(
    (d) => d.type === 'google_secret_manager_secret_version',
  );
  for (const f of functionsOf(config)) {
    const service = (f.body.service_config as Body[] | undefined)?.[0] ?? {};
    const secrets = [
      ...blocks(service, 'secret_volumes'),
      ...blocks(service, 'secret_environment_variables'),
    ];
    if (secrets.length === 0) continue;
    const account = accountOf(config, service.service_account_email);
    if (!account) {
      problems.push(`${f.file}: ${f.address} reads a secret but runs as no declared account`);
      continue;
    }
    const grants = grantsTo(config, account, /^google_secret_manager_secret_iam_member$/);
    if (grants.length === 0)
      problems.push(
        `${f.file}: ${f.address} reads a secret its account ${account} is never granted`,
      );
    const waits = new Set(dependsOn(f));
    for (const needed of [...grants, ...versions])
      if (!waits.has(needed.address))
        problems.push(`${f.file}: ${f.address} does not depend on ${needed.address}`);
  }
  return problems;
}

/** Every function builds as a service account of ours and waits for that account's grants. */
export function buildAccountProblems(config: InfraConfig): string[] {
  const problems: string[] = [];
  for (const f of functionsOf(config)) {
    const build = (f.body.build_config as Body[] | undefined)?.[0] ?? {};
    const account = accountOf(config, build.service_account);
    if (!account) {
      problems.push(
        `${f.file}: ${f.address} has no build_config.service_account of a declared google_service_account`,
      );
      continue;
    }
    const grants = grantsTo(config, account);
    if (grants.length === 0)
      problems.push(`${f.file}: ${f.address}: ${account} is granted nothing`);
    const waits = new Set(dependsOn(f));
    for (const grant of grants)
      if (!waits.has(grant.address))
        problems.push(
          `${f.file}: ${f.address} does not depend on its build grant ${grant.address}`,
        );
  }
  return problems;
}

/**
 * The writer (the identity that may invoke the sync function) is reachable only
 * from a principal set that names the ref of a push: an attribute mapped from
 * assertion.ref, for push events only, equal to the writer ref. The provider
 * pins the organisation by repository_owner_id and refuses unprotected pushes.
 */
export function writerRefProblems(config: InfraConfig): string[] {
  const problems: string[] = [];
  const sync = functionsOf(config).find(
    (f) => (f.body.build_config as Body[] | undefined)?.[0]?.entry_point === 'api',
  );
  if (!sync) return ['no function serves the api (sync) entry point'];
  const invokers = [...config.resources.values()].filter(
    (d) =>
      d.type === 'google_cloud_run_service_iam_member' &&
      referencesIn(d.body.service).some((r) => r.address === sync.address),
  );
  const providers = [...config.resources.values()].filter(
    (d) => d.type === 'google_iam_workload_identity_pool_provider',
  );
  const mapping = Object.assign(
    {},
    ...providers.map((p) => (p.body.attribute_mapping ?? {}) as Body),
  ) as Body;
  for (const invoker of invokers) {
    const writer = accountOf(config, invoker.body.member);
    if (!writer) continue;
    const federation = [...config.resources.values()].filter(
      (d) =>
        d.type === 'google_service_account_iam_member' &&
        referencesIn(d.body.service_account_id).some((r) => r.address === writer) &&
        String(d.body.member).includes('principal'),
    );
    if (federation.length === 0) problems.push(`${writer}: no workload identity binding`);
    for (const binding of federation) {
      const member = resolveLocals(binding.body.member, config);
      const attribute = /\/attribute\.(\w+)\/(.+)$/.exec(member);
      const where = `${binding.file}: ${binding.address}`;
      if (!attribute) {
        problems.push(`${where}: ${member} is not a principalSet on one attribute`);
        continue;
      }
      const [, name, value] = attribute as unknown as [string, string, string];
      const mapped = resolveLocals(mapping[`attribute.${name}`] ?? '', config);
      if (!/assertion\.ref\b/.test(mapped))
        problems.push(`${where}: attribute.${name} is not mapped from assertion.ref (${mapped})`);
      if (!/assertion\.event_name\s*==\s*'push'/.test(mapped))
        problems.push(`${where}: attribute.${name} does not single out push events (${mapped})`);
      if (!/^(\$\{var\.\w+\}|refs\/heads\/[\w./-]+)$/.test(value))
        problems.push(`${where}: the principal set names no ref (${value})`);
    }
  }
  for (const p of providers) {
    const condition = resolveLocals(p.body.attribute_condition, config);
    const where = `${p.file}: ${p.address}`;
    if (!/assertion\.repository_owner_id\s*==/.test(condition))
      problems.push(`${where}: the organisation is not pinned by repository_owner_id`);
    if (/assertion\.repository_owner\s*==/.test(condition))
      problems.push(`${where}: the organisation is matched by its name, which can change hands`);
    if (!/assertion\.ref_protected\s*==\s*'true'/.test(condition))
      problems.push(`${where}: pushes from unprotected refs are not refused`);
  }
  return problems;
}

/** Pub/Sub's retry backoff: from minimum_backoff, doubling, capped at maximum_backoff. */
export function attemptsToWait(seconds: number, minimum: number, maximum: number): number {
  let attempts = 1;
  let waited = 0;
  let delay = minimum;
  while (waited < seconds) {
    waited += delay;
    attempts++;
    delay = Math.min(delay * 2, maximum);
  }
  return attempts;
}

export const SIZING = {
  /** The run the sizing must carry without dead-lettering a job that never ran. */
  images: 2000,
  /** Attempts kept for real transient failures (source 5xx, network) on top. */
  reserve: 5,
} as const;

const seconds = (duration: unknown): number => Number(String(duration).replace(/s$/, ''));

/**
 * A job pushed while every copy instance is busy is answered 429, which Pub/Sub
 * counts as a delivery attempt. Worst case, a job waits until every other job
 * of the run ran to its deadline on instances × concurrency slots; its attempts,
 * spaced by the subscription's backoff, must outlast that, with a reserve left.
 */
export function sizingProblems(config: InfraConfig): string[] {
  const problems: string[] = [];
  const copy = functionsOf(config).find(
    (f) => (f.body.build_config as Body[] | undefined)?.[0]?.entry_point === 'copyJob',
  );
  const push = [...config.resources.values()].find(
    (d) =>
      d.type === 'google_pubsub_subscription' &&
      referencesIn((d.body.push_config as Body[] | undefined)?.[0]?.push_endpoint).some(
        (r) => r.address === copy?.address,
      ),
  );
  if (!copy || !push) return ['no copy function with a push subscription'];
  const service = (copy.body.service_config as Body[])[0] as Body;
  const numberOf = (expression: unknown): number => {
    const variable = /^\$\{var\.(\w+)\}$/.exec(String(expression))?.[1];
    return Number(variable ? defaultOf(config, variable) : expression);
  };
  const instances = numberOf(service.max_instance_count);
  const concurrency = numberOf(service.max_instance_request_concurrency ?? 1);
  const env = String(service.environment_variables);
  const deadline = Number(/SYNCER_JOB_DEADLINE_SECONDS\s*=\s*"(\d+)"/.exec(env)?.[1]);
  const policy = (push.body.dead_letter_policy as Body[] | undefined)?.[0] ?? {};
  const attempts = numberOf(policy.max_delivery_attempts);
  const retry = (push.body.retry_policy as Body[] | undefined)?.[0] ?? {};
  const [minimum, maximum] = [seconds(retry.minimum_backoff), seconds(retry.maximum_backoff)];
  if (![instances, concurrency, deadline, attempts, minimum, maximum].every(Number.isFinite))
    return [
      `cannot read the sizing: ${JSON.stringify({ instances, concurrency, deadline, attempts, minimum, maximum })}`,
    ];
  if (concurrency > 1 && numberOf(service.available_cpu) < 1)
    problems.push(`${copy.address}: concurrency ${concurrency} needs available_cpu of at least 1`);
  const drain = (SIZING.images * deadline) / (instances * concurrency);
  const needed = attemptsToWait(drain, minimum, maximum) + SIZING.reserve;
  if (attempts < needed)
    problems.push(
      `${push.address}: ${attempts} delivery attempts; a ${SIZING.images}-image run on ${instances} × ${concurrency} slots of ${deadline} s drains in ${drain} s, which takes ${needed - SIZING.reserve} attempts of backoff plus ${SIZING.reserve} in reserve = ${needed}`,
    );
  if (attempts > 100) problems.push(`${push.address}: Pub/Sub allows at most 100 attempts`);
  const matches = /SYNCER_MAX_DELIVERY_ATTEMPTS\s*=\s*tostring\(([^)]+)\)/.exec(env)?.[1];
  if (`\${${matches}}` !== String(policy.max_delivery_attempts))
    problems.push(
      `${copy.address}: SYNCER_MAX_DELIVERY_ATTEMPTS is not tostring() of the subscription's max_delivery_attempts (${policy.max_delivery_attempts})`,
    );
  return problems;
}

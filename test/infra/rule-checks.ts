// The ordering and security rules that decide whether the first apply on a
// fresh project succeeds and who may write the mirror. Each check returns its
// problems (empty when the configuration is right), so a test can assert both
// that infra/ passes and that an injected mistake fails.

import {
  type Body,
  blocks,
  type Declared,
  environmentValue,
  functionsOf,
  type InfraConfig,
  localsIn,
  referencesIn,
  resolveLocals,
  waitsFor,
} from '../../scripts/terraform/config.ts';

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
    const waits = waitsFor(config, f).all;
    for (const needed of [...grants, ...versions])
      if (!waits.has(needed.address))
        problems.push(`${f.file}: ${f.address} does not depend on ${needed.address}`);
  }
  return problems;
}

/** Every function builds as a dedicated service account of ours and waits for that account's grants. */
export function buildAccountProblems(config: InfraConfig): string[] {
  const problems: string[] = [];
  const runtime = new Set(
    functionsOf(config).map((f) =>
      accountOf(config, (f.body.service_config as Body[] | undefined)?.[0]?.service_account_email),
    ),
  );
  for (const f of functionsOf(config)) {
    const build = (f.body.build_config as Body[] | undefined)?.[0] ?? {};
    const account = accountOf(config, build.service_account);
    if (!account) {
      problems.push(
        `${f.file}: ${f.address} has no build_config.service_account of a declared google_service_account`,
      );
      continue;
    }
    if (runtime.has(account))
      problems.push(`${f.file}: ${f.address} builds as ${account}, which a function also runs as`);
    const grants = grantsTo(config, account);
    if (grants.length === 0)
      problems.push(`${f.file}: ${f.address}: ${account} is granted nothing`);
    const waits = waitsFor(config, f).all;
    for (const grant of grants)
      if (!waits.has(grant.address))
        problems.push(
          `${f.file}: ${f.address} does not depend on its build grant ${grant.address}`,
        );
  }
  return problems;
}

/**
 * The copy function publishes dead letters itself (SYNCER_DEAD_LETTER_TOPIC):
 * its account holds roles/pubsub.publisher on that topic, granted on the topic
 * (not the project), and the function waits for the grant as for its others.
 */
export function deadLetterGrantProblems(config: InfraConfig): string[] {
  const copy = functionsOf(config).find(
    (f) => (f.body.build_config as Body[] | undefined)?.[0]?.entry_point === 'copyJob',
  );
  if (!copy) return ['no function serves the copyJob entry point'];
  const where = `${copy.file}: ${copy.address}`;
  const topic = referencesIn(
    `\${${environmentValue(copy, 'SYNCER_DEAD_LETTER_TOPIC') ?? ''}}`,
  ).find((r) => r.type === 'google_pubsub_topic')?.address;
  if (!topic) return [`${where}: SYNCER_DEAD_LETTER_TOPIC names no google_pubsub_topic`];
  const account = accountOf(
    config,
    (copy.body.service_config as Body[] | undefined)?.[0]?.service_account_email,
  );
  if (!account) return [`${where} runs as no declared account`];
  const grants = grantsTo(config, account, /^google_pubsub_topic_iam_member$/).filter(
    (g) =>
      g.body.role === 'roles/pubsub.publisher' &&
      referencesIn(g.body.topic).some((r) => r.address === topic),
  );
  const problems: string[] = [];
  if (grants.length === 0)
    problems.push(`${where}: ${account} is not granted roles/pubsub.publisher on ${topic}`);
  const waits = waitsFor(config, copy).all;
  for (const grant of grants)
    if (!waits.has(grant.address))
      problems.push(`${where} does not depend on its dead-letter grant ${grant.address}`);
  return problems;
}

/**
 * The writer (the identity that may invoke the sync function) is reachable only
 * from a principal set that names the ref of a push: an attribute mapped from
 * assertion.ref, for push events only, equal to the writer ref. What the
 * provider admits is checked by running it (identity-checks.ts).
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
  return problems;
}

/**
 * A function that only Google's own services call (Eventarc, the jobs push
 * subscription) is internal-only: of the five, only those whose invoker is a
 * GitHub identity (the api and plan functions) take traffic from the internet
 * (https://cloud.google.com/run/docs/securing/ingress).
 */
export function ingressProblems(config: InfraConfig): string[] {
  const problems: string[] = [];
  for (const f of functionsOf(config)) {
    const invokers = [...config.resources.values()].filter(
      (d) =>
        d.type === 'google_cloud_run_service_iam_member' &&
        referencesIn(d.body.service).some((r) => r.address === f.address),
    );
    const fromGitHub = invokers.some((d) =>
      referencesIn(d.body.member).some((r) => /^google_service_account\.github_/.test(r.address)),
    );
    const ingress = (f.body.service_config as Body[] | undefined)?.[0]?.ingress_settings;
    if (!fromGitHub && ingress !== 'ALLOW_INTERNAL_ONLY')
      problems.push(
        `${f.file}: ${f.address} is called only from within the project but its ingress is ${String(ingress)}, not ALLOW_INTERNAL_ONLY`,
      );
  }
  return problems;
}

/**
 * Pull requests mirror trusted sources early only when the deployment names
 * some (trusted_sources, empty by default): only then may the plan function,
 * which pull requests call, publish jobs and write run records, and only then
 * does it know the jobs topic. The copy function checks each early job's trust
 * against the same setting, so both carry it.
 */
export function earlyMirrorProblems(config: InfraConfig): string[] {
  const problems: string[] = [];
  const trusted = config.variables.get('trusted_sources');
  if (!Array.isArray(trusted?.default) || trusted.default.length > 0)
    problems.push(
      'variables.tf: trusted_sources must default to none: early mirroring is off until a deployment trusts a source',
    );
  if (config.variables.get('trust_fork_pull_requests')?.default !== false)
    problems.push('variables.tf: trust_fork_pull_requests must default to false');
  const gate = String(config.locals.get('mirrors_early') ?? '');
  if (!/^\$\{length\(var\.trusted_sources\) > 0\}$/.test(gate))
    problems.push(
      `functions.tf: local.mirrors_early is ${gate || 'missing'}, not whether trusted_sources names any`,
    );
  const plan = functionsOf(config).find((f) => f.address.endsWith('.plan'));
  for (const [address, role] of [
    ['google_pubsub_topic_iam_member.plan_publishes_early_jobs', 'roles/pubsub.publisher'],
    ['google_storage_bucket_iam_member.plan_records_early_runs', 'roles/storage.objectUser'],
  ] as const) {
    const grant = config.resources.get(address);
    if (!grant) {
      problems.push(`iam.tf: ${address} is missing`);
      continue;
    }
    if (String(grant.body.count) !== '${local.mirrors_early ? 1 : 0}')
      problems.push(
        `${grant.file}: ${address} is granted whether or not sources are trusted (count ${String(grant.body.count)})`,
      );
    if (grant.body.role !== role || grant.body.member !== '${google_service_account.plan.member}')
      problems.push(`${grant.file}: ${address} must grant ${role} to the plan function's account`);
    if (plan && !waitsFor(config, plan).all.has(address))
      problems.push(`${plan.file}: ${plan.address} does not wait for ${address}`);
  }
  const env = String(
    (plan?.body.service_config as Body[] | undefined)?.[0]?.environment_variables ?? '',
  );
  if (!/local\.mirrors_early \? \{\s*SYNCER_JOBS_TOPIC\s*=/.test(env))
    problems.push(
      `functions.tf: the plan function's SYNCER_JOBS_TOPIC must be set only under local.mirrors_early`,
    );
  const common = (config.locals.get('common_env') ?? {}) as Record<string, unknown>;
  if (common.SYNCER_TRUSTED_SOURCES !== '${join(",", var.trusted_sources)}')
    problems.push(
      'functions.tf: local.common_env must pass trusted_sources as SYNCER_TRUSTED_SOURCES',
    );
  if (common.SYNCER_TRUST_FORK_PULL_REQUESTS !== '${tostring(var.trust_fork_pull_requests)}')
    problems.push(
      'functions.tf: local.common_env must pass trust_fork_pull_requests as SYNCER_TRUST_FORK_PULL_REQUESTS',
    );
  return problems;
}

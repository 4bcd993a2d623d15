// The waits that let one `terraform apply` on a fresh project finish: Google
// honours a new grant or a new log-based metric only minutes after it is
// created, and a resource created in between is refused. Each check returns
// its problems (empty when the configuration is right), so a test can assert
// both that infra/ passes and that an injected mistake fails.

import {
  block,
  type Declared,
  functionsOf,
  type InfraConfig,
  referencesIn,
  resolveLocals,
  resourcesOf,
  waitsFor,
} from '../../scripts/terraform/config.ts';

/** What takes effect some time after it is created: grants, and service agents. */
function takesEffectLater(address: string): boolean {
  const type = address.replace(/^data\./, '').split('.')[0] ?? '';
  return (
    type.endsWith('_iam_member') ||
    type === 'google_project_service_identity' ||
    type === 'google_storage_project_service_account'
  );
}

/** Grants (any *_iam_member) whose member names the value's account, by address. */
function grantsToAccountOf(config: InfraConfig, value: unknown): string[] {
  const account = referencesIn(resolveLocals(value, config)).find(
    (r) =>
      r.type === 'google_service_account' || r.type === 'google_storage_project_service_account',
  )?.address;
  if (!account) return [];
  return [...config.resources.values()]
    .filter(
      (d) =>
        d.type.endsWith('_iam_member') &&
        referencesIn(d.body.member).some((r) => r.address === account),
    )
    .map((d) => d.address);
}

/** What an event-triggered function needs in force before it is created. */
function triggerNeeds(config: InfraConfig, fn: Declared): string[] {
  const trigger = block(fn.body, 'event_trigger');
  if (Object.keys(trigger).length === 0) return [];
  const agents = resourcesOf(config, 'google_project_service_identity')
    .filter((d) =>
      ['eventarc.googleapis.com', 'pubsub.googleapis.com'].includes(String(d.body.service)),
    )
    .map((d) => d.address);
  const storage = String(trigger.event_type).startsWith('google.cloud.storage.')
    ? [...config.data.values()]
        .filter((d) => d.type === 'google_storage_project_service_account')
        .flatMap((d) => [d.address, ...grantsToAccountOf(config, `\${${d.address}.member}`)])
    : [];
  // Grants on a function (the trigger's invoker grants) can only follow it.
  const onAFunction = (address: string) =>
    referencesIn(config.resources.get(address)?.body).some(
      (r) => r.type === 'google_cloudfunctions2_function',
    );
  return [
    ...agents,
    ...grantsToAccountOf(config, trigger.service_account_email),
    ...storage,
  ].filter((address) => !onAFunction(address));
}

/**
 * Every function waits for the grants and agents it depends on through a
 * time_sleep after them; an event-triggered one also for the Eventarc and
 * Pub/Sub agents, its trigger account's grants and (storage events) the Cloud
 * Storage agent's. A time_sleep has triggers, so it waits again when they change.
 */
export function grantPropagationProblems(config: InfraConfig): string[] {
  const problems: string[] = [];
  for (const fn of functionsOf(config)) {
    const where = `${fn.file}: ${fn.address}`;
    const { all, throughSleep } = waitsFor(config, fn);
    for (const address of all)
      if (takesEffectLater(address) && !throughSleep.has(address))
        problems.push(
          `${where} depends on ${address} without a time_sleep after it: a grant takes minutes to take effect`,
        );
    for (const needed of triggerNeeds(config, fn))
      if (!throughSleep.has(needed))
        problems.push(
          `${where} is triggered by events but does not wait, through a time_sleep, for ${needed}`,
        );
  }
  for (const sleep of resourcesOf(config, 'time_sleep'))
    if (!sleep.body.triggers)
      problems.push(
        `${sleep.file}: ${sleep.address} has no triggers: it would not wait again when what it waits for is replaced`,
      );
  return problems;
}

/** Every alert policy on a log-based metric of this configuration waits for it through a time_sleep. */
export function metricPropagationProblems(config: InfraConfig): string[] {
  const problems: string[] = [];
  for (const policy of resourcesOf(config, 'google_monitoring_alert_policy')) {
    const { throughSleep } = waitsFor(config, policy);
    const metrics = new Set(
      referencesIn(policy.body.conditions)
        .filter((r) => r.type === 'google_logging_metric')
        .map((r) => r.address),
    );
    for (const metric of metrics)
      if (!throughSleep.has(metric))
        problems.push(
          `${policy.file}: ${policy.address} watches ${metric}, created in the same apply, without a time_sleep after it: Cloud Monitoring may take up to 10 minutes to know a new metric`,
        );
  }
  return problems;
}

/** Each time_sleep has, in the comment above it, its reason's source: a link and an issue. */
export function waitSourceProblems(files: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  for (const [file, text] of files) {
    const lines = text.split('\n');
    lines.forEach((line, index) => {
      const sleep = /^resource "time_sleep" "(\w+)"/.exec(line)?.[1];
      if (!sleep) return;
      const comment: string[] = [];
      for (let i = index - 1; i >= 0 && /^\s*#/.test(lines[i] as string); i--)
        comment.unshift(lines[i] as string);
      const said = comment.join('\n');
      if (!/https:\/\//.test(said) || !/[\w-]+\/[\w.-]+#\d+/.test(said))
        problems.push(
          `${file}: time_sleep.${sleep} does not say, in the comment above it, why it waits with a link and an issue (owner/repo#N)`,
        );
    });
  }
  return problems;
}

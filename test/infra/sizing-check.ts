// The copy function's sizing against the push subscription's delivery
// attempts: busy instances answer 429 and rate-limited jobs are handed back,
// and Pub/Sub counts both as attempts; the function's own count of failures
// must come first.

import { ArithmeticError, evaluateNumber } from '../../scripts/terraform/arithmetic.ts';
import {
  type Body,
  block,
  type Declared,
  defaultOf,
  environmentValue,
  functionsOf,
  type InfraConfig,
  lookupIn,
  referencesIn,
} from '../../scripts/terraform/config.ts';

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
  /**
   * One Docker Hub rate-limit window (100 or 200 pulls per 6 hours, docker/docs
   * content/manuals/docker-hub/usage/pulls.md): how long a job may be handed
   * back while its source's budget is spent.
   */
  rateLimitWindowSeconds: 6 * 3600,
} as const;

const seconds = (duration: unknown): number => Number(String(duration).replace(/s$/, ''));

/** A number the configuration states or computes (`5`, `var.x`, `tostring(local.y)`); NaN if it cannot be read. */
function numberIn(config: InfraConfig, expression: unknown): number {
  if (typeof expression === 'number') return expression;
  const text = String(expression)
    .trim()
    .replace(/^"(.*)"$/, '$1')
    .replace(/^\$\{([\s\S]*)\}$/, '$1')
    .replace(/^tostring\(([\s\S]*)\)$/, '$1');
  try {
    return evaluateNumber(text, lookupIn(config));
  } catch (error) {
    if (error instanceof ArithmeticError) return Number.NaN;
    throw error;
  }
}

/** A variable of a function's environment, set there or in a local map it merges (local.common_env). */
function environmentExpression(
  config: InfraConfig,
  fn: Declared,
  name: string,
): string | undefined {
  const own = environmentValue(fn, name);
  if (own !== undefined) return own;
  const env = String(block(fn.body, 'service_config').environment_variables ?? '');
  for (const local of env.matchAll(/\blocal\.(\w+)/g)) {
    const value = (config.locals.get(local[1] as string) as Record<string, unknown> | undefined)?.[
      name
    ];
    if (value !== undefined) return String(value);
  }
  return undefined;
}

/**
 * Artifact Registry's quota against the worst the deployment can send: every
 * function reaches the target, and each instance paces itself to its rate
 * (registry/throttle.ts), at most 60 × rate + 1 requests in any minute. The
 * sum over every instance that may run at once must stay within
 * target_quota_share of the quota, requests and writes alike
 * (https://cloud.google.com/artifact-registry/quotas).
 */
export function quotaProblems(config: InfraConfig): string[] {
  const problems: string[] = [];
  const share = Number(defaultOf(config, 'target_quota_share'));
  const limits = [
    ['requests', 'SYNCER_TARGET_REQUESTS_PER_SECOND', 'target_quota_requests_per_minute'],
    ['writes', 'SYNCER_TARGET_WRITES_PER_SECOND', 'target_quota_writes_per_minute'],
  ] as const;
  for (const [kind, variable, quotaVariable] of limits) {
    const allowed = share * Number(defaultOf(config, quotaVariable));
    let worst = 0;
    const parts: string[] = [];
    for (const fn of functionsOf(config)) {
      const instances = numberIn(config, block(fn.body, 'service_config').max_instance_count);
      const expression = environmentExpression(config, fn, variable);
      const rate = numberIn(config, expression);
      if (!(rate > 0) || !Number.isFinite(instances)) {
        problems.push(
          `${fn.address}: ${variable} is not a positive rate (${expression}): its ${kind} to the target are not paced`,
        );
        continue;
      }
      worst += instances * (60 * rate + 1);
      parts.push(`${instances} × (60 × ${rate} + 1)`);
    }
    if (worst > allowed)
      problems.push(
        `${kind}: at worst ${Math.ceil(worst)} a minute (${parts.join(' + ')}), above ${share} of ${Number(defaultOf(config, quotaVariable))} = ${allowed}`,
      );
  }
  return problems;
}

/**
 * The copy function dead-letters a job itself after its own count of failures
 * (SYNCER_MAX_DELIVERY_ATTEMPTS, rate limits not counted), publishing it to
 * SYNCER_DEAD_LETTER_TOPIC, which must be the subscription's dead-letter topic.
 * The subscription counts every delivery (https://cloud.google.com/pubsub/docs/handling-failures),
 * so its max_delivery_attempts, a backstop, must outlast, for a 2,000-image
 * run: the 429s of busy instances (worst case, a job waits until every other
 * job ran to its deadline on instances × concurrency slots), the hand-backs
 * of one rate-limit window at the maximum backoff, and the function's own count.
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
  const numberOf = (expression: unknown) => numberIn(config, expression);
  const instances = numberOf(service.max_instance_count);
  const concurrency = numberOf(service.max_instance_request_concurrency ?? 1);
  const envValue = (name: string) => environmentValue(copy, name);
  const deadline = numberOf(envValue('SYNCER_JOB_DEADLINE_SECONDS'));
  const policy = (push.body.dead_letter_policy as Body[] | undefined)?.[0] ?? {};
  const attempts = numberOf(policy.max_delivery_attempts);
  const ownText = envValue('SYNCER_MAX_DELIVERY_ATTEMPTS');
  const own = numberOf(ownText);
  const retry = (push.body.retry_policy as Body[] | undefined)?.[0] ?? {};
  const [minimum, maximum] = [seconds(retry.minimum_backoff), seconds(retry.maximum_backoff)];
  const figures = { instances, concurrency, deadline, attempts, own, minimum, maximum };
  if (!Object.values(figures).every(Number.isFinite))
    return [
      `cannot read the sizing: ${JSON.stringify(figures)} (SYNCER_MAX_DELIVERY_ATTEMPTS = ${ownText})`,
    ];
  if (concurrency > 1 && numberOf(service.available_cpu) < 1)
    problems.push(`${copy.address}: concurrency ${concurrency} needs available_cpu of at least 1`);

  // The function's own dead letters go where the subscription's go.
  const topic = referencesIn(policy.dead_letter_topic).find(
    (r) => r.type === 'google_pubsub_topic',
  );
  const named = referencesIn(`\${${envValue('SYNCER_DEAD_LETTER_TOPIC') ?? ''}}`);
  if (
    !topic ||
    !named.some((r) => r.address === topic.address && ['name', 'id'].includes(r.path[0] ?? ''))
  )
    problems.push(
      `${copy.address}: SYNCER_DEAD_LETTER_TOPIC does not name the subscription's dead-letter topic (${topic?.address ?? 'none'}.name): the function would not dead-letter by its own count`,
    );
  if (own > attempts)
    problems.push(
      `${copy.address}: SYNCER_MAX_DELIVERY_ATTEMPTS (${own}) is above the subscription's max_delivery_attempts (${attempts}): the subscription would dead-letter first`,
    );

  const drain = (SIZING.images * deadline) / (instances * concurrency);
  const busy = attemptsToWait(drain, minimum, maximum);
  const window = Math.ceil(SIZING.rateLimitWindowSeconds / maximum);
  const needed = busy + window + own;
  if (attempts < needed)
    problems.push(
      `${push.address}: ${attempts} delivery attempts; a ${SIZING.images}-image run on ${instances} × ${concurrency} slots of ${deadline} s drains in ${drain} s, which takes ${busy} attempts of backoff, plus ${window} for a ${SIZING.rateLimitWindowSeconds} s rate-limit window at ${maximum} s, plus the function's own ${own} = ${needed}`,
    );
  if (attempts > 100) problems.push(`${push.address}: Pub/Sub allows at most 100 attempts`);
  return problems;
}

// The copy function's sizing against the push subscription's delivery
// attempts: busy instances answer 429, which Pub/Sub counts as an attempt.

import { functionsOf } from './rule-checks.ts';
import { type Body, defaultOf, type InfraConfig, referencesIn } from './terraform-config.ts';

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

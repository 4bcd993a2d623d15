// The Terraform in infra/, checked offline: terraform cannot run here, so every
// .tf file is parsed with HashiCorp's HCL parser (compiled to WASM) and the
// invariants that matter are asserted against the parsed configuration and
// against the code it deploys.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { CLOUD_SETTINGS, FUNCTION_NEEDS, FUNCTION_VARIABLES } from '../../functions/gcp/config.ts';
import { envName, readingFor, type Setting } from '../../functions/settings/setting.ts';
import { SHARED_SETTINGS } from '../../functions/settings/shared.ts';
import {
  type Body,
  byTypeAndName,
  type InfraConfig,
  infraFiles,
  loadInfra,
} from '../../scripts/terraform/config.ts';

type Block = Body;

const CODE = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/**
 * The configuration by type and name, as the assertions below read it:
 * `resource[type][name]` is the resource's body in a one-element list.
 */
interface Config {
  resource: Record<string, Record<string, Block[]>>;
  locals: Block;
  variable: Record<string, Block[]>;
  output: Record<string, Block[]>;
}

function tables(config: InfraConfig): Config {
  const wrap = (map: ReadonlyMap<string, Block>) =>
    Object.fromEntries([...map].map(([name, body]) => [name, [body]]));
  return {
    resource: byTypeAndName(config),
    locals: Object.fromEntries(config.locals) as Block,
    variable: wrap(config.variables),
    output: wrap(config.outputs),
  };
}

const one = (blocks: unknown): Block => (blocks as Block[])[0] as Block;
/** A Terraform reference as hcl2json writes it: `${expression}`. */
const ref = (expression: string): string => `\${${expression}}`;

/** Variable names set by a Terraform map expression or object: `NAME = …`. */
function envNames(expression: unknown, locals: Block): string[] {
  const text = typeof expression === 'string' ? expression : JSON.stringify(expression);
  const names = [...text.matchAll(/"?\b([A-Z][A-Z0-9_]{2,})"?\s*[=:]/g)].map((m) => m[1] as string);
  if (text.includes('local.common_env')) names.push(...Object.keys(locals.common_env as Block));
  return names;
}

/**
 * What the deployment sets beyond what a function needs to start: the copy
 * function dead-letters by its own count (SYNCER_DEAD_LETTER_TOPIC,
 * SYNCER_MAX_DELIVERY_ATTEMPTS) and waits out 429s for a set time; every
 * fan-out (and /sync) refuses a run that cannot fit the pull budget's margin.
 */
const DEPLOYED_WITH: Record<string, readonly string[]> = {
  copyJob: [
    'SYNCER_RUNS_TOPIC',
    'SYNCER_DEAD_LETTER_TOPIC',
    'SYNCER_MAX_DELIVERY_ATTEMPTS',
    'SYNCER_RATE_LIMIT_WAIT_SECONDS',
  ],
  fanOutUpload: ['SYNCER_PULL_BUDGET_MARGIN'],
  fanOutRequest: ['SYNCER_PULL_BUDGET_MARGIN'],
  api: ['SYNCER_PULL_BUDGET_MARGIN'],
};

describe('Terraform (offline)', () => {
  let tf: Config;
  let functions: Record<string, Block>;
  before(async () => {
    tf = tables(await loadInfra());
    functions = Object.fromEntries(
      Object.entries(tf.resource.google_cloudfunctions2_function ?? {}).map(([name, blocks]) => [
        name,
        one(blocks),
      ]),
    );
  });

  it('creates the mirror repository with immutable tags', () => {
    const repo = one(tf.resource.google_artifact_registry_repository?.mirror);
    assert.equal(repo.format, 'DOCKER');
    assert.equal(one(repo.docker_config).immutable_tags, true);
  });

  it('deploys every entry point the code exports, on nodejs24', () => {
    const registered = [
      ...CODE('functions/gcp/register.ts').matchAll(/functions\.(?:cloudEvent|http)\('(\w+)'/g),
    ].map((m) => m[1]);
    const entryPoints = Object.values(functions).map((f) => one(f.build_config).entry_point);
    assert.deepEqual([...entryPoints].sort(), [...registered].sort());
    for (const f of Object.values(functions)) assert.equal(one(f.build_config).runtime, 'nodejs24');
    const pkg = JSON.parse(CODE('package.json'));
    assert.equal(pkg.main, 'dist/gcp/index.js', 'the built module is what the runtime loads');
    assert.equal(pkg.scripts['gcp-build'], 'npm run build');
  });

  it('sets only variables the code reads, and every one each function needs', () => {
    const read = new Set(FUNCTION_VARIABLES);
    const unread = (names: string[]) =>
      names.filter((n) => n.startsWith('SYNCER_') && !read.has(n));
    // A name misspelt in Terraform is caught (the code would silently use its default).
    assert.deepEqual(
      unread(envNames('{\n  SYNCER_DEAD_LETTER_TOPICS = x\n  SYNCER_RUNS_TOPIC = y\n}', {})),
      ['SYNCER_DEAD_LETTER_TOPICS'],
    );
    const required: Record<string, string> = {
      jobsTopic: 'SYNCER_JOBS_TOPIC',
      runsBucket: 'SYNCER_RUNS_BUCKET',
    };
    for (const [name, f] of Object.entries(functions)) {
      const service = one(f.service_config);
      const names = envNames(service.environment_variables, tf.locals);
      assert.ok(names.length >= 3, `${name}: found the variables (${names.join(', ')})`);
      assert.deepEqual(unread(names), [], `${name} sets variables the code never reads`);
      const entryPoint = one(f.build_config).entry_point as string;
      const needs = [
        'SYNCER_TARGET_REPO_PREFIX',
        ...(FUNCTION_NEEDS[entryPoint] ?? []).map((n) => required[n] as string),
        ...(DEPLOYED_WITH[entryPoint] ?? []),
      ];
      for (const env of needs)
        assert.ok(names.includes(env), `${name} (${entryPoint}) lacks ${env}`);
      const secrets = JSON.stringify(service.dynamic ?? {});
      if (secrets !== '{}') assert.match(secrets, /for_each.*local\.credentials_volumes/);
    }
    // The credentials secret is mounted as a file and named by this variable.
    assert.match(JSON.stringify(tf.locals.credentials_env), /SYNCER_SOURCE_CREDENTIALS_FILE/);
    assert.ok(read.has('SYNCER_SOURCE_CREDENTIALS_FILE'));
  });

  it('gives each function a service account of its own', () => {
    const accounts = Object.values(functions).map(
      (f) => one(f.service_config).service_account_email,
    );
    const byName = Object.fromEntries(
      Object.entries(functions).map(([n, f]) => [n, one(f.service_config).service_account_email]),
    );
    assert.equal(
      byName.fanout_upload,
      byName.fanout_request,
      'the two fan-out adapters share the fan-out identity',
    );
    const distinct = new Set(accounts);
    assert.equal(distinct.size, accounts.length - 1);
    for (const account of accounts)
      assert.match(String(account), /^\$\{google_service_account\.\w+\.email\}$/);
  });

  it('grants nothing to allUsers or allAuthenticatedUsers', () => {
    const all = [...infraFiles().values()].join('\n');
    assert.doesNotMatch(all, /allUsers|allAuthenticatedUsers/);
  });

  it('lets the copy function write to the mirror repository and nowhere else', () => {
    const members = Object.entries(tf.resource)
      .filter(([type]) => type.endsWith('_iam_member'))
      .flatMap(([type, byName]) =>
        Object.entries(byName).map(([name, blocks]): Block => ({ type, name, ...one(blocks) })),
      );
    const copy = members.filter((m) => String(m.member).includes('google_service_account.copy.'));
    assert.deepEqual(copy.map((m) => `${m.type} ${m.role}`).sort(), [
      'google_artifact_registry_repository_iam_member roles/artifactregistry.writer',
      'google_pubsub_topic_iam_member roles/pubsub.publisher',
      'google_pubsub_topic_iam_member roles/pubsub.publisher',
      'google_storage_bucket_iam_member roles/storage.objectUser',
    ]);
    assert.deepEqual(
      copy
        .filter((m) => m.type === 'google_pubsub_topic_iam_member')
        .map((m) => m.topic)
        .sort(),
      [ref('google_pubsub_topic.dead_letter.name'), ref('google_pubsub_topic.runs.name')],
      'the copy function publishes to the runs and dead-letter topics only',
    );
    assert.equal(
      copy.find((m) => m.type === 'google_storage_bucket_iam_member')?.bucket,
      ref('google_storage_bucket.runs.name'),
    );
    // The optional secret is the only other grant, read access to that one secret.
    const secret = one(tf.resource.google_secret_manager_secret_iam_member?.source_credentials);
    assert.equal(secret.role, 'roles/secretmanager.secretAccessor');
    assert.match(String(secret.for_each), /copy\s*=\s*google_service_account\.copy\.member/);
    const writer = copy.find((m) => m.role === 'roles/artifactregistry.writer');
    assert.equal(writer?.repository, ref('local.repository_id'));
    // The build account may push only to the gcf-artifacts repository of the
    // function builds (an IAM condition), never the mirror.
    const writers = members.filter(
      (m) =>
        (m.role === 'roles/artifactregistry.writer' || m.role === 'roles/artifactregistry.admin') &&
        !/repositories\/gcf-artifacts/.test(JSON.stringify(m.condition ?? '')),
    );
    assert.deepEqual(
      writers.map((m) => m.name),
      ['copy_writes_mirror'],
      'no other identity can write the mirror',
    );
    assert.ok(
      !members.some(
        (m) =>
          m.type === 'google_project_iam_member' &&
          String(m.member).includes('google_service_account.copy.'),
      ),
      'no project-wide role for the copy account',
    );
  });

  it('never lets the reader identity invoke sync', () => {
    const invokers = Object.entries(tf.resource.google_cloud_run_service_iam_member ?? {}).map(
      ([name, blocks]): Block => ({ name, ...one(blocks) }),
    );
    const ofApi = invokers.filter(
      (i) => i.service === ref('google_cloudfunctions2_function.api.name'),
    );
    assert.deepEqual(
      ofApi.map((i) => i.member),
      [ref('google_service_account.github_writer.member')],
    );
    const reader = invokers.filter((i) => String(i.member).includes('github_reader'));
    assert.deepEqual(
      reader.map((i) => i.service),
      [ref('google_cloudfunctions2_function.plan.name')],
    );
    const federation = one(tf.resource.google_service_account_iam_member?.reader_federation);
    assert.match(String(federation.member), /attribute\.event_name\/pull_request_target$/);
    assert.equal(
      one(tf.resource.google_iam_workload_identity_pool_provider?.github).attribute_condition,
      ref('local.workflow_condition'),
    );
    // Who the provider admits is run as CEL in terraform-identity.test.ts.
    const condition = JSON.stringify(tf.locals.workflow_gates);
    assert.match(
      condition,
      /assertion\.repository_owner_id == '\$\{var\.github_organization_id\}'/,
    );
    assert.match(condition, /job_workflow_ref == '.*image-syncer\.yml@\$\{var\.workflow_ref\}'/);
  });

  it('wires the dead-letter topic, retry backoff and delivery attempts to the copy function', () => {
    const push = one(tf.resource.google_pubsub_subscription?.jobs_push);
    assert.equal(
      one(push.dead_letter_policy).dead_letter_topic,
      ref('google_pubsub_topic.dead_letter.id'),
    );
    assert.equal(
      one(push.dead_letter_policy).max_delivery_attempts,
      ref('var.max_delivery_attempts'),
    );
    assert.ok(one(push.retry_policy).minimum_backoff && one(push.retry_policy).maximum_backoff);
    assert.equal(
      one(push.push_config).push_endpoint,
      ref('google_cloudfunctions2_function.copy.service_config[0].uri'),
    );
    // The function dead-letters by its own count to the same topic; the
    // subscription's count is a backstop above it (infra/README.md, Sizing).
    const env = String(one(functions.copy?.service_config).environment_variables);
    assert.match(env, /SYNCER_DEAD_LETTER_TOPIC\s*=\s*google_pubsub_topic\.dead_letter\.name\n/);
    assert.match(env, /SYNCER_MAX_DELIVERY_ATTEMPTS\s*=\s*tostring\(var\.copy_max_failures\)/);
    assert.match(
      env,
      /SYNCER_RATE_LIMIT_WAIT_SECONDS\s*=\s*tostring\(var\.copy_rate_limit_wait_seconds\)/,
    );
    // Pub/Sub's own range for the subscription (DeadLetterPolicy: 5 to 100).
    const backstop = one(tf.variable.max_delivery_attempts);
    assert.equal(backstop.default, 100);
    assert.equal(
      one(backstop.validation).condition,
      ref('var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100'),
    );
    // Each variable behind a function setting defaults and validates as the functions read it.
    for (const [name, declared] of [
      ['copy_max_failures', CLOUD_SETTINGS.maxDeliveryAttempts],
      ['copy_rate_limit_wait_seconds', SHARED_SETTINGS.rateLimitWaitSeconds],
      ['pull_budget_margin', CLOUD_SETTINGS.pullBudgetMargin],
    ] as const) {
      const env = envName(declared.name);
      const { default: fallback, parse } = readingFor(declared as Setting<number>, 'functions');
      const variable = one(tf.variable[name]);
      assert.equal(variable.default, Number(fallback), `${name} defaults as ${env} does`);
      const bounds = new RegExp(
        `^\\$\\{var\\.${name} >= (\\d+) && var\\.${name} <= (\\d+)\\}$`,
      ).exec(String(one(variable.validation).condition));
      assert.ok(bounds, `${name} is validated as a range`);
      const [low, high] = bounds.slice(1).map(Number) as [number, number];
      for (const ok of [low, high]) assert.equal(parse(String(ok)), ok, `${env} takes ${ok}`);
      for (const bad of [low - 1, high + 1])
        assert.throws(() => parse(String(bad)), `${env} refuses ${bad}, as ${name} does`);
    }
    // The signature type Terraform builds with is the one the code registers.
    const registered = /functions\.(cloudEvent|http)\('copyJob'/.exec(
      CODE('functions/gcp/register.ts'),
    )?.[1];
    assert.equal(
      (one(functions.copy?.build_config).environment_variables as Block)
        .GOOGLE_FUNCTION_SIGNATURE_TYPE,
      registered === 'http' ? 'http' : 'cloudevent',
    );
    const keep = one(tf.resource.google_pubsub_subscription?.dead_letter_keep);
    assert.equal(keep.topic, ref('google_pubsub_topic.dead_letter.id'));
    for (const name of ['fanout_upload', 'fanout_request'])
      assert.equal(one(functions[name]?.event_trigger).retry_policy, 'RETRY_POLICY_RETRY');
    assert.equal(
      one(functions.fanout_upload?.event_trigger).event_type,
      'google.cloud.storage.object.v1.finalized',
    );
    assert.equal(
      one(functions.fanout_request?.event_trigger).pubsub_topic,
      ref('google_pubsub_topic.requests.id'),
    );
  });

  it('keeps the buckets private, versioned, and ages out run records', () => {
    for (const name of ['images', 'runs']) {
      const bucket = one(tf.resource.google_storage_bucket?.[name]);
      assert.equal(bucket.uniform_bucket_level_access, true);
      assert.equal(bucket.public_access_prevention, 'enforced');
      assert.equal(one(bucket.versioning).enabled, true);
    }
    const runs = one(tf.resource.google_storage_bucket?.runs);
    assert.equal(one(one(runs.lifecycle_rule).condition).age, ref('var.run_record_retention_days'));
  });

  it('documents every variable and output, with types', () => {
    for (const [name, blocks] of Object.entries(tf.variable)) {
      const v = one(blocks);
      assert.ok(v.description, `variable ${name} has no description`);
      assert.ok(v.type, `variable ${name} has no type`);
    }
    for (const [name, blocks] of Object.entries(tf.output))
      assert.ok(one(blocks).description, `output ${name}`);
    for (const needed of [
      'api_url',
      'plan_url',
      'workload_identity_provider',
      'github_reader_service_account',
      'github_writer_service_account',
      'target_prefix',
    ]) {
      assert.ok(tf.output[needed], `output ${needed}`);
    }
  });
});

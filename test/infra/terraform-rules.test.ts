// The ordering and security rules of infra/*.tf that decide whether the first
// `terraform apply` on a fresh project succeeds and who may write the mirror.
// They apply to every .tf file in infra/, whoever adds it. Each rule is shown
// to hold, and to fail on a copy of the configuration with one mistake in it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { evaluateNumber } from '../../scripts/terraform/arithmetic.ts';
import {
  edited,
  type InfraConfig,
  infraFiles,
  loadInfra,
  lookupIn,
  waitsFor,
} from '../../scripts/terraform/config.ts';
import {
  apiDependencyProblems,
  buildAccountProblems,
  deadLetterGrantProblems,
  earlyMirrorProblems,
  ingressProblems,
  secretGrantProblems,
  writerRefProblems,
} from './rule-checks.ts';
import { attemptsToWait, quotaProblems, SIZING, sizingProblems } from './sizing-check.ts';

type Check = (config: InfraConfig) => string[];

describe('Terraform rules (offline)', () => {
  let files: Map<string, string>;
  let config: InfraConfig;
  before(async () => {
    files = infraFiles();
    config = await loadInfra(files);
  });

  /** The check reports `expected` once `from` becomes `to` (several edits: a list of them). */
  async function catches(
    check: Check,
    file: string | [string, string | RegExp, string][],
    from: string | RegExp,
    to: string,
    expected: RegExp,
  ): Promise<void> {
    const edits: [string, string | RegExp, string][] =
      typeof file === 'string' ? [[file, from, to]] : file;
    const changed = edits.reduce((text, [f, a, b]) => edited(text, f, a, b), files);
    const problems = check(await loadInfra(changed));
    assert.ok(
      problems.some((p) => expected.test(p)),
      `${expected} in ${JSON.stringify(problems)}`,
    );
  }

  /** A function that no longer waits for the grants (its depends_on emptied). */
  const waitingForNothing = (fn: string): RegExp =>
    new RegExp(
      `(resource "google_cloudfunctions2_function" "${fn}" \\{[\\s\\S]*?)depends_on = \\[time_sleep\\.grants_propagate\\]`,
    );

  it('every google_* resource and data source depends, directly or not, on its API', async () => {
    assert.deepEqual(apiDependencyProblems(config), []);
    await catches(
      apiDependencyProblems,
      'iam.tf',
      /(display_name\s+= "image-syncer function builds \(Cloud Build\)")\n {2}depends_on\s+= \[google_project_service\.services\]/,
      '$1',
      /google_service_account\.build does not depend on iam\.googleapis\.com/,
    );
    // Transitively: the source object waits for its bucket, which waits for the API.
    await catches(
      apiDependencyProblems,
      'storage.tf',
      /(resource "google_storage_bucket" "source" \{[\s\S]*?)\n {2}depends_on = \[google_project_service\.services\]\n/,
      '$1\n',
      /google_storage_bucket_object\.source does not depend on storage\.googleapis\.com/,
    );
    await catches(
      apiDependencyProblems,
      'main.tf',
      '    "cloudresourcemanager.googleapis.com",\n',
      '',
      /google_project_iam_member\.\w+ needs cloudresourcemanager\.googleapis\.com, which no google_project_service enables/,
    );
    await catches(
      apiDependencyProblems,
      'iam.tf',
      'data "google_storage_project_service_account" "gcs" {\n  project    = var.project_id\n  depends_on = [google_project_service.services]',
      'data "google_storage_project_service_account" "gcs" {\n  project    = var.project_id',
      /data\.google_storage_project_service_account\.gcs does not depend on storage/,
    );
  });

  it('creates the Pub/Sub and Eventarc service agents, and grants Cloud Storage’s pubsub.publisher', () => {
    const identities = [...config.resources.values()].filter(
      (d) => d.type === 'google_project_service_identity',
    );
    assert.deepEqual(identities.map((d) => d.body.service).sort(), [
      'eventarc.googleapis.com',
      'pubsub.googleapis.com',
    ]);
    for (const d of identities) assert.equal(d.body.provider, '${google-beta}');
    const gcs = config.resources.get('google_project_iam_member.gcs_publishes_events');
    assert.equal(gcs?.body.role, 'roles/pubsub.publisher');
    assert.equal(gcs?.body.member, '${data.google_storage_project_service_account.gcs.member}');
    const upload = config.resources.get('google_cloudfunctions2_function.fanout_upload');
    assert.ok(upload);
    const waits = waitsFor(config, upload).all;
    for (const needed of [
      'google_project_iam_member.gcs_publishes_events',
      'google_project_service_identity.pubsub',
      'google_project_service_identity.eventarc',
    ])
      assert.ok(waits.has(needed), `fanout_upload waits for ${needed}`);
    // Their service agent roles are the bootstrap's: the deployer may not grant them,
    // and state that holds them forgets them without revoking them.
    for (const agent of ['pubsub', 'eventarc'])
      assert.match(
        files.get('iam.tf') ?? '',
        new RegExp(
          `removed \\{\\n {2}from = google_project_iam_member\\.${agent}_agent_role\\n {2}lifecycle \\{\\n {4}destroy = false`,
        ),
      );
    assert.ok(
      ![...config.resources.values()].some((d) => /serviceAgent/.test(String(d.body.role))),
      'no service agent role is granted here',
    );
  });

  it('every function that reads a secret depends on its grants and on the version', async () => {
    assert.deepEqual(secretGrantProblems(config), []);
    await catches(
      secretGrantProblems,
      'functions.tf',
      waitingForNothing('copy'),
      '$1depends_on = []',
      /google_cloudfunctions2_function\.copy does not depend on google_secret_manager_secret_iam_member\.source_credentials/,
    );
    await catches(
      secretGrantProblems,
      'iam.tf',
      '    google_secret_manager_secret_version.source_credentials,\n',
      '',
      /google_cloudfunctions2_function\.plan does not depend on google_secret_manager_secret_version/,
    );
  });

  it('with no credentials configured, deploys no secret at all', () => {
    assert.equal(config.variables.get('source_credentials')?.default, '');
    assert.equal(config.variables.get('source_credentials')?.sensitive, true);
    assert.equal(config.variables.get('source_credentials_secret_id')?.default, '');
    assert.match(
      String(config.locals.get('credentials_enabled')),
      /^\$\{local\.create_credentials_secret \|\| var\.source_credentials_secret_id != ""\}$/,
    );
    assert.match(
      String(config.locals.get('credentials_volumes')),
      /credentials_enabled \? .* : \[\]\}$/,
    );
    assert.match(String(config.locals.get('credentials_env')), /\} : \{\}\}$/s);
    const secret = config.resources.get('google_secret_manager_secret.source_credentials');
    assert.match(String(secret?.body.count), /create_credentials_secret \? 1 : 0/);
    for (const f of [...config.resources.values()].filter(
      (d) => d.type === 'google_cloudfunctions2_function',
    )) {
      const service = JSON.stringify(f.body.service_config);
      const own = Object.keys((f.body.service_config as Record<string, unknown>[])[0] ?? {});
      assert.ok(!own.some((k) => k.startsWith('secret_')), `${f.address}: a static secret`);
      assert.match(
        service,
        /"for_each":"\$\{local\.credentials_volumes\}"/,
        `${f.address}: mounted`,
      );
      assert.match(service, /local\.credentials_env/);
    }
    assert.match(
      String(config.locals.get('credentials_env')),
      /SYNCER_SOURCE_CREDENTIALS_FILE = "\$\{local\.credentials_mount\}\/\$\{local\.credentials_file\}"/,
    );
  });

  it('every function builds as a build account of its own and waits for its grants', async () => {
    assert.deepEqual(buildAccountProblems(config), []);
    await catches(
      buildAccountProblems,
      'functions.tf',
      /service_account = local\.build_service_account\n(\s+entry_point {5}= "planApi")/,
      '$1',
      /google_cloudfunctions2_function\.plan has no build_config\.service_account/,
    );
    await catches(
      buildAccountProblems,
      [
        ['iam.tf', '      google_project_iam_member.build_writes_logs.id,\n', ''],
        ['iam.tf', '    google_project_iam_member.build_writes_logs,\n', ''],
      ],
      '',
      '',
      /google_cloudfunctions2_function\.api does not depend on its build grant google_project_iam_member\.build_writes_logs/,
    );
    await catches(
      buildAccountProblems,
      'functions.tf',
      '  build_service_account = google_service_account.build.id',
      '  build_service_account = google_service_account.copy.id',
      /builds as google_service_account\.copy, which a function also runs as/,
    );
  });

  it('gives the build account only the roles the build needs, limited to what the build uses', () => {
    const build = [...config.resources.values()].filter(
      (d) =>
        d.type.endsWith('_iam_member') &&
        String(d.body.member) === '${google_service_account.build.member}',
    );
    assert.deepEqual(build.map((d) => `${d.type} ${d.body.role}`).sort(), [
      'google_project_iam_member roles/artifactregistry.writer',
      'google_project_iam_member roles/logging.logWriter',
      'google_project_iam_member roles/storage.objectAdmin',
      'google_storage_bucket_iam_member roles/storage.objectViewer',
    ]);
    const conditions = build.map((d) => JSON.stringify(d.body.condition ?? null));
    assert.match(conditions.join(), /repositories\/gcf-artifacts/);
    assert.match(conditions.join(), /buckets\/gcf-v2-/);
  });

  it('binds the writer to pushes of the default branch only', async () => {
    assert.deepEqual(writerRefProblems(config), []);
    await catches(
      writerRefProblems,
      'github.tf',
      /(resource "google_service_account_iam_member" "writer_federation" \{[\s\S]*?)attribute\.push_ref\/\$\{var\.writer_ref\}/,
      '$1attribute.event_name/push',
      /writer_federation: attribute\.event_name is not mapped from assertion\.ref/,
    );
    await catches(
      writerRefProblems,
      'github.tf',
      `push_ref_mapping = "assertion.event_name == 'push' ? assertion.ref : 'not-a-push'"`,
      'push_ref_mapping = "assertion.ref"',
      /attribute\.push_ref does not single out push events/,
    );
  });

  it('lets the copy function publish to the dead-letter topic only, and waits for that grant', async () => {
    assert.deepEqual(deadLetterGrantProblems(config), []);
    await catches(
      deadLetterGrantProblems,
      'functions.tf',
      waitingForNothing('copy'),
      '$1depends_on = []',
      /google_cloudfunctions2_function\.copy does not depend on its dead-letter grant google_pubsub_topic_iam_member\.copy_publishes_dead_letters/,
    );
    await catches(
      deadLetterGrantProblems,
      'iam.tf',
      /(resource "google_pubsub_topic_iam_member" "copy_publishes_dead_letters" \{\n {2}project = var\.project_id\n {2}topic {3}= )google_pubsub_topic\.dead_letter\.name/,
      '$1google_pubsub_topic.jobs.name',
      /google_service_account\.copy is not granted roles\/pubsub\.publisher on google_pubsub_topic\.dead_letter/,
    );
    await catches(
      deadLetterGrantProblems,
      'iam.tf',
      /(resource "google_pubsub_topic_iam_member" "copy_publishes_dead_letters" \{[\s\S]*?role {4}= )"roles\/pubsub\.publisher"/,
      '$1"roles/pubsub.viewer"',
      /is not granted roles\/pubsub\.publisher on google_pubsub_topic\.dead_letter/,
    );
    // The Pub/Sub service agent keeps its grants for the subscription's own (backstop) dead letters.
    const agent = '${google_project_service_identity.pubsub.member}';
    const publisher = config.resources.get('google_pubsub_topic_iam_member.dead_letter_publisher');
    assert.equal(publisher?.body.member, agent);
    assert.equal(publisher?.body.topic, '${google_pubsub_topic.dead_letter.name}');
    const subscriber = config.resources.get(
      'google_pubsub_subscription_iam_member.dead_letter_subscriber',
    );
    assert.equal(subscriber?.body.member, agent);
    assert.equal(subscriber?.body.subscription, '${google_pubsub_subscription.jobs_push.name}');
  });

  it('lets the plan function publish and record only when the deployment trusts sources', async () => {
    assert.deepEqual(earlyMirrorProblems(config), []);
    await catches(
      earlyMirrorProblems,
      'variables.tf',
      /(variable "trusted_sources" \{[\s\S]*?default {5}= )\[\]/,
      '$1["ghcr.io/acme/*"]',
      /trusted_sources must default to none/,
    );
    await catches(
      earlyMirrorProblems,
      'iam.tf',
      /(resource "google_pubsub_topic_iam_member" "plan_publishes_early_jobs" \{\n) {2}count {3}= local\.mirrors_early \? 1 : 0\n/,
      '$1',
      /plan_publishes_early_jobs is granted whether or not sources are trusted/,
    );
    await catches(
      earlyMirrorProblems,
      'functions.tf',
      'mirrors_early = length(var.trusted_sources) > 0',
      'mirrors_early = true',
      /local\.mirrors_early is .*not whether trusted_sources names any/,
    );
  });

  it("paces every instance that reaches the target within its share of Artifact Registry's quota", async () => {
    assert.deepEqual(quotaProblems(config), []);
    // A function's instances raised outside the shared map: the sum is no longer the one divided.
    await catches(
      quotaProblems,
      'functions.tf',
      'max_instance_count    = local.max_instances.api',
      'max_instance_count    = 100',
      /requests: at worst \d+ a minute .* above 0\.5 of 60000 = 30000/,
    );
    // A rate that ignores how many instances share the quota.
    await catches(
      quotaProblems,
      'functions.tf',
      /(target_writes_per_second += floor\(\(var\.target_quota_share \* var\.target_quota_writes_per_minute - local\.target_instances\) \* 1000 \/ \(60 \* )local\.target_instances\)/,
      '$15)',
      /writes: at worst \d+ a minute .* above 0\.5 of 18000 = 9000/,
    );
    // A function left unpaced.
    await catches(
      quotaProblems,
      'functions.tf',
      /\n\s+SYNCER_TARGET_WRITES_PER_SECOND\s+= tostring\(local\.target_writes_per_second\)/,
      '',
      /google_cloudfunctions2_function\.copy: SYNCER_TARGET_WRITES_PER_SECOND is not a positive rate/,
    );
    // infra/README.md states the figures the configuration computes.
    const readme = readFileSync(new URL('../../infra/README.md', import.meta.url), 'utf8');
    const computed = (local: string) => evaluateNumber(`local.${local}`, lookupIn(config));
    for (const figure of [
      `5 + 5 + 10 + 5 + 5 = **${computed('target_instances')}**`,
      `**${computed('target_requests_per_second')}**`,
      `**${computed('target_writes_per_second')}**`,
    ])
      assert.ok(readme.includes(figure), `infra/README.md states ${figure}`);
  });

  it('sizes the subscription as a backstop: a 2,000-image run cannot dead-letter a job before the function does', async () => {
    assert.deepEqual(sizingProblems(config), []);
    // Pub/Sub's backoff from 10 s, doubling, capped at 600 s: 8 attempts span 1,230 s.
    assert.equal(attemptsToWait(1230, 10, 600), 8);
    assert.equal(attemptsToWait(1231, 10, 600), 9);
    assert.equal(SIZING.images, 2000);
    assert.equal(SIZING.rateLimitWindowSeconds, 21_600);
    // infra/README.md explains the same figures the check computes.
    const readme = readFileSync(new URL('../../infra/README.md', import.meta.url), 'utf8');
    const busy = attemptsToWait((2000 * 480) / 40, 10, 600);
    assert.equal(busy, 46);
    const window = Math.ceil(21_600 / 600);
    assert.equal(window, 36);
    assert.equal(config.variables.get('copy_max_failures')?.default, 5);
    assert.equal(config.variables.get('max_delivery_attempts')?.default, 100);
    for (const figure of [
      '10 × 4 = **40**',
      '**24,000 s**',
      `= **${busy}**`,
      `21,600 s / 600 s = **${window}**`,
      '`copy_max_failures` | **5**',
      `**100** ≥ ${busy} + ${window} + 5 = ${busy + window + 5}`,
    ])
      assert.ok(readme.includes(figure), `infra/README.md states ${figure}`);
    await catches(
      sizingProblems,
      'variables.tf',
      /(variable "max_delivery_attempts" \{[\s\S]*?default {5}= )\d+/,
      '$160',
      /60 delivery attempts; a 2000-image run on 10 × 4 slots of 480 s drains in 24000 s, which takes 46 attempts of backoff, plus 36 for a 21600 s rate-limit window at 600 s, plus the function's own 5 = 87/,
    );
    await catches(
      sizingProblems,
      'variables.tf',
      /(variable "copy_concurrency" \{[\s\S]*?default {5}= )\d+/,
      '$11',
      /on 10 × 1 slots/,
    );
    // The function's own count above the subscription's: the backstop would fire first.
    await catches(
      sizingProblems,
      'pubsub.tf',
      'max_delivery_attempts = var.max_delivery_attempts',
      'max_delivery_attempts = 4',
      /SYNCER_MAX_DELIVERY_ATTEMPTS \(5\) is above the subscription's max_delivery_attempts \(4\)/,
    );
    await catches(
      sizingProblems,
      'variables.tf',
      /(variable "copy_max_failures" \{[\s\S]*?default {5}= )\d+/,
      '$1100',
      /plus the function's own 100 = 182/,
    );
    // Without the dead-letter topic the function would not dead-letter by its own count.
    await catches(
      sizingProblems,
      'functions.tf',
      'SYNCER_DEAD_LETTER_TOPIC       = google_pubsub_topic.dead_letter.name',
      'SYNCER_DEAD_LETTER_TOPIC       = google_pubsub_topic.jobs.name',
      /SYNCER_DEAD_LETTER_TOPIC does not name the subscription's dead-letter topic \(google_pubsub_topic\.dead_letter\.name\)/,
    );
    await catches(
      sizingProblems,
      'functions.tf',
      /\n\s+SYNCER_DEAD_LETTER_TOPIC\s+= google_pubsub_topic\.dead_letter\.name/,
      '',
      /SYNCER_DEAD_LETTER_TOPIC does not name/,
    );
    await catches(
      sizingProblems,
      'pubsub.tf',
      'maximum_backoff = "600s"',
      'maximum_backoff = "60s"',
      /plus 360 for a 21600 s rate-limit window at 60 s/,
    );
    await catches(
      sizingProblems,
      'variables.tf',
      /(variable "copy_cpu" \{[\s\S]*?default {5}= )"1"/,
      '$1"0.5"',
      /concurrency 4 needs available_cpu of at least 1/,
    );
  });

  it('takes internet traffic only where GitHub calls: the copy and fan-out functions are internal-only', async () => {
    assert.deepEqual(ingressProblems(config), []);
    await catches(
      ingressProblems,
      'functions.tf',
      'ingress_settings = "ALLOW_INTERNAL_ONLY"',
      'ingress_settings = "ALLOW_ALL"',
      /google_cloudfunctions2_function\.copy is called only from within the project but its ingress is ALLOW_ALL/,
    );
  });

  it('refuses copy_concurrency above 1 with less than one vCPU, as a variable validation', () => {
    const validations = (config.variables.get('copy_concurrency')?.validation ?? []) as {
      condition?: string;
    }[];
    assert.ok(
      validations.some((v) =>
        /var\.copy_concurrency == 1 \|\| try\(tonumber\(var\.copy_cpu\), 0\) >= 1/.test(
          String(v.condition),
        ),
      ),
      JSON.stringify(validations),
    );
    // scripts/terraform/check-with-binary.sh has Terraform evaluate it (cloudbuild-tests.yaml).
  });
});

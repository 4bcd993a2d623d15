// The ordering and security rules of infra/*.tf that decide whether the first
// `terraform apply` on a fresh project succeeds and who may write the mirror.
// They apply to every .tf file in infra/, whoever adds it. Each rule is shown
// to hold, and to fail on a copy of the configuration with one mistake in it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import {
  apiDependencyProblems,
  buildAccountProblems,
  secretGrantProblems,
  writerRefProblems,
} from './rule-checks.ts';
import { attemptsToWait, SIZING, sizingProblems } from './sizing-check.ts';
import { edited, type InfraConfig, infraFiles, loadInfra } from './terraform-config.ts';

type Check = (config: InfraConfig) => string[];

describe('Terraform rules (offline)', () => {
  let files: Map<string, string>;
  let config: InfraConfig;
  before(async () => {
    files = infraFiles();
    config = await loadInfra(files);
  });

  /** The check passes on infra/, and reports `expected` once `from` becomes `to`. */
  async function catches(
    check: Check,
    file: string,
    from: string | RegExp,
    to: string,
    expected: RegExp,
  ): Promise<void> {
    const problems = check(await loadInfra(edited(files, file, from, to)));
    assert.ok(
      problems.some((p) => expected.test(p)),
      `${expected} in ${JSON.stringify(problems)}`,
    );
  }

  it('every google_* resource and data source depends, directly or not, on its API', async () => {
    assert.deepEqual(apiDependencyProblems(config), []);
    await catches(
      apiDependencyProblems,
      'iam.tf',
      '  display_name = "image-syncer function builds (Cloud Build)"\n  depends_on   = [google_project_service.services]',
      '  display_name = "image-syncer function builds (Cloud Build)"',
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
    assert.match(JSON.stringify(upload?.body.depends_on), /gcs_publishes_events/);
    for (const [agent, role] of [
      ['pubsub', 'roles/pubsub.serviceAgent'],
      ['eventarc', 'roles/eventarc.serviceAgent'],
    ]) {
      const grant = config.resources.get(`google_project_iam_member.${agent}_agent_role`);
      assert.equal(grant?.body.role, role);
      assert.equal(grant?.body.member, `\${google_project_service_identity.${agent}.member}`);
      assert.match(JSON.stringify(upload?.body.depends_on), new RegExp(`${agent}_agent_role`));
    }
  });

  it('every function that reads a secret depends on its grants and on the version', async () => {
    assert.deepEqual(secretGrantProblems(config), []);
    await catches(
      secretGrantProblems,
      'functions.tf',
      /(resource "google_cloudfunctions2_function" "copy" \{[\s\S]*?)\n {4}google_secret_manager_secret_iam_member\.source_credentials,/,
      '$1',
      /google_cloudfunctions2_function\.copy does not depend on google_secret_manager_secret_iam_member\.source_credentials/,
    );
    await catches(
      secretGrantProblems,
      'functions.tf',
      /(resource "google_cloudfunctions2_function" "plan" \{[\s\S]*?)\n {4}google_secret_manager_secret_version\.source_credentials,/,
      '$1',
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
      'functions.tf',
      /(resource "google_cloudfunctions2_function" "api" \{[\s\S]*?)\n {4}google_project_iam_member\.build_writes_logs,/,
      '$1',
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

  it('binds the writer to pushes of the default branch, by organisation ID, protected refs only', async () => {
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
    await catches(
      writerRefProblems,
      'github.tf',
      "assertion.repository_owner_id == '${var.github_organization_id}'",
      "assertion.repository_owner_id == '${var.github_organization_id}' || assertion.repository_owner == 'acme'",
      /matched by its name/,
    );
    await catches(
      writerRefProblems,
      'github.tf',
      "(assertion.event_name != 'push' || assertion.ref_protected == 'true')",
      "(assertion.event_name != 'push')",
      /unprotected refs are not refused/,
    );
  });

  it('sizes delivery attempts so a 2,000-image run cannot dead-letter a job that never ran', async () => {
    assert.deepEqual(sizingProblems(config), []);
    // Pub/Sub's backoff from 10 s, doubling, capped at 600 s: 8 attempts span 1,230 s.
    assert.equal(attemptsToWait(1230, 10, 600), 8);
    assert.equal(attemptsToWait(1231, 10, 600), 9);
    assert.equal(SIZING.images, 2000);
    // infra/README.md explains the same figures the check computes.
    const readme = readFileSync(new URL('../../infra/README.md', import.meta.url), 'utf8');
    const attempts = attemptsToWait((2000 * 480) / 40, 10, 600);
    assert.equal(attempts, 46);
    for (const figure of [
      '10 × 4 = **40**',
      '**24,000 s**',
      `= **${attempts}**`,
      '**60** ≥ 46 + 5',
    ])
      assert.ok(readme.includes(figure), `infra/README.md states ${figure}`);
    assert.equal(config.variables.get('max_delivery_attempts')?.default, 60);
    await catches(
      sizingProblems,
      'variables.tf',
      /(variable "max_delivery_attempts" \{[\s\S]*?default {5}= )\d+/,
      '$15',
      /5 delivery attempts; a 2000-image run on 10 × 4 slots of 480 s drains in 24000 s/,
    );
    await catches(
      sizingProblems,
      'variables.tf',
      /(variable "copy_concurrency" \{[\s\S]*?default {5}= )\d+/,
      '$11',
      /on 10 × 1 slots/,
    );
    await catches(
      sizingProblems,
      'functions.tf',
      'SYNCER_MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)',
      'SYNCER_MAX_DELIVERY_ATTEMPTS = tostring(var.copy_max_instances)',
      /SYNCER_MAX_DELIVERY_ATTEMPTS is not tostring\(\) of the subscription's max_delivery_attempts/,
    );
    await catches(
      sizingProblems,
      'variables.tf',
      /(variable "copy_cpu" \{[\s\S]*?default {5}= )"1"/,
      '$1"0.5"',
      /concurrency 4 needs available_cpu of at least 1/,
    );
  });
});

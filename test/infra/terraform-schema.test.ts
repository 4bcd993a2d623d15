// infra/*.tf against the Google provider's own schema, offline: every argument
// and block name of every google_* resource and data source, and every
// `type.name.attr` reference, must exist in hashicorp/google (and, for the
// resources declared with provider = google-beta, google-beta) at the version
// versions.tf pins. The schema is a compact list derived from
// @cdktf/provider-google by scripts/derive-provider-schema.ts. Each check is
// also shown to catch an injected mistake.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { edited, type InfraConfig, infraFiles, loadInfra } from '../../scripts/terraform/config.ts';
import {
  loadSchema,
  type ProviderSchema,
  referenceProblems,
  schemaProblems,
} from './schema-checks.ts';

describe('Terraform against the provider schema (offline)', () => {
  let schema: ProviderSchema;
  let files: Map<string, string>;
  let config: InfraConfig;
  before(async () => {
    schema = loadSchema();
    files = infraFiles();
    config = await loadInfra(files);
  });

  it('pins hashicorp/google and google-beta to the version the schema list was derived from', () => {
    assert.equal(schema.provider, 'registry.terraform.io/hashicorp/google');
    const [major, minor] = schema.version.split('.');
    const versions = readFileSync(new URL('../../infra/versions.tf', import.meta.url), 'utf8');
    for (const provider of ['google', 'google-beta']) {
      const block = new RegExp(
        `\\n\\s+${provider} = \\{\\s*source\\s*=\\s*"hashicorp/${provider}"\\s*version\\s*=\\s*"~> ${major}\\.${minor}\\.0"`,
      );
      assert.match(versions, block, `${provider} pinned to ~> ${major}.${minor}.0`);
    }
    // time_sleep's arguments (TIME_SCHEMA) are those of hashicorp/time 0.13's documentation.
    assert.match(
      versions,
      /\n\s+time = \{\s*source\s*=\s*"hashicorp\/time"\s*version\s*=\s*"~> 0\.13"/,
    );
    assert.ok(Object.keys(schema.resources).length > 1000, 'the whole provider, not a sample');
    assert.ok(Object.keys(schema.data).length > 300);
  });

  it('uses only argument and block names the provider has', () => {
    assert.deepEqual(schemaProblems(config, schema), []);
    assert.ok(config.resources.size > 50, 'the whole configuration was read');
  });

  it('references only declared resources and attributes the provider has', () => {
    assert.deepEqual(referenceProblems(config, schema), []);
  });

  it('catches a misspelt argument, a misspelt block, a computed attribute set, an unknown type', async () => {
    const cases: [string, string, string, RegExp][] = [
      [
        'functions.tf',
        'service_account_email = google_service_account.fanout.email\n    ingress_settings      = "ALLOW_INTERNAL_ONLY"\n    environment_variables = merge(local.common_env, local.credentials_env, {\n      SYNCER_JOBS_TOPIC          = google_pubsub_topic.jobs.name',
        'service_account_mail = google_service_account.fanout.email\n    ingress_settings      = "ALLOW_INTERNAL_ONLY"\n    environment_variables = merge(local.common_env, local.credentials_env, {\n      SYNCER_JOBS_TOPIC          = google_pubsub_topic.jobs.name',
        /fanout_upload\.service_config: service_account_mail is not an argument/,
      ],
      [
        'storage.tf',
        '  versioning {\n    enabled = true\n  }\n\n  depends_on = [google_project_service.services]\n}\n\n# Run records',
        '  versionning {\n    enabled = true\n  }\n\n  depends_on = [google_project_service.services]\n}\n\n# Run records',
        /google_storage_bucket\.images: versionning is not an argument or block/,
      ],
      [
        'iam.tf',
        'display_name                 = "image-syncer function builds (Cloud Build)"',
        'display_name                 = "image-syncer function builds (Cloud Build)"\n  email = "x@y"',
        /google_service_account\.build: email is computed by the provider/,
      ],
      [
        'pubsub.tf',
        'resource "google_pubsub_topic" "requests"',
        'resource "google_pubsub_topics" "requests"',
        /google_pubsub_topics is not in provider 6\.50/,
      ],
      // hashicorp/time's time_sleep, from its documentation (schema-checks.ts).
      [
        'iam.tf',
        'create_duration = "${var.iam_propagation_seconds}s"',
        'create_durations = "${var.iam_propagation_seconds}s"',
        /time_sleep\.grants_propagate: create_durations is not an argument or block/,
      ],
      [
        'monitoring.tf',
        'resource "time_sleep" "log_metrics_propagate"',
        'resource "time_sleeps" "log_metrics_propagate"',
        /time_sleeps is not in hashicorp\/time/,
      ],
    ];
    for (const [file, from, to, expected] of cases) {
      const problems = schemaProblems(await loadInfra(edited(files, file, from, to)), schema);
      assert.ok(
        problems.some((p) => expected.test(p)),
        `${expected} in ${JSON.stringify(problems)}`,
      );
    }
  });

  it('catches a misspelt attribute, nested attribute or resource name in a reference', async () => {
    const cases: [string, string | RegExp, string, RegExp][] = [
      [
        'functions.tf',
        '= google_service_account.copy.email',
        '= google_service_account.copy.emails',
        /google_service_account\.copy\.emails is not an attribute/,
      ],
      [
        'pubsub.tf',
        'google_cloudfunctions2_function.copy.service_config[0].uri',
        'google_cloudfunctions2_function.copy.service_config[0].url',
        /google_cloudfunctions2_function\.copy\.service_config\.url is not an attribute/,
      ],
      [
        'iam.tf',
        'member  = data.google_storage_project_service_account.gcs.member',
        'member  = data.google_storage_project_service_account.storage.member',
        /names data\.google_storage_project_service_account\.storage, which is not declared/,
      ],
      [
        'outputs.tf',
        '  value       = google_cloudfunctions2_function.api.service_config[0].uri',
        '  value       = google_cloudfunctions2_function.api.service_config[0].urls',
        /outputs\.tf: output: .*service_config\.urls is not an attribute/,
      ],
      [
        'iam.tf',
        'google_project_iam_member.gcs_publishes_events.id,',
        'google_project_iam_member.gcs_publishes_events.ids,',
        /google_project_iam_member\.gcs_publishes_events\.ids is not an attribute/,
      ],
      [
        'functions.tf',
        /(resource "google_cloudfunctions2_function" "api" \{[\s\S]*?)depends_on = \[time_sleep\.grants_propagate\]/,
        '$1depends_on = [time_sleep.grants_propagated]',
        /names time_sleep\.grants_propagated, which is not declared/,
      ],
    ];
    for (const [file, from, to, expected] of cases) {
      const problems = referenceProblems(await loadInfra(edited(files, file, from, to)), schema);
      assert.ok(
        problems.some((p) => expected.test(p)),
        `${expected} in ${JSON.stringify(problems)}`,
      );
    }
  });
});

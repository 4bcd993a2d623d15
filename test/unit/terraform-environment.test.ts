// The deployed functions as Terraform declares them (scripts/terraform/environment.ts):
// entry points and the environment each function gets, every expression
// resolved or the caller stopped, naming it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type InfraConfig, loadInfra } from '../../scripts/terraform/config.ts';
import { deployedFunctions, TerraformEnvError } from '../../scripts/terraform/environment.ts';

function infra(functionsTf: string): Promise<InfraConfig> {
  return loadInfra(
    new Map([
      [
        'variables.tf',
        'variable "attempts" {\n  type    = number\n  default = 7\n}\nvariable "project_id" {\n  type = string\n}\n',
      ],
      ['functions.tf', functionsTf],
    ]),
  );
}

const FUNCTION = (env: string) => `
locals {
  common_env = {
    SYNCER_PROJECT = var.project_id
    LOG_EXECUTION_ID = "true"
  }
}
resource "google_cloudfunctions2_function" "copy" {
  name = "copy"
  build_config {
    entry_point = "copyJob"
  }
  service_config {
    environment_variables = ${env}
  }
}
`;

describe('Terraform environment of the deployed functions', () => {
  it('reads entry points and resolves merge(), literals, tostring(), stand-ins and defaults', async () => {
    const config = await infra(
      FUNCTION(`merge(local.common_env, {
      SYNCER_RUNS_BUCKET = google_storage_bucket.runs.name
      SYNCER_DEAD_LETTER_TOPIC = google_pubsub_topic.dead_letter.name
      SYNCER_MAX_DELIVERY_ATTEMPTS = tostring(var.attempts)
      SYNCER_JOB_DEADLINE_SECONDS = "480"
    })`),
    );
    // var.attempts has no stand-in: its default (7) stands for it.
    const [copy] = deployedFunctions(config, {
      'google_storage_bucket.runs.name': 'runs-local',
      'google_pubsub_topic.dead_letter.name': 'dead-letter-local',
      'var.project_id': 'p-local',
    });
    assert.equal(copy?.entryPoint, 'copyJob');
    assert.equal(copy?.address, 'google_cloudfunctions2_function.copy');
    assert.deepEqual(copy?.env, {
      SYNCER_PROJECT: 'p-local',
      LOG_EXECUTION_ID: 'true',
      SYNCER_RUNS_BUCKET: 'runs-local',
      SYNCER_DEAD_LETTER_TOPIC: 'dead-letter-local',
      SYNCER_MAX_DELIVERY_ATTEMPTS: '7',
      SYNCER_JOB_DEADLINE_SECONDS: '480',
    });
  });

  it('picks a conditional local by its condition and fills template strings', async () => {
    const config = await infra(
      FUNCTION(`merge(local.common_env, local.credentials_env, {
      SYNCER_RUNS_BUCKET = google_storage_bucket.runs.name
    })`).replace(
        'locals {',
        `locals {
  credentials_file  = "config.json"
  credentials_env = local.credentials_enabled ? {
    SYNCER_SOURCE_CREDENTIALS_FILE = "\${local.credentials_mount}/\${local.credentials_file}"
  } : {}`,
      ),
    );
    const stand = (enabled: string) => ({
      'google_storage_bucket.runs.name': 'runs',
      'var.project_id': 'p',
      'local.credentials_enabled': enabled,
      'local.credentials_mount': '/tmp/secrets',
    });
    const [on] = deployedFunctions(config, stand('true'));
    assert.equal(on?.env.SYNCER_SOURCE_CREDENTIALS_FILE, '/tmp/secrets/config.json');
    const [off] = deployedFunctions(config, stand('false'));
    assert.equal(off?.env.SYNCER_SOURCE_CREDENTIALS_FILE, undefined);
    assert.equal(off?.env.SYNCER_RUNS_BUCKET, 'runs');
    assert.throws(
      () => deployedFunctions(config, stand('maybe')),
      /must stand in as true or false/,
    );
  });

  it('stops on an expression it has no stand-in for, naming the variable and the expression', async () => {
    const config = await infra(
      FUNCTION(`merge(local.common_env, {
      SYNCER_NEW_SETTING = google_secret_manager_secret.x.id
    })`),
    );
    assert.throws(
      () => deployedFunctions(config, { 'var.project_id': 'p' }),
      (error: unknown) =>
        error instanceof TerraformEnvError &&
        /SYNCER_NEW_SETTING = google_secret_manager_secret\.x\.id/.test(error.message),
    );
  });
});

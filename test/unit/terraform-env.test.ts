// The local pipeline's view of Terraform: entry points and the environment
// each function gets, every expression resolved or the demo stopped, naming it.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  deployedFunctions,
  TerraformEnvError,
  variableDefaults,
} from '../../scripts/local/terraform-env.ts';

function infra(functionsTf: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tf-env-'));
  writeFileSync(
    join(dir, 'variables.tf'),
    'variable "attempts" {\n  type    = number\n  default = 7\n}\nvariable "project_id" {\n  type = string\n}\n',
  );
  writeFileSync(join(dir, 'functions.tf'), functionsTf);
  return dir;
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

describe('Terraform environment for the local pipeline', () => {
  it('reads entry points and resolves merge(), literals, tostring() and stand-ins', async () => {
    const dir = infra(
      FUNCTION(`merge(local.common_env, {
      SYNCER_RUNS_BUCKET = google_storage_bucket.runs.name
      SYNCER_DEAD_LETTER_TOPIC = google_pubsub_topic.dead_letter.name
      SYNCER_MAX_DELIVERY_ATTEMPTS = tostring(var.attempts)
      SYNCER_JOB_DEADLINE_SECONDS = "480"
    })`),
    );
    assert.deepEqual(await variableDefaults(dir), { attempts: 7 });
    const stand: Record<string, string> = {
      'google_storage_bucket.runs.name': 'runs-local',
      'google_pubsub_topic.dead_letter.name': 'dead-letter-local',
      'var.project_id': 'p-local',
      'var.attempts': '7',
    };
    const [copy] = await deployedFunctions(dir, (e) => stand[e]);
    assert.equal(copy?.entryPoint, 'copyJob');
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
    const dir = infra(
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
    const stand = (enabled: string) => (e: string) =>
      ({
        'google_storage_bucket.runs.name': 'runs',
        'var.project_id': 'p',
        'local.credentials_enabled': enabled,
        'local.credentials_mount': '/tmp/secrets',
      })[e];
    const [on] = await deployedFunctions(dir, stand('true'));
    assert.equal(on?.env.SYNCER_SOURCE_CREDENTIALS_FILE, '/tmp/secrets/config.json');
    const [off] = await deployedFunctions(dir, stand('false'));
    assert.equal(off?.env.SYNCER_SOURCE_CREDENTIALS_FILE, undefined);
    assert.equal(off?.env.SYNCER_RUNS_BUCKET, 'runs');
    await assert.rejects(deployedFunctions(dir, stand('maybe')), /must stand in as true or false/);
  });

  it('stops on an expression it has no stand-in for, naming the variable and the expression', async () => {
    const dir = infra(
      FUNCTION(`merge(local.common_env, {
      SYNCER_NEW_SETTING = google_secret_manager_secret.x.id
    })`),
    );
    await assert.rejects(
      deployedFunctions(dir, (e) => (e === 'var.project_id' ? 'p' : undefined)),
      (error: unknown) =>
        error instanceof TerraformEnvError &&
        /SYNCER_NEW_SETTING = google_secret_manager_secret\.x\.id/.test(error.message),
    );
  });
});

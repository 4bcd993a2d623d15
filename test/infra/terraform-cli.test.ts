// What the terraform binary itself can check without providers or network:
// the formatting of infra/, and the variables' validations (a configuration of
// variables alone plans offline, so each validation runs as Terraform runs it).
// Where the binary is missing the test says so and is skipped, loudly.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const INFRA = new URL('../../infra/', import.meta.url).pathname;

/** terraform with no configuration of ours (no ~/.terraformrc, no plugin cache). */
function terraform(args: string[], cwd: string) {
  const rc = join(mkdtempSync(join(tmpdir(), 'tfrc-')), 'terraformrc');
  writeFileSync(rc, '');
  return spawnSync('terraform', args, {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: tmpdir(), TF_CLI_CONFIG_FILE: rc, TF_IN_AUTOMATION: '1' },
  });
}

const installed = terraform(['version'], tmpdir()).status === 0;
const skip = installed
  ? false
  : 'terraform is not installed on this machine: infra/ formatting and variable validations NOT checked';
if (skip) console.log(`# ${skip}`);

const REQUIRED = {
  project_id: 'acme-mirror-prod',
  images_bucket_name: 'acme-images',
  runs_bucket_name: 'acme-runs',
  github_organization_id: '1234567',
  workflow_repository: 'acme/image-syncer',
};

/** `terraform plan` of infra/variables.tf (its text, possibly edited) alone, with these values. */
function planVariables(
  values: Record<string, string>,
  text = readFileSync(join(INFRA, 'variables.tf'), 'utf8'),
) {
  const dir = mkdtempSync(join(tmpdir(), 'tf-variables-'));
  writeFileSync(join(dir, 'variables.tf'), text);
  const args = Object.entries({ ...REQUIRED, ...values }).flatMap(([k, v]) => [
    '-var',
    `${k}=${v}`,
  ]);
  const plan = terraform(['plan', '-input=false', '-lock=false', '-no-color', ...args], dir);
  return { ok: plan.status === 0, output: plan.stdout + plan.stderr };
}

describe('terraform fmt and validate, offline', { skip }, () => {
  it('finds infra/ formatted as terraform fmt writes it', () => {
    const check = terraform(['fmt', '-check', '-recursive', '-diff', INFRA], INFRA);
    assert.equal(check.status, 0, `terraform fmt would change:\n${check.stdout}${check.stderr}`);
  });

  it('refuses variable values the deployment cannot work with, as Terraform evaluates them', () => {
    assert.ok(planVariables({}).ok, planVariables({}).output);
    assert.ok(planVariables({ copy_concurrency: '1', copy_cpu: '0.5' }).ok);
    for (const [values, message] of [
      [
        { copy_concurrency: '4', copy_cpu: '0.5' },
        /copy_concurrency above 1 needs copy_cpu of at least 1/,
      ],
      [{ copy_cpu: 'one' }, /copy_cpu must be a positive number of vCPUs/],
      [
        { writer_repository_ids: '["acme/app"]' },
        /writer_repository_ids must be numeric repository IDs/,
      ],
      [{ writer_environment: "pro'd" }, /writer_environment must be a GitHub environment name/],
      [{ iam_propagation_seconds: '5000' }, /iam_propagation_seconds must be between 0 and 1800/],
    ] as const) {
      const plan = planVariables(values);
      assert.ok(!plan.ok, `${JSON.stringify(values)} was accepted`);
      assert.match(plan.output.replace(/\s+/g, ' '), message);
    }
    // Without the cross-variable validation the mistake would reach the apply.
    const text = readFileSync(join(INFRA, 'variables.tf'), 'utf8');
    const without = text.replace(
      /\n {2}# Cloud Run serves concurrent requests[\s\S]*?\n {2}validation \{[\s\S]*?\n {2}\}\n/,
      '\n',
    );
    assert.notEqual(without, text);
    assert.ok(planVariables({ copy_concurrency: '4', copy_cpu: '0.5' }, without).ok);
  });
});

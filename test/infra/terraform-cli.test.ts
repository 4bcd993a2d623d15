// What the terraform binary itself can check without providers or network:
// the formatting of infra/, and the variables' validations (a configuration of
// variables alone plans offline, so each validation runs as Terraform runs it).
// Where the binary is missing the test says so and is skipped, loudly.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
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

describe('terraform fmt and validate, offline', { skip }, () => {
  it('finds infra/ formatted as terraform fmt writes it', () => {
    const check = terraform(['fmt', '-check', '-recursive', '-diff', INFRA], INFRA);
    assert.equal(check.status, 0, `terraform fmt would change:\n${check.stdout}${check.stderr}`);
  });
});

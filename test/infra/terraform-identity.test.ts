// Who can become the reader and the writer: github.tf's provider condition,
// mappings and bindings rendered for each setting of the variables and run as
// CEL against the claims of GitHub Actions tokens (identity-checks.ts), then
// the same after one mistake is injected into github.tf.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { evaluate } from '@marcbachmann/cel-js';
import { edited, type InfraConfig, infraFiles, loadInfra } from '../../scripts/terraform/config.ts';
import {
  DEFAULT_SETTINGS,
  exchange,
  githubClaims,
  identityProblems,
  renderIdentity,
  SCENARIOS,
} from './identity-checks.ts';

describe('the GitHub identities (offline, as CEL)', () => {
  let files: Map<string, string>;
  let config: InfraConfig;
  before(async () => {
    files = infraFiles();
    config = await loadInfra(files);
  });

  const after = async (from: string | RegExp, to: string) =>
    identityProblems(await loadInfra(edited(files, 'github.tf', from, to)));

  it('lets in exactly who each setting allows', () => {
    assert.ok(SCENARIOS.length >= 15);
    assert.deepEqual(identityProblems(config), []);
  });

  it('maps a subject that fits in 127 bytes for any organisation, repository and branch', async () => {
    const identity = renderIdentity(config, DEFAULT_SETTINGS);
    const longest = githubClaims({
      event: 'pull_request_target',
      ref: `refs/heads/${'b'.repeat(240)}`,
      owner: 'a'.repeat(39),
      repository: `${'a'.repeat(39)}/${'r'.repeat(100)}`,
      repositoryId: '9'.repeat(20),
    });
    const outcome = exchange(identity, { ...longest, run_id: '9'.repeat(20), run_attempt: '99' });
    assert.equal(outcome.refusal, undefined);
    assert.ok(Buffer.byteLength(outcome.subject ?? '') <= 127, outcome.subject);
    // assertion.sub, the usual mapping, does not fit for these names.
    assert.ok(Buffer.byteLength(String(evaluate('assertion.sub', { assertion: longest }))) > 127);
    const usual = await after(
      /"google\.subject"(\s+)= local\.subject_mapping/,
      '"google.subject"$1= "assertion.sub"',
    );
    assert.ok(
      usual.includes(
        'a push to main from the longest organisation and repository names is refused: The size of mapped attribute exceeds the 127 bytes limit',
      ),
      JSON.stringify(usual),
    );
  });

  it('fails when a gate is missing or matches by name', async () => {
    const cases: [string | RegExp, string, string][] = [
      [
        /\n\s+"\(assertion\.event_name != 'push' \|\| \$\{var\.writer_requires_protected_ref\}[^\n]*/,
        '',
        'a push to an unprotected default branch becomes the writer',
      ],
      [
        /\n\s+"\(assertion\.event_name != 'push' \|\| \$\{jsonencode\(var\.writer_repository_ids\)\}[^\n]*/,
        '',
        'a push from a repository not on the allow-list with {"writer_repository_ids":["200","300"]} becomes the writer',
      ],
      [
        /\n\s+"\(assertion\.event_name != 'push' \|\| '\$\{var\.writer_environment\}'[^\n]*/,
        '',
        'a push outside the writer environment with {"writer_environment":"prod"} becomes the writer',
      ],
      [
        '"assertion.repository_owner_id == \'${var.github_organization_id}\'",',
        '"assertion.repository_owner == \'acme\'",',
        'a push in an organisation that took the name acme becomes the writer',
      ],
      [
        `push_ref_mapping = "assertion.event_name == 'push' ? assertion.ref : 'not-a-push'"`,
        'push_ref_mapping = "assertion.ref"',
        'a pull_request_target run (ref = the base branch) becomes the writer',
      ],
    ];
    for (const [from, to, expected] of cases) {
      const problems = await after(from, to);
      assert.ok(problems.includes(expected), `${expected} in ${JSON.stringify(problems)}`);
    }
  });

  it('names in its outputs every organisation variable the workflow reads', () => {
    const output = config.outputs.get('github_organization_variables');
    const names = Object.keys((output?.value ?? {}) as Record<string, unknown>);
    for (const name of [
      'IMAGE_SYNCER_WRITER_REF',
      'IMAGE_SYNCER_WRITER_REQUIRES_PROTECTED_REF',
      'IMAGE_SYNCER_WRITER_REPOSITORY_IDS',
      'IMAGE_SYNCER_WRITER_ENVIRONMENT',
      'IMAGE_SYNCER_WORKLOAD_IDENTITY_PROVIDER',
    ])
      assert.ok(names.includes(name), name);
  });
});

// The deployer is not an owner: scripts/bootstrap-deployer.sh run against a
// recording gcloud (bootstrap-checks.ts), what it grants checked against what
// infra/*.tf needs, and each rule shown to fail on one mistake in the script
// or in infra/.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { edited, type InfraConfig, infraFiles, loadInfra } from '../../scripts/terraform/config.ts';
import { bootstrapCalls, bootstrapProblems } from './bootstrap-checks.ts';

const SCRIPT = readFileSync(
  new URL('../../scripts/bootstrap-deployer.sh', import.meta.url),
  'utf8',
);

describe('the deployer the bootstrap creates (offline, against a recording gcloud)', () => {
  let config: InfraConfig;
  let calls: string[][];
  before(async () => {
    config = await loadInfra();
    const run = bootstrapCalls(SCRIPT);
    assert.equal(run.status, 0);
    calls = run.calls;
  });

  /** The problems once `from` becomes `to` in the script. */
  const withScript = (from: string, to: string): string[] => {
    assert.ok(SCRIPT.includes(from), `the script holds ${from}`);
    return bootstrapProblems(bootstrapCalls(SCRIPT.replace(from, to)).calls, config);
  };

  it('gives the deployer what infra/*.tf needs, and no owner-like role', () => {
    assert.deepEqual(bootstrapProblems(calls, config), []);
    const condition = calls.find((c) => c[0] === 'CONDITION')?.[1] ?? '';
    // The condition file is YAML that gcloud reads (--condition-from-file).
    const parsed = parse(
      condition
        .replaceAll(' description:', '\ndescription:')
        .replaceAll(' expression:', '\nexpression:'),
    );
    assert.match(
      String(parsed.expression),
      /^api\.getAttribute\('iam\.googleapis\.com\/modifiedGrantsByRole', \[\]\)\.hasOnly\(\['roles\//,
    );
  });

  it('fails when the deployer could grant itself anything or act as anyone', () => {
    const cases: [string, string, string][] = [
      [
        '  roles/monitoring.editor              # alert policies and dashboards (infra/monitoring.tf)\n',
        '  roles/monitoring.editor\n  roles/iam.serviceAccountUser\n',
        'gives the deployer roles/iam.serviceAccountUser on the project',
      ],
      [
        '"$condition"\n\nbind_account',
        '""\n\nbind_account',
        'gives the deployer roles/resourcemanager.projectIamAdmin on the project',
      ],
      [
        '  roles/eventarc.eventReceiver\n)',
        ')',
        'infra/*.tf grants roles/eventarc.eventReceiver on the project, which the deployer may not grant',
      ],
      [
        '  roles/eventarc.eventReceiver\n)',
        '  roles/eventarc.eventReceiver\n  roles/pubsub.serviceAgent\n)',
        'the deployer may grant roles/pubsub.serviceAgent',
      ],
      [
        'acts_as=(fanout copy api plan trigger push build)',
        'acts_as=(fanout copy api plan trigger push)',
        'the deployer cannot act as image-syncer-build, which something runs as',
      ],
      [
        'acts_as=(fanout copy api plan trigger push build)',
        'acts_as=(fanout copy api plan trigger push build gh-writer)',
        'the deployer may act as image-syncer-gh-writer, which nothing runs as',
      ],
      [
        'accounts=(fanout copy api plan trigger push build gh-reader gh-writer)',
        'accounts=(fanout copy api plan trigger push build gh-reader)',
        'creates no account image-syncer-gh-writer, which infra/*.tf declares',
      ],
      [
        'for service in pubsub eventarc; do',
        'for service in pubsub; do',
        'the eventarc service agent is not granted roles/eventarc.serviceAgent',
      ],
    ];
    for (const [from, to, expected] of cases) {
      const problems = withScript(from, to);
      assert.ok(problems.includes(expected), `${expected} in ${JSON.stringify(problems)}`);
    }
  });

  it('fails when infra/*.tf grants a project role the deployer may not grant', async () => {
    const mistaken = await loadInfra(
      edited(
        infraFiles(),
        'iam.tf',
        'resource "google_project_iam_member" "trigger_receives_events" {',
        'resource "google_project_iam_member" "too_much" {\n  project = var.project_id\n  role    = "roles/editor"\n  member  = google_service_account.copy.member\n}\n\nresource "google_project_iam_member" "trigger_receives_events" {',
      ),
    );
    assert.ok(
      bootstrapProblems(calls, mistaken).includes(
        'infra/*.tf grants roles/editor on the project, which the deployer may not grant',
      ),
    );
  });
});

// One `terraform apply` on a fresh project finishes: what Google honours only
// minutes after it is created (grants, service agents, log-based metrics) is
// waited for with a time_sleep before anything that needs it, each wait with
// its reason and source beside it. Each rule is shown to hold, and to fail on a
// copy of the configuration with one mistake in it.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  defaultOf,
  edited,
  type InfraConfig,
  infraFiles,
  loadInfra,
} from '../../scripts/terraform/config.ts';
import {
  grantPropagationProblems,
  metricPropagationProblems,
  waitSourceProblems,
} from './propagation-checks.ts';

describe('Terraform waits for what takes effect later (offline)', () => {
  let files: Map<string, string>;
  let config: InfraConfig;
  before(async () => {
    files = infraFiles();
    config = await loadInfra(files);
  });

  async function problemsAfter(
    check: (config: InfraConfig) => string[],
    file: string,
    from: string | RegExp,
    to: string,
  ): Promise<string[]> {
    return check(await loadInfra(edited(files, file, from, to)));
  }

  it('creates every function after the grants and agents it needs have had time to take effect', async () => {
    assert.deepEqual(grantPropagationProblems(config), []);
    // A function that waits for its grants but not for them to take effect.
    const direct = await problemsAfter(
      grantPropagationProblems,
      'functions.tf',
      /(resource "google_cloudfunctions2_function" "fanout_upload" \{[\s\S]*?)depends_on = \[time_sleep\.grants_propagate\]/,
      '$1depends_on = [google_project_iam_member.trigger_receives_events]',
    );
    assert.ok(
      direct.some((p) =>
        /fanout_upload depends on google_project_iam_member\.trigger_receives_events without a time_sleep after it/.test(
          p,
        ),
      ),
      JSON.stringify(direct),
    );
    assert.ok(
      direct.some((p) =>
        /fanout_upload is triggered by events but does not wait, through a time_sleep, for google_project_service_identity\.eventarc/.test(
          p,
        ),
      ),
      JSON.stringify(direct),
    );
    // The wait forgets the Eventarc agent: both event-triggered functions are reported.
    const agent = await problemsAfter(
      grantPropagationProblems,
      'iam.tf',
      '      google_project_service_identity.eventarc.member,\n',
      '',
    );
    assert.deepEqual(
      agent.filter((p) => /google_project_service_identity\.eventarc$/.test(p)).length,
      2,
      JSON.stringify(agent),
    );
    // The storage trigger needs Cloud Storage's agent's publisher grant in force.
    const storage = grantPropagationProblems(
      await loadInfra(
        edited(
          edited(files, 'iam.tf', '      google_project_iam_member.gcs_publishes_events.id,\n', ''),
          'iam.tf',
          '    google_project_iam_member.gcs_publishes_events,\n',
          '',
        ),
      ),
    );
    assert.ok(
      storage.some((p) =>
        /fanout_upload .* for google_project_iam_member\.gcs_publishes_events/.test(p),
      ),
      JSON.stringify(storage),
    );
    // Without triggers a replaced grant would not be waited for again.
    const once = await problemsAfter(
      grantPropagationProblems,
      'iam.tf',
      /(resource "time_sleep" "grants_propagate" \{\n {2}create_duration = "\$\{var\.iam_propagation_seconds\}s"\n) {2}triggers = \{[\s\S]*?\n {2}\}\n/,
      '$1',
    );
    assert.ok(
      once.some((p) => /time_sleep\.grants_propagate has no triggers/.test(p)),
      JSON.stringify(once),
    );
  });

  it('creates the alert policies after the log-based metrics they watch are known', async () => {
    assert.deepEqual(metricPropagationProblems(config), []);
    const early = await problemsAfter(
      metricPropagationProblems,
      'monitoring.tf',
      /(resource "google_monitoring_alert_policy" "failed_runs" \{[\s\S]*?)depends_on = \[time_sleep\.log_metrics_propagate\]/,
      '$1depends_on = [google_project_service.services]',
    );
    assert.deepEqual(early, [
      'monitoring.tf: google_monitoring_alert_policy.failed_runs watches google_logging_metric.runs, created in the same apply, without a time_sleep after it: Cloud Monitoring may take up to 10 minutes to know a new metric',
    ]);
    const forgotten = await problemsAfter(
      metricPropagationProblems,
      'monitoring.tf',
      '      google_logging_metric.dead_letters.id,\n',
      '',
    );
    assert.ok(
      forgotten.some((p) => /dead_letters watches google_logging_metric\.dead_letters/.test(p)),
      JSON.stringify(forgotten),
    );
    // The metrics name the copy function's service statically, so they (and
    // their wait) need not follow the function's build.
    const metrics = [...config.resources.values()].filter(
      (d) => d.type === 'google_logging_metric',
    );
    assert.ok(metrics.length >= 5);
    assert.doesNotMatch(String(config.locals.get('copy_logs')), /google_cloudfunctions2_function/);
  });

  it('waits as long as the documents say, and says why beside each wait', async () => {
    // IAM: "typically within 2 minutes", 7 or more at worst; metrics: up to 10 minutes.
    assert.ok(Number(defaultOf(config, 'iam_propagation_seconds')) >= 120);
    assert.ok(Number(defaultOf(config, 'metric_propagation_seconds')) >= 600);
    assert.equal(
      config.resources.get('time_sleep.grants_propagate')?.body.create_duration,
      '${var.iam_propagation_seconds}s',
    );
    assert.equal(
      config.resources.get('time_sleep.log_metrics_propagate')?.body.create_duration,
      '${var.metric_propagation_seconds}s',
    );
    assert.deepEqual(waitSourceProblems(files), []);
    const unexplained = edited(
      files,
      'monitoring.tf',
      /# on 7\.x; #10325\)[^\n]*\n[\s\S]*?(resource "time_sleep")/,
      '$1',
    );
    assert.deepEqual(waitSourceProblems(unexplained), [
      'monitoring.tf: time_sleep.log_metrics_propagate does not say, in the comment above it, why it waits with a link and an issue (owner/repo#N)',
    ]);
  });
});

// infra/monitoring.tf checked offline against the log lines the code writes.
// The code that writes them runs here (recordResult, completeRunIfDone, the
// functions' JSON logger); each line becomes the LogEntry Cloud Logging makes
// of a JSON line on a Cloud Run service's stdout (fields under jsonPayload,
// "severity" lifted to the entry: https://cloud.google.com/run/docs/logging,
// "Special JSON fields in messages"). Every metric's filter is evaluated on
// those entries and every extractor applied, so renaming a field or an event
// in functions/pipeline/log-events.ts without the Terraform fails here.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { classifyCode } from '../../functions/failures.ts';
import { cloudLogger } from '../../functions/gcp/logger.ts';
import { completeRunIfDone } from '../../functions/pipeline/completion.ts';
import { recordResult } from '../../functions/pipeline/record-result.ts';
import type { JobResultRecord } from '../../functions/pipeline/records.ts';
import { ABSENT } from '../../functions/pipeline/run-store.ts';
import { byTypeAndName, type InfraConfig, loadInfra } from '../../scripts/terraform/config.ts';
import { memoryRunStore } from '../support/run-stores.ts';
import { apiDependencyProblems } from './rule-checks.ts';

type Block = Record<string, unknown>;
const one = (blocks: unknown): Block => (blocks as Block[])[0] as Block;
const INFRA = (file: string) =>
  readFileSync(new URL(`../../infra/${file}`, import.meta.url), 'utf8');
const COPY_SERVICE = 'image-syncer-copy';
/** pubsub.tf's jobs push subscription, with var.name's default (checked below). */
const JOBS_SUBSCRIPTION = 'image-syncer-jobs-push';

interface LogEntry {
  readonly severity: string;
  readonly resource: { type: string; labels: Record<string, string> };
  readonly jsonPayload: Record<string, unknown>;
}

/** Runs the code that writes the metric lines and returns them as Cloud Logging entries. */
async function producedEntries(): Promise<LogEntry[]> {
  const lines: string[] = [];
  const logger = cloudLogger((line) => lines.push(line));
  const store = memoryRunStore();
  for (const [runId, dryRun] of [
    ['writer-run', false],
    ['dry-run', true],
  ] as const) {
    const keys = dryRun ? ['a'] : ['a', 'b', 'c'];
    await store.writeRun(
      {
        runId,
        createdAt: new Date(Date.now() - 60_000).toISOString(),
        trigger: { type: 'http' },
        file: 'request body',
        dryRun,
        state: 'published',
        jobs: keys.map((key) => ({ key, source: `src/${key}:1`, target: `dst/${key}:1` })),
      },
      ABSENT,
    );
    const base = { runId, finishedAt: new Date().toISOString(), durationMs: 1200 };
    const records: JobResultRecord[] = dryRun
      ? [{ ...base, key: 'a', source: 'src/a:1', target: 'dst/a:1', status: 'planned' }]
      : [
          {
            ...base,
            key: 'a',
            source: 'src/a:1',
            target: 'dst/a:1',
            status: 'copied',
            bytes: 4096,
          },
          { ...base, key: 'b', source: 'src/b:1', target: 'dst/b:1', status: 'exists' },
          {
            ...base,
            key: 'c',
            source: 'src/c:1',
            target: 'dst/c:1',
            status: 'failed',
            errorCode: 'NETWORK_ERROR',
            category: classifyCode('NETWORK_ERROR').category,
            attempt: 5,
            deadLettered: true,
          },
        ];
    for (const record of records) {
      await recordResult(store, record, logger);
      await completeRunIfDone({ runId, key: record.key }, { store, logger });
    }
  }
  return lines.map((line) => {
    const { severity, ...jsonPayload } = JSON.parse(line) as Record<string, unknown>;
    return {
      severity: String(severity),
      resource: { type: 'cloud_run_revision', labels: { service_name: COPY_SERVICE } },
      jsonPayload,
    };
  });
}

/** The value at a dotted path of a log entry (`jsonPayload.status`, `resource.labels.x`). */
function valueAt(entry: LogEntry, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k], entry);
}

/**
 * The subset of the Logging query language monitoring.tf uses: comparisons
 * `path="text"`, `path=bare` and `!=`, joined by AND. Anything else fails the
 * test rather than being half-understood.
 */
function logFilter(filter: string): (entry: LogEntry) => boolean {
  const terms = filter.split(/\s+AND\s+/).map((term) => {
    const m = /^([A-Za-z_][\w.]*)\s*(!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([\w.-]+))$/.exec(term.trim());
    assert.ok(m, `unsupported term in log filter: ${term}`);
    const [, path, op, quoted, bare] = m;
    const expected = quoted ?? bare;
    return (entry: LogEntry) => {
      const actual = valueAt(entry, path as string);
      const equal = actual !== undefined && String(actual) === expected;
      return op === '=' ? equal : !equal;
    };
  });
  return (entry) => terms.every((t) => t(entry));
}

function extract(extractor: string, entry: LogEntry): unknown {
  const m = /^EXTRACT\(([\w.]+)\)$/.exec(extractor);
  assert.ok(m, `unsupported extractor ${extractor}`);
  return valueAt(entry, m[1] as string);
}

describe('monitoring (offline, against the log lines the code writes)', () => {
  let config: InfraConfig;
  /** monitoring.tf's resources by type and name. */
  let tf: { resource: Record<string, Record<string, Block[]>>; locals: Block };
  let entries: LogEntry[];
  let metrics: Record<string, Block>;
  /** metric type → the metric's resource name in monitoring.tf */
  let metricByType: Map<string, string>;

  /** Resolves the references monitoring.tf interpolates into filters. */
  function resolve(text: string): string {
    let out = text;
    for (let i = 0; i < 5 && out.includes('${'); i++) {
      out = out
        .replace(/\$\{var\.name\}/g, 'image-syncer')
        .replace(/\$\{google_pubsub_subscription\.jobs_push\.name\}/g, JOBS_SUBSCRIPTION)
        .replace(/\$\{local\.(\w+)\}/g, (_, name: string) => String(tf.locals[name]))
        .replace(/\$\{google_logging_metric\.(\w+)\.name\}/g, (_, name: string) =>
          String(metrics[name]?.name),
        );
    }
    assert.doesNotMatch(out, /\$\{/, `unresolved reference in ${text}`);
    return out;
  }

  before(async () => {
    config = await loadInfra();
    tf = {
      resource: byTypeAndName(config, 'monitoring.tf'),
      locals: Object.fromEntries(config.locals) as Block,
    };
    metrics = Object.fromEntries(
      Object.entries(tf.resource.google_logging_metric ?? {}).map(([n, b]) => [n, one(b)]),
    );
    metricByType = new Map(
      Object.keys(metrics).map((n) => [
        `logging.googleapis.com/user/${resolve(String(metrics[n]?.name))}`,
        n,
      ]),
    );
    entries = await producedEntries();
  });

  it('has the metrics the issue asks for, each reading lines the copy function writes', () => {
    assert.deepEqual(Object.keys(metrics).sort(), [
      'bytes_copied',
      'dead_letters',
      'images',
      'run_duration',
      'runs',
    ]);
    for (const [name, metric] of Object.entries(metrics)) {
      const filter = String(metric.filter);
      assert.match(
        filter,
        /^\$\{local\.copy_logs\} AND /,
        `${name} reads the copy function's logs`,
      );
      // The copy function's service, by the name functions.tf gives the function.
      assert.match(String(tf.locals.copy_logs), /service_name=\\?"\$\{local\.copy_function_name\}/);
      assert.equal(
        config.resources.get('google_cloudfunctions2_function.copy')?.body.name,
        '${local.copy_function_name}',
      );
      assert.equal(resolve('${local.copy_function_name}'), COPY_SERVICE);
      const matched = entries.filter(logFilter(resolve(filter)));
      assert.ok(
        matched.length > 0,
        `${name}: its filter matches no line the code writes: ${resolve(filter)}`,
      );
    }
  });

  it('counts each image once per kept outcome, by status and category', () => {
    const matched = entries.filter(logFilter(resolve(String(metrics.images?.filter))));
    const extractors = metrics.images?.label_extractors as Record<string, string>;
    assert.deepEqual(matched.map((e) => extract(extractors.status as string, e)).sort(), [
      'copied',
      'exists',
      'failed',
      'planned',
    ]);
    assert.deepEqual(
      matched.map((e) => extract(extractors.category as string, e)).filter(Boolean),
      [classifyCode('NETWORK_ERROR').category],
      'the failure category is extracted',
    );
    const declared = (one(metrics.images?.metric_descriptor).labels as Block[]).map((l) => l.key);
    assert.deepEqual([...declared].sort(), Object.keys(extractors).sort());
  });

  it('extracts bytes, run duration and outcome as numbers and labels the code writes', () => {
    const bytes = entries.filter(logFilter(resolve(String(metrics.bytes_copied?.filter))));
    assert.deepEqual(
      bytes.map((e) => extract(String(metrics.bytes_copied?.value_extractor), e)),
      [4096],
    );
    const runs = entries.filter(logFilter(resolve(String(metrics.run_duration?.filter))));
    assert.equal(runs.length, 2, 'one run_completed line per run');
    for (const e of runs) {
      const ms = extract(String(metrics.run_duration?.value_extractor), e);
      assert.ok(typeof ms === 'number' && ms >= 60_000, `duration ${ms}`);
    }
    const labels = metrics.runs?.label_extractors as Record<string, string>;
    assert.deepEqual(
      runs.map((e) => [
        extract(labels.outcome as string, e),
        String(extract(labels.dry_run as string, e)),
      ]),
      [
        ['failed', 'false'],
        ['succeeded', 'true'],
      ],
    );
  });

  it('counts dead letters only', () => {
    const dead = entries.filter(logFilter(resolve(String(metrics.dead_letters?.filter))));
    assert.equal(dead.length, 1);
    assert.equal(dead[0]?.jsonPayload.status, 'failed');
    assert.equal(
      extract(
        String((metrics.dead_letters?.label_extractors as Record<string, string>)?.category),
        dead[0] as LogEntry,
      ),
      classifyCode('NETWORK_ERROR').category,
    );
  });

  it('alerts on dead letters (the function’s and the subscription’s) and failed writer runs, notifying the configured channels', async () => {
    const policies = tf.resource.google_monitoring_alert_policy ?? {};
    assert.deepEqual(Object.keys(policies).sort(), [
      'dead_letters',
      'failed_runs',
      'subscription_dead_letters',
    ]);
    const runs = entries.filter(logFilter(resolve(String(metrics.runs?.filter))));
    for (const [name, blocks] of Object.entries(policies)) {
      const policy = one(blocks);
      assert.equal(policy.notification_channels, '${var.notification_channels}');
      assert.ok(String(one(policy.documentation).content).length > 80, `${name} says what to do`);
      const filter = resolve(String(one(one(policy.conditions).condition_threshold).filter));
      const type = /metric\.type="([^"]+)"/.exec(filter)?.[1] as string;
      if (type.startsWith('pubsub.googleapis.com/')) continue; // Pub/Sub's own: checked below
      const metric = metricByType.get(type);
      assert.ok(metric, `${name} watches a metric defined here (${type})`);
      const extractors = (metrics[metric]?.label_extractors ?? {}) as Record<string, string>;
      for (const [, label, value] of filter.matchAll(/metric\.label\.(\w+)="([^"]*)"/g)) {
        assert.ok(extractors[label as string], `${name}: ${metric} has no label ${label}`);
        if (metric === 'runs') {
          assert.ok(
            runs.some((e) => String(extract(extractors[label as string] as string, e)) === value),
            `${name}: no line the code writes gives ${label}="${value}"`,
          );
        }
      }
    }
    // The subscription's backstop dead letters leave no log line: Pub/Sub's own
    // count of what the jobs subscription forwarded (monitoring metrics list,
    // https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-pubsub).
    const backstop = resolve(
      String(
        one(one(one(policies.subscription_dead_letters).conditions).condition_threshold).filter,
      ),
    );
    assert.equal(
      resolve(String(config.resources.get('google_pubsub_subscription.jobs_push')?.body.name)),
      JOBS_SUBSCRIPTION,
    );
    assert.equal(
      backstop,
      `metric.type="pubsub.googleapis.com/subscription/dead_letter_message_count" AND resource.type="pubsub_subscription" AND resource.label.subscription_id="${JOBS_SUBSCRIPTION}"`,
    );
    const failed = one(one(policies.failed_runs).conditions);
    assert.match(
      String(one(failed.condition_threshold).filter),
      /outcome="failed".*dry_run="false"/,
    );
  });

  it('charts every metric on the dashboard, grouping only by labels they have', () => {
    const dashboard = one(tf.resource.google_monitoring_dashboard?.syncer);
    const args = /templatefile\("\$\{path\.module\}\/dashboard\.json\.tftpl", \{([\s\S]*)\}\)/.exec(
      String(dashboard.dashboard_json),
    );
    assert.ok(args, 'the dashboard is the template file');
    const values = Object.fromEntries(
      [...(args[1] as string).matchAll(/(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"/g)].map((m) => [
        m[1],
        resolve(m[2] as string),
      ]),
    );
    const json = JSON.parse(
      INFRA('dashboard.json.tftpl').replace(
        /\$\{(\w+)\}/g,
        (_, k: string) => values[k] ?? `UNSET ${k}`,
      ),
    );
    const charted = new Set<string>();
    for (const tile of json.mosaicLayout.tiles) {
      for (const set of tile.widget.xyChart.dataSets) {
        const query = set.timeSeriesQuery.timeSeriesFilter;
        const type = /metric\.type="([^"]+)"/.exec(query.filter)?.[1] as string;
        const metric = metricByType.get(type);
        assert.ok(metric, `${tile.widget.title}: ${type} is not a metric defined here`);
        charted.add(metric);
        const labels = Object.keys((metrics[metric]?.label_extractors ?? {}) as Block);
        for (const field of query.aggregation.groupByFields ?? [])
          assert.ok(
            labels.includes(field.replace('metric.label.', '')),
            `${metric} has no ${field}`,
          );
      }
    }
    assert.deepEqual([...charted].sort(), Object.keys(metrics).sort());
  });

  it('enables the Logging and Monitoring APIs and makes every resource wait for them', () => {
    const services = config.locals.get('services') as string[];
    for (const api of [
      'logging.googleapis.com',
      'monitoring.googleapis.com',
      'pubsub.googleapis.com',
    ])
      assert.ok(services.includes(api), api);
    // Each monitoring.tf resource depends, directly or through what it references, on its API.
    assert.deepEqual(
      apiDependencyProblems(config).filter((p) => p.startsWith('monitoring.tf')),
      [],
    );
    assert.ok(Object.keys(tf.resource).length >= 5, 'monitoring.tf was read');
  });

  it('sends the copy function the runs topic it may publish to', () => {
    const copy = config.resources.get('google_cloudfunctions2_function.copy')?.body ?? {};
    assert.match(
      String(one(copy.service_config).environment_variables),
      /SYNCER_RUNS_TOPIC\s*=\s*google_pubsub_topic\.runs\.name/,
    );
    const grant = one(tf.resource.google_pubsub_topic_iam_member?.copy_publishes_runs);
    assert.equal(grant.topic, '${google_pubsub_topic.runs.name}');
    assert.equal(grant.role, 'roles/pubsub.publisher');
  });
});

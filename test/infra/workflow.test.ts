// The reusable workflow and the caller example in the README, validated
// offline: structurally (action-validator's schema for workflows), and by
// running the workflow's own shell steps with each event. The step that calls
// the HTTP API runs against a stand-in API in workflow-client.test.ts.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { validateWorkflow } from '@action-validator/core';
import { parse } from 'yaml';
import { loadInfra } from '../../scripts/terraform/config.ts';
import { workflowProblems } from './workflow-checks.ts';
import { read, runStep, type Step, step, steps, workflow, workflowText } from './workflow-steps.ts';

describe('reusable workflow', () => {
  it('is a valid workflow', () => {
    assert.deepEqual(validateWorkflow(workflowText).errors, []);
  });

  it('is only callable, with boolean inputs that really are booleans', () => {
    assert.deepEqual(Object.keys(workflow.on), ['workflow_call']);
    const inputs = workflow.on.workflow_call?.inputs ?? {};
    assert.deepEqual(inputs['dry-run'], {
      description: 'Plan only, even on push.',
      type: 'boolean',
      default: false,
    });
    assert.equal(inputs.debug?.type, 'boolean');
    assert.equal(inputs['images-file']?.default, 'external-images.yaml');
    assert.deepEqual(workflow.permissions, { 'id-token': 'write', contents: 'read' });
  });

  it('refuses every event but push and pull_request_target', () => {
    const guard = steps[0] as Step;
    assert.equal(
      guard.if,
      "github.event_name != 'push' && github.event_name != 'pull_request_target'",
    );
    const run = runStep(guard, { EVENT: 'pull_request' });
    assert.equal(run.status, 1);
    assert.match(
      run.stdout,
      /::error::image-syncer runs on push \(sync\) and pull_request_target \(plan\) only, not on pull_request/,
    );
  });

  it('always plans on pull_request_target, as the reader, even if dry-run is false', () => {
    const mode = steps.find((s) => s.id === 'mode') as Step;
    const env = {
      API_URL: 'https://api',
      PLAN_URL: 'https://plan',
      READER: 'reader@x',
      WRITER: 'writer@x',
    };
    assert.deepEqual(
      runStep(mode, { ...env, EVENT: 'pull_request_target', DRY_RUN: 'false' }).outputs,
      { command: 'plan', url: 'https://plan', 'service-account': 'reader@x' },
    );
    assert.deepEqual(runStep(mode, { ...env, EVENT: 'push', DRY_RUN: 'false' }).outputs, {
      command: 'sync',
      url: 'https://api',
      'service-account': 'writer@x',
    });
    assert.deepEqual(runStep(mode, { ...env, EVENT: 'push', DRY_RUN: 'true' }).outputs, {
      command: 'plan',
      url: 'https://api',
      'service-account': 'writer@x',
    });
  });

  it('runs nothing but its own steps, writes no credentials file, checks a push first', async () => {
    const config = await loadInfra();
    const variables = Object.keys(
      (config.outputs.get('github_organization_variables')?.value ?? {}) as Record<string, unknown>,
    );
    assert.deepEqual(workflowProblems(workflowText, variables), []);
    const mistakes: [string | RegExp, string, RegExp][] = [
      // The caller chooses the code that runs with the writer's token.
      [
        '      timeout:\n',
        '      tool-repository:\n        type: string\n        default: ""\n      timeout:\n',
        /input tool-repository lets the caller choose/,
      ],
      [
        '      - name: Authenticate to Google Cloud\n',
        '      - uses: actions/setup-node@49933ea5288caeca8642d1e84afbd3f7d6820020 # v4.4.0\n      - run: npm ci --omit=dev\n      - name: Authenticate to Google Cloud\n',
        /runs actions\/setup-node/,
      ],
      [
        '          IMAGES_FILE: caller/${{ inputs.images-file }}\n',
        '          IMAGES_FILE: caller/${{ inputs.images-file }}\n          TOOL: x\n        run: node tool/bin/image-syncer.js remote sync\n      - env:\n          X: y\n',
        /runs a program from the checkout/,
      ],
      ['          create_credentials_file: false\n', '', /writes a credentials file/],
      [
        /\n {6}- name: Check the push against the writer identity's requirements\n[\s\S]*?\n\n/,
        '\n',
        /not checked against the writer identity's requirements/,
      ],
      [
        'vars.IMAGE_SYNCER_PLAN_URL',
        'vars.IMAGE_SYNCER_PLAN_ENDPOINT',
        /vars\.IMAGE_SYNCER_PLAN_ENDPOINT is not among/,
      ],
    ];
    for (const [from, to, expected] of mistakes) {
      const mistaken = workflowText.replace(from, to);
      assert.notEqual(mistaken, workflowText, `the mistake applies: ${from}`);
      const problems = workflowProblems(mistaken, variables);
      assert.ok(
        problems.some((p) => expected.test(p)),
        `${expected} in ${JSON.stringify(problems)}`,
      );
    }
  });

  it('asks for an ID token for the chosen function, and writes no credentials file', () => {
    const auth = step('auth');
    assert.match(String(auth.uses), /^google-github-actions\/auth@/);
    assert.equal(auth.with?.token_format, 'id_token');
    assert.equal(auth.with?.id_token_audience, '${{ steps.mode.outputs.url }}');
    // The action writes an impersonating credentials file into the workspace unless told not to.
    assert.equal(auth.with?.create_credentials_file, false);
    const client = steps.at(-1) as Step;
    assert.equal(client.env?.ID_TOKEN, '${{ steps.auth.outputs.id_token }}');
    assert.equal(client.env?.URL, '${{ steps.mode.outputs.url }}');
    assert.ok(steps.indexOf(auth) === steps.length - 2, 'only the API call follows the token');
  });

  it('checks a push against the writer identity before it asks for a token, and says what is missing', () => {
    const check = step("Check the push against the writer identity's requirements");
    assert.equal(check.if, "github.event_name == 'push'");
    assert.ok(steps.indexOf(check) < steps.indexOf(step('auth')));
    assert.equal(check.env?.REF_PROTECTED, '${{ github.ref_protected }}');
    const push = {
      REF: 'refs/heads/main',
      REF_PROTECTED: 'true',
      REPOSITORY: 'acme/app',
      REPOSITORY_ID: '200',
      WRITER_REF: 'refs/heads/main',
      REQUIRES_PROTECTED: 'true',
      ALLOWED_REPOSITORY_IDS: '',
      ENVIRONMENT: '',
    };
    const meets = runStep(check, push);
    assert.equal(meets.status, 0, meets.stdout + meets.stderr);
    const unprotected = runStep(check, { ...push, REF_PROTECTED: 'false' });
    assert.equal(unprotected.status, 1);
    assert.match(
      unprotected.stdout,
      /::error::the writer identity requires a push to refs\/heads\/main, a protected branch\n::error::refs\/heads\/main is not protected in acme\/app: add a branch protection rule or a ruleset for it/,
    );
    const notAllowed = runStep(check, { ...push, ALLOWED_REPOSITORY_IDS: '300, 400' });
    assert.equal(notAllowed.status, 1);
    assert.match(notAllowed.stdout, /from one of the repositories 300, 400/);
    assert.match(notAllowed.stdout, /::error::acme\/app \(repository id 200\) is not one of them/);
    assert.equal(runStep(check, { ...push, ALLOWED_REPOSITORY_IDS: '300,200' }).status, 0);
    const elsewhere = runStep(check, {
      ...push,
      REF: 'refs/heads/feature',
      REF_PROTECTED: 'false',
    });
    assert.equal(elsewhere.status, 1);
    assert.match(elsewhere.stdout, /::error::this run is a push to refs\/heads\/feature/);
    assert.equal(
      runStep(check, { ...push, REF_PROTECTED: 'false', REQUIRES_PROTECTED: 'false' }).status,
      0,
    );
    assert.match(
      runStep(check, { ...push, ENVIRONMENT: 'prod' }).stdout,
      /in the environment prod/,
    );
  });

  it('runs a push in the writer environment, and nothing else in any', () => {
    const job = Object.values(workflow.jobs)[0];
    assert.equal(
      job?.environment,
      "${{ github.event_name == 'push' && vars.IMAGE_SYNCER_WRITER_ENVIRONMENT || '' }}",
    );
  });

  it('pins every action by the full commit of a named release, and authenticates with auth v3', () => {
    const uses = steps.filter((s) => s.uses).map((s) => s.uses as string);
    assert.equal(uses.length, 2);
    for (const use of uses) assert.match(use, /^[\w-]+\/[\w-]+@[0-9a-f]{40}$/, use);
    // Every pin carries the release it is, so a bump changes both together.
    for (const line of workflowText.split('\n').filter((l) => /\buses: /.test(l)))
      assert.match(line, /@[0-9a-f]{40} # v\d+\.\d+\.\d+$/, line);
    assert.match(workflowText, /google-github-actions\/auth@[0-9a-f]{40} # v3\.\d+\.\d+/);
  });

  it('refuses an images file that is a symlink, a directory or outside the checkout, reading nothing', () => {
    const guard = steps.find((s) => s.name === 'Refuse an images file that is not a regular file');
    assert.ok(guard?.run, 'the guard step exists');
    assert.ok(
      steps.indexOf(guard) < steps.findIndex((s) => s.env?.IMAGES_FILE?.startsWith('caller/')),
      'the guard runs before anything reads the file',
    );
    assert.equal(guard.env?.IMAGES_FILE, '${{ inputs.images-file }}');
    const run = (setUp: (dir: string) => void, file = 'external-images.yaml') => {
      const dir = mkdtempSync(join(tmpdir(), 'images-file-'));
      mkdirSync(join(dir, 'caller'));
      setUp(dir);
      return runStep(guard, { IMAGES_FILE: file }, dir);
    };
    const secret = 'root:x:0:0:a line that must never be printed';
    const outside = (dir: string) => writeFileSync(join(dir, 'secret'), secret);
    const regular = run((dir) =>
      writeFileSync(join(dir, 'caller', 'external-images.yaml'), 'images: []\n'),
    );
    assert.equal(regular.status, 0, regular.stdout + regular.stderr);
    const symlink = run((dir) => {
      outside(dir);
      symlinkSync(join(dir, 'secret'), join(dir, 'caller', 'external-images.yaml'));
    });
    assert.equal(symlink.status, 1);
    assert.match(symlink.stdout, /::error::external-images\.yaml must be a regular file/);
    const linkedDir = run((dir) => {
      mkdirSync(join(dir, 'elsewhere'));
      writeFileSync(join(dir, 'elsewhere', 'external-images.yaml'), secret);
      symlinkSync(join(dir, 'elsewhere'), join(dir, 'caller', 'config'));
    }, 'config/external-images.yaml');
    assert.equal(linkedDir.status, 1);
    assert.match(linkedDir.stdout, /::error::config\/external-images\.yaml resolves outside/);
    const directory = run((dir) => mkdirSync(join(dir, 'caller', 'external-images.yaml')));
    assert.equal(directory.status, 1);
    const missing = run(() => {});
    assert.equal(missing.status, 1);
    for (const r of [symlink, linkedDir, directory, missing])
      assert.ok(!(r.stdout + r.stderr).includes(secret), 'nothing of the target is printed');
  });

  it('reads only the images file from a pull request, without credentials', () => {
    const checkout = step('Check out the images file');
    assert.equal(checkout.with?.['persist-credentials'], false);
    assert.equal(checkout.with?.['sparse-checkout'], '${{ inputs.images-file }}');
  });

  it('has a caller example in the README that is a valid workflow', () => {
    const readme = read('README.md');
    const example = /```yaml\n(name: sync-external-images[\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(example, 'README shows the caller workflow');
    assert.deepEqual(validateWorkflow(example).errors, []);
    const caller = parse(example) as {
      on: Record<string, { paths?: string[] }>;
      permissions: Record<string, string>;
      jobs: Record<string, { uses: string }>;
    };
    assert.deepEqual(Object.keys(caller.on).sort(), ['pull_request_target', 'push']);
    assert.deepEqual(caller.on.push?.paths, ['external-images.yaml']);
    assert.deepEqual(caller.permissions, { 'id-token': 'write', contents: 'read' });
    assert.match(
      Object.values(caller.jobs)[0]?.uses ?? '',
      /\.github\/workflows\/image-syncer\.yml@main$/,
    );
  });
});

describe('README, end to end', () => {
  it('documents prerequisites, deploy, the workflow, every way in, status and dead letters', () => {
    const readme = read('README.md');
    for (const pattern of [
      /\*\*Prerequisites\*\*/,
      /terraform apply -var-file=/,
      /uses: your-org\/image-syncer\/\.github\/workflows\/image-syncer\.yml@main/,
      /gcloud storage cp external-images\.yaml gs:\/\//,
      /gcloud pubsub topics publish image-syncer-requests --message=/,
      /"imagesFile": "gs:\/\//,
      /curl .*\$API_URL\/sync/,
      /\$API_URL\/runs\//,
      /image-syncer remote status/,
      /gcloud pubsub subscriptions pull image-syncer-jobs-dead-letter-keep/,
    ]) {
      assert.match(readme, pattern);
    }
    const names = read('infra/pubsub.tf');
    assert.match(names, /name += "\$\{var\.name\}-requests"/);
    assert.match(names, /name += "\$\{var\.name\}-jobs-dead-letter-keep"/);
    assert.match(read('infra/variables.tf'), /variable "name" \{[^}]*default += "image-syncer"/);
  });
});

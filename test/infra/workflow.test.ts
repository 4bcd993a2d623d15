// The reusable workflow, the caller example in the README and cloudbuild.yaml,
// validated offline: structurally (action-validator's schema for workflows),
// and by running the workflow's own shell steps with each event.

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { validateWorkflow } from '@action-validator/core';
import { parse } from 'yaml';
import { CLI_FLAGS } from '../../functions/cli/flags.ts';
import { envName } from '../../functions/settings/setting.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

interface Step {
  name?: string;
  id?: string;
  if?: string;
  run?: string;
  uses?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}

const workflowText = read('.github/workflows/image-syncer.yml');
const workflow = parse(workflowText) as {
  on: Record<string, { inputs: Record<string, { type: string; default?: unknown }> }>;
  permissions: Record<string, string>;
  jobs: Record<string, { steps: Step[] }>;
};
const steps = Object.values(workflow.jobs)[0]?.steps ?? [];

/** Runs a step's shell script as Actions would, with its env, and returns its outputs. */
function runStep(
  step: Step,
  env: Record<string, string>,
): { status: number | null; outputs: Record<string, string>; stdout: string } {
  const outputFile = join(mkdtempSync(join(tmpdir(), 'gh-')), 'output');
  execFileSync('touch', [outputFile]);
  const result = spawnSync('bash', ['-e', '-c', step.run ?? ''], {
    env: { PATH: process.env.PATH, GITHUB_OUTPUT: outputFile, ...env },
    encoding: 'utf8',
  });
  const outputs: Record<string, string> = {};
  for (const line of readFileSync(outputFile, 'utf8').split('\n').filter(Boolean)) {
    const eq = line.indexOf('=');
    outputs[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return { status: result.status, outputs, stdout: result.stdout };
}

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

  it('authenticates with an ID token for the chosen function and passes CLI variables the CLI knows', () => {
    const auth = steps.find((s) => s.id === 'auth') as Step;
    assert.match(String(auth.uses), /^google-github-actions\/auth@/);
    assert.equal(auth.with?.token_format, 'id_token');
    assert.equal(auth.with?.id_token_audience, '${{ steps.mode.outputs.url }}');
    const last = steps.at(-1) as Step;
    const known = new Set(Object.values(CLI_FLAGS).map((f) => envName(f.name)));
    for (const name of Object.keys(last.env ?? {}).filter((n) => n.startsWith('SYNCER_')))
      assert.ok(known.has(name), `${name} is not a CLI flag`);
    assert.equal(last.env?.SYNCER_DEBUG, '${{ inputs.debug }}');
    assert.match(String(last.run), /image-syncer\.js remote "\$COMMAND"/);
  });

  it('pins every action by the full commit of a named release, and authenticates with auth v3', () => {
    const uses = steps.filter((s) => s.uses).map((s) => s.uses as string);
    assert.ok(uses.length >= 4);
    for (const use of uses) assert.match(use, /^[\w-]+\/[\w-]+@[0-9a-f]{40}$/, use);
    // Every pin carries the release it is, so a bump changes both together.
    for (const line of workflowText.split('\n').filter((l) => /\buses: /.test(l)))
      assert.match(line, /@[0-9a-f]{40} # v\d+\.\d+\.\d+$/, line);
    assert.match(workflowText, /google-github-actions\/auth@[0-9a-f]{40} # v3\.\d+\.\d+/);
  });

  it('refuses an images file that is a symlink, a directory or outside the checkout, reading nothing', () => {
    const guard = steps.find((s) => s.name === 'Refuse an images file that is not a regular file');
    assert.ok(guard?.run, 'the guard step exists');
    const order = steps.map((s) => s.name ?? s.id);
    assert.ok(
      order.indexOf(guard.name) < steps.findIndex((s) => s.env?.SYNCER_IMAGES_FILE),
      'the guard runs before anything reads the file',
    );
    assert.equal(guard.env?.IMAGES_FILE, '${{ inputs.images-file }}');
    const run = (setUp: (dir: string) => void, file = 'external-images.yaml') => {
      const dir = mkdtempSync(join(tmpdir(), 'images-file-'));
      mkdirSync(join(dir, 'caller'));
      setUp(dir);
      return spawnSync('bash', ['-e', '-c', guard.run as string], {
        cwd: dir,
        env: { PATH: process.env.PATH, IMAGES_FILE: file },
        encoding: 'utf8',
      });
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
    const checkout = steps.find((s) => s.name === 'Check out the images file') as Step;
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

/** A stand-in for the metadata server's email endpoint, which wants Metadata-Flavor: Google. */
async function metadataServer(email: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.headers['metadata-flavor'] !== 'Google') return void res.writeHead(403).end();
    res.writeHead(200, { 'content-type': 'application/text' }).end(email);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/email` };
}

describe('cloudbuild.yaml', () => {
  const text = read('cloudbuild.yaml');
  const build = parse(text) as {
    substitutions: Record<string, string>;
    steps: {
      id: string;
      name: string;
      args?: string[];
      entrypoint?: string;
      waitFor?: string[];
      dir?: string;
    }[];
  };

  it('is well formed: named steps, known dependencies, documented substitutions', () => {
    const ids = build.steps.map((s) => s.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const step of build.steps) {
      assert.ok(step.name && step.args?.length, `step ${step.id} needs an image and args`);
      for (const dependency of step.waitFor ?? [])
        assert.ok(
          ids.indexOf(dependency) >= 0 && ids.indexOf(dependency) < ids.indexOf(step.id),
          `${step.id} waits for ${dependency}`,
        );
    }
    const used = new Set([...text.matchAll(/\$\{(_[A-Z_]+)\}/g)].map((m) => m[1] as string));
    for (const name of used) {
      assert.ok(
        name in build.substitutions || new RegExp(`#\\s+${name}\\s.*\\(required\\)`).test(text),
        `${name} is neither defaulted nor documented as required`,
      );
      assert.match(text, new RegExp(`^#\\s+${name}\\s`, 'm'), `${name} is documented at the top`);
    }
    for (const key of Object.keys(build.substitutions)) assert.match(key, /^_[A-Z_]+$/);
  });

  it('checks, tests with the real registries, builds, then deploys with Terraform', () => {
    assert.deepEqual(
      build.steps.map((s) => s.id),
      [
        'identity',
        'install',
        'typecheck',
        'lint',
        'test',
        'build',
        'terraform-init',
        'terraform-validate',
        'terraform-plan',
        'terraform-apply',
      ],
    );
    const test = build.steps.find((s) => s.id === 'test');
    assert.match(
      String(test?.args?.join(' ')),
      /apt-get install .*docker-registry skopeo apache2-utils/,
    );
    assert.match(String(test?.args?.join(' ')), /npm run test:all/);
    const terraform = build.steps.filter((s) => s.id.startsWith('terraform-'));
    for (const step of terraform) {
      assert.match(step.name, /^hashicorp\/terraform:/);
      assert.equal(step.dir, 'infra');
    }
    assert.deepEqual(
      terraform.map((s) => s.args?.[0]),
      ['init', 'validate', 'plan', 'apply'],
    );
    assert.match(
      String(terraform[0]?.args?.join(' ')),
      /-backend-config=bucket=\$\{_TF_STATE_BUCKET\}/,
    );
  });

  it('runs as the deployer account the bootstrap creates, logging to Cloud Logging', async () => {
    const config = build as unknown as { serviceAccount?: string; options?: { logging?: string } };
    // Named where the build starts (substitutions are documented for steps and images only).
    assert.equal(config.serviceAccount, undefined);
    for (const doc of ['README.md', 'infra/README.md'])
      assert.match(
        read(doc),
        /gcloud builds submit --config cloudbuild\.yaml[\s\\]+--service-account=projects\/[\w-]+\/serviceAccounts\/image-syncer-deployer@/,
        doc,
      );
    // The first step, run as Cloud Build would (with $PROJECT_ID substituted),
    // against a stand-in metadata server: the deployer passes, anything else stops.
    const identity = build.steps[0];
    assert.equal(identity?.id, 'identity');
    assert.equal(build.steps[1]?.waitFor, undefined, 'install waits for every step before it');
    const script = String(identity?.args?.[1]).replaceAll('$PROJECT_ID', 'acme');
    const metadataUrl =
      'http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/email';
    assert.ok(script.includes(metadataUrl));
    for (const [email, passes] of [
      ['image-syncer-deployer@acme.iam.gserviceaccount.com', true],
      ['123456789-compute@developer.gserviceaccount.com', false],
    ] as const) {
      const { server, url } = await metadataServer(email);
      try {
        // Asynchronously: the stand-in answers from this process's event loop.
        const run = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, ['-e', script.replace(metadataUrl, url)]);
          let stderr = '';
          child.stderr.on('data', (chunk: Buffer) => {
            stderr += chunk;
          });
          child.on('close', (status) => resolve({ status, stderr }));
        });
        assert.equal(run.status === 0, passes, `${email}: ${run.stderr}`);
        if (!passes)
          assert.match(
            run.stderr,
            /--service-account=projects\/acme\/serviceAccounts\/image-syncer-deployer@acme\.iam\.gserviceaccount\.com/,
          );
      } finally {
        server.close();
      }
    }
    // A user-specified build account cannot write to the default logs bucket.
    assert.equal(config.options?.logging, 'CLOUD_LOGGING_ONLY');
    const bootstrap = read('scripts/bootstrap-deployer.sh');
    assert.match(bootstrap, /service-accounts create image-syncer-deployer/);
    for (const role of [
      'roles/resourcemanager.projectIamAdmin',
      'roles/iam.workloadIdentityPoolAdmin',
      'roles/serviceusage.serviceUsageAdmin',
      'roles/iam.serviceAccountUser',
      'roles/logging.logWriter',
    ])
      assert.match(bootstrap, new RegExp(`^\\s+${role.replace('.', '\\.')}\\s`, 'm'), role);
    assert.match(
      bootstrap,
      /buckets add-iam-policy-binding "gs:\/\/\$\{bucket\}"[\s\S]*storage\.objectAdmin/,
    );
    // The Terraform steps package the source from git, so .git must be uploaded.
    const ignore = read('.gcloudignore');
    assert.doesNotMatch(ignore, /^\.git\/?$/m);
    assert.match(ignore, /^#!include:\.gitignore$/m);
  });

  it('never uploads Terraform working files: providers, local state, saved plans', () => {
    // .gcloudignore includes .gitignore; a plan or state file holds variable
    // values (source_credentials) in clear, and a local .terraform/ is
    // hundreds of MiB of provider binaries (https://cloud.google.com/sdk/gcloud/reference/topic/gcloudignore).
    for (const path of [
      'infra/.terraform/providers/registry.terraform.io/hashicorp/google/x',
      'infra/terraform.tfstate',
      'infra/terraform.tfstate.backup',
      'infra/tfplan',
    ]) {
      const check = spawnSync('git', ['check-ignore', '--no-index', '-q', path], {
        cwd: new URL('../../', import.meta.url),
      });
      assert.equal(check.status, 0, `${path} is not ignored`);
    }
  });
});

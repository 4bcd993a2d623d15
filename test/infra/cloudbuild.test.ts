// cloudbuild.yaml, checked offline: its structure, its first step run as
// Cloud Build would run it against a stand-in metadata server, and what
// `gcloud builds submit` uploads.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { read } from './workflow-steps.ts';

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

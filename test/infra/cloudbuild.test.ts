// cloudbuild.yaml (deploy) and cloudbuild-tests.yaml (tests), checked offline:
// their structure; that no dependency's code beyond the checker, linter and
// compiler runs beside the deployer's token (cloudbuildProblems, shown to fail
// on each mistake); their first step run as Cloud Build would run it against a
// stand-in metadata server; and what `gcloud builds submit` uploads.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { read } from './workflow-steps.ts';

interface BuildStep {
  id: string;
  name: string;
  args?: string[];
  entrypoint?: string;
  waitFor?: string[];
  dir?: string;
}
interface Build {
  substitutions: Record<string, string>;
  serviceAccount?: string;
  options?: { logging?: string };
  steps: BuildStep[];
}

const DEPLOY = read('cloudbuild.yaml');
const TESTS = read('cloudbuild-tests.yaml');

/** The step that runs what only the terraform binary checks (formatting, variable validations). */
const BINARY_CHECKS = 'sh scripts/terraform/check-with-binary.sh';

const commandOf = (s: BuildStep) => [s.entrypoint ?? '', ...(s.args ?? [])].join(' ');

/** What would let a dependency's code run beside the deployer's token, or a build run as the wrong account. */
function cloudbuildProblems(deployText: string, testsText: string): string[] {
  const problems: string[] = [];
  const deploy = parse(deployText) as Build;
  const tests = parse(testsText) as Build;
  for (const [label, build, account] of [
    ['cloudbuild.yaml', deploy, 'image-syncer-deployer'],
    ['cloudbuild-tests.yaml', tests, 'image-syncer-tests'],
  ] as const) {
    const first = build.steps[0];
    if (
      first?.id !== 'identity' ||
      !commandOf(first).includes(`check-build-account.ts ${account}@$PROJECT_ID.`)
    )
      problems.push(`${label} does not first stop unless it runs as ${account}`);
    if (build.options?.logging !== 'CLOUD_LOGGING_ONLY')
      problems.push(
        `${label} logs elsewhere than Cloud Logging, which a user-specified account needs`,
      );
  }
  for (const s of deploy.steps) {
    const command = commandOf(s);
    if (/\bnpm (ci|install|i)\b/.test(command) && !command.includes('--ignore-scripts'))
      problems.push(
        `cloudbuild.yaml step ${s.id} runs install scripts beside the deployer's token`,
      );
    if (/\b(test|node --test|pretest|ensure-deps)\b/.test(command) || s.name.includes('emulators'))
      problems.push(`cloudbuild.yaml step ${s.id} runs tests beside the deployer's token`);
  }
  const binaryChecks = (s: BuildStep) =>
    s.name.startsWith('hashicorp/terraform') && commandOf(s) === BINARY_CHECKS;
  if (
    tests.steps.some(
      (s) =>
        !binaryChecks(s) &&
        (s.name.startsWith('hashicorp/terraform') || /terraform/.test(commandOf(s))),
    )
  )
    problems.push('cloudbuild-tests.yaml deploys');
  if (!tests.steps.some(binaryChecks))
    problems.push("cloudbuild-tests.yaml skips the checks only terraform's binary can make");
  if (!tests.steps.some((s) => /\bnpm test\b/.test(commandOf(s))))
    problems.push('cloudbuild-tests.yaml runs no tests');
  if (testsText.includes('image-syncer-deployer'))
    problems.push('cloudbuild-tests.yaml names the deployer');
  return problems;
}

describe('Cloud Build (cloudbuild.yaml deploys, cloudbuild-tests.yaml tests)', () => {
  it('is well formed: named steps, known dependencies, documented substitutions', () => {
    for (const text of [DEPLOY, TESTS]) {
      const build = parse(text) as Build;
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
      // Named where the build starts (substitutions are documented for steps and images only).
      assert.equal(build.serviceAccount, undefined);
    }
  });

  it('deploys with Terraform after checks, and tests in a build of their own', () => {
    const deploy = parse(DEPLOY) as Build;
    assert.deepEqual(
      deploy.steps.map((s) => s.id),
      [
        'identity',
        'install',
        'typecheck',
        'lint',
        'build',
        'terraform-init',
        'terraform-validate',
        'terraform-plan',
        'terraform-apply',
      ],
    );
    const terraform = deploy.steps.filter((s) => s.id.startsWith('terraform-'));
    for (const step of terraform) {
      assert.match(step.name, /^hashicorp\/terraform:/);
      assert.equal(step.dir, 'infra');
    }
    assert.match(
      String(terraform[0]?.args?.join(' ')),
      /-backend-config=bucket=\$\{_TF_STATE_BUCKET\}/,
    );
    const tests = parse(TESTS) as Build;
    assert.match(
      commandOf(tests.steps[1] as BuildStep),
      /npm ci[\s\S]*ensure-deps\.sh --tests[\s\S]*npm test/,
    );
    assert.deepEqual(cloudbuildProblems(DEPLOY, TESTS), []);
  });

  it('fails when a dependency could run beside the deployer, or a build as the wrong account', () => {
    const cases: [string, string, string, RegExp][] = [
      [
        DEPLOY,
        'args: [ci, --ignore-scripts, --no-audit, --no-fund]',
        'args: [ci, --no-audit, --no-fund]',
        /step install runs install scripts/,
      ],
      [
        DEPLOY,
        '  - id: build\n',
        '  - id: test\n    name: ${_NODE_IMAGE}\n    entrypoint: npm\n    args: [run, test:all]\n\n  - id: build\n',
        /step test runs tests beside the deployer's token/,
      ],
      [
        TESTS,
        'image-syncer-tests@$PROJECT_ID',
        'image-syncer-deployer@$PROJECT_ID',
        /cloudbuild-tests\.yaml does not first stop unless it runs as image-syncer-tests/,
      ],
      [
        TESTS,
        'args: [scripts/terraform/check-with-binary.sh]',
        'args: [-c, "terraform init && terraform apply -auto-approve"]',
        /cloudbuild-tests\.yaml deploys/,
      ],
      [
        TESTS,
        'args: [scripts/terraform/check-with-binary.sh]',
        'args: [-c, "true"]',
        /cloudbuild-tests\.yaml skips the checks only terraform's binary can make/,
      ],
      [
        DEPLOY,
        'image-syncer-deployer@$PROJECT_ID',
        'image-syncer-tests@$PROJECT_ID',
        /cloudbuild\.yaml does not first stop unless it runs as image-syncer-deployer/,
      ],
    ];
    for (const [text, from, to, expected] of cases) {
      assert.ok(text.includes(from), from);
      const mistaken = text.replace(from, to);
      const problems =
        text === DEPLOY
          ? cloudbuildProblems(mistaken, TESTS)
          : cloudbuildProblems(DEPLOY, mistaken);
      assert.ok(
        problems.some((p) => expected.test(p)),
        `${expected} in ${JSON.stringify(problems)}`,
      );
    }
  });

  it('stops a build running as any other account, naming the flag to pass', async () => {
    for (const doc of ['README.md', 'infra/README.md'])
      assert.match(
        read(doc),
        /gcloud builds submit --config cloudbuild\.yaml[\s\\]+--service-account=projects\/[\w-]+\/serviceAccounts\/image-syncer-deployer@/,
        doc,
      );
    let email = '';
    const metadata = createServer((req, res) => {
      const ok =
        req.headers['metadata-flavor'] === 'Google' &&
        req.url === '/computeMetadata/v1/instance/service-accounts/default/email';
      res.writeHead(ok ? 200 : 403, { 'content-type': 'application/text' }).end(ok ? email : '');
    });
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(metadata.address() as AddressInfo).port}`;
    // As Cloud Build runs the first step, $PROJECT_ID substituted; asynchronously,
    // since the stand-in answers from this process.
    const check = (want: string) =>
      new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['scripts/check-build-account.ts', want], {
          cwd: new URL('../../', import.meta.url),
          env: { PATH: process.env.PATH, GCE_METADATA_HOST: host },
        });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk;
        });
        child.on('close', (status) => resolve({ status, stderr }));
      });
    try {
      for (const [running, want, passes] of [
        [
          'image-syncer-deployer@acme.iam.gserviceaccount.com',
          'image-syncer-deployer@acme.iam.gserviceaccount.com',
          true,
        ],
        [
          '123456789-compute@developer.gserviceaccount.com',
          'image-syncer-deployer@acme.iam.gserviceaccount.com',
          false,
        ],
        [
          'image-syncer-deployer@acme.iam.gserviceaccount.com',
          'image-syncer-tests@acme.iam.gserviceaccount.com',
          false,
        ],
      ] as const) {
        email = running;
        const run = await check(want);
        assert.equal(run.status === 0, passes, `${running} for ${want}: ${run.stderr}`);
        if (!passes)
          assert.match(
            run.stderr,
            new RegExp(
              `--service-account=projects/acme/serviceAccounts/${want.replaceAll('.', '\\.')}`,
            ),
          );
      }
    } finally {
      metadata.close();
    }
  });

  it('uploads .git (to package only what git tracks) and never Terraform working files', () => {
    const ignore = read('.gcloudignore');
    assert.doesNotMatch(ignore, /^\.git\/?$/m);
    assert.match(ignore, /^#!include:\.gitignore$/m);
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

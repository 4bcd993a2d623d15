// scripts/bootstrap-deployer.sh run against a gcloud that records its calls
// and answers as a fresh project would, and what those calls give the
// deployer, checked against what infra/*.tf needs of it: the deployer is not
// an owner. It may grant on the project only the roles infra/*.tf grants there
// (and no service agent role), act as only the accounts something runs as, and
// administer only the accounts infra/*.tf declares.

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  block,
  functionsOf,
  type InfraConfig,
  referencesIn,
  resolveLocals,
  resourcesOf,
} from '../../scripts/terraform/config.ts';

export const PROJECT = 'acme-mirror';
const DEPLOYER = `serviceAccount:image-syncer-deployer@${PROJECT}.iam.gserviceaccount.com`;
const TESTS = `serviceAccount:image-syncer-tests@${PROJECT}.iam.gserviceaccount.com`;

// Records every call (arguments separated by \x1f, a condition file's text
// after CONDITION); the project is fresh: nothing exists yet.
const FAKE_GCLOUD = `#!/bin/bash
{ printf '%s\\x1f' "$@"; printf '\\n'; } >>"$GCLOUD_LOG"
for arg in "$@"; do
  case "$arg" in --condition-from-file=*) { printf 'CONDITION\\x1f'; tr '\\n' ' ' <"\${arg#*=}"; printf '\\n'; } >>"$GCLOUD_LOG" ;; esac
done
case "$*" in
  *" describe "*) exit 1 ;;
  *"identity create --service=pubsub.googleapis.com"*) echo "service-1@gcp-sa-pubsub.iam.gserviceaccount.com" ;;
  *"identity create --service=eventarc.googleapis.com"*) echo "service-1@gcp-sa-eventarc.iam.gserviceaccount.com" ;;
esac
`;

/** Runs the script (its text, possibly edited) with the recording gcloud; returns the calls. */
export function bootstrapCalls(script: string): { status: number | null; calls: string[][] } {
  const dir = mkdtempSync(join(tmpdir(), 'bootstrap-'));
  writeFileSync(join(dir, 'gcloud'), FAKE_GCLOUD);
  chmodSync(join(dir, 'gcloud'), 0o755);
  writeFileSync(join(dir, 'bootstrap.sh'), script);
  const log = join(dir, 'calls');
  writeFileSync(log, '');
  const result = spawnSync('bash', [join(dir, 'bootstrap.sh'), PROJECT, 'acme-tf-state'], {
    encoding: 'utf8',
    env: { PATH: `${dir}:${process.env.PATH}`, GCLOUD_LOG: log },
  });
  const calls = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\x1f').filter((part, i, all) => i < all.length - 1 || part !== ''));
  return { status: result.status, calls };
}

const flag = (call: string[], name: string) =>
  call.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

/** What infra/*.tf needs: its accounts, those something runs as, its project roles. */
function needs(config: InfraConfig, name: string) {
  const accountId = (address: string) =>
    String(config.resources.get(address)?.body.account_id).replace('${var.name}', name);
  const accounts = resourcesOf(config, 'google_service_account').map((d) => d.address);
  const runAs = new Set<string>();
  const accountIn = (value: unknown) => {
    for (const r of referencesIn(resolveLocals(value, config)))
      if (r.type === 'google_service_account') runAs.add(r.address);
  };
  for (const fn of functionsOf(config)) {
    accountIn(block(fn.body, 'service_config').service_account_email);
    accountIn(block(fn.body, 'build_config').service_account);
    accountIn(block(fn.body, 'event_trigger').service_account_email);
  }
  for (const sub of resourcesOf(config, 'google_pubsub_subscription'))
    accountIn(block(block(sub.body, 'push_config'), 'oidc_token').service_account_email);
  return {
    accounts: new Set(accounts.map(accountId)),
    runAs: new Set([...runAs].map(accountId)),
    projectRoles: new Set(
      resourcesOf(config, 'google_project_iam_member').map((d) => String(d.body.role)),
    ),
  };
}

/** Roles that would let the deployer grant itself anything, act as anyone, or act as Google's agents. */
const OWNER_LIKE =
  /^roles\/(owner|editor|iam\.securityAdmin|iam\.serviceAccount(User|Admin|TokenCreator|KeyAdmin)|iam\.roleAdmin|resourcemanager\.projectIamAdmin)$|serviceAgent/;

export function bootstrapProblems(
  calls: string[][],
  config: InfraConfig,
  name = 'image-syncer',
): string[] {
  const problems: string[] = [];
  const { accounts, runAs, projectRoles } = needs(config, name);
  const created = new Set(
    calls.filter((c) => c.slice(0, 3).join(' ') === 'iam service-accounts create').map((c) => c[3]),
  );
  for (const id of accounts)
    if (!created.has(id)) problems.push(`creates no account ${id}, which infra/*.tf declares`);
  const projectBindings = calls.filter(
    (c) => c.slice(0, 2).join(' ') === 'projects add-iam-policy-binding',
  );
  const condition = calls.find((c) => c[0] === 'CONDITION')?.[1] ?? '';
  for (const binding of projectBindings.filter((c) => flag(c, 'member') === DEPLOYER)) {
    const role = flag(binding, 'role') ?? '';
    const conditional = binding.some((a) => a.startsWith('--condition-from-file='));
    if (role === 'roles/resourcemanager.projectIamAdmin' && conditional) continue;
    if (OWNER_LIKE.test(role)) problems.push(`gives the deployer ${role} on the project`);
  }
  const limited = projectBindings.find(
    (c) =>
      flag(c, 'member') === DEPLOYER && flag(c, 'role') === 'roles/resourcemanager.projectIamAdmin',
  );
  const grantable = new Set(
    [...(/hasOnly\(\[([^\]]*)\]\)/.exec(condition)?.[1] ?? '').matchAll(/'([^']+)'/g)].map(
      (m) => m[1] as string,
    ),
  );
  if (
    !limited ||
    !/api\.getAttribute\('iam\.googleapis\.com\/modifiedGrantsByRole', \[\]\)\.hasOnly\(/.test(
      condition,
    )
  )
    problems.push(
      'the deployer may not grant roles, or may grant any: no modifiedGrantsByRole condition',
    );
  for (const role of projectRoles)
    if (!grantable.has(role))
      problems.push(`infra/*.tf grants ${role} on the project, which the deployer may not grant`);
  for (const role of grantable) {
    if (!projectRoles.has(role))
      problems.push(`the deployer may grant ${role}, which infra/*.tf never grants`);
    if (OWNER_LIKE.test(role)) problems.push(`the deployer may grant ${role}`);
  }
  const onAccounts = calls.filter(
    (c) =>
      c.slice(0, 3).join(' ') === 'iam service-accounts add-iam-policy-binding' &&
      flag(c, 'member') === DEPLOYER,
  );
  const holds = (role: string) =>
    new Set(
      onAccounts.filter((c) => flag(c, 'role') === role).map((c) => String(c[3]).split('@')[0]),
    );
  const user = holds('roles/iam.serviceAccountUser');
  for (const id of runAs)
    if (!user.has(id)) problems.push(`the deployer cannot act as ${id}, which something runs as`);
  for (const id of user)
    if (!runAs.has(id as string))
      problems.push(`the deployer may act as ${id}, which nothing runs as`);
  const admin = holds('roles/iam.serviceAccountAdmin');
  for (const id of accounts)
    if (!admin.has(id)) problems.push(`the deployer cannot administer ${id}`);
  for (const id of admin)
    if (!accounts.has(id as string))
      problems.push(`the deployer administers ${id}, which infra/*.tf does not declare`);
  for (const agent of ['pubsub', 'eventarc'])
    if (
      !projectBindings.some(
        (c) =>
          flag(c, 'role') === `roles/${agent}.serviceAgent` &&
          flag(c, 'member') === `serviceAccount:service-1@gcp-sa-${agent}.iam.gserviceaccount.com`,
      )
    )
      problems.push(`the ${agent} service agent is not granted roles/${agent}.serviceAgent`);
  const tests = projectBindings
    .filter((c) => flag(c, 'member') === TESTS)
    .map((c) => flag(c, 'role'));
  if (tests.join() !== 'roles/logging.logWriter')
    problems.push(`the tests account holds ${tests.join(', ') || 'nothing'}, not its logs alone`);
  return problems;
}

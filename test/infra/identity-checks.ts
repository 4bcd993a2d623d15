// Who can become the reader and the writer, decided as Google decides it: the
// workload identity provider's attribute condition and mappings (github.tf),
// rendered for a setting of the variables, evaluated as CEL (cel-js) against
// the claims GitHub puts in an Actions OIDC token, then matched against the
// principal sets the two identities are bound to. Claims:
// https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect
// (every claim is a string; `environment` is there only for a job that runs in one).

import { evaluate } from '@marcbachmann/cel-js';
import { type Body, type InfraConfig, resolveLocals } from '../../scripts/terraform/config.ts';

/** The variables the identity depends on. */
export interface IdentitySettings {
  readonly github_organization_id: string;
  readonly workflow_repository: string;
  readonly workflow_ref: string;
  readonly writer_ref: string;
  readonly writer_requires_protected_ref: boolean;
  readonly writer_repository_ids: readonly string[];
  readonly writer_environment: string;
}

export const DEFAULT_SETTINGS: IdentitySettings = {
  github_organization_id: '1234567',
  workflow_repository: 'acme/image-syncer',
  workflow_ref: 'refs/heads/main',
  writer_ref: 'refs/heads/main',
  writer_requires_protected_ref: true,
  writer_repository_ids: [],
  writer_environment: '',
};

/** `${var.x}` and `${jsonencode(var.x)}` of a Terraform string, for the settings; anything else throws. */
function render(text: string, settings: IdentitySettings): string {
  const values = settings as unknown as Record<string, unknown>;
  return text.replace(/\$\{([^}]*)\}/g, (whole, expression: string) => {
    const encoded = /^jsonencode\(var\.(\w+)\)$/.exec(expression)?.[1];
    if (encoded !== undefined && encoded in values) return JSON.stringify(values[encoded]);
    const name = /^var\.(\w+)$/.exec(expression)?.[1];
    if (name !== undefined && name in values) return String(values[name]);
    throw new Error(`cannot render ${whole} in ${text}`);
  });
}

export interface Identity {
  readonly condition: string;
  readonly mappings: Readonly<Record<string, string>>;
  /** The principal sets each identity is bound to: `attribute.<name>/<value>`. */
  readonly principals: { readonly reader: string[]; readonly writer: string[] };
}

const list = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

/** The provider's condition, mappings and bindings as Google receives them for the settings. */
export function renderIdentity(config: InfraConfig, settings: IdentitySettings): Identity {
  const provider = [...config.resources.values()].find(
    (d) => d.type === 'google_iam_workload_identity_pool_provider',
  );
  if (!provider) throw new Error('no workload identity pool provider');
  const conditionText = resolveLocals(provider.body.attribute_condition, config);
  const joined = /^\$\{join\(" && ", concat\(((?:local\.\w+(?:, )?)+)\)\)\}$/.exec(conditionText);
  if (!joined) throw new Error(`the condition is not a join of lists of clauses: ${conditionText}`);
  const clauses = [...(joined[1] as string).matchAll(/local\.(\w+)/g)].flatMap((m) =>
    list(config.locals.get(m[1] as string)),
  );
  const mappings = Object.fromEntries(
    Object.entries((provider.body.attribute_mapping ?? {}) as Body).map(([key, value]) => {
      const text = resolveLocals(value, config);
      const local = /^\$\{local\.(\w+)\}$/.exec(text)?.[1];
      return [key, render(local ? String(config.locals.get(local)) : text, settings)];
    }),
  );
  const principals = { reader: [] as string[], writer: [] as string[] };
  for (const d of config.resources.values()) {
    if (d.type !== 'google_service_account_iam_member') continue;
    const who = /google_service_account\.github_(reader|writer)\./.exec(
      String(d.body.service_account_id),
    )?.[1];
    const member = /\/(attribute\.\w+\/.+)$/.exec(resolveLocals(d.body.member, config))?.[1];
    if (who && member && d.body.role === 'roles/iam.workloadIdentityUser')
      principals[who as 'reader' | 'writer'].push(render(member, settings));
  }
  return { condition: clauses.map((c) => render(c, settings)).join(' && '), mappings, principals };
}

/** A GitHub Actions token's claims for a run of the reusable workflow. */
export function githubClaims(run: {
  event: string;
  ref: string;
  protectedRef?: boolean;
  repository?: string;
  repositoryId?: string;
  owner?: string;
  ownerId?: string;
  environment?: string;
  workflowRef?: string;
}): Record<string, string> {
  const owner = run.owner ?? 'acme';
  const repository = run.repository ?? `${owner}/app`;
  return {
    sub: run.environment
      ? `repo:${repository}:environment:${run.environment}`
      : `repo:${repository}:ref:${run.ref}`,
    repository,
    repository_id: run.repositoryId ?? '200',
    repository_owner: owner,
    repository_owner_id: run.ownerId ?? DEFAULT_SETTINGS.github_organization_id,
    event_name: run.event,
    ref: run.ref,
    ref_type: 'branch',
    ref_protected: String(run.protectedRef ?? true),
    job_workflow_ref:
      run.workflowRef ?? `acme/image-syncer/.github/workflows/image-syncer.yml@refs/heads/main`,
    run_id: '16432198765',
    run_attempt: '1',
    ...(run.environment !== undefined && { environment: run.environment }),
  };
}

export interface Exchange {
  /** Admitted to the pool: the condition held. */
  readonly admitted: boolean;
  readonly reader: boolean;
  readonly writer: boolean;
  readonly subject?: string;
  /** What Google would refuse the mapping for. */
  readonly refusal?: string;
}

/** The token exchange and impersonation, as Google would decide them. */
export function exchange(identity: Identity, claims: Record<string, string>): Exchange {
  const attributes: Record<string, string> = {};
  for (const [key, mapping] of Object.entries(identity.mappings))
    attributes[key] = String(evaluate(mapping, { assertion: claims }));
  const subject = attributes['google.subject'];
  // "google.subject ... Cannot exceed 127 bytes" (WorkloadIdentityPoolProvider.attributeMapping).
  if (subject === undefined || Buffer.byteLength(subject) > 127)
    return {
      admitted: false,
      reader: false,
      writer: false,
      refusal: 'The size of mapped attribute exceeds the 127 bytes limit',
    };
  const admitted = evaluate(identity.condition, { assertion: claims }) === true;
  const holds = (principal: string) => {
    const [attribute, ...value] = principal.split('/');
    return attributes[attribute as string] === value.join('/');
  };
  return {
    admitted,
    reader: admitted && identity.principals.reader.some(holds),
    writer: admitted && identity.principals.writer.some(holds),
    subject,
  };
}

interface Scenario {
  readonly what: string;
  readonly settings?: Partial<IdentitySettings>;
  readonly claims: Record<string, string>;
  readonly writer: boolean;
  readonly reader?: boolean;
}

const LONG_OWNER = 'a'.repeat(39); // GitHub's longest organisation name
const LONG_REPOSITORY = `${LONG_OWNER}/${'r'.repeat(100)}`; // and repository name

/** Who must and must not become the reader and the writer, setting by setting. */
export const SCENARIOS: readonly Scenario[] = [
  {
    what: 'a push to the protected default branch',
    claims: githubClaims({ event: 'push', ref: 'refs/heads/main' }),
    writer: true,
  },
  {
    what: 'a push to an unprotected default branch',
    claims: githubClaims({ event: 'push', ref: 'refs/heads/main', protectedRef: false }),
    writer: false,
  },
  {
    what: 'a push to another branch',
    claims: githubClaims({ event: 'push', ref: 'refs/heads/feature' }),
    writer: false,
  },
  {
    what: 'a pull_request_target run (ref = the base branch)',
    claims: githubClaims({ event: 'pull_request_target', ref: 'refs/heads/main' }),
    writer: false,
    reader: true,
  },
  {
    what: 'a push in another organisation',
    claims: githubClaims({ event: 'push', ref: 'refs/heads/main', ownerId: '999' }),
    writer: false,
    reader: false,
  },
  {
    what: 'a push in an organisation that took the name acme',
    claims: githubClaims({ event: 'push', ref: 'refs/heads/main', ownerId: '998', owner: 'acme' }),
    writer: false,
  },
  {
    what: 'a push from the organisation after it was renamed',
    claims: githubClaims({ event: 'push', ref: 'refs/heads/main', owner: 'acme-renamed' }),
    writer: true,
  },
  {
    what: 'a push calling the workflow at another ref',
    claims: githubClaims({
      event: 'push',
      ref: 'refs/heads/main',
      workflowRef: 'acme/image-syncer/.github/workflows/image-syncer.yml@refs/heads/dev',
    }),
    writer: false,
  },
  {
    what: 'a push from the longest organisation and repository names',
    claims: githubClaims({
      event: 'push',
      ref: `refs/heads/${'b'.repeat(200)}`,
      owner: LONG_OWNER,
      repository: LONG_REPOSITORY,
    }),
    writer: false,
  },
  {
    what: 'a push to main from the longest organisation and repository names',
    claims: githubClaims({
      event: 'push',
      ref: 'refs/heads/main',
      owner: LONG_OWNER,
      repository: LONG_REPOSITORY,
    }),
    writer: true,
  },
  {
    what: 'a pull request from the longest names',
    claims: githubClaims({
      event: 'pull_request_target',
      ref: 'refs/heads/main',
      owner: LONG_OWNER,
      repository: LONG_REPOSITORY,
    }),
    writer: false,
    reader: true,
  },
  {
    what: 'a push from an allowed repository',
    settings: { writer_repository_ids: ['200', '300'] },
    claims: githubClaims({ event: 'push', ref: 'refs/heads/main', repositoryId: '300' }),
    writer: true,
  },
  {
    what: 'a push from a repository not on the allow-list',
    settings: { writer_repository_ids: ['200', '300'] },
    claims: githubClaims({ event: 'push', ref: 'refs/heads/main', repositoryId: '201' }),
    writer: false,
  },
  {
    what: 'a pull request from a repository not on the allow-list',
    settings: { writer_repository_ids: ['200'] },
    claims: githubClaims({
      event: 'pull_request_target',
      ref: 'refs/heads/main',
      repositoryId: '201',
    }),
    writer: false,
    reader: true,
  },
  {
    what: 'a push outside the writer environment',
    settings: { writer_environment: 'prod' },
    claims: githubClaims({ event: 'push', ref: 'refs/heads/main' }),
    writer: false,
  },
  {
    what: 'a push in another environment',
    settings: { writer_environment: 'prod' },
    claims: githubClaims({ event: 'push', ref: 'refs/heads/main', environment: 'staging' }),
    writer: false,
  },
  {
    what: 'a push in the writer environment',
    settings: { writer_environment: 'prod' },
    claims: githubClaims({ event: 'push', ref: 'refs/heads/main', environment: 'prod' }),
    writer: true,
  },
  {
    what: 'a pull request with an environment gate set',
    settings: { writer_environment: 'prod' },
    claims: githubClaims({ event: 'pull_request_target', ref: 'refs/heads/main' }),
    writer: false,
    reader: true,
  },
  {
    what: 'a push to an unprotected branch with protection not required',
    settings: { writer_requires_protected_ref: false },
    claims: githubClaims({ event: 'push', ref: 'refs/heads/main', protectedRef: false }),
    writer: true,
  },
];

/** Every scenario decided as expected; otherwise what went wrong, setting and run named. */
export function identityProblems(config: InfraConfig): string[] {
  const problems: string[] = [];
  for (const scenario of SCENARIOS) {
    const settings = { ...DEFAULT_SETTINGS, ...scenario.settings };
    const outcome = exchange(renderIdentity(config, settings), scenario.claims);
    const setting = scenario.settings ? ` with ${JSON.stringify(scenario.settings)}` : '';
    if (outcome.refusal && (scenario.writer || scenario.reader))
      problems.push(`${scenario.what}${setting} is refused: ${outcome.refusal}`);
    if (outcome.writer !== scenario.writer)
      problems.push(
        `${scenario.what}${setting} ${outcome.writer ? 'becomes' : 'does not become'} the writer`,
      );
    if (scenario.reader !== undefined && outcome.reader !== scenario.reader)
      problems.push(
        `${scenario.what}${setting} ${outcome.reader ? 'becomes' : 'does not become'} the reader`,
      );
  }
  return problems;
}

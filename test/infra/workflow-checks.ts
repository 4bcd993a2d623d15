// What keeps the writer's token to the reviewed steps of the reusable workflow:
// no code the caller chooses runs, no credentials file is written, a push is
// checked against the writer's requirements before the token is asked for, and
// every organisation variable it reads is one Terraform lists. Returns the
// problems of a workflow text, so a test can show each one on a mistaken copy.

import { parse } from 'yaml';
import type { Step, Workflow } from './workflow-steps.ts';

const ACTIONS = ['actions/checkout', 'google-github-actions/auth'];

export function workflowProblems(text: string, organisationVariables: readonly string[]): string[] {
  const problems: string[] = [];
  const workflow = parse(text) as Workflow;
  const steps: Step[] = Object.values(workflow.jobs)[0]?.steps ?? [];
  const inputs = Object.keys(workflow.on.workflow_call?.inputs ?? {});
  for (const input of inputs.filter((i) => /tool|repository|ref$/.test(i)))
    problems.push(`input ${input} lets the caller choose code or a source to run`);
  for (const s of steps) {
    const action = s.uses?.split('@')[0];
    if (action && !ACTIONS.includes(action))
      problems.push(`step ${s.name ?? action} runs ${action}`);
    if (
      action === 'actions/checkout' &&
      s.with?.['sparse-checkout'] !== '${{ inputs.images-file }}'
    )
      problems.push(`step ${s.name} checks out more than the images file`);
    if (s.run && /\b(node|npm|npx|pnpm|yarn|sh|bash|source)\s+[\w./-]/.test(s.run))
      problems.push(`step ${s.name} runs a program from the checkout or a package`);
  }
  const auth = steps.findIndex((s) => s.uses?.startsWith('google-github-actions/auth@'));
  if (auth < 0) problems.push('no step asks for a token');
  else if (steps[auth]?.with?.create_credentials_file !== false)
    problems.push('the auth step writes a credentials file into the workspace');
  const check = steps.findIndex((s) => /writer identity's requirements/.test(s.name ?? ''));
  if (check < 0 || check > auth)
    problems.push(
      "the push is not checked against the writer identity's requirements before the token",
    );
  if (steps.slice(auth + 1).length !== 1)
    problems.push('steps other than the API call run after the token is issued');
  const read = new Set([...text.matchAll(/vars\.(\w+)/g)].map((m) => m[1] as string));
  for (const name of read)
    if (!organisationVariables.includes(name))
      problems.push(`vars.${name} is not among Terraform's github_organization_variables`);
  for (const name of organisationVariables)
    if (!read.has(name)) problems.push(`${name} (Terraform's output) is never read`);
  return problems;
}

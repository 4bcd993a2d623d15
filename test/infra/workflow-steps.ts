// The reusable workflow as its tests read it: parsed, with its steps, and a way
// to run a step's shell as GitHub Actions would (bash, -e, the step's env, a
// $GITHUB_OUTPUT file), synchronously or beside a server in this process.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

export const read = (path: string) =>
  readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

export interface Step {
  name?: string;
  id?: string;
  if?: string;
  run?: string;
  uses?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}

export interface Workflow {
  on: Record<string, { inputs: Record<string, { type: string; default?: unknown }> }>;
  permissions: Record<string, string>;
  jobs: Record<string, { steps: Step[]; environment?: string }>;
}

export const workflowText = read('.github/workflows/image-syncer.yml');
export const workflow = parse(workflowText) as Workflow;
export const steps: Step[] = Object.values(workflow.jobs)[0]?.steps ?? [];

/** The step of that name or id; the test fails loudly when there is none. */
export function step(nameOrId: string): Step {
  const found = steps.find((s) => s.id === nameOrId || s.name === nameOrId);
  if (!found) throw new Error(`the workflow has no step ${nameOrId}`);
  return found;
}

export interface StepRun {
  status: number | null;
  outputs: Record<string, string>;
  stdout: string;
  stderr: string;
  /** What the step appended to $GITHUB_STEP_SUMMARY. */
  summary: string;
}

function files() {
  const dir = mkdtempSync(join(tmpdir(), 'gh-step-'));
  const output = join(dir, 'output');
  const summary = join(dir, 'summary');
  writeFileSync(output, '');
  writeFileSync(summary, '');
  return { dir, output, summary };
}

function collect(
  paths: ReturnType<typeof files>,
  status: number | null,
  stdout: string,
  stderr: string,
): StepRun {
  const outputs: Record<string, string> = {};
  for (const line of readFileSync(paths.output, 'utf8').split('\n').filter(Boolean)) {
    const eq = line.indexOf('=');
    outputs[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return { status, outputs, stdout, stderr, summary: readFileSync(paths.summary, 'utf8') };
}

function stepEnv(paths: ReturnType<typeof files>, env: Record<string, string>) {
  return {
    PATH: process.env.PATH,
    GITHUB_OUTPUT: paths.output,
    GITHUB_STEP_SUMMARY: paths.summary,
    ...env,
  };
}

/** Runs a step's script with `env` (its own env is not evaluated: pass what the expressions give). */
export function runStep(s: Step, env: Record<string, string>, cwd?: string): StepRun {
  const paths = files();
  const result = spawnSync('bash', ['-e', '-c', s.run ?? ''], {
    cwd: cwd ?? paths.dir,
    env: stepEnv(paths, env),
    encoding: 'utf8',
  });
  return collect(paths, result.status, result.stdout, result.stderr);
}

/** The same, asynchronously: for a step that talks to a server of this process. */
export function runStepAsync(s: Step, env: Record<string, string>): Promise<StepRun> {
  const paths = files();
  const child = spawn('bash', ['-e', '-c', s.run ?? ''], {
    cwd: paths.dir,
    env: stepEnv(paths, env),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  return new Promise((resolve) =>
    child.on('close', (status) => resolve(collect(paths, status, stdout, stderr))),
  );
}

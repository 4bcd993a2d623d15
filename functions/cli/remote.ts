// `image-syncer remote plan|sync|status`: the CLI as a client of the deployed
// HTTP function, as the reusable GitHub workflow runs it. It authenticates
// with a Google ID token for the function's URL, prints one line per image,
// appends a Markdown table to $GITHUB_STEP_SUMMARY when that is set, and exits
// non-zero on any conflict, failure or invalid entry.

import { appendFile, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, describeError, SyncerError } from '../errors.ts';
import { describeBudget, pullBudgets, type RegistryPullBudget } from '../pipeline/pull-budget.ts';
import { isLoopbackHost } from '../registry/endpoint.ts';
import { httpRequest, sharedDispatcher } from '../registry/http.ts';
import { RateLimits } from '../registry/rate-limit.ts';
import { redactUrl } from '../registry/redact.ts';
import { type EntryResult, hasProblems } from '../views/entries.ts';
import { markdownTable } from '../views/markdown.ts';
import type { CliOptions } from './flags.ts';
import { type Output, resultLine } from './progress.ts';

export interface RemoteIO {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly env: NodeJS.ProcessEnv;
}

const POLL_INTERVAL_MS = 1_000;

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** An ID token whose audience is the function's URL; none for a local function. */
async function authorization(url: URL, options: CliOptions): Promise<string | undefined> {
  if (options.idToken) return `Bearer ${options.idToken}`;
  if (isLoopbackHost(url.host)) return undefined;
  const { GoogleAuth } = await import('google-auth-library');
  try {
    const client = await new GoogleAuth().getIdTokenClient(url.origin);
    const headers = await client.getRequestHeaders();
    const value =
      headers instanceof Headers
        ? headers.get('authorization')
        : (headers as Record<string, string>).Authorization;
    if (!value) throw new Error('no Authorization header produced');
    return value;
  } catch (cause) {
    throw new ConfigError(
      `cannot get a Google ID token for ${url.origin}: ${describeError(cause)} (or pass --id-token)`,
      { cause },
    );
  }
}

async function call(
  url: URL,
  method: 'GET' | 'POST',
  options: CliOptions,
  body?: Buffer,
): Promise<Answer> {
  const auth = await authorization(url, options);
  const response = await httpRequest(sharedDispatcher(), url, {
    method,
    headers: {
      accept: 'application/json',
      ...(body && { 'content-type': 'application/yaml' }),
      ...(auth && { authorization: auth }),
    },
    ...(body !== undefined && { body }),
    headersTimeout: 300_000,
    bodyTimeout: 300_000,
  });
  const text = await response.body.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SyncerError(
      'REMOTE_ERROR',
      `${method} ${redactUrl(url)} answered ${response.statusCode} without JSON`,
    );
  }
  return { status: response.statusCode, body: parsed };
}

function base(options: CliOptions): URL {
  if (!options.url) throw new ConfigError('--url is required (or SYNCER_URL): the HTTP function');
  try {
    return new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
  } catch {
    throw new ConfigError(`--url "${options.url}" is not a URL`);
  }
}

async function summarize(
  io: RemoteIO,
  title: string,
  entries: EntryResult[],
  problems: string[],
  pulls: readonly RegistryPullBudget[] = [],
): Promise<void> {
  for (const entry of entries) io.stdout.write(`${resultLine(entry)}\n`);
  for (const problem of problems) io.stderr.write(`error: ${problem}\n`);
  for (const budget of pulls) io.stdout.write(`pull budget: ${describeBudget(budget)}\n`);
  const summary = io.env.GITHUB_STEP_SUMMARY;
  if (summary) await appendFile(summary, markdownTable(title, entries, problems, pulls));
}

function failIfAnswerIsAnError(answer: Answer, what: string): void {
  if (answer.status >= 400 && answer.status !== 422) {
    throw new SyncerError(
      'REMOTE_ERROR',
      `${what} answered ${answer.status}: ${String(answer.body.error ?? JSON.stringify(answer.body))}`,
    );
  }
}

export async function runRemote(options: CliOptions, io: RemoteIO): Promise<number> {
  const root = base(options);
  const command = options.remoteCommand;
  if (command === 'status') {
    if (!options.runId) throw new ConfigError('remote status needs --run-id');
    const answer = await call(
      new URL(`runs/${encodeURIComponent(options.runId)}`, root),
      'GET',
      options,
    );
    failIfAnswerIsAnError(answer, 'status');
    const images = answer.body.images as EntryResult[];
    await summarize(
      io,
      `image-syncer run ${options.runId}`,
      images,
      (answer.body.errors as { message: string }[] | undefined)?.map((e) => e.message) ?? [],
    );
    return hasProblems(images) ? 1 : answer.body.done ? 0 : 1;
  }

  if (!options.imagesFile) throw new ConfigError('--images-file (-i) is required');
  const bytes = await readFile(options.imagesFile).catch((cause) => {
    throw new ConfigError(
      `cannot read images file ${options.imagesFile}: ${(cause as NodeJS.ErrnoException).code}`,
      { cause },
    );
  });

  if (command === 'plan') {
    const answer = await call(new URL('plan', root), 'POST', options, bytes);
    failIfAnswerIsAnError(answer, 'plan');
    const results = answer.body.results as EntryResult[];
    const errors = (answer.body.errors as string[] | undefined) ?? [];
    // The plan function reads the budget with its HEADs; an older one gives only per-image estimates.
    const pulls =
      (answer.body.pulls as RegistryPullBudget[] | undefined) ??
      pullBudgets(results, new RateLimits());
    await summarize(io, 'image-syncer plan (dry run)', results, errors, pulls);
    if (answer.status === 422) return 2;
    return hasProblems(results) ? 1 : 0;
  }

  const syncUrl = new URL('sync', root);
  if (options.runId) syncUrl.searchParams.set('runId', options.runId);
  if (options.dryRun) syncUrl.searchParams.set('dryRun', 'true');
  const started = await call(syncUrl, 'POST', options, bytes);
  failIfAnswerIsAnError(started, 'sync');
  const runId = String(started.body.runId);
  if (started.status === 422) {
    await summarize(
      io,
      `image-syncer run ${runId}`,
      [],
      (started.body.errors as string[] | undefined) ?? [],
    );
    // A run refused for the pull budget is not a bad file: a failure (1), not a usage error (2).
    return started.body.state === 'refused' ? 1 : 2;
  }
  io.stderr.write(
    `run ${runId}: ${(started.body.jobs as unknown[]).length} job(s) published; waiting for them\n`,
  );
  const deadline = Date.now() + options.timeoutSeconds * 1000;
  for (;;) {
    const answer = await call(new URL(`runs/${encodeURIComponent(runId)}`, root), 'GET', options);
    failIfAnswerIsAnError(answer, 'status');
    const images = answer.body.images as EntryResult[];
    if (answer.body.done === true) {
      await summarize(io, `image-syncer run ${runId}`, images, []);
      return hasProblems(images) ? 1 : 0;
    }
    if (Date.now() > deadline) {
      await summarize(io, `image-syncer run ${runId} (timed out)`, images, []);
      io.stderr.write(
        `run ${runId} did not finish within ${options.timeoutSeconds} s; follow it with: image-syncer remote status --run-id ${runId}\n`,
      );
      return 1;
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

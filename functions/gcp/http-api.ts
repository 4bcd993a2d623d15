// The HTTP function, for the reusable workflow and for people:
//   POST /plan           images file in the body → the dry-run plan (JSON, or Markdown on Accept: text/markdown)
//   POST /sync           images file in the body → 202 {runId, jobs}; the copy functions do the work
//   GET  /runs/{runId}   the run's status: counts, each image, done
//   GET  /runs           the recent runs
// GET answers JSON, Markdown on Accept: text/markdown, or an HTML page when the
// Accept header prefers text/html (a browser, e.g. through `gcloud run services proxy`).
// Deployed twice: `api` serves all three, `planApi` refuses /sync, so the
// identity pull requests use can be allowed to plan and never to write.

import { randomUUID } from 'node:crypto';
import type { Request, Response } from '@google-cloud/functions-framework';
import { mapLimited } from '../engine/limiter.ts';
import { describeError } from '../errors.ts';
import { formatDiagnostic } from '../images-file/diagnostics.ts';
import { MAX_FILE_BYTES } from '../images-file/parse.ts';
import { fanOut } from '../pipeline/fanout.ts';
import { isValidRunId, parsePullRequest } from '../pipeline/job.ts';
import { planImagesFile } from '../pipeline/plan.ts';
import { type PullRequestPlan, planPullRequest } from '../pipeline/pull-request-plan.ts';
import type { PullRequest } from '../pipeline/records.ts';
import { planEntries } from '../views/entries.ts';
import { markdownTable } from '../views/markdown.ts';
import { HTML_HEADERS, prefersHtml, runPage, runsPage } from '../views/run-page.ts';
import { runStatus } from '../views/status.ts';
import { fanOutDeps } from './fanout-events.ts';
import type { Runtime } from './runtime.ts';

const BODY_TYPES = /^(text\/|application\/(x-)?yaml|application\/json|application\/octet-stream)/;

function send(res: Response, status: number, body: unknown): void {
  res.status(status).set('content-type', 'application/json').send(JSON.stringify(body));
}

function problem(res: Response, status: number, message: string): void {
  send(res, status, { error: message });
}

/** The images file from the body, or an answer saying why there is none. */
function readBody(req: Request, res: Response): Buffer | undefined {
  const type = req.get('content-type') ?? '';
  if (type && !BODY_TYPES.test(type)) {
    problem(
      res,
      415,
      `content type ${type} is not accepted: send the images file as application/yaml or text/plain`,
    );
    return undefined;
  }
  const body = (req as Request & { rawBody?: Buffer }).rawBody ?? Buffer.alloc(0);
  if (body.length > MAX_FILE_BYTES) {
    problem(res, 413, `body is ${body.length} bytes; the limit is ${MAX_FILE_BYTES} (1 MiB)`);
    return undefined;
  }
  if (body.length === 0) {
    problem(res, 400, 'empty body: send the images file (YAML) as the request body');
    return undefined;
  }
  return body;
}

function wantsMarkdown(req: Request): boolean {
  return (req.get('accept') ?? '').includes('text/markdown');
}

/**
 * The pull request a plan is for, from the query the workflow sends
 * (`?pullRequest=12&repository=acme/app&commit=<sha>&fork=false`), or none.
 */
function pullRequestOf(req: Request): PullRequest | undefined {
  const query = req.query as Record<string, unknown>;
  if (query.pullRequest === undefined) return undefined;
  return parsePullRequest(
    {
      repository: query.repository,
      number: Number(query.pullRequest),
      commit: query.commit,
      fork: query.fork === 'true' ? true : query.fork === 'false' ? false : query.fork,
    },
    'pull request',
  );
}

async function plan(req: Request, res: Response, rt: Runtime): Promise<void> {
  let pullRequest: PullRequest | undefined;
  try {
    pullRequest = pullRequestOf(req);
  } catch (error) {
    return problem(res, 400, describeError(error));
  }
  const body = readBody(req, res);
  if (!body) return;
  const deps = {
    prefix: rt.config.targetRepoPrefix,
    registries: rt.registries(),
    concurrency: rt.config.concurrency,
    referrers: rt.config.referrers,
    defaults: rt.config.defaults,
  };
  const { trust } = rt.config;
  const outcome: PullRequestPlan =
    pullRequest && trust.patterns.length > 0
      ? await planPullRequest('request body', body, pullRequest, {
          ...deps,
          trust,
          fanOut: fanOutDeps(rt),
        })
      : await planImagesFile('request body', body, deps);
  if (outcome.early) res.set('x-syncer-early-run', outcome.early.runId);
  const valid = outcome.results !== undefined;
  const results = planEntries(outcome);
  const errors = outcome.check.problems.map(formatDiagnostic);
  const status = valid ? 200 : 422;
  const title = outcome.early
    ? `image-syncer plan: trusted images mirrored early in run ${outcome.early.runId}, the rest a dry run`
    : outcome.notEarly
      ? `image-syncer plan (dry run; nothing mirrored early: ${outcome.notEarly})`
      : 'image-syncer plan (dry run)';
  if (wantsMarkdown(req)) {
    res
      .status(status)
      .set('content-type', 'text/markdown; charset=utf-8')
      .send(markdownTable(title, results, errors, outcome.pulls ?? []));
    return;
  }
  send(res, status, {
    dryRun: true,
    valid,
    results,
    errors,
    warnings: outcome.check.warnings.map(formatDiagnostic),
    ...(outcome.pulls && { pulls: outcome.pulls }),
    ...(outcome.early && {
      early: { runId: outcome.early.runId, statusUrl: `/runs/${outcome.early.runId}` },
    }),
    ...(outcome.notEarly && { notEarly: outcome.notEarly }),
  });
}

async function sync(req: Request, res: Response, rt: Runtime): Promise<void> {
  const requested = String(req.query.runId ?? req.get('x-syncer-run-id') ?? '');
  if (requested && !isValidRunId(requested))
    return problem(res, 400, 'malformed runId: 1 to 128 of A-Z a-z 0-9 . _ -');
  const body = readBody(req, res);
  if (!body) return;
  const runId = requested || `http-${randomUUID()}`;
  const dryRun = rt.config.dryRun || req.query.dryRun === 'true';
  const { run, outcome } = await fanOut(
    { runId, file: 'request body', bytes: body, trigger: { type: 'http' }, dryRun },
    fanOutDeps(rt),
  );
  const answer = {
    runId: run.runId,
    state: run.state,
    dryRun: run.dryRun,
    statusUrl: `/runs/${run.runId}`,
    jobs: run.jobs.map(({ source, target, sourceDigest }) => ({
      source,
      target,
      ...(sourceDigest && { sourceDigest }),
    })),
    ...(run.errors && { errors: run.errors.map(formatDiagnostic) }),
  };
  send(res, outcome === 'invalid' ? 422 : outcome === 'repeat' ? 200 : 202, answer);
}

async function status(runId: string, req: Request, res: Response, rt: Runtime): Promise<void> {
  if (!isValidRunId(runId))
    return problem(res, 400, 'malformed runId: 1 to 128 of A-Z a-z 0-9 . _ -');
  const store = rt.store();
  const run = (await store.readRun(runId))?.value;
  if (!run) return problem(res, 404, `no run ${runId}`);
  const [results, completion] = await Promise.all([
    store.readResults(runId),
    store.readCompletion(runId),
  ]);
  const answer = runStatus(run, results, completion);
  if (!wantsMarkdown(req) && prefersHtml(req.get('accept'))) {
    res.status(200).set(HTML_HEADERS).send(runPage(answer));
    return;
  }
  if (wantsMarkdown(req)) {
    res
      .status(200)
      .set('content-type', 'text/markdown; charset=utf-8')
      .send(
        markdownTable(
          `image-syncer run ${runId}${answer.done ? '' : ` (${answer.phase === 'completing' ? 'completing' : 'in progress'})`}`,
          answer.images,
          (answer.errors ?? []).map(formatDiagnostic),
        ),
      );
    return;
  }
  send(res, 200, answer);
}

const MAX_LISTED_RUNS = 100;

async function recentRuns(req: Request, res: Response, rt: Runtime): Promise<void> {
  const limit = Math.min(Number(req.query.limit) || 25, MAX_LISTED_RUNS);
  const store = rt.store();
  const runs = await store.listRuns(limit);
  const summaries = await mapLimited(runs, 8, async (run) => {
    const completion = await store.readCompletion(run.runId);
    return { run, ...(completion && { completion }) };
  });
  if (prefersHtml(req.get('accept'))) {
    res.status(200).set(HTML_HEADERS).send(runsPage(summaries));
    return;
  }
  send(res, 200, {
    runs: summaries.map(({ run, completion }) => ({
      runId: run.runId,
      createdAt: run.createdAt,
      file: run.file,
      state: run.state,
      dryRun: run.dryRun,
      jobs: run.jobs.length,
      statusUrl: `/runs/${run.runId}`,
      ...(completion && {
        completed: {
          completedAt: completion.completedAt,
          outcome: completion.outcome,
          counts: completion.counts,
          categories: completion.categories,
        },
      }),
    })),
  });
}

export async function handleHttp(
  req: Request,
  res: Response,
  rt: Runtime,
  options: { allowSync: boolean },
): Promise<void> {
  const path = req.path.replace(/\/+$/, '') || '/';
  try {
    if (path === '/plan') {
      if (req.method !== 'POST')
        return problem(res, 405, 'use POST /plan with the images file as the body');
      return await plan(req, res, rt);
    }
    if (path === '/sync') {
      if (req.method !== 'POST')
        return problem(res, 405, 'use POST /sync with the images file as the body');
      if (!options.allowSync)
        return problem(
          res,
          403,
          'this endpoint only plans; /sync is served by the writer function',
        );
      return await sync(req, res, rt);
    }
    if (path === '/runs') {
      if (req.method !== 'GET') return problem(res, 405, 'use GET /runs');
      return await recentRuns(req, res, rt);
    }
    const run = /^\/runs\/([^/]+)$/.exec(path);
    if (run) {
      if (req.method !== 'GET') return problem(res, 405, 'use GET /runs/{runId}');
      return await status(decodeURIComponent(run[1] as string), req, res, rt);
    }
    problem(
      res,
      404,
      'not found: the routes are POST /plan, POST /sync, GET /runs and GET /runs/{runId}',
    );
  } catch (error) {
    // Never a stack trace to the caller; the log has the detail.
    rt.logger.warn('request failed', { path, error: describeError(error) });
    if (!res.headersSent) problem(res, 500, 'internal error; see the function logs');
  }
}

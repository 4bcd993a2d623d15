#!/usr/bin/env node
// The `image-syncer` command: parse flags, read the images file, run the
// engine, print and report. Exit 0 when every image is copied/exists/planned/
// valid, 1 on any conflict or failure, 2 on usage errors or an invalid file.

import { readFile } from 'node:fs/promises';
import { syncImages } from '../engine/sync.ts';
import type { CopyJob, CopyResult } from '../engine/types.ts';
import { ConfigError, describeError } from '../errors.ts';
import { formatDiagnostic } from '../images-file/diagnostics.ts';
import { copyRequest } from '../images-file/fields.ts';
import { checkImagesFile, type ImagesFileCheck } from '../images-file/parse.ts';
import { mutableTagWarnings } from '../images-file/platforms-field.ts';
import { decodeUtf8 } from '../images-file/yaml-text.ts';
import { isRegistryAllowed } from '../registry/network-policy.ts';
import type { Logger } from '../util/logger.ts';
import { entryOf, validationEntries } from '../views/entries.ts';
import { failureGroups } from '../views/failure-groups.ts';
import { budgetLines } from './budget.ts';
import { type CliOptions, parseFlags, usage } from './flags.ts';
import { runPin } from './pin.ts';
import { formatBytes, type Output, ProgressDisplay, resultLine } from './progress.ts';
import { runRemote } from './remote.ts';
import { renovateWarnings } from './renovate-preset.ts';
import { writeReport } from './report.ts';
import { createRegistries } from './setup.ts';

export const EXIT_OK = 0;
export const EXIT_FAILURES = 1;
export const EXIT_USAGE = 2;
/** 128 + SIGINT, as shells report a command stopped by Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

/** Syncs in progress in this process: only they stop gracefully on an interrupt. */
let syncing = 0;

export interface CliIO {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM: every request stops, nothing more is written. */
  readonly signal?: AbortSignal;
}

function stderrLogger(stderr: Output, debug: boolean): Logger {
  const started = performance.now();
  const line = (level: string, message: string, fields?: Record<string, unknown>) =>
    stderr.write(
      `${level}${level === 'debug' ? ` +${Math.round(performance.now() - started)}ms` : ''} ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`,
    );
  return {
    debug: (m, f) => debug && line('debug', m, f),
    info: (m, f) => line('info', m, f),
    warn: (m, f) => line('warn', m, f),
  };
}

async function readImagesFile(options: CliOptions): Promise<{ path: string; bytes: Buffer }> {
  if (!options.imagesFile)
    throw new ConfigError('--images-file (-i) is required (or SYNCER_IMAGES_FILE)');
  try {
    return { path: options.imagesFile, bytes: await readFile(options.imagesFile) };
  } catch (cause) {
    throw new ConfigError(
      `cannot read images file ${options.imagesFile}: ${(cause as NodeJS.ErrnoException).code ?? cause}`,
      { cause },
    );
  }
}

export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  let options: CliOptions;
  try {
    options = parseFlags(argv, io.env);
  } catch (error) {
    io.stderr.write(`image-syncer: ${describeError(error)}\n`);
    return EXIT_USAGE;
  }
  if (options.help) {
    io.stdout.write(`${usage()}\n`);
    return EXIT_OK;
  }
  if (options.version) {
    io.stdout.write('image-syncer 0.1.0\n');
    return EXIT_OK;
  }
  const logger = stderrLogger(io.stderr, options.debug);
  if (options.command === 'remote') {
    try {
      return await runRemote(options, io);
    } catch (error) {
      io.stderr.write(`image-syncer: ${describeError(error)}\n`);
      return error instanceof ConfigError ? EXIT_USAGE : EXIT_FAILURES;
    }
  }

  if (options.command === 'pin') return runPin(options, io, logger);

  let checked: { check: ImagesFileCheck; text: string };
  try {
    checked = await checkFile(options);
  } catch (error) {
    io.stderr.write(`image-syncer: ${describeError(error)}\n`);
    return EXIT_USAGE;
  }
  const { check } = checked;
  for (const warning of check.warnings) io.stderr.write(`warning: ${formatDiagnostic(warning)}\n`);
  if (options.command === 'validate' || check.problems.length > 0)
    return validate(options, checked, io);
  return sync(options, check, io, logger);
}

async function checkFile(options: CliOptions): Promise<{ check: ImagesFileCheck; text: string }> {
  const { path, bytes } = await readImagesFile(options);
  const check = checkImagesFile(path, bytes, options.targetRepoPrefix, {
    isRegistryAllowed: (registry) => isRegistryAllowed(options.policy, registry),
  });
  // The text as checkImagesFile decodes it (a byte-order mark dropped); a file
  // that does not decode has a problem, so its text is never looked at.
  const text = decodeUtf8(path, bytes);
  return { check, text: typeof text === 'string' ? text : '' };
}

/** `validate`, or any command on a file with problems: every entry's line, every problem, nothing copied. */
async function validate(
  options: CliOptions,
  { check, text }: { check: ImagesFileCheck; text: string },
  io: CliIO,
): Promise<number> {
  if (options.command === 'validate' && check.problems.length === 0)
    for (const advice of [
      ...mutableTagWarnings(check.file, check.entries),
      ...renovateWarnings(check.file, text, check.entries),
    ])
      io.stderr.write(`warning: ${formatDiagnostic(advice)}\n`);
  const entries = validationEntries(check);
  if (options.command === 'validate')
    for (const entry of entries) io.stdout.write(`${resultLine(entry)}\n`);
  for (const problem of check.problems) io.stderr.write(`error: ${formatDiagnostic(problem)}\n`);
  if (options.report) await writeReport(options.report, { dryRun: true, results: entries });
  if (check.problems.length > 0) {
    io.stderr.write(
      `image-syncer: ${check.file} is invalid (${check.problems.length} problem(s)); nothing was copied\n`,
    );
    return EXIT_USAGE;
  }
  io.stdout.write(`${entries.length} image(s) valid\n`);
  return EXIT_OK;
}

/** `sync`: every entry copied (or planned, with --dry-run), with progress, a summary and the exit status. */
async function sync(
  options: CliOptions,
  check: ImagesFileCheck,
  io: CliIO,
  logger: Logger,
): Promise<number> {
  let registries: Awaited<ReturnType<typeof createRegistries>>;
  try {
    registries = await createRegistries(options, logger, io.env);
  } catch (error) {
    io.stderr.write(`image-syncer: ${describeError(error)}\n`);
    return EXIT_USAGE;
  }
  const jobs: CopyJob[] = check.entries.map((entry) => copyRequest(entry, options.defaults));
  const progress = new ProgressDisplay(io.stdout, io.stderr, jobs.length);
  const started = performance.now();
  let results: Awaited<ReturnType<typeof syncImages>>;
  syncing++;
  try {
    results = await syncImages(jobs, registries, {
      dryRun: options.dryRun,
      concurrency: options.concurrency,
      referrers: options.referrers,
      observer: progress,
      ...(io.signal && { signal: io.signal }),
    });
  } finally {
    syncing--;
    progress.finish();
    await registries.close();
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  io.stdout.write(`${summaryLine(options, results, progress.bytesCopied, seconds)}\n`);
  for (const line of budgetLines(results, registries.rateLimits, options.dryRun))
    io.stdout.write(`${line}\n`);
  if (options.report)
    await writeReport(options.report, { dryRun: options.dryRun, results: results.map(entryOf) });
  if (io.signal?.aborted) {
    // Each image either finished before the interrupt or stopped without its
    // manifest written (a tag is only ever written last): run again to go on.
    io.stderr.write(
      'image-syncer: interrupted; unfinished images were not written, run again to go on\n',
    );
    return EXIT_INTERRUPTED;
  }
  return results.some((r) => r.status === 'conflict' || r.status === 'failed')
    ? EXIT_FAILURES
    : EXIT_OK;
}

/** `5 copied, 1 conflict (12.3 MiB copied in 4.5 s); problems: 1 conflict`. */
function summaryLine(
  options: CliOptions,
  results: readonly CopyResult[],
  bytesCopied: number,
  seconds: string,
): string {
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const summary = [...counts].map(([status, n]) => `${n} ${status}`).join(', ') || 'no images';
  const kinds = failureGroups(results).map((g) => `${g.sources.length} ${g.category}`);
  return `${options.dryRun ? 'dry run: ' : ''}${summary} (${formatBytes(bytesCopied)} copied in ${seconds} s)${kinds.length > 0 ? `; problems: ${kinds.join(', ')}` : ''}`;
}

/**
 * The process's interrupt: during a sync the first Ctrl-C (or SIGTERM) aborts
 * it, which stops every request and lets the run report what finished; a
 * second one, or one at any other time (validate, pin, remote), exits at once.
 */
export function interruptOnSignals(): AbortSignal {
  const interrupt = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (syncing === 0 || interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED);
    process.stderr.write(`image-syncer: ${name}: stopping (again to exit at once)\n`);
    interrupt.abort(new Error(`interrupted by ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return interrupt.signal;
}

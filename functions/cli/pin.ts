// `image-syncer pin -i FILE`: every source given by tag is resolved to the
// digest it serves now (a HEAD, which is not a Docker Hub pull) and rewritten
// as a digest pin with the same target tag: `--style renovate` (the default)
// writes `source: name:tag@sha256:…` with no `tag:`, the form Renovate keeps
// current without conflicts; `--style digest` writes `source: name@sha256:…`
// plus `tag:`, the form the Go tool's users wrote by hand (see pin-edit.ts).
// `--check` changes nothing and exits 1 while any entry is unpinned (for CI);
// `--dry-run` prints the diff only. The pinned file must validate and map to
// exactly the same targets, or nothing is written; the write is atomic
// (temporary file, then rename).

import { readFile, realpath, rename, stat, writeFile } from 'node:fs/promises';
import { mapLimited } from '../engine/limiter.ts';
import { ConfigError, describeError } from '../errors.ts';
import { formatDiagnostic } from '../images-file/diagnostics.ts';
import { checkImagesFile } from '../images-file/parse.ts';
import { formatReference, manifestReference, parseReference } from '../reference/reference.ts';
import type { TargetPrefix } from '../reference/target.ts';
import { primeTokens } from '../registry/prime.ts';
import type { Logger } from '../util/logger.ts';
import type { CliOptions } from './flags.ts';
import { formatDiff, pinText, planPins, type UnpinnedEntry, unpinnedEntries } from './pin-edit.ts';
import type { Output } from './progress.ts';
import { createRegistries } from './setup.ts';

export interface PinIO {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly env: NodeJS.ProcessEnv;
}

const EXIT_OK = 0;
const EXIT_FAILURES = 1;
const EXIT_USAGE = 2;

function targetsOf(file: string, text: string, prefix: TargetPrefix) {
  const check = checkImagesFile(file, Buffer.from(text), prefix);
  return { check, targets: check.entries.map((e) => formatReference(e.target)) };
}

export async function runPin(options: CliOptions, io: PinIO, logger: Logger): Promise<number> {
  const prefix = options.targetRepoPrefix;
  let text: string;
  const file = options.imagesFile;
  try {
    if (!file) throw new ConfigError('--images-file (-i) is required (or SYNCER_IMAGES_FILE)');
    text = await readFile(file, 'utf8').catch((cause) => {
      throw new ConfigError(`cannot read images file ${file}: ${cause.code ?? cause}`, { cause });
    });
  } catch (error) {
    io.stderr.write(`image-syncer: ${describeError(error)}\n`);
    return EXIT_USAGE;
  }
  const before = targetsOf(file, text, prefix);
  if (before.check.problems.length > 0) {
    for (const p of before.check.problems) io.stderr.write(`error: ${formatDiagnostic(p)}\n`);
    io.stderr.write(`image-syncer: ${file} is invalid; nothing was pinned\n`);
    return EXIT_USAGE;
  }
  const unpinned = unpinnedEntries(text);
  if (options.check) return checkPinned(file, unpinned, io);
  if (unpinned.length === 0) {
    io.stdout.write(`every entry of ${file} is already pinned; nothing to do\n`);
    return EXIT_OK;
  }
  const digests = await resolveDigests(options, unpinned, io, logger);
  if (typeof digests === 'number') return digests;
  const plans = planPins(text, unpinned, options.style);
  const pinned = pinText(text, plans, digests);
  const after = targetsOf(file, pinned.text, prefix);
  const same =
    after.check.problems.length === 0 &&
    after.targets.length === before.targets.length &&
    after.targets.every((t, i) => t === before.targets[i]);
  if (!same || unpinnedEntries(pinned.text).length > 0) {
    for (const p of after.check.problems) io.stderr.write(`error: ${formatDiagnostic(p)}\n`);
    io.stderr.write(
      `image-syncer: the pinned file would not map to the same targets; nothing was written (please report this)\n`,
    );
    return EXIT_FAILURES;
  }
  io.stdout.write(formatDiff(file, pinned.hunks));
  for (const { entry, note } of plans)
    if (note) io.stderr.write(`note: ${file}:${entry.line}: images[${entry.index}] ${note}\n`);
  const count = `${unpinned.length} entr${unpinned.length === 1 ? 'y' : 'ies'}`;
  if (options.dryRun) {
    io.stdout.write(`dry run: ${count} would be pinned\n`);
    return EXIT_OK;
  }
  await writeAtomically(file, pinned.text);
  io.stdout.write(`pinned ${count} in ${file}\n`);
  return EXIT_OK;
}

/** `--check`: each entry not pinned to a digest, as `FILE:LINE`; 1 when there is any. */
function checkPinned(file: string, unpinned: readonly UnpinnedEntry[], io: PinIO): number {
  for (const e of unpinned)
    io.stderr.write(
      `${file}:${e.line}: images[${e.index}].source: "${e.source}" is not pinned to a digest\n`,
    );
  if (unpinned.length > 0) {
    io.stderr.write(
      `image-syncer: ${unpinned.length} entr${unpinned.length === 1 ? 'y is' : 'ies are'} not pinned; run image-syncer pin -i ${file}\n`,
    );
    return EXIT_FAILURES;
  }
  io.stdout.write(`every entry of ${file} is pinned to a digest\n`);
  return EXIT_OK;
}

/** One HEAD per distinct source: the digest it serves now; or the exit status when any cannot be resolved. */
async function resolveDigests(
  options: CliOptions,
  unpinned: readonly UnpinnedEntry[],
  io: PinIO,
  logger: Logger,
): Promise<Map<string, string> | number> {
  const sources = [...new Set(unpinned.map((e) => e.source))];
  const digests = new Map<string, string>();
  const failures: string[] = [];
  let registries: Awaited<ReturnType<typeof createRegistries>>;
  try {
    registries = await createRegistries(options, logger, io.env);
  } catch (error) {
    io.stderr.write(`image-syncer: ${describeError(error)}\n`);
    return EXIT_USAGE;
  }
  try {
    const refs = sources.map((s) => parseReference(s));
    await primeTokens(
      refs.map((sourceRef) => ({ sourceRef, target: sourceRef })),
      registries,
      { target: false },
    );
    await mapLimited(sources, options.concurrency * 4, async (source, i) => {
      const ref = refs[i] as ReturnType<typeof parseReference>;
      try {
        const head = await registries
          .client(ref.registry)
          .headManifest(ref.repository, manifestReference(ref));
        if (head) digests.set(source, head.digest);
        else failures.push(`${source}: source not found`);
      } catch (error) {
        failures.push(`${source}: ${describeError(error)}`);
      }
    });
  } finally {
    await registries.close();
  }
  if (failures.length === 0) return digests;
  for (const f of failures) io.stderr.write(`error: ${f}\n`);
  io.stderr.write(`image-syncer: ${failures.length} source(s) not resolved; nothing was pinned\n`);
  return EXIT_FAILURES;
}

/**
 * Atomic: a reader (or a crash) never sees half a file; the mode is kept. A
 * symlinked file is rewritten where it lives, and the link stays a link.
 */
async function writeAtomically(file: string, text: string): Promise<void> {
  const destination = await realpath(file);
  const temporary = `${destination}.${process.pid}.pin.tmp`;
  await writeFile(temporary, text, { mode: (await stat(destination)).mode & 0o777 });
  await rename(temporary, destination);
}

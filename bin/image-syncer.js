#!/usr/bin/env -S node --max-semi-space-size=1
// Runs the compiled CLI (dist/, built by `npm run build`); from a checkout on
// Node 24 without a build, the TypeScript source runs as is.
import { existsSync } from 'node:fs';
import module from 'node:module';
import v8 from 'node:v8';

// A small young generation: blobs stream through in 64 KiB chunks, and with
// the default (tens of MiB) the dead chunks of a large copy pile up between
// scavenges. 1 MiB semi-spaces cut peak RSS by a quarter and run no slower
// (bench/run.ts). The shebang sets it from the start; this covers
// `node bin/image-syncer.js`, where it takes effect only partly.
v8.setFlagsFromString('--max-semi-space-size=1');

// Cache compiled code between runs (Node 22+): a CLI that starts often
// should not parse its dependencies anew each time.
module.enableCompileCache?.();

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `image-syncer needs Node.js 24 or newer; this is ${process.version} (${process.execPath})\n`,
  );
  process.exit(2);
}

const compiled = new URL('../dist/cli/main.js', import.meta.url);
const entry = existsSync(compiled)
  ? compiled
  : new URL('../functions/cli/main.ts', import.meta.url);
const { runCli, interruptOnSignals } = await import(entry.href);
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: interruptOnSignals(),
});

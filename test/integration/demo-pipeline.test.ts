// `npm run demo:pipeline` end to end, as a person would run it: three ways in
// (bucket upload, request message, POST /sync with the remote client), every
// image copied, then a re-run where every image exists and the source sees no
// manifest or blob GET. Also: nothing is left running after it, after Ctrl-C,
// and without the Pub/Sub emulator it starts nothing and says what is missing.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  onStdout?: (all: string, child: ReturnType<typeof spawn>) => void,
): Promise<Finished> {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    onStdout?.(stdout, child);
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
}

function pidsIn(output: string): number[] {
  const listed = /processes: ([\d ]+)/.exec(output)?.[1] ?? '';
  return listed.trim().split(/\s+/).filter(Boolean).map(Number);
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function workFolder(output: string): string | undefined {
  return /work folder: (\S+)/.exec(output)?.[1];
}

describe('npm run demo:pipeline', () => {
  it('goes in three ways, copies every image, then re-runs copying nothing', async () => {
    const result = await run('npm', ['run', '--silent', 'demo:pipeline']);
    const out = result.stdout;
    assert.equal(result.code, 0, `${out}\n${result.stderr}`);
    // Three runs, one per way in, each done with every image copied.
    const done = [...out.matchAll(/run (\S+) done: (.+) \((\d+) jobs published\)/g)];
    assert.equal(done.length, 4, out);
    assert.deepEqual(
      done.slice(0, 3).map((m) => [m[2], m[3]]),
      [
        ['2 copied', '2'],
        ['1 copied', '1'],
        ['2 copied', '2'],
      ],
    );
    assert.match(done[1]?.[1] ?? '', /^ci-demo-1$/);
    assert.match(done[2]?.[1] ?? '', /^workflow-demo-1$/);
    assert.match(out, /remote \| copied .*team\/tool:2/);
    // The re-run: every image exists, zero source GETs, zero target writes.
    assert.deepEqual(done[3]?.slice(2), ['5 exists', '5']);
    assert.match(
      out,
      /5 exists, 0 copied; source saw \d+ HEAD and 0 manifest\/blob GETs; target saw 0 writes/,
    );
    assert.match(out, /\| copied \| `[^`]+\/team\/app:1\.0` \|/);
    assert.match(out, /demo:pipeline OK/);
    // Every function ran with Terraform's variables, named in the output.
    assert.match(out, /copyJob\s+http:\/\/127\.0\.0\.1:\d+\s+.*SYNCER_MAX_DELIVERY_ATTEMPTS/);
    // copyJob dead-letters by its own count to the subscription's dead-letter
    // topic, as Terraform sets it; the subscription's attempts are the backstop.
    assert.match(
      out,
      /copyJob dead-letters to image-syncer-jobs-dead-letter after 5 counted failures; the subscription's backstop: 100 attempts/,
    );
    // Nothing is left running; the work folder is gone.
    const pids = pidsIn(out);
    assert.ok(pids.length >= 6, `emulator and five functions: ${pids}`);
    assert.deepEqual(pids.filter(running), []);
    assert.equal(existsSync(workFolder(out) ?? '/nonexistent'), false);
  });

  it('stops everything it started on Ctrl-C', async () => {
    let interrupted = false;
    const result = await run(process.execPath, ['scripts/demo-pipeline.ts'], {}, (out, child) => {
      if (!interrupted && /processes: [\d ]+\n/.test(out)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    assert.ok(interrupted, result.stdout);
    assert.equal(result.code, 130, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /SIGINT: stopping everything the demo started/);
    assert.doesNotMatch(result.stderr, /demo:pipeline failed/);
    const pids = pidsIn(result.stdout);
    assert.ok(pids.length >= 6);
    assert.deepEqual(pids.filter(running), []);
    assert.equal(existsSync(workFolder(result.stdout) ?? '/nonexistent'), false);
  });

  it('without the Pub/Sub emulator, says what is missing and starts nothing', async () => {
    const result = await run(process.execPath, ['scripts/demo-pipeline.ts'], {
      PUBSUB_EMULATOR_BIN: '/nonexistent/cloud-pubsub-emulator',
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /needs the Pub\/Sub emulator/);
    assert.match(result.stderr, /google-cloud-cli.*pubsub-emulator/s);
    assert.match(result.stderr, /Nothing was started/);
    assert.doesNotMatch(result.stdout, /registries:/);
  });
});

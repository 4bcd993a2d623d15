// The deployable module under the real functions-framework command: a bad
// configuration fails the instance at cold start naming the variable, a good
// one serves.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../support/ports.ts';

const FRAMEWORK = 'node_modules/@google-cloud/functions-framework/build/src/main.js';

function start(target: string, signature: string, port: number, env: NodeJS.ProcessEnv) {
  const child = spawn(
    process.execPath,
    [
      FRAMEWORK,
      `--target=${target}`,
      '--source=functions/gcp/index.ts',
      `--signature-type=${signature}`,
      `--port=${port}`,
    ],
    {
      env: { PATH: process.env.PATH, METADATA_SERVER_DETECTION: 'none', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (c) => {
    output += c;
  });
  child.stderr.on('data', (c) => {
    output += c;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

describe('cold start under functions-framework', () => {
  it('fails at once, naming the missing variable', async () => {
    const plain = start('copyJob', 'cloudevent', await freePort(), {});
    assert.notEqual(await plain.exited, 0);
    assert.match(plain.output(), /SYNCER_TARGET_REPO_PREFIX is required/);

    const fanOut = start('fanOutUpload', 'cloudevent', await freePort(), {
      FUNCTION_TARGET: 'fanOutUpload',
      SYNCER_TARGET_REPO_PREFIX: 'europe-docker.pkg.dev/p/r/',
    });
    assert.notEqual(await fanOut.exited, 0);
    assert.match(
      fanOut.output(),
      /SYNCER_JOBS_TOPIC and SYNCER_RUNS_BUCKET required by the fanOutUpload function/,
    );
  });

  it('serves when configured', async () => {
    const port = await freePort();
    const planApi = start('planApi', 'http', port, {
      FUNCTION_TARGET: 'planApi',
      SYNCER_TARGET_REPO_PREFIX: 'europe-docker.pkg.dev/p/r/',
    });
    try {
      let response: Response | undefined;
      for (let i = 0; i < 100 && !response; i++) {
        response = await fetch(`http://127.0.0.1:${port}/plan`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: 'images:\n- source: Not/Valid\n',
        }).catch(() => undefined);
        if (!response) await sleep(100);
      }
      assert.equal(response?.status, 422, planApi.output());
      const body = (await response?.json()) as { errors: string[] };
      assert.match(body.errors[0] ?? '', /request body:2: images\[0\]\.source: .*lowercase/);
    } finally {
      planApi.child.kill();
      await planApi.exited;
    }
  });
});

// The deployable module under the real functions-framework command: a bad
// configuration fails the instance at cold start naming the variable, a good
// one serves.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { listening, servingPort } from '../support/ports.ts';

const FRAMEWORK = 'node_modules/@google-cloud/functions-framework/build/src/main.js';

function start(target: string, signature: string, env: NodeJS.ProcessEnv) {
  const child = spawn(
    process.execPath,
    [
      FRAMEWORK,
      `--target=${target}`,
      '--source=functions/gcp/index.ts',
      `--signature-type=${signature}`,
      '--port=0',
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
    const plain = start('copyJob', 'cloudevent', {});
    assert.notEqual(await plain.exited, 0);
    assert.match(plain.output(), /SYNCER_TARGET_REPO_PREFIX is required/);

    const fanOut = start('fanOutUpload', 'cloudevent', {
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
    const planApi = start('planApi', 'http', {
      FUNCTION_TARGET: 'planApi',
      SYNCER_TARGET_REPO_PREFIX: 'europe-docker.pkg.dev/p/r/',
    });
    try {
      const port = await servingPort(planApi.child, 'planApi', listening, {
        output: planApi.output,
      });
      const response = await fetch(`http://127.0.0.1:${port}/plan`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'images:\n- source: Not/Valid\n',
      });
      assert.equal(response.status, 422, planApi.output());
      const body = (await response.json()) as { errors: string[] };
      assert.match(body.errors[0] ?? '', /request body:2: images\[0\]\.source: .*lowercase/);
    } finally {
      planApi.child.kill();
      await planApi.exited;
    }
  });
});

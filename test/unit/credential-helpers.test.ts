// Credential helpers (Docker's credsStore / credHelpers): asked once per host
// per run, only when a credential is really needed, and every failure is an
// error that names the helper (docker/docker-credential-helpers protocol:
// `get`, server URL on stdin, `{Username, Secret}` or "credentials not found").

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { copyImage } from '../../functions/engine/copy.ts';
import { DockerConfigCredentials } from '../../functions/registry/credentials.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { serverPool } from '../support/fake-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'credhelpers-'));
const calls = join(dir, 'calls');
const path = process.env.PATH;
const { serve, closeAll } = serverPool();

function helper(name: string, script: string): void {
  writeFileSync(join(dir, `docker-credential-${name}`), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
}

function config(body: object): DockerConfigCredentials {
  const file = join(dir, `config-${Math.random()}.json`);
  writeFileSync(file, JSON.stringify(body));
  return new DockerConfigCredentials(file);
}

before(() => {
  writeFileSync(calls, '');
  // Counts its calls; answers for any host.
  helper(
    'counting',
    `read host; echo "$host" >> ${calls}; echo '{"Username":"bot","Secret":"s3cret"}'`,
  );
  helper('failing', 'read host; echo "keychain locked" >&2; exit 3');
  helper('notfound', 'read host; echo "credentials not found in native keychain"; exit 1');
  helper('garbled', 'read host; echo "Secret: s3cret"');
  // Exits without reading stdin: the write of the host hits a closed pipe (EPIPE).
  helper('deaf', 'exit 0');
  process.env.PATH = `${dir}:${path}`;
});
after(async () => {
  process.env.PATH = path;
  await closeAll();
});

describe('credential helpers', () => {
  it('are asked once per host per run, and only when a token is really fetched', async () => {
    let issued = 0;
    const server = await serve((req, res) => {
      if (req.url?.startsWith('/token')) {
        return void res
          .writeHead(200)
          .end(JSON.stringify({ token: `t${++issued}`, expires_in: 300 }));
      }
      if (!req.headers.authorization?.startsWith('Bearer '))
        return void res
          .writeHead(401, { 'www-authenticate': `Bearer realm="${server.url}/token"` })
          .end();
      res.writeHead(404).end();
    });
    const anonymousRegistry = await serve((_req, res) => void res.writeHead(404).end());
    const regs = new Registries({
      retry: { attempts: 1 },
      credentials: config({ credsStore: 'counting' }),
    });
    const client = regs.client(server.host);
    // Three requests for one repository (one token), one for another (a second token).
    for (const tag of ['1', '2', '3']) await client.headManifest('a/b', tag);
    await client.headManifest('c/d', '1');
    // A registry that asks for no auth never makes us ask the helper.
    await regs.client(anonymousRegistry.host).headManifest('x/y', '1');
    assert.equal(issued, 2);
    assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), [server.host]);
    await regs.close();
  });

  it('turn every helper failure into an error naming the helper, EPIPE included', async () => {
    const table: [string, RegExp | undefined][] = [
      ['failing', /docker-credential-failing failed for r\.example: exited with status 3/],
      ['missing', /docker-credential-missing failed for r\.example: not found on PATH/],
      ['garbled', /docker-credential-garbled failed for r\.example: did not answer JSON/],
      ['deaf', /docker-credential-deaf failed for r\.example: (stdin: EPIPE|did not answer JSON)/],
      ['notfound', undefined],
    ];
    for (const [name, expected] of table) {
      const creds = config({ credHelpers: { 'r.example': name } });
      if (!expected) {
        assert.equal(await creds.credentialFor('r.example'), undefined, name);
        continue;
      }
      await assert.rejects(creds.credentialFor('r.example'), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'CREDENTIAL_HELPER_FAILED');
        assert.match(e.message, expected);
        assert.doesNotMatch(e.message, /s3cret/);
        return true;
      });
    }
  });

  it('a failing helper fails the image with the auth category, not the process', async () => {
    const server = await serve((req, res) => {
      if (req.url?.startsWith('/token')) return void res.writeHead(200).end('{"token":"t"}');
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${server.url}/token"` }).end();
    });
    const regs = new Registries({
      retry: { attempts: 1 },
      credentials: config({ credHelpers: { [server.host]: 'missing' } }),
    });
    const result = await copyImage(
      {
        source: `${server.host}/a/b:1`,
        sourceRef: { registry: server.host, repository: 'a/b', tag: '1' },
        target: { registry: server.host, repository: 'm/a/b', tag: '1' },
      },
      { registries: regs, blobs: {} as never, transfers: {} as never, dryRun: true },
    );
    assert.equal(result.status, 'failed');
    assert.equal(result.errorCode, 'CREDENTIAL_HELPER_FAILED');
    assert.equal(result.category, 'auth');
    assert.match(result.error ?? '', /docker-credential-missing/);
    await regs.close();
  });
});

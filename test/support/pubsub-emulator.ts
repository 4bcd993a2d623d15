// The real Pub/Sub emulator (google-cloud-cli), one per test file, on a free
// loopback port. Tests that need it fail loudly when it is missing: nothing
// is skipped.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.ts';

export const EMULATOR =
  process.env.PUBSUB_EMULATOR_BIN ??
  '/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator';

export interface PubSubEmulator {
  /** `127.0.0.1:PORT`, for PUBSUB_EMULATOR_HOST. */
  readonly host: string;
  stop(): Promise<void>;
}

export async function startPubSubEmulator(): Promise<PubSubEmulator> {
  if (!existsSync(EMULATOR)) {
    throw new Error(
      `the Pub/Sub emulator is not installed at ${EMULATOR} (google-cloud-cli with its pubsub emulator); these tests cannot run without it`,
    );
  }
  const port = await freePort();
  const child: ChildProcess = spawn(EMULATOR, ['--host=127.0.0.1', `--port=${port}`], {
    stdio: 'ignore',
    detached: true,
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (exited) throw new Error('the Pub/Sub emulator exited at start');
    try {
      const response = await fetch(`http://${host}/`);
      if ((await response.text()).trim() === 'Ok') break;
    } catch {
      // not listening yet
    }
    if (i > 300) throw new Error('the Pub/Sub emulator did not start in 30 s');
    await sleep(100);
  }
  return {
    host,
    stop: async () => {
      if (exited) return;
      // The launcher script starts java as a child; end the whole group.
      try {
        process.kill(-(child.pid as number), 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

// The real Pub/Sub emulator (google-cloud-cli), one per test file, on a free
// loopback port (port 0, read back by servingPort). Tests that need it fail loudly when it is missing: nothing
// is skipped.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { servingPort } from './ports.ts';

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
  const child: ChildProcess = spawn(EMULATOR, ['--host=127.0.0.1', '--port=0'], {
    stdio: 'ignore',
    detached: true,
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const stop = async () => {
    if (exited) return;
    // The launcher script starts java as a child; end the whole group.
    try {
      process.kill(-(child.pid as number), 'SIGTERM');
    } catch {
      child.kill('SIGTERM');
    }
    await new Promise((resolve) => child.once('exit', resolve));
  };
  const port = await servingPort(child, 'the Pub/Sub emulator', isEmulator).catch(async (error) => {
    await stop();
    throw error;
  });
  return { host: `127.0.0.1:${port}`, stop };
}

/** For `servingPort`: the emulator answers `GET /` with "Ok" on the port it serves. */
export async function isEmulator(url: string): Promise<boolean> {
  return (await (await fetch(`${url}/`)).text()).trim() === 'Ok';
}

// Every long-running thing the local demos start (server processes, in-process
// servers) is registered here, so one call stops them all, also when the user
// presses Ctrl-C: nothing is left running and temporary folders are removed.

import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';

type Stopper = () => Promise<void> | void;

export class Processes {
  readonly #stoppers: Stopper[] = [];
  readonly #children: ChildProcess[] = [];
  #stopping: Promise<void> | undefined;

  /** Runs `stop` (last registered first) when everything is stopped. */
  onStop(stop: Stopper): void {
    this.#stoppers.push(stop);
  }

  /** Removes `dir` when everything is stopped. */
  removeOnStop(dir: string): void {
    this.onStop(() => rmSync(dir, { recursive: true, force: true }));
  }

  /** The process ids of every child still running, for the record. */
  get pids(): number[] {
    return this.#children.filter((c) => c.exitCode === null).map((c) => c.pid as number);
  }

  /**
   * Starts a child in its own process group (so a launcher script and what it
   * starts end together), collecting its output for when it fails.
   */
  spawn(
    command: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv,
  ): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
    const child = spawn(command, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.push(child);
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { child, output: () => output, exited };
  }

  /** True once stopping has begun (the demo's own work then ends with errors nobody needs to read). */
  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  /** Stops everything once; later calls wait for the first. */
  stopAll(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const child of this.#children) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        try {
          process.kill(-(child.pid as number), 'SIGTERM');
        } catch {
          child.kill('SIGTERM');
        }
      }
      await Promise.all(
        this.#children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              const force = setTimeout(() => {
                try {
                  process.kill(-(child.pid as number), 'SIGKILL');
                } catch {
                  child.kill('SIGKILL');
                }
              }, 5_000);
              child.once('exit', () => {
                clearTimeout(force);
                resolve();
              });
            }),
        ),
      );
      for (const stop of this.#stoppers.reverse()) {
        try {
          await stop();
        } catch {
          // Stopping is best effort: one failure must not leave the rest running.
        }
      }
    })();
    return this.#stopping;
  }

  /** On Ctrl-C or SIGTERM: stop everything, then exit 130 (or 143). */
  stopOnSignals(say: (text: string) => void): void {
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      process.once(signal, () => {
        say(`${signal}: stopping everything the demo started`);
        void this.stopAll().then(() => process.exit(code));
      });
    }
  }
}

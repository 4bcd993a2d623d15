// Loopback ports for test servers, with no race between test files that run
// at once: every server is started on port 0, so the kernel hands it a port
// nobody holds, and the port is read back once it listens. Choosing a free
// port first and starting the server on it later would leave a moment in
// which another test's server (or any outgoing connection) could take it.
//
// An in-process server tells its port (server.address()). A child process
// started on port 0 (docker-registry's `http.addr`, the Pub/Sub emulator's and
// the Functions Framework's `--port`) does not print it (the emulator and the
// Framework print the 0 they were given), so it is read from the kernel: the
// socket in LISTEN state (`st` 0A) in /proc/net/tcp and tcp6 whose inode is
// one of the child's file descriptors, /proc/PID/fd/N -> socket:[INODE]
// (proc(5): https://man7.org/linux/man-pages/man5/proc_pid_net.5.html and
// https://man7.org/linux/man-pages/man5/proc_pid_fd.5.html).

import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Starts `server` listening on a port the kernel picks; resolves with that port. */
export function listenOnFreePort(server: Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Closes an HTTP server at once, not waiting for its keep-alive connections to time out. */
export function closeNow(server: HttpServer): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** The inodes of the sockets among `pid`'s open file descriptors (none when it has gone). */
function socketInodes(pid: number): Set<string> {
  const sockets = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    // gone
  }
  for (const fd of fds) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode) sockets.add(inode);
    } catch {
      // closed meanwhile
    }
  }
  return sockets;
}

/**
 * The TCP ports in LISTEN state whose socket is one of `sockets`. Reading the
 * kernel's tables walks its whole connection hash (about 4 ms each here,
 * however few sockets there are), so it is done only when needed.
 */
function listeningPorts(sockets: ReadonlySet<string>): number[] {
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state, , , , , , inode] = line.trim().split(/\s+/);
      if (state === '0A' && inode && sockets.has(inode) && local)
        ports.add(Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16));
    }
    if (ports.size > 0) break;
  }
  return [...ports];
}

/**
 * The port of a child process started on port 0, once it serves: the first
 * port it listens on where `ready` (given `http://127.0.0.1:PORT`) says yes.
 * A process may listen on more than one (the Pub/Sub emulator keeps its gRPC
 * server on a second port behind the one it serves on); `ready` tells them
 * apart. Rejects when the child exits first (with `output()` in the message)
 * or does not serve within `timeoutMs`.
 */
export async function servingPort(
  child: ChildProcess,
  what: string,
  ready: (url: string) => Promise<boolean>,
  options: { output?: () => string; timeoutMs?: number; pollMs?: number } = {},
): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const said = () => (options.output ? `:\n${options.output()}` : '');
  // The tables are read again when the child's sockets change, and each
  // second in case a socket was read between its creation and its listen().
  let ports: number[] = [];
  let sockets = '';
  let readAt = 0;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) at start${said()}`);
    const now = child.pid === undefined ? new Set<string>() : socketInodes(child.pid);
    const key = [...now].sort().join();
    if (key !== sockets || Date.now() - readAt > 1000) {
      sockets = key;
      readAt = Date.now();
      ports = now.size > 0 ? listeningPorts(now) : [];
    }
    for (const port of ports) {
      if (await ready(`http://127.0.0.1:${port}`).catch(() => false)) return port;
    }
    if (Date.now() > deadline)
      throw new Error(`${what} did not serve within ${timeoutMs} ms${said()}`);
    await sleep(options.pollMs ?? 25);
  }
}

/** For `servingPort`: a Node server serves once it listens (connections wait in its backlog). */
export const listening = (): Promise<boolean> => Promise.resolve(true);

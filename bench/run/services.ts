// Private redis-server and nats-server (JetStream) for distributed tsim under benchmark:
// children of the benchmark on free 127.0.0.1 ports with their data in a temp folder, so
// a run touches no shared server and leaves nothing behind. Tracked like every child
// (children.ts): killed by pid on Ctrl-C, the deadline or exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { stopChild, track } from './children.js';
import { freePort, waitForPort } from './ports.js';

/** Where redis-server and nats-server are looked for before PATH. */
export const BINARY_DIRS = ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/opt/homebrew/bin'];

/** An executable `name` in the usual system folders or PATH. */
export function findBinary(name: string): string | undefined {
  for (const d of [...BINARY_DIRS, ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)]) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

export interface Service {
  /** "redis" or "nats". */
  name: string;
  child: ChildProcess;
  pid: number;
  port: number;
  url: string;
  /** The last output lines, for error messages. */
  output(): string;
  /** SIGTERM, SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

async function startService(name: string, bin: string, args: string[], port: number, url: string): Promise<Service> {
  const child = track(spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let tail = '';
  // Read (and keep the end of) the output, so that a full pipe never blocks the server.
  const keep = (d: Buffer) => (tail = (tail + d.toString()).slice(-4000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) => reject(new Error(`${name} (${bin}) exited at start-up (code ${code}, signal ${signal}):\n${tail}`))),
  );
  exited.catch(() => {});
  const spawnError = new Promise<never>((_, reject) => child.once('error', (err) => reject(new Error(`${name}: cannot run ${bin}: ${err.message}`))));
  spawnError.catch(() => {});
  try {
    await Promise.race([waitForPort(port, 15_000), exited, spawnError]);
  } catch (err) {
    await stopChild(child, 'SIGKILL');
    throw err;
  }
  return {
    name,
    child,
    pid: child.pid!,
    port,
    url,
    output: () => tail,
    stop: (graceMs = 5000) => stopChild(child, 'SIGTERM', graceMs),
  };
}

function need(name: string): string {
  const bin = findBinary(name);
  if (!bin) throw new Error(`--server tsim-cluster needs ${name} (looked in ${BINARY_DIRS.join(', ')} and PATH)`);
  return bin;
}

/** redis-server without persistence, working folder `dir`. */
export async function startRedis(dir: string): Promise<Service> {
  const bin = need('redis-server');
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'];
  return startService('redis', bin, args, port, `redis://127.0.0.1:${port}`);
}

/** nats-server with JetStream, its store in `dir`. */
export async function startNats(dir: string): Promise<Service> {
  const bin = need('nats-server');
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  return startService('nats', bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], port, `nats://127.0.0.1:${port}`);
}

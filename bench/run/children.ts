// Every process a benchmark starts is tracked here, so that none outlives it: a hard
// deadline, SIGINT/SIGTERM and normal exit all kill what is left, by pid. Children also
// watch their IPC channel and exit when the parent disappears (see exitWithParent).
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let hooked = false;
let deadline: NodeJS.Timeout | null = null;

function killAll(signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const c of live) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, signal);
      } catch {
        // already gone
      }
    }
  }
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => killAll());
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\nbench: ${signal}: stopping every process it started\n`);
    killAll();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Tracks a child until it exits. */
export function track(child: ChildProcess): ChildProcess {
  hook();
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Children still running. */
export function liveChildren(): number {
  return live.size;
}

/** Waits for a child's exit (resolves at once if it already exited). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Sends `signal`, then SIGKILL after `graceMs`; resolves once the child exited. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }, graceMs);
  await exited(child);
  clearTimeout(timer);
}

/**
 * A hard overall limit: past `ms`, every child is killed and the process exits 1. Re-arming
 * replaces the previous deadline.
 */
export function armDeadline(ms: number, what: string): void {
  hook();
  if (deadline) clearTimeout(deadline);
  deadline = setTimeout(() => {
    process.stderr.write(`\nbench: ${what} overran its ${Math.round(ms / 1000)} s deadline: killing every process it started\n`);
    killAll();
    process.exit(1);
  }, ms);
  deadline.unref();
}

export function disarmDeadline(): void {
  if (deadline) clearTimeout(deadline);
  deadline = null;
}

/** For a forked child: exit as soon as the parent's IPC channel closes (the parent died). */
export function exitWithParent(): void {
  process.on('disconnect', () => process.exit(0));
}

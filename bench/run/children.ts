// Every process a benchmark starts is tracked here, so that none outlives it: a hard
// deadline, SIGINT/SIGTERM and normal exit all kill what is left, by pid. Children also
// watch their IPC channel and exit when the parent disappears (see exitWithParent).
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

const live = new Set<ChildProcess>();
/** Processes that are not our children (node:cluster workers of a child): listed on demand. */
const extraPids = new Set<() => number[]>();
/** Run at exit after every process was killed (temp folders). */
const atExit = new Set<() => void>();
let hooked = false;
let deadline: NodeJS.Timeout | null = null;

function killAll(signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const list of extraPids) {
    for (const pid of list()) killPid(pid, signal);
  }
  for (const c of live) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) killPid(c.pid, signal);
  }
}

/** Sends `signal` to `pid`; false when no such process. */
export function killPid(pid: number, signal: NodeJS.Signals | 0 = 'SIGKILL'): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Whether `pid` runs (a zombie waiting for its parent to reap it counts as gone). */
export function pidAlive(pid: number): boolean {
  if (!killPid(pid, 0)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    killAll();
    runAtExit();
  });
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

function runAtExit(): void {
  for (const f of atExit) {
    try {
      f();
    } catch {
      // best effort at exit
    }
  }
  atExit.clear();
}

/**
 * Also kill the processes `list()` names (e.g. the node:cluster workers of a tracked child)
 * on a signal, the deadline or exit. Returns the function that stops tracking them.
 */
export function trackPids(list: () => number[]): () => void {
  hook();
  extraPids.add(list);
  return () => void extraPids.delete(list);
}

/** Runs `f` when the benchmark exits without its own clean-up (signal, deadline). */
export function onExitCleanup(f: () => void): () => void {
  hook();
  atExit.add(f);
  return () => void atExit.delete(f);
}

/** Resolves once no process has this pid, or after `timeoutMs` with false. */
export async function waitPidGone(pid: number, timeoutMs: number): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (pidAlive(pid)) {
    if (performance.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Waits for a child's exit (resolves at once if it already exited). */
function exited(child: ChildProcess): Promise<void> {
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

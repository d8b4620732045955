// The parent's side of the load workers: forks them, splits N clients between them, and
// gathers their counts and latency histograms.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mergeHistograms, summarize, type LatencySummary } from '../measure/histogram.js';
import { openFileLimit } from '../measure/proc.js';
import { stopChild, track } from '../run/children.js';
import type { ConnectCommand, Counts, WorkerMessage } from './messages.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

/** File descriptors a process keeps for itself (stdio, IPC, libuv, listening sockets). */
export const FD_RESERVE = 200;

export interface PoolConnectResult {
  ok: number;
  failed: number;
  errors: string[];
  /** Slowest worker's connect time, ms. */
  ms: number;
}

export interface PoolReport extends Counts {
  latency: LatencySummary;
}

type Reply<T extends WorkerMessage['t']> = Extract<WorkerMessage, { t: T }>;

class Worker {
  private readonly waiters = new Map<string, (m: WorkerMessage) => void>();
  private failure: Error | null = null;

  constructor(readonly child: ChildProcess) {
    child.on('message', (m: WorkerMessage) => {
      if (m.t === 'fatal') return this.fail(new Error(`load worker ${child.pid}: ${m.error}`));
      const w = this.waiters.get(m.t);
      if (w) {
        this.waiters.delete(m.t);
        w(m);
      }
    });
    child.once('exit', (code, signal) => this.fail(new Error(`load worker ${child.pid} exited (${signal ?? code})`)));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.values()) w({ t: 'fatal', error: err.message });
    this.waiters.clear();
  }

  /** Sends a command and waits for the reply of type `t`. */
  call<T extends WorkerMessage['t']>(msg: object, t: T): Promise<Reply<T>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiters.set(t, (m) => (m.t === 'fatal' ? reject(new Error(m.error)) : resolve(m as Reply<T>)));
      this.child.send(msg);
    });
  }
}

export class LoadPool {
  private constructor(private readonly workers: Worker[]) {}

  /** Forks `n` workers. */
  static start(n: number): LoadPool {
    const workers: Worker[] = [];
    for (let i = 0; i < n; i++) {
      const child = track(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' }));
      workers.push(new Worker(child));
    }
    return new LoadPool(workers);
  }

  get size(): number {
    return this.workers.length;
  }

  pids(): number[] {
    return this.workers.map((w) => w.child.pid!).filter((p) => p !== undefined);
  }

  /**
   * Opens `total` clients split evenly over the workers (client i of the run gets mid i+1).
   * Throws when a worker would hold more sockets than the open-file limit allows.
   */
  async connect(total: number, base: Omit<ConnectCommand, 't' | 'firstMid' | 'count'>): Promise<PoolConnectResult> {
    const n = this.workers.length;
    const per = Math.ceil(total / n);
    const limit = openFileLimit() - FD_RESERVE;
    if (per > limit) {
      throw new Error(
        `${per} clients per load worker exceed the open-file limit (${limit + FD_RESERVE}); use --workers ${Math.ceil(total / limit)} or more`,
      );
    }
    const concurrency = Math.max(1, Math.ceil(base.concurrency / n));
    const replies = await Promise.all(
      this.workers.map((w, i) => {
        const firstMid = 1 + i * per;
        const count = Math.max(0, Math.min(per, total - i * per));
        return w.call({ ...base, concurrency, t: 'connect', firstMid, count }, 'connected');
      }),
    );
    return {
      ok: replies.reduce((s, r) => s + r.ok, 0),
      failed: replies.reduce((s, r) => s + r.failed, 0),
      errors: replies.flatMap((r) => r.errors).slice(0, 5),
      ms: Math.max(...replies.map((r) => r.ms)),
    };
  }

  /** Current counts, summed over the workers. */
  async poll(): Promise<Counts> {
    const replies = await Promise.all(this.workers.map((w) => w.call({ t: 'poll' }, 'counts')));
    return sumCounts(replies);
  }

  /** Zeroes counts and histograms (start of a measured phase). */
  async reset(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ t: 'reset' }, 'reset')));
  }

  /** Counts and merged latency since the last reset. */
  async report(): Promise<PoolReport> {
    const replies = await Promise.all(this.workers.map((w) => w.call({ t: 'report' }, 'report')));
    return { ...sumCounts(replies), latency: summarize(mergeHistograms(replies.map((r) => r.histogram))) };
  }

  /** Every ready client heartbeats every `everyMs` (0 stops them); resolves how many clients do. */
  async heartbeat(everyMs: number): Promise<number> {
    const replies = await Promise.all(this.workers.map((w) => w.call({ t: 'heartbeat', everyMs }, 'heartbeating')));
    return replies.reduce((s, r) => s + r.clients, 0);
  }

  /** Closes every client and ends the workers. */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        await Promise.race([w.call({ t: 'close' }, 'closed').catch(() => {}), new Promise((r) => setTimeout(r, 10_000))]);
        await stopChild(w.child, 'SIGTERM', 3000);
      }),
    );
  }
}

function sumCounts(rs: readonly Counts[]): Counts {
  const c: Counts = { frames: 0, reads: 0, open: 0, lost: 0 };
  for (const r of rs) {
    c.frames += r.frames;
    c.reads += r.reads;
    c.open += r.open;
    c.lost += r.lost;
  }
  return c;
}

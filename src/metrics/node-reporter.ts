// Publishes this process's node snapshots (ports/node-stats.ts) every admin.statsInterval:
// one per role it runs (embedded: comet, logic and job under one id), each with the process's
// event-loop lag and memory. A failed publish is logged once per outage and retried at the
// next tick; stop() removes the snapshots so the console does not wait for their TTL.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import { NODE_ROOM_KEY_MAX, type NodeRole, type NodeStatsStore } from '../ports/node-stats.js';

/** A snapshot lives this many intervals: a process missing two ticks drops out after the third. */
const SNAPSHOT_TTL_INTERVALS = 3;

export interface NodeRoleSource {
  role: NodeRole;
  /** Gauges and counters of the role (metrics/node-values.ts). */
  values: () => Record<string, number>;
  /** A job's busiest rooms since the previous call. */
  rooms?: () => { room: string; perSecond: number }[];
}

export interface NodeReporterOptions {
  store: NodeStatsStore;
  intervalMs: number;
  /** env.host (a comet worker's with its suffix). */
  id: string;
  version: string;
  /** What the process listens on, read at each tick (known once it listens). */
  addrs: () => string[];
  roles: NodeRoleSource[];
  log: Logger;
}

export class NodeReporter {
  private readonly startedAt = Date.now();
  private readonly delay: ReturnType<typeof monitorEventLoopDelay> = monitorEventLoopDelay({ resolution: 10 });
  private timer: NodeJS.Timeout | undefined;
  private publishing: Promise<void> | undefined;
  private failing = false;
  private health = 'ok';

  constructor(private readonly opts: NodeReporterOptions) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.delay.enable();
    this.tick();
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs);
    this.timer.unref();
  }

  private tick(): void {
    // A publish still waiting (Redis slow) is not doubled.
    if (this.publishing !== undefined) return;
    this.publishing = this.publish().finally(() => (this.publishing = undefined));
  }

  private async publish(): Promise<void> {
    const { opts } = this;
    const lag = this.delay.count > 0 ? this.delay.percentile(99) / 1e6 : 0;
    this.delay.reset();
    const mem = process.memoryUsage();
    const common = { event_loop_p99_ms: Math.round(lag * 10) / 10, rss_bytes: mem.rss, heap_used_bytes: mem.heapUsed };
    const at = Date.now();
    const addrs = opts.addrs();
    try {
      for (const r of opts.roles) {
        const snapshot = { role: r.role, id: opts.id, version: opts.version, startedAt: this.startedAt, at, addrs, health: this.health };
        const rooms = r.rooms?.().map((x) => ({ room: x.room.slice(0, NODE_ROOM_KEY_MAX), perSecond: x.perSecond }));
        await opts.store.publish(
          { ...snapshot, values: { ...r.values(), ...common }, ...(rooms !== undefined ? { rooms } : {}) },
          opts.intervalMs * SNAPSHOT_TTL_INTERVALS,
        );
      }
      if (this.failing) opts.log.info('node stats: publishing again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) opts.log.warn({ err: (err as Error).message }, 'node stats: publishing the node snapshot failed; retrying every interval');
      this.failing = true;
    }
  }

  /** Stops publishing and removes this process's snapshots. */
  async stop(): Promise<void> {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.delay.disable();
    this.health = 'stopping';
    await this.publishing;
    for (const r of this.opts.roles) await this.opts.store.remove(r.role, this.opts.id).catch(() => {});
  }
}

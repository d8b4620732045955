// The console's picture of the cluster (docs/operations.md#operations-console): reads every
// node snapshot each admin.statsInterval and keeps a short ring of points per node and for the
// cluster, so rates come from two readings and a page opened now gets minutes of chart at once.
import type { Logger } from '../../log.js';
import type { NodeSnapshot, NodeStatsStore } from '../../ports/node-stats.js';

/** Cumulative counters in snapshots: shown as per-second rates. */
const COUNTERS = ['pushes_in', 'delivered', 'dropped', 'slow_disconnects', 'auth_failures'] as const;
/** Gauges summed over the cluster. */
const SUMMED = ['connections', 'rooms', 'queue_lag', 'pending'] as const;
/** Gauges whose cluster value is the worst node's. */
const MAXED = ['event_loop_p99_ms'] as const;
/** The chart series: gauges as they are, counters as `<name>_per_s`. */
const SERIES = [...SUMMED, ...MAXED, ...COUNTERS.map((c) => `${c}_per_s`)] as const;

/** Points kept: 5 minutes at the default 1 s interval. */
const DEFAULT_KEEP = 300;

interface Point {
  at: number;
  values: Record<string, number>;
}

/** A fixed-size ring of points, oldest first when read. */
class Ring {
  private readonly points: Point[] = [];
  private start = 0;

  constructor(private readonly size: number) {}

  push(p: Point): void {
    if (this.points.length < this.size) this.points.push(p);
    else {
      this.points[this.start] = p;
      this.start = (this.start + 1) % this.size;
    }
  }

  all(): Point[] {
    return [...this.points.slice(this.start), ...this.points.slice(0, this.start)];
  }

  last(): Point | undefined {
    const n = this.points.length;
    return n === 0 ? undefined : this.points[(this.start + n - 1) % n];
  }
}

/** Rates are taken over up to this many intervals: per-interval counts of batched deliveries jump between 0 and bursts. */
const RATE_WINDOW = 5;

/** The overview was asked for a node the cluster does not hold (left, or never there). */
export class UnknownNodeError extends Error {
  override name = 'UnknownNodeError';
}

interface NodeState {
  snapshot: NodeSnapshot;
  /** Earlier snapshots, oldest first, at most RATE_WINDOW: rates run from the oldest. */
  previous: NodeSnapshot[];
  rates: Record<string, number>;
  ring: Ring;
  /** When this logic last saw the snapshot change (its own clock: the node's may differ). */
  changedAt: number;
}

export interface NodeView {
  role: string;
  id: string;
  version: string;
  startedAt: number;
  uptimeS: number;
  addrs: string[];
  /** "ok", "stale" (no fresh snapshot for two intervals), or what the node reported. */
  health: string;
  values: Record<string, number>;
  /** Per-second rates of the counters. */
  rates: Record<string, number>;
}

export interface Overview {
  at: number;
  intervalMs: number;
  /** The latest cluster point (gauges and `<counter>_per_s`) and counters summed since each node started. */
  totals: Record<string, number>;
  nodes: NodeView[];
  /** Chart data, columns aligned: `t` in seconds since the epoch, then one array per series. */
  series: Record<string, number[]>;
  /** Whose series: "cluster", or the node's "role/id". */
  seriesOf: string;
}

export interface ClusterViewOptions {
  store: NodeStatsStore;
  intervalMs: number;
  log: Logger;
  /** Points kept per ring (default 300). */
  keep?: number;
}

function rate(now: NodeSnapshot, before: NodeSnapshot | undefined, name: string): number {
  if (before === undefined || now.at <= before.at) return 0;
  const d = (now.values[name] ?? 0) - (before.values[name] ?? 0);
  return d < 0 ? 0 : (d * 1000) / (now.at - before.at);
}

/** A node's or the cluster's chart point from its gauges and rates. */
function pointValues(gauges: Record<string, number>, rates: Record<string, number>): Record<string, number> {
  const v: Record<string, number> = {};
  for (const g of [...SUMMED, ...MAXED]) v[g] = gauges[g] ?? 0;
  for (const c of COUNTERS) v[`${c}_per_s`] = rates[c] ?? 0;
  return v;
}

export class ClusterView {
  private readonly nodes = new Map<string, NodeState>();
  private readonly cluster: Ring;
  private readonly keep: number;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private failing = false;
  private lastAt = 0;

  constructor(private readonly opts: ClusterViewOptions) {
    this.keep = opts.keep ?? DEFAULT_KEEP;
    this.cluster = new Ring(this.keep);
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.poll(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the snapshots now (the timer calls this; so does a request finding no reading yet). */
  poll(): Promise<void> {
    this.polling ??= this.read().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async read(): Promise<void> {
    let list: NodeSnapshot[];
    try {
      list = await this.opts.store.list();
      if (this.failing) this.opts.log.info('admin: node snapshots readable again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.opts.log.warn({ err: (err as Error).message }, 'admin: reading node snapshots failed');
      this.failing = true;
      return;
    }
    const now = Date.now();
    const seen = new Set<string>();
    const gauges: Record<string, number> = {};
    const rates: Record<string, number> = {};
    for (const s of list) {
      const name = `${s.role}/${s.id}`;
      seen.add(name);
      let state = this.nodes.get(name);
      if (state === undefined) {
        state = { snapshot: s, previous: [], rates: {}, ring: new Ring(this.keep), changedAt: now };
        this.nodes.set(name, state);
      } else if (s.at !== state.snapshot.at) {
        state.changedAt = now;
        // A restart (counters went back) starts the window again.
        if (COUNTERS.some((c) => (s.values[c] ?? 0) < (state!.snapshot.values[c] ?? 0))) state.previous = [];
        state.previous.push(state.snapshot);
        if (state.previous.length > RATE_WINDOW) state.previous.shift();
        state.snapshot = s;
      }
      for (const c of COUNTERS) state.rates[c] = rate(state.snapshot, state.previous[0], c);
      state.ring.push({ at: now, values: pointValues(s.values, state.rates) });
      for (const g of SUMMED) gauges[g] = (gauges[g] ?? 0) + (s.values[g] ?? 0);
      for (const g of MAXED) gauges[g] = Math.max(gauges[g] ?? 0, s.values[g] ?? 0);
      for (const c of COUNTERS) rates[c] = (rates[c] ?? 0) + (state.rates[c] ?? 0);
    }
    for (const name of this.nodes.keys()) if (!seen.has(name)) this.nodes.delete(name);
    this.cluster.push({ at: now, values: pointValues(gauges, rates) });
    this.lastAt = now;
  }

  /** The rooms with the most messages per second over the jobs' last interval, summed over jobs, at most `limit`. */
  busiestRooms(limit: number): { room: string; perSecond: number }[] {
    const rates = new Map<string, number>();
    for (const { snapshot } of this.nodes.values()) {
      for (const r of snapshot.rooms ?? []) rates.set(r.room, (rates.get(r.room) ?? 0) + r.perSecond);
    }
    return [...rates]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([room, perSecond]) => ({ room, perSecond: Math.round(perSecond * 100) / 100 }));
  }

  /** The overview the console shows; `node` ("role/id") picks that node's chart series instead of the cluster's. */
  async overview(node?: string): Promise<Overview> {
    if (this.lastAt === 0) await this.poll();
    const now = Date.now();
    const nodes: NodeView[] = [];
    const totals: Record<string, number> = {};
    for (const { snapshot: s, rates, changedAt } of this.nodes.values()) {
      // Judged on this logic's clock: a node whose clock is behind is not stale for that.
      const stale = now - changedAt > this.opts.intervalMs * 2 + (this.lastAt === 0 ? 0 : now - this.lastAt);
      nodes.push({
        role: s.role,
        id: s.id,
        version: s.version,
        startedAt: s.startedAt,
        uptimeS: Math.max(0, Math.round((s.at - s.startedAt) / 1000)),
        addrs: s.addrs,
        health: stale ? 'stale' : s.health,
        values: s.values,
        rates,
      });
      for (const c of COUNTERS) totals[c] = (totals[c] ?? 0) + (s.values[c] ?? 0);
    }
    nodes.sort((a, b) => (a.role === b.role ? a.id.localeCompare(b.id) : a.role.localeCompare(b.role)));
    // The totals are the cluster's whichever node's series is asked for.
    Object.assign(totals, this.cluster.last()?.values ?? {});
    const ring = node === undefined ? this.cluster : this.nodes.get(node)?.ring;
    if (ring === undefined) throw new UnknownNodeError(`no node ${node} in the cluster now`);
    const points = ring.all();
    const series: Record<string, number[]> = { t: points.map((p) => p.at / 1000) };
    for (const name of SERIES) series[name] = points.map((p) => p.values[name] ?? 0);
    return {
      at: now,
      intervalMs: this.opts.intervalMs,
      totals,
      nodes,
      series,
      seriesOf: node ?? 'cluster',
    };
  }
}

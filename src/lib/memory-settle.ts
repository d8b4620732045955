// Gives memory back to the system once a burst of work (a connect storm) is over
// (docs/operations.md#memory-after-connect-storms).
//
// Every handshake leaves garbage (the auth body, the logic call, its promises) that outlives a
// few young-generation collections while thousands of handshakes are in flight, so it lands in
// the old generation. V8 collects it at its next full collection, but keeps the pages it lived
// on mapped for reuse: after 10,000 connects a comet's RSS stays at about 20 KB per connection,
// of which 5 KB is live. Only V8's "last resort" collection also compacts and unmaps those
// pages. It stops the process for tens of milliseconds, so it runs once per burst, after the
// burst is over, and only when RSS has grown enough since the last one to be worth it.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from '../log.js';
import type { Clock, ClockTimer } from './clock.js';

type GcFunction = (o: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

let gcFunction: GcFunction | undefined;

/**
 * V8's last-resort full collection. The gc function is taken from a fresh context, and the
 * flag is turned off again at once, so neither the process's global scope nor any context or
 * Worker made later gains a `gc` (the function taken keeps working).
 */
function lastResortGc(): void {
  if (gcFunction === undefined) {
    setFlagsFromString('--expose-gc');
    try {
      gcFunction = runInNewContext('gc') as GcFunction;
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  }
  gcFunction({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

export interface MemorySettleOptions {
  /** Events (accepted connections) since the last settle that make one worth trying; 0 = never. */
  after: number;
  /**
   * How long the burst must have been over first: events at no more than a tenth of the burst's
   * busiest second (and of 1% of `after` per second) — the ordinary reconnects of a large
   * server do not hold it back. Each process waits a time drawn per burst between this and three
   * times this, so the processes of one host, which see a burst end together, do not all stop
   * together.
   */
  quietMs: number;
  clock: Clock;
  log: Logger;
  /** Log prefix: the role. */
  name: string;
  /** Settle only when RSS is at least this many times what the last settle (or the start) left. */
  growth?: number;
  /** Tests replace these. */
  rss?: () => number;
  collect?: () => void;
  random?: () => number;
}

export interface MemorySettleCounts {
  settles: number;
  /** Total time the process was stopped by them. */
  pauseMs: number;
  /** Bytes of RSS they gave back, in all. */
  freedBytes: number;
}

const TICK_MS = 1000;

export class MemorySettle {
  readonly counts: MemorySettleCounts = { settles: 0, pauseMs: 0, freedBytes: 0 };
  private since = 0;
  private inTick = 0;
  private quietSince: number;
  private floor: number;
  private timer: ClockTimer | undefined;
  private readonly busyFloor: number;
  /** Most events in one tick since the count started: the burst's busiest second. */
  private peak = 0;
  private quietMs = 0;
  private readonly random: () => number;
  private readonly growth: number;
  private readonly rss: () => number;
  private readonly collect: () => void;

  constructor(private readonly o: MemorySettleOptions) {
    this.quietSince = o.clock.now();
    this.busyFloor = Math.max(1, o.after / 100);
    this.random = o.random ?? Math.random;
    this.drawQuiet();
    this.growth = o.growth ?? 1.25;
    this.rss = o.rss ?? (() => process.memoryUsage.rss());
    this.collect = o.collect ?? lastResortGc;
    this.floor = this.rss();
  }

  /** One event (hot path: two increments). */
  count(): void {
    this.since++;
    this.inTick++;
  }

  start(): void {
    if (this.o.after <= 0 || this.timer !== undefined) return;
    this.timer = this.o.clock.setInterval(() => this.tick(), TICK_MS);
    // Never what keeps a process alive (a stop() missed during start-up, say).
    (this.timer as { unref?: () => void }).unref?.();
  }

  private drawQuiet(): void {
    this.quietMs = this.o.quietMs * (1 + 2 * this.random());
  }

  stop(): void {
    this.o.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = this.o.clock.now();
    this.peak = Math.max(this.peak, this.inTick);
    if (this.inTick > Math.max(this.busyFloor, this.peak / 10)) this.quietSince = now;
    this.inTick = 0;
    if (this.since < this.o.after || now - this.quietSince < this.quietMs) return;
    this.since = 0;
    this.peak = 0;
    this.drawQuiet();
    const before = this.rss();
    if (before < this.floor * this.growth) return;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    this.collect();
    const pauseMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const after = this.rss();
    this.floor = after;
    const c = this.counts;
    c.settles++;
    c.pauseMs += pauseMs;
    c.freedBytes += Math.max(0, before - after);
    this.o.log.info(
      {
        rssBeforeMb: +(before / 2 ** 20).toFixed(1),
        rssAfterMb: +(after / 2 ** 20).toFixed(1),
        pauseMs: +pauseMs.toFixed(1),
        // Below pauseMs when other processes had the cores meanwhile.
        cpuMs: +((cpu.user + cpu.system) / 1000).toFixed(1),
      },
      `${this.o.name}: memory settled after a burst of connections`,
    );
  }
}

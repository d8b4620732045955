// A Clock (src/lib/clock.ts) that moves only when a test says so: advance() runs the timers
// that fall due, in time order, each seeing now() at its due time. Tests of deadlines, rate
// limits and batching windows use it instead of waiting on the wall clock.
import type { Clock, ClockTimer } from '../../src/lib/clock.js';

interface Pending extends ClockTimer {
  at: number;
  /** Repeat period for intervals; undefined for one-shot timers. */
  every: number | undefined;
  fn: () => void;
  /** Creation order: timers due at the same time run in the order they were set. */
  order: number;
}

export class ManualClock implements Clock {
  private t: number;
  private pending: Pending[] = [];
  private made = 0;

  constructor(start = 1000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    return this.add(fn, ms, undefined);
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    this.pending = this.pending.filter((p) => p !== timer);
  }

  setInterval(fn: () => void, ms: number): ClockTimer {
    return this.add(fn, ms, Math.max(1, ms));
  }

  clearInterval(timer: ClockTimer | undefined): void {
    this.clearTimeout(timer);
  }

  /** Timers set and not yet run or cleared. */
  get timers(): number {
    return this.pending.length;
  }

  /** Moves time forward by `ms`, running every timer due on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.due(end);
      if (next === undefined) break;
      this.t = next.at;
      if (next.every === undefined) this.pending = this.pending.filter((p) => p !== next);
      else next.at += next.every;
      next.fn();
    }
    this.t = end;
  }

  private add(fn: () => void, ms: number, every: number | undefined): Pending {
    const p: Pending = { at: this.t + Math.max(0, ms), every, fn, order: this.made++ };
    this.pending.push(p);
    return p;
  }

  /** The earliest timer due by `end`. */
  private due(end: number): Pending | undefined {
    let best: Pending | undefined;
    for (const p of this.pending) {
      if (p.at > end) continue;
      if (best === undefined || p.at < best.at || (p.at === best.at && p.order < best.order)) best = p;
    }
    return best;
  }
}

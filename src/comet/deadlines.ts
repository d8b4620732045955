// One periodic sweep instead of a timer per connection (docs/architecture.md#the-hot-path-comet):
// it closes connections past their handshake or heartbeat deadline and starts due routing
// refreshes. A walk over 100k connections costs about a millisecond; the interval is the
// deadlines' granularity. The clock is the comet's (a manual one in tests).
import type { Clock, ClockTimer } from '../lib/clock.js';
import { State, type Connection } from './connection.js';
import type { ConnectionTable } from './connection-table.js';

export class DeadlineSweep {
  private timer: ClockTimer | undefined;

  constructor(
    private readonly table: ConnectionTable,
    private readonly intervalMs: number,
    private readonly refreshRouting: (c: Connection) => void,
    private readonly clock: Clock,
  ) {}

  start(): void {
    this.timer ??= this.clock.setInterval(() => this.sweep(this.clock.now()), Math.max(10, this.intervalMs));
  }

  stop(): void {
    this.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  sweep(t: number): void {
    const all = this.table.all;
    // Backwards, so a connection closed here (swap-removed from `all`) never hides another.
    for (let i = all.length - 1; i >= 0; i--) {
      const c = all[i];
      if (t >= c.deadline) {
        c.close(c.state === State.Open ? 'heartbeat timeout' : 'handshake timeout');
      } else if (t >= c.refreshAt && !c.refreshing && c.state === State.Open) {
        this.refreshRouting(c);
      }
    }
  }
}

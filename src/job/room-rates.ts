// Messages per room over one interval, for the operations console's busiest rooms by message
// rate (docs/operations.md#node-snapshots). One Map update per room message (not per
// recipient); at most MAX_ROOMS rooms are told apart per interval, so a flood of distinct room
// keys costs a bounded map.
const MAX_ROOMS = 10_000;

export class RoomRates {
  private counts = new Map<string, number>();
  private since = performance.now();

  count(room: string): void {
    const n = this.counts.get(room);
    if (n !== undefined) this.counts.set(room, n + 1);
    else if (this.counts.size < MAX_ROOMS) this.counts.set(room, 1);
  }

  /** The `k` busiest rooms since the last take, in messages per second, busiest first; starts a new interval. */
  take(k: number): { room: string; perSecond: number }[] {
    const now = performance.now();
    const seconds = Math.max(0.001, (now - this.since) / 1000);
    const top = [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, k);
    this.counts = new Map();
    this.since = now;
    return top.map(([room, n]) => ({ room, perSecond: Math.round((n / seconds) * 100) / 100 }));
  }
}

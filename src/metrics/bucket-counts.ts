// A histogram as plain numbers, for role code to fill on its hot paths without a metrics
// library: observe() is a short scan and two additions. The metrics module reads it only
// when scraped (see lazy-metrics.ts).

/** Fan-out durations in seconds: 10 µs to 1 s. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

/** Messages per room batch (room.batch is 20 by default, more is possible). */
export const BATCH_SIZE_BUCKETS: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500];

export class BucketCounts {
  /** counts[i]: observations <= bounds[i] and > bounds[i-1]; the last slot is above every bound. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i] > bounds[i - 1])) throw new Error('bucket bounds must increase');
    }
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }

  /** Cumulative counts per bound (Prometheus `le`), then +Inf. */
  cumulative(): number[] {
    const out = new Array<number>(this.counts.length);
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      acc += this.counts[i];
      out[i] = acc;
    }
    return out;
  }
}

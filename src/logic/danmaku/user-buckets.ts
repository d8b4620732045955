// Per-user token buckets (docs/history.md#limits), kept in this process. The map is bounded:
// past `max` users the least recently seen bucket is dropped. A bucket idle for burst/rate
// seconds is full again, the same as a new one, so dropping it forgets nothing; only a flood
// of more than `max` distinct senders within that time lets the oldest start over. Memory
// stays at `max` buckets whatever the number of mids.
import { takeToken, type BucketState } from '../../lib/token-bucket.js';

export class UserBuckets {
  /** Insertion order is recency: a bucket is moved to the end on every take. */
  private readonly buckets = new Map<string, BucketState>();

  constructor(private readonly max: number) {}

  /** Takes one token from `user`'s bucket at time `t` (ms); a new user starts with a full bucket. */
  take(user: string, rate: number, burst: number, t: number): boolean {
    let b = this.buckets.get(user);
    if (b === undefined) {
      b = { tokens: burst, at: t };
      if (this.buckets.size >= this.max) this.buckets.delete(this.buckets.keys().next().value!);
    } else {
      this.buckets.delete(user);
    }
    this.buckets.set(user, b);
    return takeToken(b, rate, burst, t);
  }

  get size(): number {
    return this.buckets.size;
  }
}

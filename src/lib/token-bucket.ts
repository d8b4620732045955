// A token bucket refilled lazily from the time of each take: no timer, and two numbers of
// state, so a per-connection bucket can live inline in the object it limits.
import { systemClock, type Clock } from './clock.js';

/** The state of one bucket: tokens left, as of time `at` (ms of the clock that takes). */
export interface BucketState {
  tokens: number;
  at: number;
}

/**
 * Takes one token from `b` at time `t` if there is one, after adding `rate` tokens per
 * second since `b.at`, up to `burst`.
 */
export function takeToken(b: BucketState, rate: number, burst: number, t: number): boolean {
  if (t > b.at) {
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) * rate) / 1000);
    b.at = t;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

/** `rate` tokens per second, at most `burst` saved up; starts full. */
export class TokenBucket {
  private readonly state: BucketState;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly clock: Clock = systemClock,
  ) {
    this.state = { tokens: burst, at: clock.now() };
  }

  /** Takes one token if there is one. */
  take(): boolean {
    return takeToken(this.state, this.rate, this.burst, this.clock.now());
  }
}

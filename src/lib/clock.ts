// Time for code whose behaviour depends on it (deadlines, rate limits, batching windows),
// passed in rather than read from a global, so tests drive it by hand instead of waiting.
// One clock object per process in production: calls through it stay monomorphic, and nothing
// here allocates per call.
import { performance } from 'node:perf_hooks';

/** A pending timer of a Clock; only the clock that made it can cancel it. */
export interface ClockTimer {
  readonly __clockTimer?: never;
}

export interface Clock {
  /** Monotonic milliseconds: deadlines must not jump with the wall clock. */
  now(): number;
  /** Runs `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
  /** Runs `fn` every `ms` until cleared. */
  setInterval(fn: () => void, ms: number): ClockTimer;
  clearInterval(timer: ClockTimer | undefined): void;
}

/** performance.now() and Node's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as ClockTimer,
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms) as ClockTimer,
  clearInterval: (timer) => clearInterval(timer as NodeJS.Timeout | undefined),
};

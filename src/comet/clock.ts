import { performance } from 'node:perf_hooks';

/** Monotonic milliseconds: deadlines must not jump with the wall clock. */
export const now = (): number => performance.now();

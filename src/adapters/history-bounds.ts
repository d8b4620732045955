// What the history engines (memory/, sqlite/, postgres/) share about their inputs: a read's row
// and byte bounds, where a page ends within its byte budget, and the retention rule of a room
// (the first whose prefix the room key starts with).
import type { PruneRule } from '../ports/index.js';

/** Most rows one read returns, whatever the caller asks. */
const MAX_READ = 100_000;

/** `n` as a row count for a LIMIT: an integer in [0, MAX_READ]; anything else (NaN, negative) reads nothing. */
export function readLimit(n: number): number {
  if (!(n > 0)) return 0;
  return Math.min(Math.trunc(n), MAX_READ);
}

/** The rule for `room`: the first whose prefix it starts with (a prefix, not a pattern). */
export function ruleFor(rules: PruneRule[], room: string): PruneRule | undefined {
  return rules.find((r) => room.startsWith(r.prefix));
}

/** `n` as a page's byte budget: an integer in [0, 2^53 - 1]; anything else (NaN, negative) is 0, a page of one record. */
export function readBytes(n: number): number {
  if (!(n > 0)) return 0;
  return Math.min(Math.trunc(n), Number.MAX_SAFE_INTEGER);
}

/**
 * How many records, of body sizes `sizes` in read order, one page takes within `maxBytes`:
 * every record while the running sum stays within it, and the first whatever its size. Stops
 * pulling `sizes` at the first record that does not fit; `cut` tells whether there was one.
 */
export function fitBytes(sizes: Iterable<number>, maxBytes: number): { count: number; cut: boolean } {
  let count = 0;
  let bytes = 0;
  for (const size of sizes) {
    bytes += size;
    if (count > 0 && bytes > maxBytes) return { count, cut: true };
    count++;
  }
  return { count, cut: false };
}

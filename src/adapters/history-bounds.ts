// What the SQL history engines (sqlite/, postgres/) share about their inputs: a read's row
// bound and the retention rule of a room (the first whose prefix the room key starts with,
// as in adapters/memory/history-store.ts).
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

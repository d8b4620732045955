// Accept lists (docs/protocol.md, accepts) shared between connections. Most clients of an
// application watch the same ops, and a Set of its own costs every idle connection ~130
// bytes. A shared set is never changed: sub/unsub give the connection another set
// (copy-on-write).
//
// The cache is bounded in entries and in the size of each entry, and a connection's set is
// bounded by limits.maxAccepts (client-protocol.ts), so no sequence of sub/unsub frames can
// grow it: a client inventing new lists fills at most MAX_SHARED small entries, then gets
// sets of its own that go away with it.

/** Distinct lists kept for sharing; lists beyond it get a set of their own. */
const MAX_SHARED = 1024;
/** Longest list kept for sharing: applications share short lists; long ones are one client's. */
const MAX_SHARED_OPS = 32;

export class SharedAccepts {
  private readonly sets = new Map<string, ReadonlySet<number>>();

  /** A set of `ops`, the same object for every caller with the same short list (in any order). */
  of(ops: Iterable<number>): ReadonlySet<number> {
    const unique = ops instanceof Set ? (ops as Set<number>) : new Set(ops);
    if (unique.size > MAX_SHARED_OPS) return unique;
    const sorted = [...unique].sort((a, b) => a - b);
    const id = sorted.join(',');
    let set = this.sets.get(id);
    if (set === undefined) {
      set = new Set(sorted);
      if (this.sets.size < MAX_SHARED) this.sets.set(id, set);
    }
    return set;
  }

  /** Lists currently kept for sharing (tests). */
  get size(): number {
    return this.sets.size;
  }
}

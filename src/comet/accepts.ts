// Accept lists (spec §3.4) shared between connections. Most clients of an application watch
// the same ops, and a Set of its own costs every idle connection ~130 bytes. A shared set is
// never changed: sub/unsub give the connection another set (copy-on-write).

/** Distinct lists kept for sharing; lists beyond it get a set of their own. */
const MAX_SHARED = 1024;

export class SharedAccepts {
  private readonly sets = new Map<string, ReadonlySet<number>>();

  /** A set of `ops`, the same object for every caller with the same ops (in any order). */
  of(ops: Iterable<number>): ReadonlySet<number> {
    const sorted = [...new Set(ops)].sort((a, b) => a - b);
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

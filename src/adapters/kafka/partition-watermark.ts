// What one Kafka partition may commit. Handlers of one partition overlap (the job batches
// rooms), so they finish out of order; a committed offset tells the group "everything
// before it is done", so it may only move past a message once every earlier message of the
// partition has finished: a contiguous watermark. Records arrive in offset order (one
// consumer per partition), so the received-but-uncommitted ones form a queue whose finished
// head is what can be committed.

interface Entry<C> {
  offset: bigint;
  done: boolean;
  /** What commits up to and including this record (the client's per-message commit). */
  commit: C;
}

export class PartitionWatermark<C> {
  private entries: Entry<C>[] = [];
  private head = 0;
  private readonly byOffset = new Map<bigint, Entry<C>>();
  /** Offset after the last record received: a record below it was received already. */
  private next = -1n;
  /** Set when the partition was revoked: nothing of it is committed any more. */
  revoked = false;

  /** Records received and not yet committed (finished or not). */
  get size(): number {
    return this.entries.length - this.head;
  }

  /** False for a record received before (the client fetches again from the committed offset after a rebalance). */
  add(offset: bigint, commit: C): boolean {
    if (offset < this.next) return false;
    this.next = offset + 1n;
    const e: Entry<C> = { offset, done: false, commit };
    this.entries.push(e);
    this.byOffset.set(offset, e);
    return true;
  }

  /**
   * Marks `offset` finished. Returns the commit of the last record of the finished head (all
   * earlier ones finished too), which leaves the queue; null when the head did not move.
   */
  finish(offset: bigint): C | null {
    const e = this.byOffset.get(offset);
    if (!e) return null;
    e.done = true;
    let last: Entry<C> | null = null;
    while (this.head < this.entries.length && this.entries[this.head].done) {
      last = this.entries[this.head++];
      this.byOffset.delete(last.offset);
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return last ? last.commit : null;
  }
}

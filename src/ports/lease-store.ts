// What the NATS queue needs to give each partition to exactly one live job: time-limited
// leases, and the list of live jobs to spread partitions over. adapters/redis/lease-store.ts
// for several jobs, adapters/memory/lease-store.ts for a single process.

export interface LeaseStore {
  /**
   * Takes lease `name` for `owner` for `ttlMs`, or extends it when `owner` already holds it.
   * Resolves whether `owner` holds it now.
   */
  acquire(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives lease `name` up when `owner` holds it. */
  release(name: string, owner: string): Promise<void>;
  /** Marks `owner` alive in `group` for `ttlMs`; resolves the live members, sorted. */
  heartbeat(group: string, owner: string, ttlMs: number): Promise<string[]>;
  /** Removes `owner` from `group` at once (a clean shutdown; others rebalance sooner). */
  leave(group: string, owner: string): Promise<void>;
  /** Frees the store's resources (its Redis connection). */
  close?(): Promise<void>;
}

// What the NATS queue needs to give each partition to exactly one live job: time-limited
// leases, and the list of live jobs to spread partitions over. Implemented on Redis
// (adapters/redis/lease-store.ts) for several jobs, and in memory for a single process.

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

/** Leases within one process (one job, or tests). Time is this process's clock. */
export class LocalLeaseStore implements LeaseStore {
  private readonly leases = new Map<string, { owner: string; until: number }>();
  private readonly groups = new Map<string, Map<string, number>>();

  async acquire(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const l = this.leases.get(name);
    if (l && l.owner !== owner && l.until > now) return false;
    this.leases.set(name, { owner, until: now + ttlMs });
    return true;
  }

  async release(name: string, owner: string): Promise<void> {
    if (this.leases.get(name)?.owner === owner) this.leases.delete(name);
  }

  async heartbeat(group: string, owner: string, ttlMs: number): Promise<string[]> {
    const now = Date.now();
    let g = this.groups.get(group);
    if (!g) this.groups.set(group, (g = new Map()));
    g.set(owner, now + ttlMs);
    for (const [m, until] of g) if (until <= now) g.delete(m);
    return [...g.keys()].sort();
  }

  async leave(group: string, owner: string): Promise<void> {
    this.groups.get(group)?.delete(owner);
  }
}

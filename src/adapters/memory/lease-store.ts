// Partition leases and job membership within one process, for the NATS queue when a single
// job reads every partition (and for tests); several jobs use adapters/redis/lease-store.ts.
import type { LeaseStore } from '../../ports/index.js';

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
    if (!g) this.groups.set(group, (g = new Map<string, number>()));
    g.set(owner, now + ttlMs);
    for (const [m, until] of g) if (until <= now) g.delete(m);
    return [...g.keys()].sort();
  }

  async leave(group: string, owner: string): Promise<void> {
    this.groups.get(group)?.delete(owner);
  }
}

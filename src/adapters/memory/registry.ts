// Registry in process memory (embedded mode). Like goim's discovery server it stamps
// `latestTimestamp` on every register, so watchers (the logic balancer) can tell a
// refreshed instance from an unchanged one. Watch callbacks always run asynchronously.
import type { Instance, Registry } from '../../ports/index.js';

type Watcher = { appid: string; onChange: (instances: Instance[]) => void; active: boolean };

const NS_PER_MS = 1_000_000;

function copy(i: Instance): Instance {
  return { ...i, addrs: [...i.addrs], metadata: { ...i.metadata } };
}

export class MemoryRegistry implements Registry {
  private readonly apps = new Map<string, Map<string, Instance>>();
  private readonly watchers = new Set<Watcher>();
  private lastStamp = 0;

  /** Registers or replaces the instance with the same hostname; stamps its latestTimestamp. */
  async register(instance: Instance): Promise<void> {
    let app = this.apps.get(instance.appid);
    if (app === undefined) this.apps.set(instance.appid, (app = new Map<string, Instance>()));
    app.set(instance.hostname, { ...copy(instance), latestTimestamp: this.stamp() });
    this.notify(instance.appid);
  }

  async deregister(appid: string, hostname: string): Promise<void> {
    if (this.apps.get(appid)?.delete(hostname)) this.notify(appid);
  }

  async list(appid: string): Promise<Instance[]> {
    return this.snapshot(appid);
  }

  watch(appid: string, onChange: (instances: Instance[]) => void): () => void {
    const watcher: Watcher = { appid, onChange, active: true };
    this.watchers.add(watcher);
    this.deliver(watcher, this.snapshot(appid));
    return () => {
      watcher.active = false;
      this.watchers.delete(watcher);
    };
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.active = false;
    this.watchers.clear();
  }

  private snapshot(appid: string): Instance[] {
    return [...(this.apps.get(appid)?.values() ?? [])].map(copy);
  }

  private notify(appid: string): void {
    for (const w of this.watchers) if (w.appid === appid) this.deliver(w, this.snapshot(appid));
  }

  private deliver(w: Watcher, instances: Instance[]): void {
    queueMicrotask(() => {
      if (w.active) w.onChange(instances);
    });
  }

  /** Nanoseconds since the epoch, strictly increasing (at 1e18 a double steps by 256 ns, so step by 1 ms). */
  private stamp(): number {
    this.lastStamp = Math.max(Date.now() * NS_PER_MS, this.lastStamp + NS_PER_MS);
    return this.lastStamp;
  }
}

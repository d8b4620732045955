// Node snapshots in this process (embedded mode): a map with an expiry per entry.
import {
  decodeNodeSnapshot,
  encodeNodeSnapshot,
  NODE_LIST_MAX,
  type NodeRole,
  type NodeSnapshot,
  type NodeStatsStore,
} from '../../ports/node-stats.js';

export class MemoryNodeStats implements NodeStatsStore {
  private readonly nodes = new Map<string, { json: string; expires: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  publish(s: NodeSnapshot, ttlMs: number): Promise<void> {
    try {
      // Encoded as the Redis adapter does: the same bounds, and no shared objects.
      const json = encodeNodeSnapshot(s);
      const name = `${s.role}\n${s.id}`;
      if (!this.nodes.has(name) && this.nodes.size >= NODE_LIST_MAX) this.expire();
      if (!this.nodes.has(name) && this.nodes.size >= NODE_LIST_MAX) throw new Error(`node snapshot: more than ${NODE_LIST_MAX} nodes`);
      this.nodes.set(name, { json, expires: this.now() + ttlMs });
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  remove(role: NodeRole, id: string): Promise<void> {
    this.nodes.delete(`${role}\n${id}`);
    return Promise.resolve();
  }

  list(): Promise<NodeSnapshot[]> {
    this.expire();
    const out: NodeSnapshot[] = [];
    for (const { json } of this.nodes.values()) {
      const s = decodeNodeSnapshot(json);
      if (s !== null) out.push(s);
    }
    return Promise.resolve(out);
  }

  private expire(): void {
    const now = this.now();
    for (const [name, e] of this.nodes) if (e.expires <= now) this.nodes.delete(name);
  }

  close(): Promise<void> {
    this.nodes.clear();
    return Promise.resolve();
  }
}

// SessionStore in process memory (embedded mode): goim's Redis schema as maps. Nothing
// expires — the process owns every connection — but the observable semantics match the
// Redis adapter: expireMapping reports whether the key is routed, delMapping only removes
// a routing that still points at the caller's server.
import type { ServerOnline, SessionRef, SessionStore } from '../../ports/index.js';

export class MemorySessionStore implements SessionStore {
  /** key → server (goim `key_<key>`). */
  private readonly keys = new Map<string, string>();
  /** mid → key → server (goim `mid_<mid>`), only for mid > 0. */
  private readonly mids = new Map<bigint, Map<string, string>>();
  /** server → room snapshot (goim `ol_<server>`). */
  private readonly online = new Map<string, ServerOnline>();

  async addMapping(ref: SessionRef): Promise<void> {
    if (ref.mid > 0n) {
      let keys = this.mids.get(ref.mid);
      if (keys === undefined) this.mids.set(ref.mid, (keys = new Map()));
      keys.set(ref.key, ref.server);
    }
    this.keys.set(ref.key, ref.server);
  }

  async expireMapping(ref: SessionRef): Promise<boolean> {
    return this.keys.has(ref.key);
  }

  async delMapping(ref: SessionRef): Promise<boolean> {
    if (ref.mid > 0n) {
      const keys = this.mids.get(ref.mid);
      if (keys !== undefined && keys.get(ref.key) === ref.server) {
        keys.delete(ref.key);
        if (keys.size === 0) this.mids.delete(ref.mid);
      }
    }
    if (this.keys.get(ref.key) !== ref.server) return false;
    this.keys.delete(ref.key);
    return true;
  }

  async serversByKeys(keys: string[]): Promise<string[]> {
    return keys.map((k) => this.keys.get(k) ?? '');
  }

  async keysByMids(mids: bigint[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const mid of mids) {
      const keys = this.mids.get(mid);
      if (keys !== undefined) for (const [key, server] of keys) out.set(key, server);
    }
    return out;
  }

  async addServerOnline(online: ServerOnline): Promise<void> {
    this.online.set(online.server, { server: online.server, roomCount: { ...online.roomCount }, updated: online.updated });
  }

  async serverOnline(server: string): Promise<ServerOnline | null> {
    const online = this.online.get(server);
    return online === undefined ? null : { server: online.server, roomCount: { ...online.roomCount }, updated: online.updated };
  }

  async delServerOnline(server: string): Promise<void> {
    this.online.delete(server);
  }

  async close(): Promise<void> {}
}

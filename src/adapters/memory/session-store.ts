// SessionStore in process memory (embedded mode): goim's Redis schema as maps. Nothing
// expires — the process owns every connection — but the observable semantics match the
// Redis adapter (test/contracts/session-store.contract.ts): expireMapping reports whether the
// key is routed, delMapping only removes a routing that still points at the caller's server,
// a snapshot without rooms reads back as none.
import type { ServerOnline, SessionRef, SessionStore } from '../../ports/index.js';

/** The one key of a mid (the usual case): no Map of its own, ~150 bytes less per connection. */
class OneKey {
  constructor(
    readonly key: string,
    public server: string,
  ) {}
}

/** A mid's keys: one, or a Map key → server for a mid with several devices. */
type MidKeys = OneKey | Map<string, string>;

export class MemorySessionStore implements SessionStore {
  /** key → server (goim `key_<key>`). */
  private readonly keys = new Map<string, string>();
  /** mid → its keys and their servers (goim `mid_<mid>`), only for mid > 0. */
  private readonly mids = new Map<bigint, MidKeys>();
  /** server → room snapshot (goim `ol_<server>`). */
  private readonly online = new Map<string, ServerOnline>();

  async addMapping(ref: SessionRef): Promise<void> {
    if (ref.mid > 0n) {
      const keys = this.mids.get(ref.mid);
      if (keys === undefined) this.mids.set(ref.mid, new OneKey(ref.key, ref.server));
      else if (keys instanceof Map) keys.set(ref.key, ref.server);
      else if (keys.key === ref.key) keys.server = ref.server;
      else
        this.mids.set(
          ref.mid,
          new Map([
            [keys.key, keys.server],
            [ref.key, ref.server],
          ]),
        );
    }
    this.keys.set(ref.key, ref.server);
  }

  async expireMapping(ref: SessionRef): Promise<boolean> {
    return this.keys.has(ref.key);
  }

  async delMapping(ref: SessionRef): Promise<boolean> {
    if (ref.mid > 0n) {
      const keys = this.mids.get(ref.mid);
      if (keys instanceof Map) {
        if (keys.get(ref.key) === ref.server) {
          keys.delete(ref.key);
          if (keys.size === 1) {
            const [[key, server]] = keys;
            this.mids.set(ref.mid, new OneKey(key, server));
          }
        }
      } else if (keys !== undefined && keys.key === ref.key && keys.server === ref.server) {
        this.mids.delete(ref.mid);
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
      if (keys instanceof Map) for (const [key, server] of keys) out.set(key, server);
      else if (keys !== undefined) out.set(keys.key, keys.server);
    }
    return out;
  }

  async addServerOnline(online: ServerOnline): Promise<void> {
    // As on Redis, where a snapshot lives only in its rooms' shards: no rooms, no snapshot.
    if (Object.keys(online.roomCount).length === 0) {
      this.online.delete(online.server);
      return;
    }
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

// logic ↔ session storage: routing and online counts. adapters/memory/session-store.ts
// (embedded mode) and adapters/redis/session-store.ts (goim's Redis schema).

/** One session's routing: which comet holds connection `key` of user `mid`. */
export interface SessionRef {
  mid: bigint;
  key: string;
  server: string;
}

/** One comet's room counts as stored by RenewOnline (goim `ol_<server>`). */
export interface ServerOnline {
  server: string;
  roomCount: Record<string, number>;
  /** Unix seconds. */
  updated: number;
}

/** Routing and online data (goim's Redis schema: `mid_`, `key_`, `ol_`). */
export interface SessionStore {
  /** key → server, and mid → {key: server} when mid > 0; refreshes TTLs. */
  addMapping(ref: SessionRef): Promise<void>;
  /** Refreshes TTLs; resolves false when the key's routing had lapsed (caller re-adds). */
  expireMapping(ref: SessionRef): Promise<boolean>;
  /**
   * Removes the routing of `ref` only while it still points at `ref.server`, so a
   * reconnect elsewhere is never undone by the old connection (goim's defect, see
   * docs/protocol.md, "Where tsim differs from goim").
   * Resolves to whether the key's routing existed.
   */
  delMapping(ref: SessionRef): Promise<boolean>;
  /** Server of each key, `''` where unknown (order kept). */
  serversByKeys(keys: string[]): Promise<string[]>;
  /** All key → server pairs of the given mids. */
  keysByMids(mids: bigint[]): Promise<Map<string, string>>;
  addServerOnline(online: ServerOnline): Promise<void>;
  serverOnline(server: string): Promise<ServerOnline | null>;
  delServerOnline(server: string): Promise<void>;
  close(): Promise<void>;
}

// SessionStore on Redis with goim's key schema (docs/internal-protocol.md, "Session store"),
// so goim and tsim logic instances can share one Redis:
//   mid_<mid>      hash  connection key → comet server   (mid > 0 only)
//   key_<key>      string comet server
//   ol_<server>    hash  "0"…"63" (CityHash32(room) mod 64) → {"server","room_count","updated"}
// All with TTL redis.expire. Commands of one call are issued in the same tick, so the client
// pipelines them (auto-pipelining; on a Cluster, per node).
// Departures from goim's defects (docs/protocol.md, "Where tsim differs from goim"): removal
// is compare-and-delete (an old connection's disconnect never removes a newer connection's
// routing), and a RenewOnline clears the shards that became empty.
import type { Logger } from '../../log.js';
import type { ServerOnline, SessionRef, SessionStore } from '../../ports/index.js';
import { cityHash32String } from '../../protocol/cityhash.js';
import { closeRedis, connectAttempt, redisError, type RedisClient } from './connection.js';
import { LuaScript } from './lua-script.js';
import { decodeOnlineShard, encodeOnlineShard } from './online-json.js';

/** Number of `ol_<server>` fields (goim: fixed 64). */
const ONLINE_SHARDS = 64;

const midKey = (mid: bigint): string => `mid_${mid.toString()}`;
const keyKey = (key: string): string => `key_${key}`;
const onlineKey = (server: string): string => `ol_${server}`;
/** The `ol_` field holding a room: CityHash32 of its UTF-8 bytes mod 64, in decimal. */
export const onlineField = (room: string): string => String(cityHash32String(room) % ONLINE_SHARDS);

/** DEL key_<key> only while it still names ARGV[1] (the disconnecting connection's server). */
const DEL_KEY_IF = new LuaScript(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  1,
);

/** HSET mid_<mid> <key> <server> and its TTL (ARGV[3] seconds): one command for the client instead of two. */
const HSET_EXPIRE = new LuaScript(
  `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('EXPIRE', KEYS[1], ARGV[3])`,
  1,
);

/** HDEL mid_<mid> <key> only while the field still names ARGV[2]. */
const HDEL_MID_IF = new LuaScript(
  `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`,
  1,
);

export interface RedisSessionStoreOptions {
  /** TTL of every key in whole seconds (goim: redis.expire / 1 s, e.g. 30m → 1800). */
  expireSeconds: number;
  log: Logger;
  /** Close the client on close() (true when the store created it). */
  ownsClient?: boolean;
}

export class RedisSessionStore implements SessionStore {
  private readonly expire: number;
  private readonly log: Logger;
  private readonly ownsClient: boolean;

  constructor(
    private readonly redis: RedisClient,
    opts: RedisSessionStoreOptions,
  ) {
    this.expire = Math.max(1, Math.trunc(opts.expireSeconds));
    this.log = opts.log;
    this.ownsClient = opts.ownsClient ?? false;
  }

  /**
   * HSET mid_M K S + EXPIRE in one script (mid > 0), SET key_K S EX: the two keys may sit on
   * different Cluster nodes, so they are two commands, sent in one pipeline.
   */
  async addMapping(ref: SessionRef): Promise<void> {
    await this.usable();
    const r = this.redis;
    const set = r.set(keyKey(ref.key), ref.server, 'EX', this.expire);
    const what = (): string => `addMapping key=${ref.key} mid=${ref.mid}`;
    if (ref.mid <= 0n) {
      try {
        await set;
      } catch (e) {
        throw redisError(r, what(), e);
      }
      return;
    }
    await this.all([set, HSET_EXPIRE.run(r, [midKey(ref.mid)], [ref.key, ref.server, this.expire])], what);
  }

  /** EXPIRE mid_M (mid > 0), EXPIRE key_K; resolves whether key_K still existed. */
  async expireMapping(ref: SessionRef): Promise<boolean> {
    await this.usable();
    const r = this.redis;
    const ops: Promise<unknown>[] = [];
    if (ref.mid > 0n) ops.push(r.expire(midKey(ref.mid), this.expire));
    ops.push(r.expire(keyKey(ref.key), this.expire));
    const res = await this.all(ops, () => `expireMapping key=${ref.key} mid=${ref.mid}`);
    return res[res.length - 1] === 1;
  }

  /**
   * Compare-and-delete of this connection's routing: `key_K` and the `mid_M` field go only
   * while they still name `ref.server`. Resolves whether `key_K` was this connection's (and
   * so was removed); false when it had lapsed or a newer connection owns it.
   */
  async delMapping(ref: SessionRef): Promise<boolean> {
    await this.usable();
    const r = this.redis;
    const ops: Promise<unknown>[] = [];
    if (ref.mid > 0n) ops.push(HDEL_MID_IF.run(r, [midKey(ref.mid)], [ref.key, ref.server]));
    ops.push(DEL_KEY_IF.run(r, [keyKey(ref.key)], [ref.server]));
    const res = await this.all(ops, () => `delMapping key=${ref.key} mid=${ref.mid}`);
    return res[res.length - 1] === 1;
  }

  /** One MGET; `''` for unknown keys. */
  async serversByKeys(keys: string[]): Promise<string[]> {
    if (keys.length === 0) return [];
    await this.usable();
    let res: Array<string | null>;
    try {
      res = await this.redis.mget(keys.map(keyKey));
    } catch (e) {
      throw redisError(this.redis, `serversByKeys (${keys.length} keys)`, e);
    }
    return res.map((s) => s ?? '');
  }

  /** HGETALL mid_M per mid, merged. */
  async keysByMids(mids: bigint[]): Promise<Map<string, string>> {
    await this.usable();
    const res = await this.all(
      mids.map((mid) => this.redis.hgetall(midKey(mid))),
      `keysByMids (${mids.length} mids)`,
    );
    const out = new Map<string, string>();
    for (const h of res as Array<Record<string, string>>) {
      for (const [key, server] of Object.entries(h)) out.set(key, server);
    }
    return out;
  }

  /**
   * Writes each non-empty shard (goim's JSON, byte for byte), deletes the fields of shards
   * that are now empty, and refreshes the TTL, in one MULTI (readers never see half a
   * snapshot). With no rooms at all the key goes away.
   */
  async addServerOnline(online: ServerOnline): Promise<void> {
    await this.usable();
    const shards = new Map<string, Record<string, number>>();
    for (const [room, count] of Object.entries(online.roomCount)) {
      const f = onlineField(room);
      let shard = shards.get(f);
      if (!shard) shards.set(f, (shard = {}));
      shard[room] = count;
    }
    const key = onlineKey(online.server);
    const pairs: string[] = [];
    for (const [field, rooms] of shards) pairs.push(field, encodeOnlineShard(online.server, rooms, online.updated));
    const empty: string[] = [];
    for (let i = 0; i < ONLINE_SHARDS; i++) if (!shards.has(String(i))) empty.push(String(i));
    const tx = this.redis.multi();
    if (pairs.length > 0) tx.hset(key, ...pairs);
    if (empty.length > 0) tx.hdel(key, ...empty);
    if (pairs.length > 0) tx.expire(key, this.expire);
    let res: Array<[Error | null, unknown]> | null;
    try {
      res = await tx.exec();
    } catch (e) {
      throw redisError(this.redis, `addServerOnline server=${online.server}`, e);
    }
    const failed = res?.find(([err]) => err !== null);
    if (!res || failed) {
      throw redisError(this.redis, `addServerOnline server=${online.server}`, failed?.[0] ?? new Error('transaction aborted'));
    }
  }

  /**
   * Reads all 64 shards (one HGETALL): `updated` is the newest shard's, room counts are merged
   * (a room found in two shards — only possible with foreign writers — takes the newer one).
   * Null when the key is missing or holds nothing readable.
   */
  async serverOnline(server: string): Promise<ServerOnline | null> {
    await this.usable();
    let fields: Record<string, string>;
    try {
      fields = await this.redis.hgetall(onlineKey(server));
    } catch (e) {
      throw redisError(this.redis, `serverOnline server=${server}`, e);
    }
    let updated = -1;
    const rooms = new Map<string, { count: number; updated: number }>();
    for (const [field, value] of Object.entries(fields)) {
      const shard = decodeOnlineShard(value);
      if (!shard) {
        this.log.warn({ key: onlineKey(server), field }, 'redis: unreadable online shard skipped');
        continue;
      }
      if (shard.updated > updated) updated = shard.updated;
      for (const [room, count] of Object.entries(shard.roomCount)) {
        const prev = rooms.get(room);
        if (!prev || shard.updated > prev.updated) rooms.set(room, { count, updated: shard.updated });
      }
    }
    if (updated < 0) return null;
    const roomCount = Object.fromEntries([...rooms].map(([room, v]) => [room, v.count]));
    return { server, roomCount, updated };
  }

  async delServerOnline(server: string): Promise<void> {
    await this.usable();
    try {
      await this.redis.del(onlineKey(server));
    } catch (e) {
      throw redisError(this.redis, `delServerOnline server=${server}`, e);
    }
  }

  async close(): Promise<void> {
    if (this.ownsClient) await closeRedis(this.redis);
  }

  /** Lets a connection attempt in progress finish first (see connectAttempt). */
  private async usable(): Promise<void> {
    const attempt = connectAttempt(this.redis);
    if (attempt) await attempt;
  }

  /** Awaits commands issued together; the first failure becomes one clear error (`what` built only then). */
  private async all(ops: Promise<unknown>[], what: string | (() => string)): Promise<unknown[]> {
    const settled = await Promise.allSettled(ops);
    const out: unknown[] = [];
    for (const s of settled) {
      if (s.status === 'rejected') throw redisError(this.redis, typeof what === 'string' ? what : what(), s.reason);
      out.push(s.value);
    }
    return out;
  }
}

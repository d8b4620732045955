// Node snapshots on Redis (distributed mode), kept like registry entries (hash-tagged so
// they share one Cluster slot):
//   <prefix>{nodes}:stats   hash  "<role>/<id>" → snapshot JSON
//   <prefix>{nodes}:expiry  zset  "<role>/<id>" → expiry, ms of Redis server time
// A process that dies drops out after its TTL; list() removes what expired.
import {
  decodeNodeSnapshot,
  encodeNodeSnapshot,
  NODE_LIST_MAX,
  type NodeRole,
  type NodeSnapshot,
  type NodeStatsStore,
} from '../../ports/node-stats.js';
import { closeRedis, redisError, type RedisClient } from './connection.js';
import { LuaScript } from './lua-script.js';

const NOW = `if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: stats, expiry. ARGV: name, json, ttl ms, max nodes. Refuses a new node past the max (returns 0). */
const PUBLISH = new LuaScript(
  `${NOW}
local ttl = tonumber(ARGV[3])
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
  if #dead == 0 then return 0 end
  redis.call('ZREM', KEYS[2], unpack(dead))
  redis.call('HDEL', KEYS[1], unpack(dead))
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
for i = 1, 2 do
  if redis.call('PTTL', KEYS[i]) < ttl * 2 then redis.call('PEXPIRE', KEYS[i], ttl * 2) end
end
return 1`,
  2,
);

/** KEYS: stats, expiry. ARGV: max nodes. Drops expired entries, returns the live ones' JSON (latest expiry first). */
const LIST = new LuaScript(
  `${NOW}
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
if #dead > 0 then
  redis.call('ZREM', KEYS[2], unpack(dead))
  redis.call('HDEL', KEYS[1], unpack(dead))
end
local live = redis.call('ZREVRANGEBYSCORE', KEYS[2], '+inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[1]))
if #live == 0 then return {} end
return redis.call('HMGET', KEYS[1], unpack(live))`,
  2,
);

export interface RedisNodeStatsOptions {
  /** Key prefix (default `tsim:`). */
  prefix?: string;
  /** Close the client on close() (true when the store created it). */
  ownsClient?: boolean;
}

export class RedisNodeStats implements NodeStatsStore {
  private readonly keys: [string, string];
  private readonly ownsClient: boolean;

  constructor(
    private readonly redis: RedisClient,
    opts: RedisNodeStatsOptions,
  ) {
    const prefix = opts.prefix ?? 'tsim:';
    this.keys = [`${prefix}{nodes}:stats`, `${prefix}{nodes}:expiry`];
    this.ownsClient = opts.ownsClient ?? false;
  }

  async publish(s: NodeSnapshot, ttlMs: number): Promise<void> {
    const json = encodeNodeSnapshot(s);
    let stored: unknown;
    try {
      stored = await PUBLISH.run(this.redis, this.keys, [`${s.role}/${s.id}`, json, Math.max(1, Math.trunc(ttlMs)), NODE_LIST_MAX]);
    } catch (err) {
      throw redisError(this.redis, 'publishing a node snapshot', err);
    }
    if (stored !== 1) throw new Error(`node snapshot: more than ${NODE_LIST_MAX} nodes`);
  }

  async remove(role: NodeRole, id: string): Promise<void> {
    const name = `${role}/${id}`;
    try {
      await this.redis.multi().hdel(this.keys[0], name).zrem(this.keys[1], name).exec();
    } catch (err) {
      throw redisError(this.redis, 'removing a node snapshot', err);
    }
  }

  async list(): Promise<NodeSnapshot[]> {
    let raw: unknown;
    try {
      raw = await LIST.run(this.redis, this.keys, [NODE_LIST_MAX]);
    } catch (err) {
      throw redisError(this.redis, 'listing node snapshots', err);
    }
    const out: NodeSnapshot[] = [];
    for (const text of Array.isArray(raw) ? raw : []) {
      const s = typeof text === 'string' ? decodeNodeSnapshot(text) : null;
      if (s !== null) out.push(s);
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.ownsClient) await closeRedis(this.redis);
  }
}

// Partition leases and job membership on Redis, for the NATS queue (the LeaseStore port, ports/lease-store.ts):
//   <prefix>lease:<name>    string owner, PX ttl        (SET NX PX, extended only by its owner)
//   <prefix>members:<group> zset   owner → expiry (ms of Redis server time)
// Ownership checks and expiry run in Lua on the server, so clocks of job hosts never matter.
import type { LeaseStore } from '../../ports/index.js';
import { closeRedis, connectAttempt, redisError, type RedisClient } from './connection.js';
import { LuaScript } from './lua-script.js';

/** KEYS: lease. ARGV: owner, ttl ms. 1 when owner holds it afterwards. */
const ACQUIRE = new LuaScript(
  `local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`,
  1,
);

/** KEYS: lease. ARGV: owner. */
const RELEASE = new LuaScript(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  1,
);

/** KEYS: members. ARGV: owner, ttl ms. The live members. */
const HEARTBEAT = new LuaScript(
  `if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('PTTL', KEYS[1]) < ttl * 2 then redis.call('PEXPIRE', KEYS[1], ttl * 2) end
return redis.call('ZRANGE', KEYS[1], 0, -1)`,
  1,
);

export interface RedisLeaseStoreOptions {
  /** Key prefix (default `tsim:queue:`). */
  prefix?: string;
  /** Close the client on close() (true when the store created it). */
  ownsClient?: boolean;
}

export class RedisLeaseStore implements LeaseStore {
  private readonly prefix: string;
  private readonly ownsClient: boolean;

  constructor(
    private readonly redis: RedisClient,
    opts: RedisLeaseStoreOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'tsim:queue:';
    this.ownsClient = opts.ownsClient ?? false;
  }

  async acquire(name: string, owner: string, ttlMs: number): Promise<boolean> {
    try {
      return (await ACQUIRE.run(this.redis, [`${this.prefix}lease:${name}`], [owner, Math.max(1, Math.trunc(ttlMs))])) === 1;
    } catch (e) {
      throw redisError(this.redis, `lease ${name}`, e);
    }
  }

  async release(name: string, owner: string): Promise<void> {
    try {
      await RELEASE.run(this.redis, [`${this.prefix}lease:${name}`], [owner]);
    } catch (e) {
      throw redisError(this.redis, `lease release ${name}`, e);
    }
  }

  async heartbeat(group: string, owner: string, ttlMs: number): Promise<string[]> {
    try {
      const members = (await HEARTBEAT.run(this.redis, [`${this.prefix}members:${group}`], [owner, Math.max(1, Math.trunc(ttlMs))])) as string[];
      return [...members].sort();
    } catch (e) {
      throw redisError(this.redis, `members of ${group}`, e);
    }
  }

  async leave(group: string, owner: string): Promise<void> {
    const attempt = connectAttempt(this.redis);
    if (attempt) await attempt;
    try {
      await this.redis.zrem(`${this.prefix}members:${group}`, owner);
    } catch (e) {
      throw redisError(this.redis, `leave ${group}`, e);
    }
  }

  async close(): Promise<void> {
    if (this.ownsClient) await closeRedis(this.redis);
  }
}

// Builds the Redis adapters of a distributed role from its configuration: the `redis` and
// `registry` sections, with REDIS_URL (when set) overriding redis.url
// (docs/configuration.md). Each adapter built here owns its client and closes it on close().
import { createRedis } from '../adapters/redis/connection.js';
import { RedisLeaseStore } from '../adapters/redis/lease-store.js';
import { RedisNodeStats } from '../adapters/redis/node-stats.js';
import { RedisRegistry } from '../adapters/redis/registry.js';
import { RedisSendGuard } from '../adapters/redis/send-guard.js';
import { RedisSessionStore } from '../adapters/redis/session-store.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';

/** REDIS_URL when set, else redis.url. */
function redisUrl(config: Config): string {
  const url = process.env.REDIS_URL?.trim();
  return url ? url : config.redis.url;
}

function client(config: Config, log: Logger, name: string) {
  return createRedis(redisUrl(config), {
    dialTimeoutMs: config.redis.dialTimeout,
    readTimeoutMs: config.redis.readTimeout,
    name,
    log,
  });
}

export function redisSessionStore(config: Config, log: Logger): RedisSessionStore {
  return new RedisSessionStore(client(config, log, 'tsim-session'), {
    expireSeconds: Math.trunc(config.redis.expire / 1000),
    log,
    ownsClient: true,
  });
}

export function redisRegistry(config: Config, log: Logger): RedisRegistry {
  return new RedisRegistry(client(config, log, 'tsim-registry'), {
    ttlMs: config.registry.ttl,
    refreshMs: config.registry.refresh,
    log,
    ownsClient: true,
  });
}

export function redisLeaseStore(config: Config, log: Logger): RedisLeaseStore {
  return new RedisLeaseStore(client(config, log, 'tsim-queue-leases'), { ownsClient: true });
}

/** Danmaku slow mode and nonces, shared by every logic (docs/history.md#limits). */
export function redisSendGuard(config: Config, log: Logger): RedisSendGuard {
  return new RedisSendGuard(client(config, log, 'tsim-send-guard'), { ownsClient: true });
}

/** Node snapshots for the operations console (docs/operations.md#operations-console). */
export function redisNodeStats(config: Config, log: Logger): RedisNodeStats {
  return new RedisNodeStats(client(config, log, 'tsim-node-stats'), { ownsClient: true });
}

// RedisLeaseStore against the LeaseStore contract (test/contracts/lease-store.contract.ts),
// then what only Redis has: its keys, and an unreachable server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { closeRedis, createRedis, redisReady } from '../../src/adapters/redis/connection.js';
import { RedisLeaseStore } from '../../src/adapters/redis/lease-store.js';
import { serviceGate, serviceUrl, uniqueName } from '../support/services.js';
import { deleteKeysUnder } from '../support/redis-keys.js';
import { leaseStoreContract } from '../contracts/lease-store.contract.js';

const skip = await serviceGate('redis');

leaseStoreContract(
  'RedisLeaseStore (real Redis)',
  async () => {
    const prefix = `${uniqueName('tsimtest:leases:')}:`;
    const client = createRedis(serviceUrl('redis'));
    const store = new RedisLeaseStore(client, { prefix, ownsClient: true });
    const dispose = async (): Promise<void> => {
      await store.close();
      await deleteKeysUnder(prefix);
    };
    await redisReady(client, 5000).catch(async (e: unknown) => {
      await dispose();
      throw e;
    });
    return { subject: store, dispose };
  },
  { skip },
);

describe('RedisLeaseStore: its keys and outages (real Redis)', { skip }, () => {
  const prefix = `${uniqueName('tsimtest:leases:')}:`;
  let redis: Redis;

  before(async () => {
    redis = createRedis(serviceUrl('redis'));
    await redisReady(redis, 5000);
  });

  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await closeRedis(redis);
  });

  test('stored as plain keys: the owner string with a TTL, members in a sorted set', async () => {
    const store = new RedisLeaseStore(redis, { prefix: `${prefix}shape:` });
    await store.acquire('GOIM_PUSH.3', 'host:1', 5000);
    assert.equal(await redis.get(`${prefix}shape:lease:GOIM_PUSH.3`), 'host:1');
    const ttl = await redis.pttl(`${prefix}shape:lease:GOIM_PUSH.3`);
    assert.ok(ttl > 0 && ttl <= 5000, `ttl ${ttl}`);
    await store.heartbeat('GOIM_PUSH', 'host:1', 5000);
    assert.equal(await redis.type(`${prefix}shape:members:GOIM_PUSH`), 'zset');
  });

  test('with Redis unreachable, lease calls reject with a clear error', async () => {
    const dead = createRedis('redis://127.0.0.1:1');
    const store = new RedisLeaseStore(dead, { ownsClient: true });
    await assert.rejects(store.acquire('p', 'o', 1000), /redis 127\.0\.0\.1:1: lease p failed: not connected/);
    await assert.rejects(store.heartbeat('g', 'o', 1000), /not connected/);
    await store.close();
  });
});

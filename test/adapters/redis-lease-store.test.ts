import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { closeRedis, createRedis, redisReady } from '../../src/adapters/redis/connection.js';
import { RedisLeaseStore } from '../../src/adapters/redis/lease-store.js';
import { LocalLeaseStore } from '../../src/adapters/memory/lease-store.js';
import type { LeaseStore } from '../../src/ports/index.js';
import { serviceGate, serviceUrl, uniqueName, waitFor } from '../support/services.js';

const skip = await serviceGate('redis');

/** The contract both lease stores keep; `expire` makes a lease or membership lapse now. */
function leaseContract(make: () => { store: LeaseStore; expire?: (what: 'lease' | 'member', name: string) => Promise<void> }) {
  test('one owner at a time; the owner renews; release frees it', async () => {
    const { store } = make();
    assert.equal(await store.acquire('p0', 'job-a', 10_000), true);
    assert.equal(await store.acquire('p0', 'job-b', 10_000), false);
    assert.equal(await store.acquire('p0', 'job-a', 10_000), true, 'renewal');
    await store.release('p0', 'job-b'); // not the owner: no effect
    assert.equal(await store.acquire('p0', 'job-b', 10_000), false);
    await store.release('p0', 'job-a');
    assert.equal(await store.acquire('p0', 'job-b', 10_000), true);
  });

  test('a lease not renewed lapses and can be taken', async () => {
    const { store } = make();
    assert.equal(await store.acquire('p1', 'job-a', 150), true);
    await waitFor(async () => store.acquire('p1', 'job-b', 10_000), 'the lease to lapse');
    assert.equal(await store.acquire('p1', 'job-a', 10_000), false);
  });

  test('members: sorted, expire without heartbeats, leave at once', async () => {
    const { store } = make();
    assert.deepEqual(await store.heartbeat('g', 'job-b', 10_000), ['job-b']);
    assert.deepEqual(await store.heartbeat('g', 'job-a', 10_000), ['job-a', 'job-b']);
    assert.deepEqual(await store.heartbeat('g', 'job-c', 150), ['job-a', 'job-b', 'job-c']);
    await waitFor(async () => (await store.heartbeat('g', 'job-a', 10_000)).join() === 'job-a,job-b', 'job-c to expire');
    await store.leave('g', 'job-b');
    assert.deepEqual(await store.heartbeat('g', 'job-a', 10_000), ['job-a']);
  });
}

describe('LocalLeaseStore', () => {
  leaseContract(() => ({ store: new LocalLeaseStore() }));
});

describe('RedisLeaseStore (real Redis)', { skip }, () => {
  const prefix = `${uniqueName('tsimtest:leases:')}:`;
  let redis: Redis;
  const stores: RedisLeaseStore[] = [];

  before(async () => {
    redis = createRedis(serviceUrl('redis'));
    await redisReady(redis, 5000);
  });

  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await closeRedis(redis);
  });

  let n = 0;
  leaseContract(() => {
    const store = new RedisLeaseStore(redis, { prefix: `${prefix}${n++}:` });
    stores.push(store);
    return { store };
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

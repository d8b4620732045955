// Node snapshot stores (ports/node-stats.ts): the same cases against the memory adapter and
// the Redis one on a real server — publish and replace, TTL expiry, removal, the size bounds,
// and what another process wrote read back field by field.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryNodeStats } from '../../src/adapters/memory/node-stats.js';
import { closeRedis, createRedis, redisReady } from '../../src/adapters/redis/connection.js';
import { RedisNodeStats } from '../../src/adapters/redis/node-stats.js';
import { decodeNodeSnapshot, type NodeSnapshot, type NodeStatsStore } from '../../src/ports/node-stats.js';
import { deleteKeysUnder } from '../support/redis-keys.js';
import { serviceGate, serviceUrl, uniqueName } from '../support/services.js';

const snapshot = (over: Partial<NodeSnapshot> = {}): NodeSnapshot => ({
  role: 'comet',
  id: 'c1',
  version: '1.2.3',
  startedAt: 1000,
  at: 2000,
  addrs: ['tcp 127.0.0.1:3101'],
  health: 'ok',
  values: { connections: 5, delivered: 10 },
  ...over,
});

function contract(name: string, open: () => Promise<{ store: NodeStatsStore; dispose: () => Promise<void> }>, skip: false | string): void {
  describe(name, { skip }, () => {
    const withStore = async (fn: (s: NodeStatsStore) => Promise<void>): Promise<void> => {
      const { store, dispose } = await open();
      try {
        await fn(store);
      } finally {
        await dispose();
      }
    };

    it('lists what was published, a node once with its latest snapshot', () =>
      withStore(async (s) => {
        await s.publish(snapshot(), 10_000);
        await s.publish(snapshot({ at: 3000, values: { connections: 6 } }), 10_000);
        await s.publish(snapshot({ role: 'job', id: 'c1' }), 10_000);
        const list = (await s.list()).sort((a, b) => a.role.localeCompare(b.role));
        assert.deepEqual(list, [snapshot({ at: 3000, values: { connections: 6 } }), snapshot({ role: 'job', id: 'c1' })]);
      }));

    it('forgets a snapshot after its TTL, and at once when removed', () =>
      withStore(async (s) => {
        await s.publish(snapshot({ id: 'short' }), 50);
        await s.publish(snapshot({ id: 'long' }), 10_000);
        await s.remove('comet', 'long');
        await new Promise((r) => setTimeout(r, 120));
        assert.deepEqual(await s.list(), []);
      }));

    it('refuses a snapshot over its bounds', () =>
      withStore(async (s) => {
        const values = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`v${i}`, i]));
        await assert.rejects(s.publish(snapshot({ values }), 1000), /more than 32 values/);
        await assert.rejects(s.publish(snapshot({ health: 'x'.repeat(5000) }), 1000), /over 4096 bytes/);
        assert.deepEqual(await s.list(), []);
      }));
  });
}

contract(
  'MemoryNodeStats',
  () => {
    const store = new MemoryNodeStats();
    return Promise.resolve({ store, dispose: () => store.close() });
  },
  false,
);

const redisSkip = await serviceGate('redis');
contract(
  'RedisNodeStats (real Redis)',
  async () => {
    const prefix = `${uniqueName('tsimtest:nodes:')}:`;
    const client = createRedis(serviceUrl('redis'));
    await redisReady(client, 5000);
    const store = new RedisNodeStats(client, { prefix, ownsClient: true });
    return {
      store,
      dispose: async () => {
        await store.close();
        await deleteKeysUnder(prefix);
      },
    };
  },
  redisSkip,
);

describe('RedisNodeStats: what it reads back (real Redis)', { skip: redisSkip }, () => {
  it('skips entries another process wrote that are not snapshots', async () => {
    const prefix = `${uniqueName('tsimtest:nodes:')}:`;
    const raw = createRedis(serviceUrl('redis'));
    const store = new RedisNodeStats(createRedis(serviceUrl('redis')), { prefix, ownsClient: true });
    try {
      await redisReady(raw, 5000);
      await store.publish(snapshot(), 10_000);
      await raw.hset(`${prefix}{nodes}:stats`, 'comet/c1', '{"role":"dragon"}');
      assert.deepEqual(await store.list(), []);
    } finally {
      await store.close();
      await closeRedis(raw);
      await deleteKeysUnder(prefix);
    }
  });
});

describe('decodeNodeSnapshot', () => {
  it('keeps known fields of the right types only', () => {
    assert.equal(decodeNodeSnapshot('nope'), null);
    assert.equal(decodeNodeSnapshot('null'), null);
    assert.equal(decodeNodeSnapshot('{"role":"comet","id":1,"startedAt":1,"at":1}'), null);
    assert.deepEqual(decodeNodeSnapshot('{"role":"job","id":"j","startedAt":1,"at":2,"addrs":["a",3],"values":{"x":1,"y":"2","z":null}}'), {
      role: 'job',
      id: 'j',
      version: '',
      startedAt: 1,
      at: 2,
      addrs: ['a'],
      health: '',
      values: { x: 1 },
    });
  });
});

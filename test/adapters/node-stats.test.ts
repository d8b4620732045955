// Node snapshot stores (ports/node-stats.ts): the contract (test/contracts/node-stats.contract.ts)
// against the memory adapter and the Redis one on a real server, then what another process
// wrote read back field by field.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryNodeStats } from '../../src/adapters/memory/node-stats.js';
import { closeRedis, createRedis, redisReady } from '../../src/adapters/redis/connection.js';
import { RedisNodeStats } from '../../src/adapters/redis/node-stats.js';
import { decodeNodeSnapshot } from '../../src/ports/node-stats.js';
import { nodeStatsContract, snapshot } from '../contracts/node-stats.contract.js';
import { deleteKeysUnder } from '../support/redis-keys.js';
import { serviceGate, serviceUrl, uniqueName } from '../support/services.js';

nodeStatsContract('MemoryNodeStats', () => {
  const subject = new MemoryNodeStats();
  return Promise.resolve({ subject, dispose: () => subject.close() });
});

const redisSkip = await serviceGate('redis');
nodeStatsContract(
  'RedisNodeStats (real Redis)',
  async () => {
    const prefix = `${uniqueName('tsimtest:nodes:')}:`;
    const client = createRedis(serviceUrl('redis'));
    await redisReady(client, 5000);
    const subject = new RedisNodeStats(client, { prefix, ownsClient: true });
    return {
      subject,
      dispose: async () => {
        await subject.close();
        await deleteKeysUnder(prefix);
      },
    };
  },
  { skip: redisSkip },
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

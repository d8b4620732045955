// RedisSendGuard against the SendGuard contract (test/contracts/send-guard.contract.ts), then
// what only Redis has: its keys and an unreachable server.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { closeRedis, createRedis, redisReady } from '../../src/adapters/redis/connection.js';
import { RedisSendGuard } from '../../src/adapters/redis/send-guard.js';
import { sendGuardContract } from '../contracts/send-guard.contract.js';
import { deleteKeysUnder } from '../support/redis-keys.js';
import { serviceGate, serviceUrl, uniqueName } from '../support/services.js';

const skip = await serviceGate('redis');

async function openGuard(prefix: string): Promise<{ subject: RedisSendGuard; dispose: () => Promise<void> }> {
  const client = createRedis(serviceUrl('redis'));
  const guard = new RedisSendGuard(client, { prefix, ownsClient: true });
  const dispose = async (): Promise<void> => {
    await guard.close();
    await deleteKeysUnder(prefix);
  };
  await redisReady(client, 5000).catch(async (e: unknown) => {
    await dispose();
    throw e;
  });
  return { subject: guard, dispose };
}

sendGuardContract('RedisSendGuard (real Redis)', () => openGuard(`${uniqueName('tsimtest:dm:')}:`), { skip });

describe('RedisSendGuard: its keys and outages (real Redis)', { skip }, () => {
  test('plain string keys with a TTL under the prefix', async () => {
    const prefix = `${uniqueName('tsimtest:dm:')}:`;
    const { subject: g, dispose } = await openGuard(prefix);
    const raw = createRedis(serviceUrl('redis'));
    try {
      await redisReady(raw, 5000);
      const t = await g.claimSlot('m7', 'live://1', 5000);
      assert.equal(await raw.get(`${prefix}slot:2:m7live://1`), t);
      const ttl = await raw.pttl(`${prefix}slot:2:m7live://1`);
      assert.ok(ttl > 0 && ttl <= 5000, `ttl ${ttl}`);
      await g.settleNonce('m7', 'n1', Buffer.from('{"code":0}'), 7000);
      assert.equal(await raw.get(`${prefix}nonce:2:m7n1`), 'a{"code":0}');
      assert.ok((await raw.pttl(`${prefix}nonce:2:m7n1`)) > 5000);
    } finally {
      await closeRedis(raw);
      await dispose();
    }
  });

  test('the default prefix is tsim:dm:', async () => {
    const user = uniqueName('u');
    const g = new RedisSendGuard(createRedis(serviceUrl('redis')), { ownsClient: true });
    const raw = createRedis(serviceUrl('redis'));
    const key = `tsim:dm:slot:${user.length}:${user}r`;
    try {
      await redisReady(raw, 5000);
      const t = await g.claimSlot(user, 'r', 5000);
      assert.equal(await raw.get(key), t);
    } finally {
      await raw.del(key);
      await closeRedis(raw);
      await g.close();
    }
  });

  test('with Redis unreachable, calls reject with a clear error', async () => {
    const g = new RedisSendGuard(createRedis('redis://127.0.0.1:1'), { ownsClient: true });
    await assert.rejects(g.claimSlot('m1', 'r', 1000), /redis 127\.0\.0\.1:1: slow-mode claim failed: not connected/);
    await assert.rejects(g.claimNonce('m1', 'n', 1000), /nonce claim failed: not connected/);
    await g.close();
  });
});

// MemoryRegistry against the Registry contract (test/contracts/registry.contract.ts), then
// what only it does: stamp latestTimestamp itself, as goim's discovery server does.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryRegistry } from '../../src/adapters/memory/registry.js';
import { AppId, type Instance } from '../../src/ports/index.js';
import { registryContract } from '../contracts/registry.contract.js';

registryContract('MemoryRegistry', async () => {
  const registry = new MemoryRegistry();
  return { subject: registry, dispose: () => registry.close() };
});

function instance(hostname: string, metadata: Record<string, string> = {}, appid: string = AppId.Comet): Instance {
  return { region: '', zone: '', env: '', appid, hostname, addrs: [], version: '', latestTimestamp: 0, metadata };
}

describe('MemoryRegistry', () => {
  test('stamps every registration with a newer latestTimestamp, in nanoseconds since the epoch', async () => {
    const r = new MemoryRegistry();
    await r.register(instance('a', { conn_count: '1' }));
    const [first] = await r.list(AppId.Comet);
    await r.register(instance('a', { conn_count: '2' }));
    const list = await r.list(AppId.Comet);
    assert.equal(list.length, 1);
    assert.deepEqual(list[0].metadata, { conn_count: '2' });
    assert.ok(first.latestTimestamp > 1e18, 'nanoseconds since the epoch');
    assert.ok(list[0].latestTimestamp > first.latestTimestamp);
    await r.close();
  });
});

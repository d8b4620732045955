// What every NodeStatsStore promises (src/ports/node-stats.ts), run against each adapter:
// test/adapters/node-stats.test.ts (memory and Redis). Publish and replace, TTL expiry,
// removal, and the size bounds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodeSnapshot, NodeStatsStore } from '../../src/ports/node-stats.js';
import { opener, type ContractOptions, type Factory } from './subject.js';

export const snapshot = (over: Partial<NodeSnapshot> = {}): NodeSnapshot => ({
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

export function nodeStatsContract(name: string, factory: Factory<NodeStatsStore>, options: ContractOptions = {}): void {
  describe(`NodeStatsStore contract: ${name}`, { skip: options.skip }, () => {
    const open = opener(factory);

    test('lists what was published, a node once with its latest snapshot', async () => {
      const s = await open();
      await s.publish(snapshot(), 10_000);
      await s.publish(snapshot({ at: 3000, values: { connections: 6 } }), 10_000);
      await s.publish(snapshot({ role: 'job', id: 'c1', rooms: [{ room: 'live://1', perSecond: 2.5 }] }), 10_000);
      const list = (await s.list()).sort((a, b) => a.role.localeCompare(b.role));
      assert.deepEqual(list, [
        snapshot({ at: 3000, values: { connections: 6 } }),
        snapshot({ role: 'job', id: 'c1', rooms: [{ room: 'live://1', perSecond: 2.5 }] }),
      ]);
    });

    test('forgets a snapshot after its TTL, and at once when removed', async () => {
      const s = await open();
      await s.publish(snapshot({ id: 'short' }), 50);
      await s.publish(snapshot({ id: 'long' }), 10_000);
      await s.remove('comet', 'long');
      await new Promise((r) => setTimeout(r, 120));
      assert.deepEqual(await s.list(), []);
    });

    test('refuses a snapshot over its bounds', async () => {
      const s = await open();
      const values = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`v${i}`, i]));
      await assert.rejects(s.publish(snapshot({ values }), 1000), /more than 32 values/);
      await assert.rejects(s.publish(snapshot({ health: 'x'.repeat(5000) }), 1000), /over 4096 bytes/);
      assert.deepEqual(await s.list(), []);
    });
  });
}

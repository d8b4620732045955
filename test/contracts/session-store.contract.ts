// What every SessionStore promises (src/ports/session-store.ts), run against each adapter:
// test/adapters/memory-session-store.test.ts and redis-session-store.test.ts. Cases go
// through the port only; how an engine lays the data out (goim's Redis keys) is tested in
// the engine's own file.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SessionStore } from '../../src/ports/index.js';
import { opener, type ContractOptions, type Factory } from './subject.js';

/** Map entries sorted by key: the port promises the pairs, not their order. */
const pairs = (m: Map<string, string>): Array<[string, string]> => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

export function sessionStoreContract(name: string, factory: Factory<SessionStore>, options: ContractOptions = {}): void {
  describe(`SessionStore contract: ${name}`, { skip: options.skip }, () => {
    const open = opener(factory);

    test('addMapping routes the key, and the mid when mid > 0', async () => {
      const s = await open();
      await s.addMapping({ mid: 123n, key: 'a', server: 'c1' });
      await s.addMapping({ mid: 0n, key: 'anon', server: 'c1' });
      await s.addMapping({ mid: -5n, key: 'neg', server: 'c2' });
      assert.deepEqual(await s.serversByKeys(['a', 'missing', 'anon', 'neg', '']), ['c1', '', 'c1', 'c2', '']);
      assert.deepEqual(pairs(await s.keysByMids([123n])), [['a', 'c1']]);
      assert.equal((await s.keysByMids([0n, -5n])).size, 0);
    });

    test('serversByKeys keeps the order asked, unknown keys as ""; no keys, no servers', async () => {
      const s = await open();
      await s.addMapping({ mid: 501n, key: 'm501-a', server: 'cA' });
      await s.addMapping({ mid: 501n, key: 'm501-b', server: 'cB' });
      await s.addMapping({ mid: 502n, key: 'm502-a', server: 'cA' });
      assert.deepEqual(await s.serversByKeys(['m501-b', 'nope', 'm501-a']), ['cB', '', 'cA']);
      assert.deepEqual(await s.serversByKeys([]), []);
      assert.deepEqual(pairs(await s.keysByMids([501n, 502n, 503n])), [
        ['m501-a', 'cA'],
        ['m501-b', 'cB'],
        ['m502-a', 'cA'],
      ]);
    });

    test('keysByMids merges every device of every mid, mids beyond 2^53 included', async () => {
      const s = await open();
      const big = 9007199254740993n;
      await s.addMapping({ mid: big, key: 'b1', server: 'c1' });
      await s.addMapping({ mid: big, key: 'b2', server: 'c2' });
      await s.addMapping({ mid: big - 1n, key: 'other', server: 'c1' });
      await s.addMapping({ mid: 7n, key: 's1', server: 'c3' });
      assert.deepEqual(pairs(await s.keysByMids([big, 7n, 8n])), [
        ['b1', 'c1'],
        ['b2', 'c2'],
        ['s1', 'c3'],
      ]);
    });

    test('a reconnect elsewhere overwrites the routing', async () => {
      const s = await open();
      await s.addMapping({ mid: 1n, key: 'k', server: 'old' });
      await s.addMapping({ mid: 1n, key: 'k', server: 'new' });
      assert.deepEqual(await s.serversByKeys(['k']), ['new']);
      assert.deepEqual(pairs(await s.keysByMids([1n])), [['k', 'new']]);
    });

    test('expireMapping reports whether the key is routed', async () => {
      const s = await open();
      assert.equal(await s.expireMapping({ mid: 1n, key: 'k', server: 'c' }), false);
      await s.addMapping({ mid: 1n, key: 'k', server: 'c' });
      assert.equal(await s.expireMapping({ mid: 1n, key: 'k', server: 'c' }), true);
      assert.equal(await s.expireMapping({ mid: 0n, key: 'never-added', server: 'c' }), false);
    });

    test("an old connection's disconnect keeps the newer connection's routing", async () => {
      const s = await open();
      const old = { mid: 7n, key: 'roam', server: 'comet01' };
      const now = { mid: 7n, key: 'roam', server: 'comet02' };
      await s.addMapping(old);
      await s.addMapping(now); // reconnect on another comet
      assert.equal(await s.delMapping(old), false);
      assert.deepEqual(await s.serversByKeys(['roam']), ['comet02']);
      assert.deepEqual(pairs(await s.keysByMids([7n])), [['roam', 'comet02']]);

      assert.equal(await s.delMapping(now), true);
      assert.deepEqual(await s.serversByKeys(['roam']), ['']);
      assert.equal((await s.keysByMids([7n])).size, 0);
      assert.equal(await s.delMapping(now), false);
    });

    test('delMapping removes only a routing that still points at the caller', async () => {
      const s = await open();
      await s.addMapping({ mid: 1n, key: 'k', server: 'new' });
      await s.addMapping({ mid: 1n, key: 'k2', server: 'new' });
      assert.equal(await s.delMapping({ mid: 1n, key: 'k', server: 'old' }), false);
      assert.deepEqual(await s.serversByKeys(['k']), ['new']);
      assert.equal((await s.keysByMids([1n])).size, 2);

      assert.equal(await s.delMapping({ mid: 1n, key: 'k', server: 'new' }), true);
      assert.deepEqual(await s.serversByKeys(['k', 'k2']), ['', 'new']);
      assert.deepEqual(pairs(await s.keysByMids([1n])), [['k2', 'new']]);

      assert.equal(await s.delMapping({ mid: 1n, key: 'k', server: 'new' }), false);
      assert.equal(await s.delMapping({ mid: 1n, key: 'k2', server: 'new' }), true);
      assert.equal((await s.keysByMids([1n])).size, 0);
    });

    test('a mid going from one key to several and back keeps every routing', async () => {
      const s = await open();
      const keys = async (): Promise<Array<[string, string]>> => pairs(await s.keysByMids([9n]));
      await s.addMapping({ mid: 9n, key: 'k1', server: 'c1' });
      await s.addMapping({ mid: 9n, key: 'k1', server: 'c2' }); // one key, moved
      assert.deepEqual(await keys(), [['k1', 'c2']]);
      await s.addMapping({ mid: 9n, key: 'k2', server: 'c1' });
      await s.addMapping({ mid: 9n, key: 'k3', server: 'c1' });
      assert.deepEqual(await keys(), [
        ['k1', 'c2'],
        ['k2', 'c1'],
        ['k3', 'c1'],
      ]);
      assert.equal(await s.delMapping({ mid: 9n, key: 'k2', server: 'c1' }), true);
      assert.equal(await s.delMapping({ mid: 9n, key: 'k1', server: 'c2' }), true);
      assert.deepEqual(await keys(), [['k3', 'c1']]);
      assert.equal(await s.delMapping({ mid: 9n, key: 'k3', server: 'other' }), false);
      assert.deepEqual(await keys(), [['k3', 'c1']]);
      await s.addMapping({ mid: 9n, key: 'k4', server: 'c2' });
      assert.deepEqual(await keys(), [
        ['k3', 'c1'],
        ['k4', 'c2'],
      ]);
      await s.delMapping({ mid: 9n, key: 'k3', server: 'c1' });
      await s.delMapping({ mid: 9n, key: 'k4', server: 'c2' });
      assert.equal((await s.keysByMids([9n])).size, 0);
    });

    test('online snapshots: add, read, replace and delete; the store keeps and hands out copies', async () => {
      const s = await open();
      assert.equal(await s.serverOnline('c1'), null);
      const roomCount: Record<string, number> = { 'live://1000': 3 };
      await s.addServerOnline({ server: 'c1', roomCount, updated: 1700000000 });
      roomCount['live://1000'] = 99; // the store kept its own copy
      const got = await s.serverOnline('c1');
      assert.deepEqual(got, { server: 'c1', roomCount: { 'live://1000': 3 }, updated: 1700000000 });
      (got.roomCount as Record<string, number>).x = 1; // and hands out copies
      assert.deepEqual((await s.serverOnline('c1'))!.roomCount, { 'live://1000': 3 });

      await s.addServerOnline({ server: 'c1', roomCount: { 'live://1000': 3, 'test://1': 2 }, updated: 1700000010 });
      assert.deepEqual(await s.serverOnline('c1'), { server: 'c1', roomCount: { 'live://1000': 3, 'test://1': 2 }, updated: 1700000010 });
      await s.delServerOnline('c1');
      await s.delServerOnline('never');
      assert.equal(await s.serverOnline('c1'), null);
    });

    test('a snapshot replaces the previous one: rooms it lacks are gone, and with no rooms there is no snapshot', async () => {
      const s = await open();
      await s.addServerOnline({ server: 'comet02', roomCount: { 'live://1000': 3, 'test://1': 2 }, updated: 100 });
      await s.addServerOnline({ server: 'comet02', roomCount: { 'test://1': 5 }, updated: 110 });
      assert.deepEqual(await s.serverOnline('comet02'), { server: 'comet02', roomCount: { 'test://1': 5 }, updated: 110 });
      await s.addServerOnline({ server: 'comet02', roomCount: {}, updated: 120 });
      assert.equal(await s.serverOnline('comet02'), null);
      assert.equal(await s.serverOnline('missing'), null);
    });
  });
}

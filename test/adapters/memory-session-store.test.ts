import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemorySessionStore } from '../../src/adapters/memory/session-store.js';

describe('MemorySessionStore: routing', () => {
  test('addMapping routes the key, and the mid when mid > 0', async () => {
    const s = new MemorySessionStore();
    await s.addMapping({ mid: 123n, key: 'a', server: 'c1' });
    await s.addMapping({ mid: 0n, key: 'anon', server: 'c1' });
    await s.addMapping({ mid: -5n, key: 'neg', server: 'c2' });
    assert.deepEqual(await s.serversByKeys(['a', 'missing', 'anon', 'neg', '']), ['c1', '', 'c1', 'c2', '']);
    assert.deepEqual([...(await s.keysByMids([123n]))], [['a', 'c1']]);
    assert.equal((await s.keysByMids([0n, -5n])).size, 0);
  });

  test('keysByMids merges every device of every mid, mids beyond 2^53 included', async () => {
    const s = new MemorySessionStore();
    const big = 9007199254740993n;
    await s.addMapping({ mid: big, key: 'b1', server: 'c1' });
    await s.addMapping({ mid: big, key: 'b2', server: 'c2' });
    await s.addMapping({ mid: big - 1n, key: 'other', server: 'c1' });
    await s.addMapping({ mid: 7n, key: 's1', server: 'c3' });
    const found = await s.keysByMids([big, 7n, 8n]);
    assert.deepEqual(
      [...found],
      [
        ['b1', 'c1'],
        ['b2', 'c2'],
        ['s1', 'c3'],
      ],
    );
  });

  test('a reconnect elsewhere overwrites the routing', async () => {
    const s = new MemorySessionStore();
    await s.addMapping({ mid: 1n, key: 'k', server: 'old' });
    await s.addMapping({ mid: 1n, key: 'k', server: 'new' });
    assert.deepEqual(await s.serversByKeys(['k']), ['new']);
    assert.deepEqual([...(await s.keysByMids([1n]))], [['k', 'new']]);
  });

  test('expireMapping reports whether the key is routed', async () => {
    const s = new MemorySessionStore();
    assert.equal(await s.expireMapping({ mid: 1n, key: 'k', server: 'c' }), false);
    await s.addMapping({ mid: 1n, key: 'k', server: 'c' });
    assert.equal(await s.expireMapping({ mid: 1n, key: 'k', server: 'c' }), true);
  });

  test('delMapping removes only a routing that still points at the caller', async () => {
    const s = new MemorySessionStore();
    await s.addMapping({ mid: 1n, key: 'k', server: 'new' });
    await s.addMapping({ mid: 1n, key: 'k2', server: 'new' });
    assert.equal(await s.delMapping({ mid: 1n, key: 'k', server: 'old' }), false);
    assert.deepEqual(await s.serversByKeys(['k']), ['new']);
    assert.equal((await s.keysByMids([1n])).size, 2);

    assert.equal(await s.delMapping({ mid: 1n, key: 'k', server: 'new' }), true);
    assert.deepEqual(await s.serversByKeys(['k', 'k2']), ['', 'new']);
    assert.deepEqual([...(await s.keysByMids([1n]))], [['k2', 'new']]);

    assert.equal(await s.delMapping({ mid: 1n, key: 'k', server: 'new' }), false);
    assert.equal(await s.delMapping({ mid: 1n, key: 'k2', server: 'new' }), true);
    assert.equal((await s.keysByMids([1n])).size, 0);
  });

  test('a mid going from one key to several and back keeps every routing', async () => {
    const s = new MemorySessionStore();
    const keys = async (): Promise<Array<[string, string]>> => [...(await s.keysByMids([9n]))].sort();
    await s.addMapping({ mid: 9n, key: 'k1', server: 'c1' });
    await s.addMapping({ mid: 9n, key: 'k1', server: 'c2' }); // one key, moved
    assert.deepEqual(await keys(), [['k1', 'c2']]);
    await s.addMapping({ mid: 9n, key: 'k2', server: 'c1' });
    await s.addMapping({ mid: 9n, key: 'k3', server: 'c1' });
    assert.deepEqual(await keys(), [['k1', 'c2'], ['k2', 'c1'], ['k3', 'c1']]);
    assert.equal(await s.delMapping({ mid: 9n, key: 'k2', server: 'c1' }), true);
    assert.equal(await s.delMapping({ mid: 9n, key: 'k1', server: 'c2' }), true);
    assert.deepEqual(await keys(), [['k3', 'c1']]);
    assert.equal(await s.delMapping({ mid: 9n, key: 'k3', server: 'other' }), false);
    assert.deepEqual(await keys(), [['k3', 'c1']]);
    await s.addMapping({ mid: 9n, key: 'k4', server: 'c2' });
    assert.deepEqual(await keys(), [['k3', 'c1'], ['k4', 'c2']]);
    await s.delMapping({ mid: 9n, key: 'k3', server: 'c1' });
    await s.delMapping({ mid: 9n, key: 'k4', server: 'c2' });
    assert.equal((await s.keysByMids([9n])).size, 0);
  });
});

describe('MemorySessionStore: online snapshots', () => {
  test('add, read, replace and delete a comet snapshot', async () => {
    const s = new MemorySessionStore();
    assert.equal(await s.serverOnline('c1'), null);
    const roomCount: Record<string, number> = { 'live://1000': 3 };
    await s.addServerOnline({ server: 'c1', roomCount, updated: 1700000000 });
    roomCount['live://1000'] = 99; // the store kept its own copy
    const got = await s.serverOnline('c1');
    assert.deepEqual(got, { server: 'c1', roomCount: { 'live://1000': 3 }, updated: 1700000000 });
    (got!.roomCount as Record<string, number>).x = 1; // and hands out copies
    assert.deepEqual((await s.serverOnline('c1'))!.roomCount, { 'live://1000': 3 });

    await s.addServerOnline({ server: 'c1', roomCount: {}, updated: 1700000010 });
    assert.deepEqual(await s.serverOnline('c1'), { server: 'c1', roomCount: {}, updated: 1700000010 });
    await s.delServerOnline('c1');
    await s.delServerOnline('never');
    assert.equal(await s.serverOnline('c1'), null);
    await s.close();
  });
});

// SqliteInboxStore against the InboxStore contract (test/contracts/inbox-store.contract.ts), in
// this thread and on its own thread (embedded mode's store), each case in a fresh data
// directory; then what only the file has: a restart keeps seqs, watermarks and entries.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { INBOX_FILE, SqliteInboxStore } from '../../src/adapters/sqlite/inbox-store.js';
import { SqliteThreadInboxStore } from '../../src/adapters/sqlite/inbox-thread.js';
import { InboxAckRangeError } from '../../src/ports/index.js';
import { inboxStoreContract, item } from '../contracts/inbox-store.contract.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tsim-inbox-'));
}

inboxStoreContract('SqliteInboxStore', async (limits) => {
  const dir = await tempDir();
  const store = new SqliteInboxStore({ dataDir: dir, ...limits });
  return {
    subject: store,
    dispose: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

inboxStoreContract('SqliteThreadInboxStore', async (limits) => {
  const dir = await tempDir();
  const store = await SqliteThreadInboxStore.open({ dataDir: dir, ...limits });
  return {
    subject: store,
    dispose: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteThreadInboxStore', () => {
  test('a data directory that cannot be made rejects the open with the reason; a closed store rejects calls', async (t) => {
    const root = await tempDir();
    t.after(() => rm(root, { recursive: true, force: true }));
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    await assert.rejects(SqliteThreadInboxStore.open({ dataDir: join(file, 'data') }), /inbox: cannot open SQLite/);
    const store = await SqliteThreadInboxStore.open({ dataDir: join(root, 'ok') });
    assert.deepEqual(await store.append([1n, 2n], item(1)), [1, 1]);
    await assert.rejects(store.ack(1n, 'd', 2, 1), InboxAckRangeError, 'the typed error crosses the thread');
    await store.close();
    await assert.rejects(store.state(1n), /inbox: store closed/);
    const again = new SqliteInboxStore({ dataDir: join(root, 'ok') });
    try {
      assert.deepEqual(await again.state(2n), { first: 1, last: 1 });
    } finally {
      await again.close();
    }
  });

  test('a body that is a view into a larger buffer crosses as its own bytes', async (t) => {
    const root = await tempDir();
    t.after(() => rm(root, { recursive: true, force: true }));
    const store = await SqliteThreadInboxStore.open({ dataDir: root });
    try {
      const slab = Buffer.alloc(64 * 1024, 1);
      slab.write('abc', 100);
      await store.append([1n], item(1, { body: slab.subarray(100, 103) }));
      assert.equal(slab.byteLength, 64 * 1024, 'the caller keeps its buffer (not transferred)');
      const { entries } = await store.read(1n, 0, { limit: 1, maxBytes: 100 });
      assert.ok(Buffer.isBuffer(entries[0].body));
      assert.equal(entries[0].body.toString(), 'abc');
    } finally {
      await store.close();
    }
  });
});

describe('SqliteThreadInboxStore: retention in bounded transactions', () => {
  test('a run over more users and rows than one transaction takes removes them all, and calls made meanwhile are answered before it ends', async (t) => {
    const root = await tempDir();
    t.after(() => rm(root, { recursive: true, force: true }));
    const store = await SqliteThreadInboxStore.open({ dataDir: root });
    try {
      const mids = Array.from({ length: 1200 }, (_, i) => BigInt(i) - 600n);
      for (let n = 1; n <= 8; n++) await store.append(mids, item(n, { time: n }));
      for (const mid of mids) await store.device(mid, 'd', 0, 0);
      const order: string[] = [];
      // Entries 1 to 5 by age (6,000 rows: two transactions), 6 by keep (1,200 users: three).
      const run = store.prune({ keep: 2, maxAgeMs: 100, dropAcked: true, deviceTtlMs: 1000 }, 105.5).then((n) => {
        order.push('prune');
        return n;
      });
      const state = store.state(mids[0]).then((s) => {
        order.push('state');
        return s;
      });
      assert.equal(await run, 1200 * 6);
      const between = await state;
      assert.equal(between.last, 8);
      assert.ok(between.first >= 1 && between.first <= 7, 'a state between two transactions');
      assert.deepEqual(order, ['state', 'prune']);
      for (const mid of [mids[0], mids[600], mids[1199]]) {
        assert.deepEqual(await store.state(mid), { first: 7, last: 8 });
        assert.deepEqual(await store.devices(mid), [{ key: 'd', acked: 0, seen: 0 }]);
      }
      assert.equal(await store.prune({ keep: 1e6, maxAgeMs: 1e12, dropAcked: false, deviceTtlMs: 1000 }, 1001), 0);
      assert.deepEqual(await store.devices(mids[5]), []);
    } finally {
      await store.close();
    }
  });
});

describe('SqliteThreadInboxStore: a backlog in bounded transactions', () => {
  test("one user's backlog goes in transactions of at most 5,000 rows: calls made meanwhile see it shrink", async (t) => {
    const root = await tempDir();
    t.after(() => rm(root, { recursive: true, force: true }));
    const store = await SqliteThreadInboxStore.open({ dataDir: root });
    try {
      for (let i = 0; i < 20_000; i += 2000) await Promise.all(Array.from({ length: 2000 }, (_, j) => store.append([1n], item(i + j + 1))));
      let done = false;
      const run = store.prune({ keep: 1, maxAgeMs: 1e12, dropAcked: false, deviceTtlMs: 1e12 }, 0).finally(() => {
        done = true;
      });
      const firsts = new Set<number>();
      while (!done) firsts.add((await store.state(1n)).first);
      assert.equal(await run, 19_999);
      assert.ok(
        [...firsts].some((f) => f > 1 && f < 20_000),
        `a state between two transactions (firsts seen: ${[...firsts].sort((a, b) => a - b).join(', ')})`,
      );
      assert.deepEqual(await store.state(1n), { first: 20_000, last: 20_000 });
    } finally {
      await store.close();
    }
  });
});

describe('SqliteInboxStore: the file', () => {
  test('creates the data directory and inbox.db in WAL mode', async (t) => {
    const root = await tempDir();
    t.after(() => rm(root, { recursive: true, force: true }));
    const dir = join(root, 'nested', 'data');
    const store = new SqliteInboxStore({ dataDir: dir });
    try {
      await store.append([1n], item(1));
      assert.ok((await stat(join(dir, INBOX_FILE))).isFile());
      assert.ok((await stat(join(dir, `${INBOX_FILE}-wal`))).isFile(), 'a WAL file next to it');
    } finally {
      await store.close();
    }
  });

  test('a restart finds entries, watermarks and seqs again; seqs of deleted entries are not given again', async (t) => {
    const dir = await tempDir();
    t.after(() => rm(dir, { recursive: true, force: true }));
    const first = new SqliteInboxStore({ dataDir: dir });
    const body = Buffer.from([0xff, 0x00, 0xfe]);
    for (let n = 1; n <= 4; n++) await first.append([5n, 2n ** 63n - 1n], item(n, n === 4 ? { body } : {}));
    await first.ack(5n, 'phone', 3, 1000);
    await first.delete(2n ** 63n - 1n, Infinity, false);
    await first.close();

    const again = new SqliteInboxStore({ dataDir: join(dir) });
    try {
      assert.deepEqual(await again.state(5n), { first: 1, last: 4 });
      const { entries } = await again.read(5n, 3, { limit: 10, maxBytes: 1000 });
      assert.deepEqual(
        entries.map((e) => ({ ...e, body: Buffer.from(e.body) })),
        [{ seq: 4, ...item(4, { body }) }],
      );
      assert.deepEqual(await again.devices(5n), [{ key: 'phone', acked: 3, seen: 1000 }]);
      assert.deepEqual(await again.state(2n ** 63n - 1n), { first: 5, last: 4 });
      assert.deepEqual(await again.append([2n ** 63n - 1n, 5n], item(5)), [5, 5]);
    } finally {
      await again.close();
    }
  });
});

// SqliteHistoryStore against the HistoryStore contract (test/contracts/history-store.contract.ts),
// each case in a fresh data directory; then what only the file has: a restart keeps it all.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { HISTORY_FILE, SqliteHistoryStore } from '../../src/adapters/sqlite/history-store.js';
import { SqliteThreadHistoryStore } from '../../src/adapters/sqlite/history-thread.js';
import { historyStoreContract, rec, recs } from '../contracts/history-store.contract.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tsim-history-'));
}

historyStoreContract('SqliteHistoryStore', async () => {
  const dir = await tempDir();
  const store = new SqliteHistoryStore({ dataDir: dir });
  return {
    subject: store,
    dispose: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

// The same engine on its own thread (embedded mode's store): every call crosses the thread.
historyStoreContract('SqliteThreadHistoryStore', async () => {
  const dir = await tempDir();
  const store = await SqliteThreadHistoryStore.open({ dataDir: dir });
  return {
    subject: store,
    dispose: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteThreadHistoryStore', () => {
  test('a data directory that cannot be made rejects the open with the reason; a closed store rejects calls', async (t) => {
    const root = await tempDir();
    t.after(() => rm(root, { recursive: true, force: true }));
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    await assert.rejects(SqliteThreadHistoryStore.open({ dataDir: join(file, 'data') }), /history: cannot open SQLite/);
    const store = await SqliteThreadHistoryStore.open({ dataDir: join(root, 'ok') });
    const { epoch } = await store.open('live://t', 0);
    await store.append([{ room: 'live://t', epoch, records: recs(1, 2) }]);
    await store.close();
    await assert.rejects(store.state('live://t'), /closed/);
    // What it wrote is in the file: the same engine in this thread reads it back.
    const again = new SqliteHistoryStore({ dataDir: join(root, 'ok') });
    try {
      assert.equal((await again.state('live://t'))?.last, 2);
    } finally {
      await again.close();
    }
  });
});

describe('SqliteHistoryStore: the file', () => {
  test('creates the data directory and history.db in WAL mode', async (t) => {
    const root = await tempDir();
    t.after(() => rm(root, { recursive: true, force: true }));
    const dir = join(root, 'nested', 'data');
    const store = new SqliteHistoryStore({ dataDir: dir });
    try {
      await store.open('live://1', 0);
      assert.ok((await stat(join(dir, HISTORY_FILE))).isFile());
      assert.ok((await stat(join(dir, `${HISTORY_FILE}-wal`))).isFile(), 'a WAL file next to it');
    } finally {
      await store.close();
    }
  });

  test('a restart finds the rooms, epochs and records again', async (t) => {
    const dir = await tempDir();
    t.after(() => rm(dir, { recursive: true, force: true }));
    const first = new SqliteHistoryStore({ dataDir: dir });
    const { epoch } = await first.open('live://1', 0);
    const body = Buffer.from([0xff, 0x00, 0xfe]);
    await first.append([{ room: 'live://1', epoch, records: [...recs(1, 3), rec(4, { body, mid: 2n ** 62n, progress: 1500 })] }]);
    await first.newEpoch('live://2', 'e2', 100);
    await first.close();

    const again = new SqliteHistoryStore({ dataDir: dir });
    try {
      const o = await again.open('live://1', 2);
      assert.deepEqual(o, {
        epoch,
        epochStart: 1,
        first: 1,
        last: 4,
        recent: [
          { id: 'id-3', offset: 3 },
          { id: 'id-4', offset: 4 },
        ],
      });
      const back = await again.after('live://1', 3, 10);
      assert.deepEqual(
        back.map((r) => ({ ...r, body: Buffer.from(r.body) })),
        [rec(4, { body, mid: 2n ** 62n, progress: 1500 })],
      );
      assert.deepEqual(await again.state('live://2'), { epoch: 'e2', epochStart: 100, first: 100, last: 99 });
      await again.append([{ room: 'live://1', epoch, records: recs(4, 5) }]);
      assert.equal((await again.state('live://1'))?.last, 5);
    } finally {
      await again.close();
    }
  });

  test('a data directory that cannot be created is a clear error', async (t) => {
    const dir = await tempDir();
    t.after(() => rm(dir, { recursive: true, force: true }));
    const blocker = join(dir, 'file');
    await writeFile(blocker, 'x');
    assert.throws(() => new SqliteHistoryStore({ dataDir: join(blocker, 'data') }), /^Error: history: cannot open SQLite .*(ENOTDIR|EEXIST)/);
  });
});

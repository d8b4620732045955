// PostgresHistoryStore against the HistoryStore contract (test/contracts/history-store.contract.ts)
// in a database of its own (tsim_test_<pid>_<random>, dropped at the end; each case empties the
// tables after it), then what only PostgreSQL has: tables made at connect, a restart, an
// unreachable server.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { silentLogger } from '../../src/log.js';
import { PostgresHistoryStore } from '../../src/adapters/postgres/history-store.js';
import { historyStoreContract, rec, recs } from '../contracts/history-store.contract.js';
import { OutageProxy, serviceGate, serviceUrl, uniqueName } from '../support/services.js';

const skip = await serviceGate('postgres');

/** `admin`'s server with another database. */
function dbUrl(name: string): string {
  const u = new URL(serviceUrl('postgres'));
  u.pathname = `/${name}`;
  return u.href;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>, url = serviceUrl('postgres')): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const databases: string[] = [];

async function createDatabase(): Promise<string> {
  const name = uniqueName('tsim_test_');
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  databases.push(name);
  return dbUrl(name);
}

let url = '';
if (skip === false) url = await createDatabase();

after(async () => {
  for (const name of databases) await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
});

historyStoreContract(
  'PostgresHistoryStore (real PostgreSQL)',
  async () => {
    const store = await PostgresHistoryStore.connect({ url, log: silentLogger });
    return {
      subject: store,
      dispose: async () => {
        await store.close();
        await admin((c) => c.query('TRUNCATE rooms, records'), url);
      },
    };
  },
  { skip },
);

describe('PostgresHistoryStore: tables, restart, outage (real PostgreSQL)', { skip }, () => {
  let own = '';
  before(async () => {
    own = await createDatabase();
  });

  test('processes connecting at once create the tables once', async () => {
    const stores = await Promise.all([1, 2, 3].map(() => PostgresHistoryStore.connect({ url: own, log: silentLogger })));
    try {
      const tables = await admin(
        (c) => c.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`),
        own,
      );
      assert.deepEqual(
        tables.rows.map((r) => r.table_name),
        ['records', 'rooms'],
      );
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('a restart finds the rooms, epochs and records again', async () => {
    const first = await PostgresHistoryStore.connect({ url: own, log: silentLogger });
    const { epoch } = await first.open('live://1', 0);
    const body = Buffer.from([0xff, 0x00, 0xfe]);
    await first.append([{ room: 'live://1', epoch, records: [...recs(1, 3), rec(4, { body, mid: -(2n ** 62n), progress: 1500 })] }]);
    await first.newEpoch('live://2', 'e2', 100);
    await first.close();

    const again = await PostgresHistoryStore.connect({ url: own, log: silentLogger });
    try {
      assert.deepEqual(await again.open('live://1', 1), { epoch, epochStart: 1, first: 1, last: 4, recent: [{ id: 'id-4', offset: 4 }] });
      const back = await again.after('live://1', 3, 10);
      assert.deepEqual(
        back.map((r) => ({ ...r, body: Buffer.from(r.body) })),
        [rec(4, { body, mid: -(2n ** 62n), progress: 1500 })],
      );
      assert.deepEqual(await again.state('live://2'), { epoch: 'e2', epochStart: 100, first: 100, last: 99 });
    } finally {
      await again.close();
    }
  });

  test('an outage fails calls with the context, and the store works again when the server is back', async () => {
    const proxy = await OutageProxy.start('postgres');
    const through = new URL(own);
    through.port = String(proxy.port);
    const store = await PostgresHistoryStore.connect({ url: through.href, connectTimeoutMs: 1000, log: silentLogger });
    try {
      const { epoch } = await store.open('live://outage', 0);
      await store.append([{ room: 'live://outage', epoch, records: recs(1, 2) }]);
      await proxy.cut(); // pooled connections dropped: the pool must not crash the process
      await assert.rejects(
        store.append([{ room: 'live://outage', epoch, records: recs(3, 3) }]),
        new RegExp(`^Error: history: postgres append failed \\(127\\.0\\.0\\.1:${proxy.port}/`),
      );
      await assert.rejects(store.state('live://outage'), /history: postgres state failed/);
      await proxy.restore();
      await store.append([{ room: 'live://outage', epoch, records: recs(3, 3) }]);
      assert.deepEqual(await store.state('live://outage'), { epoch, epochStart: 1, first: 1, last: 3 });
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  test('opened while the server is down: calls fail like an outage, and the tables are made once it answers', async () => {
    const own = await createDatabase();
    const proxy = await OutageProxy.start('postgres');
    const through = new URL(own);
    through.port = String(proxy.port);
    await proxy.cut();
    const store = PostgresHistoryStore.open({ url: through.href, connectTimeoutMs: 1000, log: silentLogger });
    try {
      await assert.rejects(store.open('live://late', 0), /history: postgres connect failed/);
      await proxy.restore();
      const { epoch } = await store.open('live://late', 0);
      await store.append([{ room: 'live://late', epoch, records: recs(1, 2) }]);
      assert.deepEqual(await store.state('live://late'), { epoch, epochStart: 1, first: 1, last: 2 });
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  test('1,000 rooms opening at once while appends hold the pool all open in their epochs (pool of 2, 300 ms connect timeout)', async () => {
    const db = await createDatabase();
    const rooms = Array.from({ length: 1000 }, (_, i) => `live://load-${i}`);
    const epochs = new Map<string, string>();
    const setup = await PostgresHistoryStore.connect({ url: db, log: silentLogger });
    try {
      for (const [i, o] of (await Promise.all(rooms.map((room) => setup.open(room, 0)))).entries()) epochs.set(rooms[i], o.epoch);
      for (let i = 0; i < rooms.length; i += 250) {
        await setup.append(rooms.slice(i, i + 250).map((room) => ({ room, epoch: epochs.get(room)!, records: recs(1, 3) })));
      }
      epochs.set('live://locked', (await setup.open('live://locked', 0)).epoch);
      epochs.set('live://busy', (await setup.open('live://busy', 0)).epoch);
    } finally {
      await setup.close();
    }

    const store = await PostgresHistoryStore.connect({ url: db, maxConnections: 2, connectTimeoutMs: 300, log: silentLogger });
    // Another session locks a room's row: an append to that room holds one of the two connections until it lets go.
    const locker = new pg.Client({ connectionString: db });
    await locker.connect();
    let blocked: Promise<void> | undefined;
    let writer: Promise<number> | undefined;
    let writing = true;
    try {
      await locker.query('BEGIN');
      await locker.query(`SELECT room FROM rooms WHERE room = 'live://locked' FOR UPDATE`);
      blocked = store.append([{ room: 'live://locked', epoch: epochs.get('live://locked')!, records: recs(1, 1) }]);
      // And appends one after another on the other connection, as a job's writer makes them.
      writer = (async () => {
        let last = 0;
        while (writing) {
          await store.append([{ room: 'live://busy', epoch: epochs.get('live://busy')!, records: recs(last + 1, last + 200) }]);
          last += 200;
        }
        return last;
      })();
      const opened = await Promise.allSettled(rooms.map((room) => store.open(room, 2)));
      writing = false;
      const failed = opened.flatMap((o) => (o.status === 'rejected' ? [(o.reason as Error).message] : []));
      assert.deepEqual(failed.slice(0, 3), [], `${failed.length} of 1,000 opens failed`);
      opened.forEach((o, i) => {
        const room = rooms[i];
        assert.deepEqual(o.status === 'fulfilled' && o.value, {
          epoch: epochs.get(room),
          epochStart: 1,
          first: 1,
          last: 3,
          recent: [
            { id: 'id-2', offset: 2 },
            { id: 'id-3', offset: 3 },
          ],
        });
      });
    } finally {
      writing = false;
      await locker.query('COMMIT').catch(() => {});
      await locker.end();
      await blocked?.catch(() => {});
      await writer?.catch(() => {});
    }
    try {
      assert.equal((await store.state('live://locked'))?.last, 1, 'the blocked append went in once the lock was let go');
      assert.equal((await store.state('live://busy'))?.last, await writer, 'every append of the writer went in');
    } finally {
      await store.close();
    }
  });

  test('two processes opening the same new rooms at once get the same epoch for each', async () => {
    const db = await createDatabase();
    const [a, b] = await Promise.all([1, 2].map(() => PostgresHistoryStore.connect({ url: db, log: silentLogger })));
    try {
      const rooms = Array.from({ length: 300 }, (_, i) => `live://both-${i}`);
      const [fromA, fromB] = await Promise.all([a, b].map((s) => Promise.all(rooms.map((room) => s.open(room, 10)))));
      rooms.forEach((room, i) => {
        assert.deepEqual(fromA[i], fromB[i], room);
        assert.deepEqual({ ...fromA[i], epoch: '' }, { epoch: '', epochStart: 1, first: 1, last: 0, recent: [] });
      });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('a room key PostgreSQL cannot hold (NUL, too long to index) fails its own open, not the rooms opened with it', async () => {
    const store = await PostgresHistoryStore.connect({ url: own, log: silentLogger });
    try {
      const long = `live://${randomBytes(2000).toString('hex')}`;
      const rooms = Array.from({ length: 50 }, (_, i) => `live://beside-${i}`);
      const [nul, tooLong, ...beside] = await Promise.allSettled([
        store.open('live://a\0b', 1),
        store.open(long, 1),
        ...rooms.map((r) => store.open(r, 1)),
      ]);
      const failure = (o: PromiseSettledResult<unknown>): string => (o.status === 'rejected' ? (o.reason as Error).message : 'opened');
      assert.match(failure(nul), /^history: postgres open failed \(.*\): a room key with NUL cannot be stored$/);
      assert.match(failure(tooLong), /^history: postgres open failed \(.*\): index row size/);
      assert.deepEqual(
        beside.map((o) => o.status),
        rooms.map(() => 'fulfilled'),
      );
      assert.equal(await store.state(long), null);
    } finally {
      await store.close();
    }
  });

  test('an unreachable server fails fast with the context in the error', async () => {
    const t0 = Date.now();
    await assert.rejects(
      PostgresHistoryStore.connect({ url: 'postgres://postgres@127.0.0.1:1/none', connectTimeoutMs: 1000, log: silentLogger }),
      /^Error: history: postgres connect failed \(127\.0\.0\.1:1\/none\): .*ECONNREFUSED/,
    );
    assert.ok(Date.now() - t0 < 5000, 'within the connect timeout, not a hang');
  });
});

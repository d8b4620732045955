// PostgresInboxStore against the InboxStore contract (test/contracts/inbox-store.contract.ts) in
// a database of its own (tsim_test_<pid>_<random>, dropped at the end; each case empties the
// tables after it), then what only PostgreSQL has: several processes appending to the same
// users, a device registering while a retention run holds the user, one retention run at a
// time, retention's row locks, bounded transactions and failed users, the device cap across
// processes, tables made once, a restart, an outage.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { silentLogger } from '../../src/log.js';
import { PostgresInboxStore } from '../../src/adapters/postgres/inbox-store.js';
import { inboxStoreContract, item } from '../contracts/inbox-store.contract.js';
import { OutageProxy, serviceGate, serviceUrl, uniqueName } from '../support/services.js';

const skip = await serviceGate('postgres');

/** The server of serviceUrl with another database. */
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

inboxStoreContract(
  'PostgresInboxStore (real PostgreSQL)',
  async (limits) => {
    const store = await PostgresInboxStore.connect({ url, log: silentLogger, ...limits });
    return {
      subject: store,
      dispose: async () => {
        await store.close();
        await admin((c) => c.query('TRUNCATE inbox_users, inbox_entries, inbox_devices'), url);
      },
    };
  },
  { skip },
);

const NONE = { keep: 1_000_000, maxAgeMs: 1e12, dropAcked: false, deviceTtlMs: 1e12 };

/** Resolves once some session of `db` waits for a lock. */
async function someoneWaits(db: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const r = await admin((c) => c.query<{ n: string }>(`SELECT count(*) AS n FROM pg_locks WHERE NOT granted`), db);
    if (Number(r.rows[0].n) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('no session came to wait for the lock');
}

describe('PostgresInboxStore: processes, locks, tables, restart, outage (real PostgreSQL)', { skip }, () => {
  let own = '';
  before(async () => {
    own = await createDatabase();
  });

  test('processes connecting at once create the tables once', async () => {
    const stores = await Promise.all([1, 2, 3].map(() => PostgresInboxStore.connect({ url: own, log: silentLogger })));
    try {
      const tables = await admin(
        (c) => c.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`),
        own,
      );
      assert.deepEqual(
        tables.rows.map((r) => r.table_name),
        ['inbox_devices', 'inbox_entries', 'inbox_users'],
      );
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('four processes appending to the same users at once take distinct, gapless seqs', async () => {
    const db = await createDatabase();
    const stores = await Promise.all([1, 2, 3, 4].map(() => PostgresInboxStore.connect({ url: db, maxConnections: 4, log: silentLogger })));
    try {
      const users = [1n, 2n, 3n];
      const per = 40;
      // Each process appends to every user, in an order of its own (lock order is the store's, not the caller's).
      const results = await Promise.all(
        stores.flatMap((s, p) =>
          Array.from({ length: per }, (_, i) => {
            const mids = p % 2 === 0 ? users : [...users].reverse();
            return s.append(mids, item(p * 1000 + i)).then((seqs) => ({ mids, seqs, id: `msg-${p * 1000 + i}` }));
          }),
        ),
      );
      const total = stores.length * per;
      for (const mid of users) {
        const seqs = results.map((r) => r.seqs[r.mids.indexOf(mid)]).sort((a, b) => a - b);
        assert.deepEqual(
          seqs,
          Array.from({ length: total }, (_, i) => i + 1),
          `user ${mid}`,
        );
        assert.deepEqual(await stores[0].state(mid), { first: 1, last: total });
        const { entries } = await stores[1].read(mid, 0, { limit: total, maxBytes: 1e9 });
        const idAt = new Map(entries.map((e) => [e.seq, e.id]));
        for (const r of results) assert.equal(idAt.get(r.seqs[r.mids.indexOf(mid)]), r.id);
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('a device registering while a retention run holds its user starts after what the run removed', async () => {
    const db = await createDatabase();
    const store = await PostgresInboxStore.connect({ url: db, log: silentLogger });
    const other = new pg.Client({ connectionString: db });
    await other.connect();
    try {
      for (let n = 1; n <= 10; n++) await store.append([1n], item(n));
      await store.ack(1n, 'a', 10, 1);
      // As prune does: the user's row locked, then the entries every device acknowledged removed.
      await other.query('BEGIN');
      await other.query('SELECT mid FROM inbox_users WHERE mid = 1 FOR UPDATE');
      await other.query('DELETE FROM inbox_entries WHERE mid = 1 AND seq <= 10');
      const registering = store.device(1n, 'b', 0, 2);
      await someoneWaits(db);
      await other.query('COMMIT');
      assert.equal(await registering, 10, 'first - 1 as the run left it, not 0');
    } finally {
      await other.end();
      await store.close();
    }
  });

  test('one retention run at a time: a run while another process holds it removes nothing', async () => {
    const db = await createDatabase();
    const store = await PostgresInboxStore.connect({ url: db, log: silentLogger });
    const other = new pg.Client({ connectionString: db });
    await other.connect();
    try {
      for (let n = 1; n <= 5; n++) await store.append([1n, 2n], item(n));
      await other.query('SELECT pg_advisory_lock($1)', [0x74736970]);
      assert.equal(await store.prune({ ...NONE, keep: 2 }, 0), 0);
      assert.deepEqual(await store.state(1n), { first: 1, last: 5 });
      await other.query('SELECT pg_advisory_unlock($1)', [0x74736970]);
      assert.equal(await store.prune({ ...NONE, keep: 2 }, 0), 6);
      assert.deepEqual(await store.state(1n), { first: 4, last: 5 });
      assert.equal(await store.prune({ ...NONE, keep: 2 }, 0), 0, 'the lock was let go after the run');
    } finally {
      await other.end();
      await store.close();
    }
  });

  test('prune over more users and rows than one transaction takes', async () => {
    const db = await createDatabase();
    const store = await PostgresInboxStore.connect({ url: db, log: silentLogger });
    try {
      const mids = Array.from({ length: 1200 }, (_, i) => BigInt(i) - 600n);
      for (let n = 1; n <= 8; n++) await store.append(mids, item(n, { time: n }));
      for (const mid of mids) await store.device(mid, 'd', 0, 0);
      // Entries 1 to 5 by age (6,000 rows: two transactions), 6 by keep (2 newest kept; 1,200 users: three).
      assert.equal(await store.prune({ keep: 2, maxAgeMs: 100, dropAcked: true, deviceTtlMs: 1000 }, 105.5), 1200 * 6);
      for (const mid of [mids[0], mids[600], mids[1199]]) {
        assert.deepEqual(await store.state(mid), { first: 7, last: 8 });
        assert.deepEqual(await store.devices(mid), [{ key: 'd', acked: 0, seen: 0 }]);
      }
      assert.equal(await store.prune({ ...NONE, deviceTtlMs: 1000 }, 1001), 0);
      assert.deepEqual(await store.devices(mids[5]), []);
    } finally {
      await store.close();
    }
  });

  test('retention locks only users with something to remove: a user held by another transaction, with nothing to remove, does not stop it', async () => {
    const db = await createDatabase();
    const store = await PostgresInboxStore.connect({ url: db, statementTimeoutMs: 1000, log: silentLogger });
    const other = new pg.Client({ connectionString: db });
    await other.connect();
    try {
      for (let n = 1; n <= 5; n++) await store.append([1n, 3n], item(n));
      await store.append([2n], item(6));
      await other.query('BEGIN');
      await other.query('SELECT mid FROM inbox_users WHERE mid = 2 FOR UPDATE');
      assert.equal(await store.prune({ ...NONE, keep: 2 }, 0), 6, 'users 1 and 3 pruned; user 2 (one entry) never locked');
      assert.deepEqual(await store.state(1n), { first: 4, last: 5 });
      assert.deepEqual(await store.state(3n), { first: 4, last: 5 });
      await other.query('COMMIT');
    } finally {
      await other.end();
      await store.close();
    }
  });

  test('a user whose retention transaction fails is skipped: later users are pruned, the run rejects, the next run takes it up', async () => {
    const db = await createDatabase();
    const store = await PostgresInboxStore.connect({ url: db, statementTimeoutMs: 500, log: silentLogger });
    const other = new pg.Client({ connectionString: db });
    await other.connect();
    try {
      for (let n = 1; n <= 5; n++) await store.append([1n, 2n, 3n], item(n));
      // User 1's row held: its lock wait passes statement_timeout, as a huge delete once did.
      await other.query('BEGIN');
      await other.query('SELECT mid FROM inbox_users WHERE mid = 1 FOR UPDATE');
      await assert.rejects(store.prune({ ...NONE, keep: 1 }, 0), /inbox: postgres prune failed.*statement timeout/);
      assert.deepEqual(await store.state(2n), { first: 5, last: 5 }, 'users after the failed one were pruned');
      assert.deepEqual(await store.state(3n), { first: 5, last: 5 });
      await other.query('COMMIT');
      assert.deepEqual(await store.state(1n), { first: 1, last: 5 });
      assert.equal(await store.prune({ ...NONE, keep: 1 }, 0), 4, 'the next run prunes the skipped user');
      assert.deepEqual(await store.state(1n), { first: 5, last: 5 });
    } finally {
      await other.end();
      await store.close();
    }
  });

  test('after three failed users a run stops; the next begins after the last of them, so the users behind them are pruned', async () => {
    const db = await createDatabase();
    const store = await PostgresInboxStore.connect({ url: db, statementTimeoutMs: 300, log: silentLogger });
    const other = new pg.Client({ connectionString: db });
    await other.connect();
    try {
      for (let n = 1; n <= 3; n++) await store.append([1n, 2n, 3n, 4n, 5n], item(n));
      await other.query('BEGIN');
      await other.query('SELECT mid FROM inbox_users WHERE mid <= 3 FOR UPDATE');
      await assert.rejects(store.prune({ ...NONE, keep: 1 }, 0), /statement timeout/);
      assert.deepEqual(await store.state(4n), { first: 1, last: 3 }, 'the run stopped at its third failure');
      await assert.rejects(store.prune({ ...NONE, keep: 1 }, 0), /statement timeout/, 'users 1 to 3 still fail, after 4 and 5');
      assert.deepEqual(await store.state(4n), { first: 3, last: 3 });
      assert.deepEqual(await store.state(5n), { first: 3, last: 3 });
      await other.query('COMMIT');
      assert.equal(await store.prune({ ...NONE, keep: 1 }, 0), 6);
      for (const mid of [1n, 2n, 3n]) assert.deepEqual(await store.state(mid), { first: 3, last: 3 });
    } finally {
      await other.end();
      await store.close();
    }
  });

  test("a user's backlog goes in transactions of at most 5,000 rows: another session sees it shrink on the way", async () => {
    const db = await createDatabase();
    const store = await PostgresInboxStore.connect({ url: db, log: silentLogger });
    const other = new pg.Client({ connectionString: db });
    await other.connect();
    try {
      await store.append([1n], item(1));
      await other.query(`INSERT INTO inbox_entries (mid, seq, id, op, body, time) SELECT 1, g, 'm', 1, '\\x00', 1 FROM generate_series(2, 40000) g`);
      await other.query(`UPDATE inbox_users SET "last" = 40000 WHERE mid = 1`);
      let done = false;
      const run = store.prune({ ...NONE, keep: 1 }, 0).finally(() => {
        done = true;
      });
      const seen = new Set<number>();
      while (!done) seen.add(Number((await other.query<{ n: string }>('SELECT count(*) AS n FROM inbox_entries WHERE mid = 1')).rows[0].n));
      assert.equal(await run, 39_999);
      assert.ok(
        [...seen].some((n) => n > 1 && n < 40_000 && (40_000 - n) % 5000 === 0),
        `a count between two transactions (seen: ${[...seen].sort((a, b) => a - b).join(', ')})`,
      );
      assert.deepEqual(await store.state(1n), { first: 40_000, last: 40_000 });
    } finally {
      await other.end();
      await store.close();
    }
  });

  test('a device seen again while retention waits to remove it as expired stays', async () => {
    const db = await createDatabase();
    const store = await PostgresInboxStore.connect({ url: db, log: silentLogger });
    const other = new pg.Client({ connectionString: db });
    await other.connect();
    try {
      await store.append([1n], item(1));
      await store.device(1n, 'a', 0, 1000);
      // As a registration does: the row's seen moves to now, not yet committed when retention reaches it.
      await other.query('BEGIN');
      await other.query(`UPDATE inbox_devices SET seen = 500000 WHERE mid = 1 AND key = 'a'`);
      const run = store.prune({ ...NONE, deviceTtlMs: 10_000 }, 500_000);
      await someoneWaits(db);
      await other.query('COMMIT');
      assert.equal(await run, 0);
      assert.deepEqual(await store.devices(1n), [{ key: 'a', acked: 0, seen: 500_000 }]);
    } finally {
      await other.end();
      await store.close();
    }
  });

  test("delete takes the user's row lock first, as retention does (their row locks are never met in opposite orders)", async () => {
    const db = await createDatabase();
    const store = await PostgresInboxStore.connect({ url: db, log: silentLogger });
    const other = new pg.Client({ connectionString: db });
    await other.connect();
    try {
      for (let n = 1; n <= 3; n++) await store.append([1n], item(n));
      await other.query('BEGIN');
      await other.query('SELECT mid FROM inbox_users WHERE mid = 1 FOR UPDATE');
      const deleting = store.delete(1n, Infinity, true);
      await someoneWaits(db);
      await other.query('COMMIT');
      assert.equal(await deleting, 3);
    } finally {
      await other.end();
      await store.close();
    }
  });

  test('new devices of one user registered from several processes at once stay within maxDevices', async () => {
    const db = await createDatabase();
    const stores = await Promise.all([1, 2, 3].map(() => PostgresInboxStore.connect({ url: db, maxDevices: 4, log: silentLogger })));
    try {
      await stores[0].append([1n], item(1));
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? stores[i % 3].device(1n, `k${i}`, 0, i) : stores[i % 3].ack(1n, `k${i}`, 1, i))),
      );
      const n = await admin((c) => c.query<{ n: string }>('SELECT count(*) AS n FROM inbox_devices WHERE mid = 1'), db);
      assert.equal(Number(n.rows[0].n), 4);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('a restart finds entries, watermarks and seqs again', async () => {
    const first = await PostgresInboxStore.connect({ url: own, log: silentLogger });
    const body = Buffer.from([0xff, 0x00, 0xfe]);
    for (let n = 1; n <= 3; n++) await first.append([-(2n ** 63n), 9n], item(n, n === 3 ? { body } : {}));
    await first.ack(9n, 'phone', 2, 1000);
    await first.delete(-(2n ** 63n), Infinity, true);
    await first.close();
    const again = await PostgresInboxStore.connect({ url: own, log: silentLogger });
    try {
      const { entries } = await again.read(9n, 2, { limit: 10, maxBytes: 10 });
      assert.deepEqual(
        entries.map((e) => ({ ...e, body: Buffer.from(e.body) })),
        [{ seq: 3, ...item(3, { body }) }],
      );
      assert.deepEqual(await again.devices(9n), [{ key: 'phone', acked: 2, seen: 1000 }]);
      assert.deepEqual(await again.append([-(2n ** 63n)], item(4)), [4]);
    } finally {
      await again.close();
    }
  });

  test('an outage rejects appends with the context; the store works again when the server is back', async () => {
    const proxy = await OutageProxy.start('postgres');
    const through = new URL(own);
    through.port = String(proxy.port);
    const store = await PostgresInboxStore.connect({ url: through.href, connectTimeoutMs: 1000, log: silentLogger });
    try {
      assert.deepEqual(await store.append([77n], item(1)), [1]);
      await proxy.cut();
      await assert.rejects(store.append([77n, 78n], item(2)), new RegExp(`^Error: inbox: postgres append failed \\(127\\.0\\.0\\.1:${proxy.port}/`));
      await assert.rejects(store.ack(77n, 'd', 1, 1), /inbox: postgres ack failed/);
      await assert.rejects(store.prune(NONE, 1), /inbox: postgres prune failed/);
      await proxy.restore();
      assert.deepEqual(await store.append([78n, 77n], item(3)), [1, 2], 'the failed append took no seq');
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  test('opened while the server is unreachable: calls reject, none waits forever', async () => {
    const store = PostgresInboxStore.open({ url: 'postgres://postgres@127.0.0.1:1/none', log: silentLogger });
    try {
      await assert.rejects(store.append([1n], item(1)), /inbox: postgres connect failed \(127\.0\.0\.1:1\/none\)/);
      await assert.rejects(store.state(1n), /inbox: postgres connect failed/);
    } finally {
      await store.close();
    }
  });
});

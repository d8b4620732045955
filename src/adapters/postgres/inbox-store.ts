// InboxStore in PostgreSQL (node-postgres): distributed mode's durable inbox
// (docs/inbox.md#engines), shared by every logic process. Tables are made at the first call
// that reaches the server. A user's seqs come from its inbox_users row: an append raises `last`
// with INSERT … ON CONFLICT DO UPDATE, which locks the row until the entry is stored in the
// same statement, so appends from any number of processes take seqs one after another, and a
// failed one takes none. Rows are locked in mid order, so appends to overlapping users cannot
// deadlock.
import type pg from 'pg';
import {
  InboxAckRangeError,
  type DeviceMark,
  type InboxEntry,
  type InboxItem,
  type InboxLimits,
  type InboxPage,
  type InboxPruneRule,
  type InboxState,
  type InboxStore,
  type PageBound,
} from '../../ports/index.js';
import { readBytes, readLimit } from '../history-bounds.js';
import { bindInt, checkItem, checkKey, checkMids, checkRule, checkSeq, inboxLimits, pruneBounds } from '../inbox-input.js';
import { PgCalls, type PgPoolOptions } from './pg-calls.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS inbox_users (
  mid BIGINT PRIMARY KEY,
  "last" BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS inbox_entries (
  mid BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  id TEXT NOT NULL,
  op INTEGER NOT NULL,
  body BYTEA NOT NULL,
  time BIGINT NOT NULL,
  PRIMARY KEY (mid, seq)
);
CREATE INDEX IF NOT EXISTS inbox_entries_time ON inbox_entries (time);
CREATE TABLE IF NOT EXISTS inbox_devices (
  mid BIGINT NOT NULL,
  key TEXT NOT NULL,
  acked BIGINT NOT NULL,
  seen BIGINT NOT NULL,
  PRIMARY KEY (mid, key)
);
CREATE INDEX IF NOT EXISTS inbox_devices_seen ON inbox_devices (seen);
`;

/** Serialises table creation between processes starting at once ("tsib"; history's is "tsim"). */
const SCHEMA_LOCK = 0x74736962;
/** Held by the process whose retention run is going: another's run at that time does nothing. */
const PRUNE_LOCK = 0x74736970;

/** Serialises registrations of new devices of one user (with hashint8(mid)), so the device cap holds across processes. */
const DEVICE_LOCK = 0x74736964;

/** Rows one retention transaction removes; users one statement looks at for keep and dropAcked. */
const PRUNE_ROWS = 5000;
const PRUNE_SCAN = 5000;
/** Failed user transactions after which a retention run stops (the next starts after the last of them). */
const PRUNE_FAILURES = 3;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const APPEND = `WITH s AS (
    INSERT INTO inbox_users AS u (mid, "last") SELECT m, 1 FROM unnest($1::bigint[]) AS m ORDER BY m
    ON CONFLICT (mid) DO UPDATE SET "last" = u."last" + 1 RETURNING mid, "last")
  INSERT INTO inbox_entries (mid, seq, id, op, body, time) SELECT mid, "last", $2::text, $3::int, $4::bytea, $5::bigint FROM s RETURNING mid, seq`;

/**
 * A page within a byte budget in one statement, as history's pageSql: the entries with the
 * running sum of their sizes; kept, the first and every one within the budget, then the first
 * past it without its body (the cut marker). Bodies left out never leave the server.
 */
const READ = `SELECT seq, id, op, CASE WHEN n = 1 OR upto <= $4 THEN body END AS body, time FROM (
    SELECT seq, id, op, body, time, row_number() OVER w AS n, sum(octet_length(body)) OVER w AS upto, octet_length(body) AS size
    FROM (SELECT seq, id, op, body, time FROM inbox_entries WHERE mid = $1 AND seq > $2 ORDER BY seq LIMIT $3) c
    WINDOW w AS (ORDER BY seq ROWS UNBOUNDED PRECEDING)) s
  WHERE n <= 2 OR upto - size <= $4 ORDER BY seq`;

const LAST = `SELECT COALESCE((SELECT "last" FROM inbox_users WHERE mid = $1::bigint), 0) AS "last"`;

/** $5: the user's last, read under its row lock. A device registered meanwhile by another call keeps its mark. */
const REGISTER = `INSERT INTO inbox_devices (mid, key, acked, seen)
  SELECT $1::bigint, $2::text, LEAST(GREATEST($3::bigint, COALESCE((SELECT min(seq) FROM inbox_entries WHERE mid = $1::bigint), $5::bigint + 1) - 1), $5::bigint), $4::bigint
  ON CONFLICT (mid, key) DO UPDATE SET seen = EXCLUDED.seen RETURNING acked`;

/** A known device's ack: as ACK, but no row from `up` also when the device is not known. */
const ACK_KNOWN = `WITH u AS (${LAST}),
  up AS (UPDATE inbox_devices SET acked = GREATEST(acked, $3::bigint), seen = $4::bigint FROM u
    WHERE mid = $1::bigint AND key = $2::text AND $5::bigint <= u."last" RETURNING acked)
  SELECT u."last", up.acked FROM u LEFT JOIN up ON true`;

/** $5: the seq rounded up, checked against last; $3 the mark it sets. No row from `ins`: above last. */
const ACK = `WITH u AS (${LAST}),
  ins AS (INSERT INTO inbox_devices (mid, key, acked, seen) SELECT $1::bigint, $2::text, $3::bigint, $4::bigint FROM u WHERE $5::bigint <= u."last"
    ON CONFLICT (mid, key) DO UPDATE SET acked = GREATEST(inbox_devices.acked, EXCLUDED.acked), seen = EXCLUDED.seen RETURNING acked)
  SELECT u."last", ins.acked FROM u LEFT JOIN ins ON true`;

/** The seq at or below which user $1's entries go: last - $2, or, when $3, every device's mark if higher. */
const FLOOR = `GREATEST((SELECT "last" FROM inbox_users WHERE mid = $1::bigint) - $2::bigint,
  CASE WHEN $3::boolean THEN (SELECT min(acked) FROM inbox_devices WHERE mid = $1::bigint) END)`;

/**
 * Of PRUNE_SCAN users from $1 up to $2 (no lock taken), those with an entry at or below their
 * floor, and the last one looked at (to go on from); `scanned`, how many were looked at.
 */
const PRUNE_SCAN_SQL = `WITH s AS (SELECT mid, "last" FROM inbox_users WHERE mid >= $1::bigint AND mid <= $2::bigint ORDER BY mid LIMIT $5),
  t AS (SELECT s.mid, EXISTS (SELECT 1 FROM inbox_entries e WHERE e.mid = s.mid AND e.seq <= GREATEST(s."last" - $3::bigint,
    CASE WHEN $4::boolean THEN (SELECT min(acked) FROM inbox_devices d WHERE d.mid = s.mid) END)) AS due FROM s)
  SELECT mid, due, (SELECT count(*) FROM s) AS scanned FROM t WHERE due OR mid = (SELECT max(mid) FROM s) ORDER BY mid`;

/** At most $4 of user $1's entries at or below its floor, lowest first (the user's row locked by the caller). */
const PRUNE_USER = `DELETE FROM inbox_entries WHERE mid = $1::bigint AND seq IN (
    SELECT seq FROM inbox_entries WHERE mid = $1::bigint AND seq <= ${FLOOR} ORDER BY seq LIMIT $4)`;

/** Before user $1 registers device $2 (not known): forgets the devices past the newest $3 - 1, by seen then key. */
const EVICT = `DELETE FROM inbox_devices WHERE mid = $1::bigint AND key IN (
    SELECT key FROM inbox_devices WHERE mid = $1::bigint ORDER BY seen DESC, key COLLATE "C" DESC OFFSET ($3::int - 1))
  AND NOT EXISTS (SELECT 1 FROM inbox_devices WHERE mid = $1::bigint AND key = $2::text)`;

interface ScanRow {
  mid: string;
  due: boolean;
  scanned: string;
}

interface EntryRow {
  seq: string;
  id: string;
  op: number;
  body: Buffer | null;
  time: string;
}

const toEntry = (r: EntryRow): InboxEntry => ({ seq: Number(r.seq), id: r.id, op: r.op, body: r.body!, time: Number(r.time) });

export type PostgresInboxStoreOptions = PgPoolOptions & Partial<InboxLimits>;

export class PostgresInboxStore implements InboxStore {
  /** Resolved once the tables exist; null until then (and again after a failed attempt). */
  private schema: Promise<void> | null = null;
  private schemaReady = false;
  /** Where the next retention run's pass over users begins: after a user whose transaction failed. */
  private resumeAt = INT64_MIN;

  private constructor(
    private readonly db: PgCalls,
    private readonly limits: InboxLimits,
  ) {}

  /** Connects, creates the tables when missing, and resolves when the store can be used. */
  static async connect(options: PostgresInboxStoreOptions): Promise<PostgresInboxStore> {
    const store = PostgresInboxStore.open(options);
    try {
      await store.ensureSchema();
    } catch (e) {
      await store.db.end().catch(() => {});
      throw e;
    }
    return store;
  }

  /**
   * The store at once, without waiting for the server: the tables are made at the first call
   * that reaches it, and a call while the server is down rejects (docs/inbox.md#failures).
   */
  static open(options: PostgresInboxStoreOptions): PostgresInboxStore {
    const limits = inboxLimits(options);
    return new PostgresInboxStore(new PgCalls(options, 'inbox'), limits);
  }

  /** Creates the tables once (under an advisory lock); a failed attempt is retried by the next call. */
  ensureSchema(): Promise<void> {
    if (this.schemaReady) return Promise.resolve();
    this.schema ??= this.db
      .tx('connect', async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await c.query(SCHEMA);
      })
      .then(
        () => {
          this.schemaReady = true;
        },
        (e: unknown) => {
          this.schema = null;
          throw e;
        },
      );
    return this.schema;
  }

  async append(mids: bigint[], item: InboxItem): Promise<number[]> {
    checkMids(mids);
    checkItem(item, this.limits.maxBodyBytes);
    await this.ensureSchema();
    if (mids.length === 0) return [];
    const body = Buffer.from(item.body.buffer, item.body.byteOffset, item.body.byteLength);
    const rows = await this.db.query<{ mid: string; seq: string }>('append', { name: 'inbox-append', text: APPEND }, [
      mids.map(String),
      item.id,
      item.op,
      body,
      item.time,
    ]);
    const seqOf = new Map(rows.map((r) => [r.mid, Number(r.seq)]));
    return mids.map((mid) => seqOf.get(String(mid))!);
  }

  async state(mid: bigint): Promise<InboxState> {
    await this.ensureSchema();
    const [r] = await this.db.query<{ last: string; first: string | null }>(
      'state',
      `SELECT u."last", (SELECT min(seq) FROM inbox_entries WHERE mid = $1) AS "first" FROM (${LAST}) u`,
      [String(mid)],
    );
    const last = Number(r.last);
    return { first: r.first === null ? last + 1 : Number(r.first), last };
  }

  async read(mid: bigint, after: number, bound: PageBound): Promise<InboxPage> {
    checkSeq('after', after);
    await this.ensureSchema();
    const n = readLimit(bound.limit);
    if (n === 0) return { entries: [], cut: false };
    const rows = await this.db.query<EntryRow>('read', READ, [String(mid), bindInt(after), n, readBytes(bound.maxBytes)]);
    const cut = rows.length > 0 && rows[rows.length - 1].body === null;
    return { entries: (cut ? rows.slice(0, -1) : rows).map(toEntry), cut };
  }

  /**
   * Registration reads first and last under the user's row lock (FOR KEY SHARE, which appends
   * do not wait for): a retention run holding it has committed before the clamp is read, so
   * a new device never starts below entries that run removed for the devices it saw. New
   * devices of one user register one at a time (an advisory lock), so the cap holds.
   */
  async device(mid: bigint, key: string, start: number, nowMs: number): Promise<number> {
    checkKey(key);
    checkSeq('start', start);
    checkSeq('nowMs', nowMs);
    await this.ensureSchema();
    const m = String(mid);
    const seen = bindInt(nowMs);
    return this.db.tx('device', async (c) => {
      const known = await c.query<{ acked: string }>(`UPDATE inbox_devices SET seen = $3 WHERE mid = $1 AND key = $2 RETURNING acked`, [
        m,
        key,
        seen,
      ]);
      if (known.rows.length > 0) return Number(known.rows[0].acked);
      await c.query(`SELECT pg_advisory_xact_lock($1, hashint8($2))`, [DEVICE_LOCK, m]);
      const locked = await c.query<{ last: string }>(`SELECT "last" FROM inbox_users WHERE mid = $1 FOR KEY SHARE`, [m]);
      const last = locked.rows.length > 0 ? locked.rows[0].last : '0';
      await c.query(EVICT, [m, key, this.limits.maxDevices]);
      const r = await c.query<{ acked: string }>(REGISTER, [m, key, bindInt(start, Math.trunc), seen, last]);
      return Number(r.rows[0].acked);
    });
  }

  /** A known device in one statement; an unknown one registers as device() does (under the same lock, with the cap). */
  async ack(mid: bigint, key: string, seq: number, nowMs: number): Promise<number> {
    checkKey(key);
    checkSeq('seq', seq);
    checkSeq('nowMs', nowMs);
    await this.ensureSchema();
    const args = [String(mid), key, bindInt(Math.max(0, seq), Math.trunc), bindInt(nowMs), bindInt(seq, Math.ceil)];
    const [r] = await this.db.query<{ last: string; acked: string | null }>('ack', ACK_KNOWN, args);
    if (r.acked !== null) return Number(r.acked);
    if (seq > Number(r.last)) throw new InboxAckRangeError(seq, Number(r.last));
    return this.db.tx('ack', async (c) => {
      await c.query(`SELECT pg_advisory_xact_lock($1, hashint8($2))`, [DEVICE_LOCK, args[0]]);
      await c.query(EVICT, [args[0], key, this.limits.maxDevices]);
      const n = await c.query<{ last: string; acked: string | null }>(ACK, args);
      const { last, acked } = n.rows[0];
      if (acked === null) throw new InboxAckRangeError(seq, Number(last));
      return Number(acked);
    });
  }

  async devices(mid: bigint): Promise<DeviceMark[]> {
    await this.ensureSchema();
    const rows = await this.db.query<{ key: string; acked: string; seen: string }>(
      'devices',
      `SELECT key, acked, seen FROM inbox_devices WHERE mid = $1 ORDER BY seen DESC, key COLLATE "C" DESC LIMIT $2`,
      [String(mid), this.limits.maxDevices],
    );
    // Sorted here: the server's collation would order keys otherwise than the other engines.
    return rows
      .map((d) => ({ key: d.key, acked: Number(d.acked), seen: Number(d.seen) }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(mid: bigint, upTo: number, forgetDevices: boolean): Promise<number> {
    checkSeq('upTo', upTo);
    await this.ensureSchema();
    const m = String(mid);
    return this.db.tx('delete', async (c) => {
      // The user's row first, as retention and appends lock it: their row locks cannot be met in another order (no deadlock).
      await c.query(`SELECT 1 FROM inbox_users WHERE mid = $1 FOR UPDATE`, [m]);
      const del = await c.query(`DELETE FROM inbox_entries WHERE mid = $1 AND seq <= $2`, [m, bindInt(upTo)]);
      if (forgetDevices) await c.query(`DELETE FROM inbox_devices WHERE mid = $1`, [m]);
      return del.rowCount ?? 0;
    });
  }

  /**
   * One process at a time (an advisory lock held on one connection for the run; a run while
   * another process's goes removes nothing and resolves to 0). Devices past their TTL and
   * entries past maxAge go by their indexes, PRUNE_ROWS per transaction; then users are looked
   * at PRUNE_SCAN at a time, in mid order and without a lock, and only those with entries
   * below their floor (keep, dropAcked) are locked and pruned, PRUNE_ROWS rows per transaction.
   * A user whose transaction fails (a timeout) is skipped; the run goes on and rejects at its
   * end, or after PRUNE_FAILURES failures. The pass over users begins after the last user
   * that failed and wraps around, so one user that keeps failing holds back no other.
   */
  async prune(rule: InboxPruneRule, nowMs: number): Promise<number> {
    checkRule(rule, nowMs);
    await this.ensureSchema();
    const { keep, aged, stale } = pruneBounds(rule, nowMs);
    let client: pg.PoolClient;
    try {
      client = await this.db.pool.connect();
    } catch (e) {
      throw this.db.fail('prune', e);
    }
    let broken: Error | undefined;
    const lost = (err: Error): void => {
      broken = err;
    };
    client.on('error', lost);
    try {
      const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [PRUNE_LOCK]);
      if (!got.rows[0].ok) return 0;
      try {
        return await this.pruneOn(client, keep, aged, stale, rule.dropAcked);
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [PRUNE_LOCK]);
      }
    } catch (e) {
      broken ??= e as Error; // a connection that may still hold the lock is not reused: release(err) ends it
      throw this.db.fail('prune', e);
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  }

  private async pruneOn(c: pg.PoolClient, keep: number, aged: number, stale: number, dropAcked: boolean): Promise<number> {
    /** Runs `fn` in a transaction of its own on `c`. */
    const step = async <T>(fn: () => Promise<T>): Promise<T> => {
      await c.query('BEGIN');
      try {
        const r = await fn();
        await c.query('COMMIT');
        return r;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => {});
        throw e;
      }
    };
    const chunked = async (sql: string, bound: number): Promise<number> => {
      let total = 0;
      for (;;) {
        const n = (await step(() => c.query(sql, [bound, PRUNE_ROWS]))).rowCount ?? 0;
        total += n;
        if (n < PRUNE_ROWS) return total;
      }
    };
    // The bound again outside the subquery: a row its seen or time moved past since the subquery read it (re-read once its lock is had) stays.
    await chunked(`DELETE FROM inbox_devices WHERE (mid, key) IN (SELECT mid, key FROM inbox_devices WHERE seen < $1 LIMIT $2) AND seen < $1`, stale);
    let removed = await chunked(
      `DELETE FROM inbox_entries WHERE (mid, seq) IN (SELECT mid, seq FROM inbox_entries WHERE time < $1 LIMIT $2) AND time < $1`,
      aged,
    );
    const start = this.resumeAt;
    const ranges: Array<[bigint, bigint]> =
      start === INT64_MIN
        ? [[start, INT64_MAX]]
        : [
            [start, INT64_MAX],
            [INT64_MIN, start - 1n],
          ];
    const failed: Error[] = [];
    for (const [lo, hi] of ranges) {
      let from: bigint | null = lo;
      while (from !== null) {
        const r: pg.QueryResult<ScanRow> = await c.query<ScanRow>(PRUNE_SCAN_SQL, [String(from), String(hi), keep, dropAcked, PRUNE_SCAN]);
        const due = r.rows.filter((u) => u.due).map((u) => u.mid);
        const lastMid: string | undefined = r.rows.at(-1)?.mid;
        from = lastMid === undefined || Number(r.rows[0].scanned) < PRUNE_SCAN || BigInt(lastMid) >= hi ? null : BigInt(lastMid) + 1n;
        let at = 0;
        while (at < due.length) {
          try {
            // One transaction: users in mid order, each row locked then its entries removed, until PRUNE_ROWS rows are gone (the user it ends in is taken up again).
            const [next, gone] = await step(async (): Promise<[number, number]> => {
              let budget = PRUNE_ROWS;
              let i = at;
              while (i < due.length && budget > 0) {
                at = i; // the user a failure is charged to
                // Locked first, then deleted in a second statement: it sees every device registered before the lock was had.
                await c.query(`SELECT 1 FROM inbox_users WHERE mid = $1 FOR UPDATE`, [due[i]]);
                budget -= (await c.query(PRUNE_USER, [due[i], keep, dropAcked, budget])).rowCount ?? 0;
                if (budget > 0) i++;
              }
              return [i, PRUNE_ROWS - budget];
            });
            at = next;
            removed += gone;
          } catch (e) {
            failed.push(e as Error);
            this.resumeAt = BigInt(due[at]) === INT64_MAX ? INT64_MIN : BigInt(due[at]) + 1n;
            if (failed.length >= PRUNE_FAILURES) throw failed[0];
            at++;
          }
        }
      }
    }
    if (failed.length > 0) throw failed[0];
    return removed;
  }

  async close(): Promise<void> {
    await this.db.end();
  }
}

// HistoryStore in PostgreSQL (node-postgres): distributed mode's room history
// (docs/history.md#storage, docs/deployment.md#history-storage). Tables are created at connect
// when missing. An append is one transaction: the rooms' rows are locked (SELECT … FOR UPDATE)
// so the contiguity check and the insert see the same `last`, and all records of the call go
// in one INSERT … SELECT FROM unnest(arrays) — the faster of the statements measured. Room opens
// are batched: the opens asked for while one open statement runs go together in the next, so
// a job opening 1,000 rooms at once makes a few statements on one connection, not 1,000
// queries queued in the pool behind its appends (docs/history.md#storage).
import type {
  AppendBatch,
  HistoryRecord,
  HistoryStore,
  PageBound,
  ProgressCursor,
  PruneRule,
  RecordPage,
  RoomHistory,
  RoomOpen,
} from '../../ports/index.js';
import { newEpochName } from '../../lib/epoch-name.js';
import { readBytes, readLimit, ruleFor } from '../history-bounds.js';
import { PgCalls, type PgPoolOptions } from './pg-calls.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS rooms (
  room TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  epoch_start BIGINT NOT NULL,
  "first" BIGINT NOT NULL,
  "last" BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
  room TEXT NOT NULL,
  "offset" BIGINT NOT NULL,
  id TEXT NOT NULL,
  op INTEGER NOT NULL,
  body BYTEA NOT NULL,
  mid BIGINT NOT NULL,
  time BIGINT NOT NULL,
  progress BIGINT,
  PRIMARY KEY (room, "offset")
);
CREATE INDEX IF NOT EXISTS records_progress ON records (room, progress, "offset") WHERE progress IS NOT NULL;
`;

/** Serialises table creation between processes starting at once (CREATE … IF NOT EXISTS can race). */
const SCHEMA_LOCK = 0x7473696d; // "tsim"

const COLUMNS = `"offset", id, op, body, mid, time, progress`;

const INSERT = `INSERT INTO records (room, ${COLUMNS})
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::int[], $5::bytea[], $6::bigint[], $7::bigint[], $8::bigint[])`;

/**
 * A page within a byte budget, in one statement: `rows` (the page's candidates, at most its
 * limit, in `order`) with the running sum of their body sizes (octet_length takes a TOASTed
 * value's size without reading it). Kept: the first row and every row within `budget`, then
 * the first row past it without its body — the marker that the page was cut (the second row
 * when the first alone passes it). The bodies of rows left out never leave the server.
 */
function pageSql(rows: string, order: string, budget: string): string {
  return `SELECT "offset", id, op, CASE WHEN n = 1 OR upto <= ${budget} THEN body END AS body, mid, time, progress FROM (
    SELECT ${COLUMNS}, row_number() OVER w AS n, sum(octet_length(body)) OVER w AS upto, octet_length(body) AS size
    FROM (${rows}) candidates WINDOW w AS (ORDER BY ${order} ROWS UNBOUNDED PRECEDING)) sized
  WHERE n <= 2 OR upto - size <= ${budget} ORDER BY ${order}`;
}

/**
 * Every room of one open statement, in one round trip: the rooms not there yet are created
 * ($2: a fresh epoch each), and each room's row comes back with the ids and offsets of its
 * newest $3 records, oldest first. The insert is invisible to `had` beside it, so a room gets
 * its row from exactly one of the two — or from neither while another process's first open of
 * it has not committed yet (its epoch is null here; the caller reads it again). Rooms are
 * inserted in key order, so two processes opening the same new rooms cannot deadlock.
 */
const OPEN = `WITH req AS (SELECT * FROM unnest($1::text[], $2::text[], $3::int[]) AS q(room, epoch, n)),
  made AS (
    INSERT INTO rooms (room, epoch, epoch_start, "first", "last") SELECT room, epoch, 1, 1, 0 FROM req ORDER BY room
    ON CONFLICT (room) DO NOTHING RETURNING room, epoch, epoch_start, "first", "last"),
  had AS (SELECT room, epoch, epoch_start, "first", "last" FROM rooms WHERE room = ANY($1::text[])),
  st AS (SELECT * FROM made UNION ALL SELECT * FROM had)
SELECT q.room, st.epoch, st.epoch_start, st."first", st."last", t.ids, t.offsets
FROM req q LEFT JOIN st ON st.room = q.room
CROSS JOIN LATERAL (
  SELECT array_agg(x.id ORDER BY x."offset") AS ids, array_agg(x."offset" ORDER BY x."offset") AS offsets
  FROM (SELECT id, "offset" FROM records WHERE records.room = q.room ORDER BY "offset" DESC LIMIT q.n) x) t`;

/** Most rooms one open statement takes. */
const OPEN_ROOMS = 500;
/** Most recent ids one open statement reads over its rooms (a room asking for more goes alone). */
const OPEN_IDS = 100_000;
/**
 * A room key longer than this (UTF-8 bytes) is opened in a statement of its own: a key too
 * long for PostgreSQL's index (about 2,700 bytes) fails its own open, not the rooms beside it.
 */
const OPEN_SHARED_KEY_BYTES = 1024;

/** Rooms pruned per statement. */
const PRUNE_CHUNK = 500;

interface RoomRow {
  epoch: string;
  epoch_start: string;
  first: string;
  last: string;
}

interface RecordRow {
  offset: string;
  id: string;
  op: number;
  body: Buffer;
  mid: string;
  time: string;
  progress: string | null;
}

const state = (r: RoomRow): RoomHistory => ({ epoch: r.epoch, epochStart: Number(r.epoch_start), first: Number(r.first), last: Number(r.last) });

const toRecord = (r: RecordRow): HistoryRecord => ({
  offset: Number(r.offset),
  id: r.id,
  op: r.op,
  body: r.body,
  mid: BigInt(r.mid),
  time: Number(r.time),
  progress: r.progress === null ? null : Number(r.progress),
});

interface OpenRow extends Partial<RoomRow> {
  room: string;
  ids: string[] | null;
  offsets: string[] | null;
}

/** Opens of one room waiting for the next open statement; `n` the most recent ids any of them asked for. */
interface OpenWaiter {
  n: number;
  waiters: Array<{ n: number; resolve: (o: RoomOpen) => void; reject: (e: Error) => void }>;
}

/** A row of pageSql: the marker row past the budget has no body. */
type PageRow = Omit<RecordRow, 'body'> & { body: Buffer | null };

function page(rows: PageRow[]): RecordPage {
  const cut = rows.length > 0 && rows[rows.length - 1].body === null;
  const kept = cut ? rows.slice(0, -1) : rows;
  return { records: kept.map((r) => toRecord({ ...r, body: r.body! })), cut };
}

export type PostgresHistoryStoreOptions = PgPoolOptions;

export class PostgresHistoryStore implements HistoryStore {
  /** Resolved once the tables exist; null until then (and again after a failed attempt). */
  private schema: Promise<void> | null = null;
  private schemaReady = false;
  /** Rooms whose opens wait for the next open statement, in the order first asked. */
  private opens = new Map<string, OpenWaiter>();
  /** An open statement is running (or about to): opens asked meanwhile join the next one. */
  private opening = false;

  private constructor(private readonly db: PgCalls) {}

  /** Connects, creates the tables when missing, and resolves when the store can be used. */
  static async connect(options: PostgresHistoryStoreOptions): Promise<PostgresHistoryStore> {
    const store = PostgresHistoryStore.open(options);
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
   * that reaches it, and a call while the server is down rejects like any outage (the roles
   * carry on: docs/history.md#offsets-and-epochs). A process can so start during an outage.
   */
  static open(options: PostgresHistoryStoreOptions): PostgresHistoryStore {
    return new PostgresHistoryStore(new PgCalls(options, 'history'));
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

  /**
   * Joins the next open statement (see OPEN): one runs at a time, taking up to OPEN_ROOMS of
   * the rooms waiting, so opens under load queue here, not for a pooled connection, and each
   * statement costs one connection for one round trip. A failed statement fails the opens it
   * carried (as an outage does); the rooms waiting behind it go in the next.
   */
  open(room: string, recent: number): Promise<RoomOpen> {
    // PostgreSQL text cannot hold NUL: refused here rather than failing the rooms beside it.
    if (room.includes('\0')) return Promise.reject(this.db.fail('open', new Error('a room key with NUL cannot be stored')));
    const n = readLimit(recent);
    return new Promise<RoomOpen>((resolve, reject) => {
      let w = this.opens.get(room);
      if (w === undefined) this.opens.set(room, (w = { n: 0, waiters: [] }));
      w.n = Math.max(w.n, n);
      w.waiters.push({ n, resolve, reject });
      if (this.opening) return;
      this.opening = true;
      // After the current task: every open asked in it goes in the first statement.
      queueMicrotask(() => void this.runOpens());
    });
  }

  /** Runs open statements until no room waits. */
  private async runOpens(): Promise<void> {
    while (this.opens.size > 0) {
      const batch = this.takeOpens();
      try {
        await this.ensureSchema();
        const done = await this.openRooms(batch);
        for (const [room, w] of batch) {
          const o = done.get(room)!;
          for (const x of w.waiters) x.resolve({ ...o, recent: x.n >= o.recent.length ? o.recent : o.recent.slice(o.recent.length - x.n) });
        }
      } catch (e) {
        // Already in the store's words (connect or open failed, and where).
        const err = e instanceof Error ? e : this.db.fail('open', e);
        for (const w of batch.values()) for (const x of w.waiters) x.reject(err);
      }
    }
    this.opening = false;
  }

  /** The next statement's rooms: the oldest waiting, within OPEN_ROOMS and OPEN_IDS; a long key alone. */
  private takeOpens(): Map<string, OpenWaiter> {
    const batch = new Map<string, OpenWaiter>();
    let ids = 0;
    for (const [room, w] of this.opens) {
      const alone = Buffer.byteLength(room) > OPEN_SHARED_KEY_BYTES;
      if (batch.size > 0 && (alone || batch.size >= OPEN_ROOMS || ids + w.n > OPEN_IDS)) break;
      batch.set(room, w);
      this.opens.delete(room);
      ids += w.n;
      if (alone) break;
    }
    return batch;
  }

  /**
   * The open statement for `batch`. A room another process was creating at that moment has no
   * row in it; that process's transaction has committed by the time the insert gave way, so a
   * second statement for those rooms finds them.
   */
  private async openRooms(batch: Map<string, OpenWaiter>): Promise<Map<string, RoomOpen>> {
    const out = new Map<string, RoomOpen>();
    let rooms = [...batch.keys()];
    for (let attempt = 0; attempt < 2 && rooms.length > 0; attempt++) {
      const rows = await this.db.query<OpenRow>('open', OPEN, [rooms, rooms.map(() => newEpochName()), rooms.map((r) => batch.get(r)!.n)]);
      const missing: string[] = [];
      for (const r of rows) {
        if (r.epoch === undefined || r.epoch === null) {
          missing.push(r.room);
          continue;
        }
        const ids = r.ids ?? [];
        const offsets = r.offsets ?? [];
        out.set(r.room, { ...state(r as RoomRow), recent: ids.map((id, i) => ({ id, offset: Number(offsets[i]) })) });
      }
      rooms = missing;
    }
    if (rooms.length > 0) throw this.db.fail('open', new Error(`${rooms[0]} was neither created nor found`));
    return out;
  }

  async append(batches: AppendBatch[]): Promise<void> {
    await this.ensureSchema();
    if (batches.length === 0) return;
    await this.db.tx('append', async (c) => {
      const names = [...new Set(batches.map((b) => b.room))].sort();
      const locked = await c.query<{ room: string; epoch: string; last: string }>(
        `SELECT room, epoch, "last" FROM rooms WHERE room = ANY($1::text[]) ORDER BY room FOR UPDATE`,
        [names],
      );
      const rooms = new Map(locked.rows.map((r) => [r.room, { epoch: r.epoch, last: Number(r.last) }]));
      // Offsets at or below a room's stored last must be a redelivery: read their ids once.
      const askRoom: string[] = [];
      const askOffset: number[] = [];
      for (const b of batches) {
        const r = rooms.get(b.room);
        if (r === undefined) throw new Error(`${b.room} was never opened`);
        if (r.epoch !== b.epoch) throw new Error(`${b.room} is in epoch ${r.epoch}, not ${b.epoch}`);
        for (const rec of b.records) {
          if (rec.offset <= r.last) {
            askRoom.push(b.room);
            askOffset.push(rec.offset);
          }
        }
      }
      const stored = new Map<string, string>();
      if (askRoom.length > 0) {
        const have = await c.query<{ room: string; offset: string; id: string }>(
          `SELECT r.room, r."offset", r.id FROM records r JOIN unnest($1::text[], $2::bigint[]) AS a(room, "offset")
             ON r.room = a.room AND r."offset" = a."offset"`,
          [askRoom, askOffset],
        );
        for (const h of have.rows) stored.set(`${h.offset} ${h.room}`, h.id);
      }
      const cols = { room: [] as string[], offset: [] as number[], id: [] as string[], op: [] as number[] };
      const body: Buffer[] = [];
      const mid: string[] = [];
      const time: number[] = [];
      const progress: Array<number | null> = [];
      const last = new Map<string, number>();
      for (const b of batches) {
        let at = last.get(b.room) ?? rooms.get(b.room)!.last;
        for (const rec of b.records) {
          if (rec.offset <= at) {
            if (stored.get(`${rec.offset} ${b.room}`) === rec.id) continue;
            throw new Error(`${b.room} offset ${rec.offset} is already stored with another id`);
          }
          if (rec.offset !== at + 1) throw new Error(`${b.room} expects offset ${at + 1}, got ${rec.offset}`);
          cols.room.push(b.room);
          cols.offset.push(rec.offset);
          cols.id.push(rec.id);
          cols.op.push(rec.op);
          body.push(Buffer.from(rec.body.buffer, rec.body.byteOffset, rec.body.byteLength));
          mid.push(rec.mid.toString());
          time.push(rec.time);
          progress.push(rec.progress);
          stored.set(`${rec.offset} ${b.room}`, rec.id);
          at = rec.offset;
        }
        last.set(b.room, at);
      }
      if (cols.room.length === 0) return;
      await c.query({ name: 'history-append', text: INSERT, values: [cols.room, cols.offset, cols.id, cols.op, body, mid, time, progress] });
      await c.query(`UPDATE rooms SET "last" = v.last FROM unnest($1::text[], $2::bigint[]) AS v(room, last) WHERE rooms.room = v.room`, [
        [...last.keys()],
        [...last.values()],
      ]);
    });
  }

  async newEpoch(room: string, epoch: string, start: number): Promise<RoomHistory> {
    await this.ensureSchema();
    // start 1: the room's offsets reached the u32 wire limit and start over; its old records go (docs/history.md#offsets-and-epochs).
    const rows = await this.db.tx('newEpoch', async (c) => {
      if (start === 1) await c.query('DELETE FROM records WHERE room = $1', [room]);
      const r = await c.query<RoomRow>(
        `INSERT INTO rooms (room, epoch, epoch_start, "first", "last") VALUES ($1, $2, $3::bigint, $3::bigint, $3::bigint - 1)
         ON CONFLICT (room) DO UPDATE SET epoch = $2, epoch_start = $3::bigint, "first" = $3::bigint, "last" = $3::bigint - 1
         WHERE rooms."last" < $3::bigint OR $3::bigint = 1
         RETURNING epoch, epoch_start, "first", "last"`,
        [room, epoch, start],
      );
      return r.rows;
    });
    if (rows.length === 0) {
      const now = await this.state(room);
      throw new Error(`history: a new epoch of ${room} must start after ${now?.last}`);
    }
    return state(rows[0]);
  }

  async state(room: string): Promise<RoomHistory | null> {
    await this.ensureSchema();
    const rows = await this.db.query<RoomRow>('state', `SELECT epoch, epoch_start, "first", "last" FROM rooms WHERE room = $1`, [room]);
    return rows.length === 0 ? null : state(rows[0]);
  }

  async after(room: string, after: number, limit: number): Promise<HistoryRecord[]> {
    await this.ensureSchema();
    const n = readLimit(limit);
    if (n === 0) return [];
    const rows = await this.db.query<RecordRow>(
      'after',
      `SELECT ${COLUMNS} FROM records WHERE room = $1 AND "offset" > $2 ORDER BY "offset" LIMIT $3`,
      [room, after, n],
    );
    return rows.map(toRecord);
  }

  async pageAfter(room: string, after: number, bound: PageBound): Promise<RecordPage> {
    await this.ensureSchema();
    const n = readLimit(bound.limit);
    if (n === 0) return { records: [], cut: false };
    const rows = await this.db.query<PageRow>(
      'pageAfter',
      pageSql(`SELECT ${COLUMNS} FROM records WHERE room = $1 AND "offset" > $2 ORDER BY "offset" LIMIT $3`, '"offset"', '$4'),
      [room, after, n, readBytes(bound.maxBytes)],
    );
    return page(rows);
  }

  async latest(room: string, n: number): Promise<HistoryRecord[]> {
    await this.ensureSchema();
    const lim = readLimit(n);
    if (lim === 0) return [];
    const rows = await this.db.query<RecordRow>(
      'latest',
      `SELECT * FROM (SELECT ${COLUMNS} FROM records
         WHERE room = $1 AND "offset" >= (SELECT "first" FROM rooms WHERE room = $1) ORDER BY "offset" DESC LIMIT $2) t
       ORDER BY "offset"`,
      [room, lim],
    );
    return rows.map(toRecord);
  }

  async byProgress(room: string, from: ProgressCursor, toMs: number, bound: PageBound): Promise<RecordPage> {
    await this.ensureSchema();
    const n = readLimit(bound.limit);
    if (n === 0) return { records: [], cut: false };
    // From the cursor (progress $2, offset above $3) on: the row comparison lets the index seek there.
    const rows = await this.db.query<PageRow>(
      'byProgress',
      pageSql(
        `SELECT ${COLUMNS} FROM records WHERE room = $1 AND progress >= $2 AND (progress, "offset") > ($2, $3) AND progress < $4
         ORDER BY progress, "offset" LIMIT $5`,
        'progress, "offset"',
        '$6',
      ),
      [room, from.progress, from.after, toMs, n, readBytes(bound.maxBytes)],
    );
    return page(rows);
  }

  async prune(rules: PruneRule[], nowMs: number): Promise<number> {
    await this.ensureSchema();
    const all = await this.db.query<{ room: string }>('prune', 'SELECT room FROM rooms', []);
    const byRule = new Map<PruneRule, string[]>();
    for (const { room } of all) {
      const rule = ruleFor(rules, room);
      if (rule === undefined) continue;
      const list = byRule.get(rule);
      if (list === undefined) byRule.set(rule, [room]);
      else list.push(room);
    }
    let removed = 0;
    for (const [rule, rooms] of byRule) {
      for (let i = 0; i < rooms.length; i += PRUNE_CHUNK) {
        const chunk = rooms.slice(i, i + PRUNE_CHUNK);
        removed += await this.db.tx('prune', async (c) => {
          // Kept: younger than maxAge and among the `keep` newest of those, per room.
          const del = await c.query(
            `DELETE FROM records r USING (
               SELECT room, "offset" FROM (
                 SELECT room, "offset", time >= $2 AS young,
                        row_number() OVER (PARTITION BY room, time >= $2 ORDER BY "offset" DESC) AS rn
                 FROM records WHERE room = ANY($1::text[])) s
               WHERE NOT young OR rn > $3) d
             WHERE r.room = d.room AND r."offset" = d."offset"`,
            [chunk, nowMs - rule.maxAgeMs, Math.max(0, rule.keep)],
          );
          await c.query(
            `UPDATE rooms SET "first" = COALESCE(
               (SELECT min("offset") FROM records x WHERE x.room = rooms.room AND x."offset" >= rooms.epoch_start), rooms."last" + 1)
             WHERE room = ANY($1::text[])`,
            [chunk],
          );
          return del.rowCount ?? 0;
        });
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    await this.db.end();
  }
}

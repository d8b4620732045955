// HistoryStore in SQLite (node:sqlite): embedded mode's room history, one file
// `<dataDir>/history.db` in WAL mode (docs/history.md#storage, docs/deployment.md#history-storage).
// node:sqlite is synchronous: each call runs to completion on the event loop, so a call is
// atomic by itself and an append is one transaction; keep batches at `history.writeBatch`
// (the measured cost of a 1,000-record append is in docs/deployment.md#history-storage).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
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
import { fitBytes, readBytes, readLimit, ruleFor } from '../history-bounds.js';

export const HISTORY_FILE = 'history.db';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS rooms (
  room TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  epoch_start INTEGER NOT NULL,
  "first" INTEGER NOT NULL,
  "last" INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  room TEXT NOT NULL,
  "offset" INTEGER NOT NULL,
  id TEXT NOT NULL,
  op INTEGER NOT NULL,
  body BLOB NOT NULL,
  mid INTEGER NOT NULL,
  time INTEGER NOT NULL,
  progress INTEGER,
  PRIMARY KEY (room, "offset")
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_progress ON records (room, progress, "offset") WHERE progress IS NOT NULL;
`;

const RECORD_COLUMNS = `"offset", id, op, body, mid, time, progress`;

/** Rooms pruned per transaction; the event loop gets a turn between chunks. */
const PRUNE_CHUNK = 64;

interface RoomRow {
  epoch: string;
  epoch_start: number;
  first: number;
  last: number;
}

interface RecordRow {
  offset: bigint;
  id: string;
  op: bigint;
  body: Uint8Array;
  mid: bigint;
  time: bigint;
  progress: bigint | null;
}

const state = (r: RoomRow): RoomHistory => ({ epoch: r.epoch, epochStart: r.epoch_start, first: r.first, last: r.last });

function toRecord(r: RecordRow): HistoryRecord {
  return {
    offset: Number(r.offset),
    id: r.id,
    op: Number(r.op),
    body: Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength),
    mid: r.mid,
    time: Number(r.time),
    progress: r.progress === null ? null : Number(r.progress),
  };
}

/** The sizes of a size read's rows, pulled one row at a time. */
function* sizes(rows: Iterable<unknown>): Generator<number> {
  for (const r of rows) yield Number((r as { n: number | bigint }).n);
}

export interface SqliteHistoryStoreOptions {
  /** Directory of history.db; created when missing. */
  dataDir: string;
  /** How long a statement waits for a lock held by another connection (ms). */
  busyTimeoutMs?: number;
}

export class SqliteHistoryStore implements HistoryStore {
  private readonly db: DatabaseSync;
  private readonly q: Record<string, StatementSync>;

  constructor(options: SqliteHistoryStoreOptions) {
    const file = join(options.dataDir, HISTORY_FILE);
    try {
      mkdirSync(options.dataDir, { recursive: true });
      this.db = new DatabaseSync(file, { timeout: options.busyTimeoutMs ?? 5000 });
      // WAL: readers never wait for the writer; NORMAL sync is durable across a process crash
      // (an OS crash may lose the last transactions, like the embedded in-process queue).
      // An append over many rooms dirties a page per room: with SQLite's 1,000-page checkpoint
      // every such transaction was also a checkpoint. 16,384 pages (64 MiB of WAL, truncated back
      // to that after a checkpoint) and a 32 MiB page cache took 1,000-room appends from 23,000
      // to 41,000 records/s (docs/benchmarks.md#room-history-storage).
      this.db.exec(
        'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 16384; PRAGMA journal_size_limit = 67108864;',
      );
      this.db.exec(SCHEMA);
    } catch (e) {
      throw new Error(`history: cannot open SQLite ${file}: ${(e as Error).message}`, { cause: e });
    }
    const p = (sql: string, bigints = false): StatementSync => {
      const s = this.db.prepare(sql);
      if (bigints) s.setReadBigInts(true);
      return s;
    };
    this.q = {
      room: p(`SELECT epoch, epoch_start, "first", "last" FROM rooms WHERE room = ?`),
      create: p(`INSERT INTO rooms (room, epoch, epoch_start, "first", "last") VALUES (?, ?, 1, 1, 0) ON CONFLICT (room) DO NOTHING`),
      recent: p(`SELECT id, "offset" FROM records WHERE room = ? ORDER BY "offset" DESC LIMIT ?`),
      idAt: p(`SELECT id FROM records WHERE room = ? AND "offset" = ?`),
      clear: p(`DELETE FROM records WHERE room = ?`),
      insert: p(`INSERT INTO records (room, ${RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      setLast: p(`UPDATE rooms SET "last" = ? WHERE room = ?`),
      newEpoch: p(
        `INSERT INTO rooms (room, epoch, epoch_start, "first", "last") VALUES (?1, ?2, ?3, ?3, ?3 - 1)
         ON CONFLICT (room) DO UPDATE SET epoch = ?2, epoch_start = ?3, "first" = ?3, "last" = ?3 - 1 WHERE rooms."last" < ?3 OR ?3 = 1
         RETURNING epoch, epoch_start, "first", "last"`,
      ),
      after: p(`SELECT ${RECORD_COLUMNS} FROM records WHERE room = ? AND "offset" > ? ORDER BY "offset" LIMIT ?`, true),
      latest: p(
        `SELECT * FROM (SELECT ${RECORD_COLUMNS} FROM records
           WHERE room = ?1 AND "offset" >= (SELECT "first" FROM rooms WHERE room = ?1) ORDER BY "offset" DESC LIMIT ?2)
         ORDER BY "offset"`,
        true,
      ),
      afterSizes: p(`SELECT length(body) AS n FROM records WHERE room = ? AND "offset" > ? ORDER BY "offset" LIMIT ?`),
      // From the cursor (progress ?2, offset above ?3) on: the row value alone lets the index seek
      // there (with `progress >= ?2` beside it SQLite seeks to the progress and scans its records).
      byProgress: p(
        `SELECT ${RECORD_COLUMNS} FROM records WHERE room = ?1 AND progress IS NOT NULL AND (progress, "offset") > (?2, ?3) AND progress < ?4
         ORDER BY progress, "offset" LIMIT ?5`,
        true,
      ),
      progressSizes: p(
        `SELECT length(body) AS n FROM records WHERE room = ?1 AND progress IS NOT NULL AND (progress, "offset") > (?2, ?3) AND progress < ?4
         ORDER BY progress, "offset" LIMIT ?5`,
      ),
      rooms: p(`SELECT room FROM rooms`),
      pruneAge: p(`DELETE FROM records WHERE room = ? AND time < ?`),
      pruneKeep: p(
        `DELETE FROM records WHERE room = ?1 AND "offset" <= (SELECT "offset" FROM records WHERE room = ?1 ORDER BY "offset" DESC LIMIT 1 OFFSET ?2)`,
      ),
      setFirst: p(
        `UPDATE rooms SET "first" = COALESCE((SELECT min("offset") FROM records WHERE records.room = rooms.room AND "offset" >= rooms.epoch_start), "last" + 1)
         WHERE room = ?`,
      ),
    };
  }

  /** Runs `fn` in one transaction: committed when it returns, rolled back when it throws. */
  private transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (e) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }

  async open(room: string, recent: number): Promise<RoomOpen> {
    return this.transaction(() => {
      this.q.create.run(room, newEpochName());
      const r = this.q.room.get(room) as unknown as RoomRow;
      const n = readLimit(recent);
      const ids = n === 0 ? [] : (this.q.recent.all(room, n) as unknown as Array<{ id: string; offset: number }>);
      return { ...state(r), recent: ids.reverse().map((x) => ({ id: x.id, offset: x.offset })) };
    });
  }

  async append(batches: AppendBatch[]): Promise<void> {
    this.transaction(() => {
      const last = new Map<string, number>();
      for (const b of batches) {
        const r = this.q.room.get(b.room) as unknown as RoomRow | undefined;
        if (r === undefined) throw new Error(`history: ${b.room} was never opened`);
        if (r.epoch !== b.epoch) throw new Error(`history: ${b.room} is in epoch ${r.epoch}, not ${b.epoch}`);
        let at = last.get(b.room) ?? r.last;
        for (const rec of b.records) {
          if (rec.offset <= at) {
            const have = this.q.idAt.get(b.room, rec.offset) as { id: string } | undefined;
            if (have?.id === rec.id) continue;
            throw new Error(`history: ${b.room} offset ${rec.offset} is already stored with another id`);
          }
          if (rec.offset !== at + 1) throw new Error(`history: ${b.room} expects offset ${at + 1}, got ${rec.offset}`);
          this.q.insert.run(b.room, rec.offset, rec.id, rec.op, rec.body, rec.mid, rec.time, rec.progress);
          at = rec.offset;
        }
        last.set(b.room, at);
      }
      for (const [room, at] of last) this.q.setLast.run(at, room);
    });
  }

  async newEpoch(room: string, epoch: string, start: number): Promise<RoomHistory> {
    // start 1: the room's offsets reached the u32 wire limit and start over; its old records go (docs/history.md#offsets-and-epochs).
    const r = this.transaction(() => {
      if (start === 1) this.q.clear.run(room);
      return this.q.newEpoch.get(room, epoch, start) as unknown as RoomRow | undefined;
    });
    if (r === undefined) {
      const now = this.q.room.get(room) as unknown as RoomRow;
      throw new Error(`history: a new epoch of ${room} must start after ${now.last}`);
    }
    return state(r);
  }

  async state(room: string): Promise<RoomHistory | null> {
    const r = this.q.room.get(room) as unknown as RoomRow | undefined;
    return r === undefined ? null : state(r);
  }

  async after(room: string, after: number, limit: number): Promise<HistoryRecord[]> {
    const n = readLimit(limit);
    if (n === 0) return [];
    return (this.q.after.all(room, after, n) as unknown as RecordRow[]).map(toRecord);
  }

  /** Runs `fn` in one read transaction: its statements see one snapshot (WAL). */
  private snapshot<T>(fn: () => T): T {
    this.db.exec('BEGIN');
    try {
      return fn();
    } finally {
      this.db.exec('COMMIT');
    }
  }

  // A page is two reads of one snapshot: the body sizes (length() takes a blob's size from
  // its header, without its content), stopping at the first record past the byte budget,
  // then the records that fit. The bodies of records left out are never loaded.
  async pageAfter(room: string, after: number, bound: PageBound): Promise<RecordPage> {
    const n = readLimit(bound.limit);
    if (n === 0) return { records: [], cut: false };
    return this.snapshot(() => {
      const { count, cut } = fitBytes(sizes(this.q.afterSizes.iterate(room, after, n)), readBytes(bound.maxBytes));
      if (count === 0) return { records: [], cut };
      return { records: (this.q.after.all(room, after, count) as unknown as RecordRow[]).map(toRecord), cut };
    });
  }

  async latest(room: string, n: number): Promise<HistoryRecord[]> {
    const lim = readLimit(n);
    if (lim === 0) return [];
    return (this.q.latest.all(room, lim) as unknown as RecordRow[]).map(toRecord);
  }

  async byProgress(room: string, from: ProgressCursor, toMs: number, bound: PageBound): Promise<RecordPage> {
    const n = readLimit(bound.limit);
    if (n === 0) return { records: [], cut: false };
    const args = [room, from.progress, from.after, toMs] as const;
    return this.snapshot(() => {
      const { count, cut } = fitBytes(sizes(this.q.progressSizes.iterate(...args, n)), readBytes(bound.maxBytes));
      if (count === 0) return { records: [], cut };
      return { records: (this.q.byProgress.all(...args, count) as unknown as RecordRow[]).map(toRecord), cut };
    });
  }

  async prune(rules: PruneRule[], nowMs: number): Promise<number> {
    const rooms = (this.q.rooms.all() as Array<{ room: string }>).map((r) => r.room);
    let removed = 0;
    for (let i = 0; i < rooms.length; i += PRUNE_CHUNK) {
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      removed += this.transaction(() => {
        let n = 0;
        for (const room of rooms.slice(i, i + PRUNE_CHUNK)) {
          const rule = ruleFor(rules, room);
          if (rule === undefined) continue;
          n += Number(this.q.pruneAge.run(room, nowMs - rule.maxAgeMs).changes);
          n += Number(this.q.pruneKeep.run(room, Math.max(0, rule.keep)).changes);
          this.q.setFirst.run(room);
        }
        return n;
      });
    }
    return removed;
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}

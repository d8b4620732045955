// InboxStore in SQLite (node:sqlite): embedded mode's durable inbox, one file
// `<dataDir>/inbox.db` in WAL mode beside history.db (docs/inbox.md#engines), run on a thread of
// its own by inbox-thread.ts. Each call but prune is one transaction, so a user's seq is taken and its
// entry stored together: a failed append takes no seq. Retention runs in bounded transactions
// (at most PRUNE_ROWS rows removed each) with a turn for other calls between them.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
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
import { fitBytes, readBytes, readLimit } from '../history-bounds.js';
import { bindInt, checkItem, checkKey, checkMids, checkRule, checkSeq, inboxLimits, pruneBounds } from '../inbox-input.js';

export const INBOX_FILE = 'inbox.db';

// users.last is the highest seq ever given: it stays when entries go, so seqs are never reused.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  mid INTEGER PRIMARY KEY,
  "last" INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
  mid INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  op INTEGER NOT NULL,
  body BLOB NOT NULL,
  time INTEGER NOT NULL,
  PRIMARY KEY (mid, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_time ON entries (time);
CREATE TABLE IF NOT EXISTS devices (
  mid INTEGER NOT NULL,
  key TEXT NOT NULL,
  acked INTEGER NOT NULL,
  seen INTEGER NOT NULL,
  PRIMARY KEY (mid, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS devices_seen ON devices (seen);
`;

/** Rows one retention transaction removes; users one looks at for keep and dropAcked. */
const PRUNE_ROWS = 5000;
const PRUNE_SCAN = 5000;
/** Failed user transactions after which a retention run stops (the next starts after the last of them). */
const PRUNE_FAILURES = 3;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A user as retention sees it: its last seq, lowest stored seq and lowest watermark. */
interface UserMarks {
  mid: bigint;
  last: bigint;
  first: bigint | null;
  acked: bigint | null;
}

interface EntryRow {
  seq: number;
  id: string;
  op: number;
  body: Uint8Array;
  time: number;
}

const toEntry = (r: EntryRow): InboxEntry => ({
  seq: r.seq,
  id: r.id,
  op: r.op,
  body: Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength),
  time: r.time,
});

/** The sizes of a size read's rows, pulled one row at a time. */
function* sizes(rows: Iterable<unknown>): Generator<number> {
  for (const r of rows) yield Number((r as { n: number | bigint }).n);
}

const turn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

export interface SqliteInboxStoreOptions extends Partial<InboxLimits> {
  /** Directory of inbox.db; created when missing. */
  dataDir: string;
  /** How long a statement waits for a lock held by another connection (ms). */
  busyTimeoutMs?: number;
}

const MARKS = `(SELECT min(seq) FROM entries e WHERE e.mid = u.mid) AS "first", (SELECT min(acked) FROM devices d WHERE d.mid = u.mid) AS acked`;

export class SqliteInboxStore implements InboxStore {
  private readonly db: DatabaseSync;
  private readonly q: Record<string, StatementSync>;
  private readonly limits: InboxLimits;
  /** Where the next retention run's pass over users begins: after a user whose transaction failed. */
  private resumeAt = INT64_MIN;

  constructor(options: SqliteInboxStoreOptions) {
    this.limits = inboxLimits(options);
    const file = join(options.dataDir, INBOX_FILE);
    try {
      mkdirSync(options.dataDir, { recursive: true });
      this.db = new DatabaseSync(file, { timeout: options.busyTimeoutMs ?? 5000 });
      // As history.db (sqlite/history-store.ts): WAL, NORMAL sync (durable across a process crash).
      this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384; PRAGMA journal_size_limit = 67108864;');
      this.db.exec(SCHEMA);
    } catch (e) {
      throw new Error(`inbox: cannot open SQLite ${file}: ${(e as Error).message}`, { cause: e });
    }
    const p = (sql: string, bigints = false): StatementSync => {
      const s = this.db.prepare(sql);
      if (bigints) s.setReadBigInts(true);
      return s;
    };
    this.q = {
      bump: p(`INSERT INTO users (mid, "last") VALUES (?, 1) ON CONFLICT (mid) DO UPDATE SET "last" = "last" + 1 RETURNING "last"`),
      insert: p(`INSERT INTO entries (mid, seq, id, op, body, time) VALUES (?, ?, ?, ?, ?, ?)`),
      last: p(`SELECT "last" FROM users WHERE mid = ?`),
      first: p(`SELECT min(seq) AS s FROM entries WHERE mid = ?`),
      read: p(`SELECT seq, id, op, body, time FROM entries WHERE mid = ? AND seq > ? ORDER BY seq LIMIT ?`),
      readSizes: p(`SELECT length(body) AS n FROM entries WHERE mid = ? AND seq > ? ORDER BY seq LIMIT ?`),
      device: p(`SELECT acked FROM devices WHERE mid = ? AND key = ?`),
      seen: p(`UPDATE devices SET seen = ? WHERE mid = ? AND key = ?`),
      register: p(`INSERT INTO devices (mid, key, acked, seen) VALUES (?, ?, ?, ?)`),
      ack: p(
        `INSERT INTO devices (mid, key, acked, seen) VALUES (?, ?, ?, ?)
         ON CONFLICT (mid, key) DO UPDATE SET acked = max(acked, excluded.acked), seen = excluded.seen RETURNING acked`,
      ),
      devices: p(`SELECT key, acked, seen FROM devices WHERE mid = ? ORDER BY seen DESC, key DESC LIMIT ?`),
      // The devices past the newest maxDevices - 1 (by seen, then key): what registering one more forgets.
      evict: p(`DELETE FROM devices WHERE mid = ? AND key IN (SELECT key FROM devices WHERE mid = ? ORDER BY seen DESC, key DESC LIMIT -1 OFFSET ?)`),
      deleteUpTo: p(`DELETE FROM entries WHERE mid = ? AND seq <= ?`),
      forget: p(`DELETE FROM devices WHERE mid = ?`),
      staleDevices: p(`DELETE FROM devices WHERE (mid, key) IN (SELECT mid, key FROM devices WHERE seen < ?1 LIMIT ?2) AND seen < ?1`),
      agedEntries: p(`DELETE FROM entries WHERE (mid, seq) IN (SELECT mid, seq FROM entries WHERE time < ?1 LIMIT ?2) AND time < ?1`),
      usersFrom: p(`SELECT mid, "last", ${MARKS} FROM users u WHERE mid >= ? AND mid <= ? ORDER BY mid LIMIT ?`, true),
      userMarks: p(`SELECT mid, "last", ${MARKS} FROM users u WHERE mid = ?`, true),
      deleteFirst: p(`DELETE FROM entries WHERE mid = ?1 AND seq IN (SELECT seq FROM entries WHERE mid = ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3)`),
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

  /** Runs `fn` in one read transaction: its statements see one snapshot (WAL). */
  private snapshot<T>(fn: () => T): T {
    this.db.exec('BEGIN');
    try {
      return fn();
    } finally {
      this.db.exec('COMMIT');
    }
  }

  private lastOf(mid: bigint): number {
    return (this.q.last.get(mid) as { last: number } | undefined)?.last ?? 0;
  }

  private stateOf(mid: bigint): InboxState {
    const last = this.lastOf(mid);
    const first = (this.q.first.get(mid) as { s: number | null }).s;
    return { first: first ?? last + 1, last };
  }

  async append(mids: bigint[], item: InboxItem): Promise<number[]> {
    checkMids(mids);
    checkItem(item, this.limits.maxBodyBytes);
    return this.transaction(() =>
      mids.map((mid) => {
        const { last } = this.q.bump.get(mid) as { last: number };
        this.q.insert.run(mid, last, item.id, item.op, item.body, item.time);
        return last;
      }),
    );
  }

  async state(mid: bigint): Promise<InboxState> {
    return this.snapshot(() => this.stateOf(mid));
  }

  // As history's pageAfter: the body sizes first, then only the entries that fit.
  async read(mid: bigint, after: number, bound: PageBound): Promise<InboxPage> {
    checkSeq('after', after);
    const n = readLimit(bound.limit);
    if (n === 0) return { entries: [], cut: false };
    const from = bindInt(after);
    return this.snapshot(() => {
      const { count, cut } = fitBytes(sizes(this.q.readSizes.iterate(mid, from, n)), readBytes(bound.maxBytes));
      if (count === 0) return { entries: [], cut };
      return { entries: (this.q.read.all(mid, from, count) as unknown as EntryRow[]).map(toEntry), cut };
    });
  }

  async device(mid: bigint, key: string, start: number, nowMs: number): Promise<number> {
    checkKey(key);
    checkSeq('start', start);
    checkSeq('nowMs', nowMs);
    const seen = bindInt(nowMs);
    return this.transaction(() => {
      const known = this.q.device.get(mid, key) as { acked: number } | undefined;
      if (known !== undefined) {
        this.q.seen.run(seen, mid, key);
        return known.acked;
      }
      const { first, last } = this.stateOf(mid);
      const acked = Math.min(Math.max(bindInt(start, Math.trunc), first - 1), last);
      this.q.evict.run(mid, mid, this.limits.maxDevices - 1);
      this.q.register.run(mid, key, acked, seen);
      return acked;
    });
  }

  async ack(mid: bigint, key: string, seq: number, nowMs: number): Promise<number> {
    checkKey(key);
    checkSeq('seq', seq);
    checkSeq('nowMs', nowMs);
    return this.transaction(() => {
      const last = this.lastOf(mid);
      if (seq > last) throw new InboxAckRangeError(seq, last);
      if (this.q.device.get(mid, key) === undefined) this.q.evict.run(mid, mid, this.limits.maxDevices - 1);
      return (this.q.ack.get(mid, key, bindInt(Math.max(0, seq), Math.trunc), bindInt(nowMs)) as { acked: number }).acked;
    });
  }

  async devices(mid: bigint): Promise<DeviceMark[]> {
    const rows = this.q.devices.all(mid, this.limits.maxDevices) as unknown as DeviceMark[];
    return rows.map((d) => ({ key: d.key, acked: d.acked, seen: d.seen })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(mid: bigint, upTo: number, forgetDevices: boolean): Promise<number> {
    checkSeq('upTo', upTo);
    return this.transaction(() => {
      const n = Number(this.q.deleteUpTo.run(mid, bindInt(upTo)).changes);
      if (forgetDevices) this.q.forget.run(mid);
      return n;
    });
  }

  /**
   * Devices past their TTL and entries past maxAge go by their indexes, PRUNE_ROWS per
   * transaction; then users are looked at PRUNE_SCAN at a time, in mid order, and those with
   * entries below their floor (keep, dropAcked) have them removed, PRUNE_ROWS per transaction.
   * Between transactions other calls get their turn. A user whose transaction fails is
   * skipped; the run goes on, and rejects at its end (or after PRUNE_FAILURES failures). The
   * pass over users begins after the last user that failed and wraps around, so one user that
   * keeps failing holds back no other.
   */
  async prune(rule: InboxPruneRule, nowMs: number): Promise<number> {
    checkRule(rule, nowMs);
    const { keep, aged, stale } = pruneBounds(rule, nowMs);
    while (this.transaction(() => Number(this.q.staleDevices.run(stale, PRUNE_ROWS).changes)) === PRUNE_ROWS) await turn();
    let removed = 0;
    for (;;) {
      const n = this.transaction(() => Number(this.q.agedEntries.run(aged, PRUNE_ROWS).changes));
      removed += n;
      if (n < PRUNE_ROWS) break;
      await turn();
    }
    /** The seq at or below which the user's entries go. */
    const floorOf = (u: UserMarks): number => {
      const byKeep = Number(u.last) - keep;
      return rule.dropAcked && u.acked !== null ? Math.max(byKeep, Number(u.acked)) : byKeep;
    };
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
        await turn();
        const scanned = this.snapshot(() => this.q.usersFrom.all(from, hi, PRUNE_SCAN) as unknown as UserMarks[]);
        const due = scanned.filter((u) => u.first !== null && Number(u.first) <= floorOf(u)).map((u) => u.mid);
        const lastMid = scanned.at(-1)?.mid;
        from = scanned.length < PRUNE_SCAN || lastMid === undefined || lastMid >= hi ? null : lastMid + 1n;
        let at = 0;
        while (at < due.length) {
          try {
            // One transaction: users in mid order until PRUNE_ROWS rows are gone (the user it ends in is taken up again).
            const [next, gone] = this.transaction((): [number, number] => {
              let budget = PRUNE_ROWS;
              let i = at;
              while (i < due.length && budget > 0) {
                at = i; // the user a failure is charged to
                const u = this.q.userMarks.get(due[i]) as unknown as UserMarks;
                const n = Number(this.q.deleteFirst.run(u.mid, bindInt(floorOf(u)), budget).changes);
                budget -= n;
                if (budget > 0) i++;
              }
              return [i, PRUNE_ROWS - budget];
            });
            at = next;
            removed += gone;
          } catch (e) {
            failed.push(e as Error);
            this.resumeAt = due[at] === INT64_MAX ? INT64_MIN : due[at] + 1n;
            if (failed.length >= PRUNE_FAILURES) throw failed[0];
            at++;
          }
          await turn();
        }
      }
    }
    if (failed.length > 0) throw failed[0];
    return removed;
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}

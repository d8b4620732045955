// job / logic → room history storage (docs/history.md): per-room offsets and epochs, batched
// appends, reads by offset and by video position, retention. adapters/memory/history-store.ts
// (tests), adapters/sqlite/history-store.ts (embedded mode, node:sqlite) and
// adapters/postgres/history-store.ts (distributed mode).
//
// Offsets are assigned by the job that owns the room's queue partition (the queue's order
// is the room's order) and are never reused: a new epoch continues after the last offset the
// job handed out. Within one epoch the stored offsets are contiguous.

/** One stored room message. */
export interface HistoryRecord {
  /** Per room, increasing by one within an epoch, never reused. */
  offset: number;
  /** The queue message's id: a redelivered message is recognised by it. */
  id: string;
  op: number;
  body: Uint8Array;
  /** Sender of a danmaku; 0n for HTTP pushes. */
  mid: bigint;
  /** Server time, Unix ms. */
  time: number;
  /** Video position in ms, when the sender gave one. */
  progress: number | null;
}

/** Where a room's history stands. */
export interface RoomHistory {
  /** Changes only when history was lost (docs/history.md#epochs). */
  epoch: string;
  /** First offset of the current epoch. */
  epochStart: number;
  /** Lowest offset still stored in this epoch (last + 1 when none). */
  first: number;
  /** Newest stored offset (epochStart - 1 when none yet). */
  last: number;
}

/** A room as its writer opens it: its state and the ids of its newest records. */
export interface RoomOpen extends RoomHistory {
  recent: Array<{ id: string; offset: number }>;
}

/** Records for one room, offsets last + 1, last + 2, … of `epoch`. */
export interface AppendBatch {
  room: string;
  epoch: string;
  records: HistoryRecord[];
}

/**
 * What one page of the HTTP history API may read (docs/http-api.md#history). The byte budget
 * is kept by the store's read itself, not by its caller reading chunks of records until the
 * budget is met: each engine does it cheaply — memory walks its list; SQLite reads the body
 * sizes first (length() takes a blob's size from its header) and then only the bodies that
 * fit; PostgreSQL keeps a running sum in a window function and sends no body past the budget.
 * So a page of large records is never read whole, where chunks would read up to a chunk of
 * bodies past the budget, and take several round trips for a page of small ones.
 */
export interface PageBound {
  /** Most records. */
  limit: number;
  /**
   * Most body bytes in all: the page ends before the record that would pass it. The first
   * record is returned whatever its size, so a client paging on always moves forward.
   */
  maxBytes: number;
}

/** A page read within a PageBound. */
export interface RecordPage {
  records: HistoryRecord[];
  /** A further record was there but left out for `maxBytes`: the next page starts with it. */
  cut: boolean;
}

/**
 * Where a read by video position starts: the records at `progress` whose offset is above
 * `after`, then those of every higher progress. `after` 0 takes every record at `progress`.
 */
export interface ProgressCursor {
  progress: number;
  after: number;
}

/** Retention of one room type: at most `keep` records per room and none older than `maxAgeMs`. */
export interface PruneRule {
  /** The room key prefix, e.g. "live://". */
  prefix: string;
  keep: number;
  maxAgeMs: number;
}

export interface HistoryStore {
  /**
   * Calls run one after another in the order they were made (a single connection or thread):
   * the job's writer may then have a second call waiting behind the first. Unset: calls may
   * overlap, and the writer makes one at a time.
   */
  readonly serial?: boolean;
  /**
   * The room's state and the ids of its newest `recent` records; an unknown room is created
   * with a fresh epoch starting at offset 1.
   */
  open(room: string, recent: number): Promise<RoomOpen>;
  /**
   * Stores every batch in one transaction. A batch must continue its room's epoch without a
   * gap (first offset = last + 1); a record whose offset is already stored with the same id is
   * skipped. Anything else rejects the whole call and stores nothing.
   */
  append(batches: AppendBatch[]): Promise<void>;
  /**
   * Starts epoch `epoch` for `room` at offset `start` (> last): the history before it is no
   * longer continuous. `start` = 1 restarts a room whose offsets reached the u32 wire limit
   * (docs/history.md#offsets-and-epochs): its stored records are removed.
   */
  newEpoch(room: string, epoch: string, start: number): Promise<RoomHistory>;
  /** The room's state, or null when it has no history. */
  state(room: string): Promise<RoomHistory | null>;
  /** Records with offset > `after` (any epoch), oldest first, at most `limit`. */
  after(room: string, after: number, limit: number): Promise<HistoryRecord[]>;
  /**
   * The records `after` would read, within `bound`: at most `bound.limit`, ending before the
   * record whose body would take the page past `bound.maxBytes`. The bodies of records left
   * out are not read.
   */
  pageAfter(room: string, after: number, bound: PageBound): Promise<RecordPage>;
  /** The newest `n` records of the current epoch, oldest first. */
  latest(room: string, n: number): Promise<HistoryRecord[]>;
  /**
   * Records from `from` on whose progress is below `toMs`, by progress then offset, within
   * `bound` (as pageAfter).
   */
  byProgress(room: string, from: ProgressCursor, toMs: number, bound: PageBound): Promise<RecordPage>;
  /** Applies retention; resolves to the number of records removed. */
  prune(rules: PruneRule[], nowMs: number): Promise<number>;
  close(): Promise<void>;
}

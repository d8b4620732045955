// Reads of room history for logic (docs/history.md#replay, #history-over-http): what a joining
// connection is replayed, and the pages of the HTTP history API. Only room types with
// `history` on are read; the store is never written here (rooms are opened by the job).
import type { HistoryRoomTypes } from '../config/history-settings.js';
import type { HistoryRecord, HistoryReply, HistoryRequest, HistoryStore, PageBound, ProgressCursor, RoomHistory } from '../ports/index.js';
import { roomTypeOf } from '../protocol/room-key.js';

/** A room whose type keeps no history, for a joiner: comet sends nothing extra. */
const NO_HISTORY: HistoryReply = { epoch: '', first: 1, last: 0, records: [], recovered: true };

/** A room type the HTTP API was asked about that keeps no history. */
export class NoHistoryError extends Error {
  override name = 'NoHistoryError';
}

/** One page of the HTTP history API. */
export interface HistoryPage {
  room: string;
  /** '' when the room has no history yet. */
  epoch: string;
  /** Lowest retained and newest stored offset of the current epoch. */
  first: number;
  last: number;
  /** Where the next page starts: `since` for /room, `from` for /progress. */
  next: number;
  /** /progress only: the next page's `after` (its records at progress `next` have a higher offset). */
  after?: number;
  records: HistoryRecord[];
  /** Every record this page could hold is stored: the answer will not change (cacheable). */
  closed: boolean;
}

/**
 * The joins of one room whose state is being read: they share that read and then one read of
 * records, so a comet restart that brings thousands of clients back to a room at once costs the
 * store two reads per wave instead of two per client (docs/history.md#replay). A join arriving
 * once the state is read starts the next flight: no answer is older than its request.
 */
class Flight {
  private sinceWanted = Infinity;
  private lastWanted = 0;
  private afterRead: Promise<HistoryRecord[]> | undefined;
  private latestRead: Promise<HistoryRecord[]> | undefined;

  constructor(
    private readonly store: HistoryStore,
    private readonly room: string,
    readonly state: Promise<RoomHistory | null>,
  ) {}

  /**
   * Everything after `since` up to `state.last` (at most `limit` records). Joins resume from the
   * state read together, so the read waits one microtask for all of them to say what they need.
   */
  after(since: number, state: RoomHistory): Promise<HistoryRecord[]> {
    this.sinceWanted = Math.min(this.sinceWanted, since);
    this.afterRead ??= Promise.resolve().then(() => this.store.after(this.room, this.sinceWanted, state.last - this.sinceWanted));
    return this.afterRead.then((records) => {
      let i = 0;
      while (i < records.length && records[i].offset <= since) i++;
      return i === 0 ? records : records.slice(i);
    });
  }

  /** The newest `n` records of the current epoch. */
  latest(n: number): Promise<HistoryRecord[]> {
    this.lastWanted = Math.max(this.lastWanted, n);
    this.latestRead ??= Promise.resolve().then(() => this.store.latest(this.room, this.lastWanted));
    return this.latestRead.then((records) => (records.length > n ? records.slice(records.length - n) : records));
  }
}

export class HistoryReader {
  private readonly flights = new Map<string, Flight>();

  constructor(
    private readonly store: HistoryStore,
    private readonly types: HistoryRoomTypes,
  ) {}

  /** The flight of `room`'s joins whose state read is still running, or a new one. */
  private flight(room: string): Flight {
    const f = this.flights.get(room);
    if (f !== undefined) return f;
    const state = this.store.state(room);
    const flight = new Flight(this.store, room, state);
    this.flights.set(room, flight);
    const end = (): void => {
      if (this.flights.get(room) === flight) this.flights.delete(room);
    };
    state.then(end, end);
    return flight;
  }

  /** Whether rooms of `type` keep history. */
  keeps(type: string): boolean {
    return this.types.has(type);
  }

  /**
   * What a connection joining `req.room` is replayed: the newest min(last, replayMax, limit)
   * records, or everything after `since` when `epoch` is current, `since + 1` is still stored
   * and no more than the cap is missing (else recovered false, and the client pages HTTP).
   */
  async replay(req: HistoryRequest): Promise<HistoryReply> {
    const type = this.types.get(roomTypeOf(req.room));
    // A key with NUL is never numbered by the job (no store can hold it).
    if (type === undefined || req.room.includes('\0')) return NO_HISTORY;
    const f = this.flight(req.room);
    const state = await f.state;
    // A room nothing was sent to yet has no epoch; creating one here would let any client
    // create rows by joining made-up rooms, so it stays the job's to open.
    if (state === null) return NO_HISTORY;
    // No more than the room keeps either: what retention removes next is not replayed.
    const cap = Math.max(0, Math.min(type.replayMax, type.keep, Math.trunc(req.limit)));
    const base = { epoch: state.epoch, first: state.first, last: state.last, cap };
    if (req.since !== undefined) {
      if (req.epoch !== state.epoch) return { ...base, records: [], recovered: false, reason: 'epoch changed' };
      const since = req.since;
      if (since === state.last) return { ...base, records: [], recovered: true };
      // Past what the store holds: it is behind (comet reads again), or the offsets were handed out
      // again after a loss the store does not know of — never answer "recovered" for that.
      if (since > state.last) return { ...base, records: [], recovered: false, reason: 'ahead' };
      if (since + 1 < state.first || state.last - since > cap) return { ...base, records: [], recovered: false, reason: 'gap too large' };
      return { ...base, records: replayRecords(await f.after(since, state)), recovered: true };
    }
    const n = Math.min(Math.max(0, Math.trunc(req.last)), cap);
    return { ...base, records: n > 0 ? replayRecords(await f.latest(n)) : [], recovered: true };
  }

  /**
   * Records of `room` after `since`, oldest first, within `bound`. Closed when it ended at a
   * bound (`limit` records, or the byte budget before a further record): every record it can
   * hold is stored.
   */
  async page(type: string, room: string, since: number, bound: PageBound): Promise<HistoryPage> {
    const state = await this.state(type, room);
    const { records, cut } = await this.store.pageAfter(room, since, bound);
    const next = records.length > 0 ? records[records.length - 1].offset : since;
    return { room, ...pageState(state), next, records, closed: cut || records.length === bound.limit };
  }

  /**
   * Records from the cursor `from` (progress, and the offset after which its records at that
   * progress continue) whose progress is below `to`, by progress then offset, within `bound`.
   * When the page ended at a bound, the next page starts after its last record: `next` is that
   * record's progress and `after` its offset, so records sharing one progress are paged like any
   * others. Otherwise the range is done: `next` is `to`, `after` 0.
   */
  async progress(type: string, room: string, from: ProgressCursor, to: number, bound: PageBound): Promise<HistoryPage> {
    const state = await this.state(type, room);
    const { records, cut } = await this.store.byProgress(room, from, to, bound);
    const last = records.length > 0 ? records[records.length - 1] : undefined;
    const more = last !== undefined && (cut || records.length === bound.limit);
    const next = more ? { next: last.progress ?? from.progress, after: last.offset } : { next: to, after: 0 };
    // Never cacheable: progress is what senders say, not the order records arrive in, so a
    // danmaku for any position may still come.
    return { room, ...pageState(state), ...next, records, closed: false };
  }

  private async state(type: string, room: string): Promise<RoomHistory | null> {
    if (!this.types.has(type)) throw new NoHistoryError(`room type ${JSON.stringify(type)} keeps no history`);
    if (room.includes('\0')) throw new NoHistoryError('a room id with NUL keeps no history');
    return this.store.state(room);
  }
}

function pageState(state: RoomHistory | null): { epoch: string; first: number; last: number } {
  return state === null ? { epoch: '', first: 1, last: 0 } : { epoch: state.epoch, first: state.first, last: state.last };
}

function replayRecords(records: HistoryRecord[]): HistoryReply['records'] {
  return records.map((r) => ({ offset: r.offset, op: r.op, body: r.body }));
}

// Replay to a connection that opted in to room history when it joins a room (docs/history.md#replay):
// it is in the room at once, its live batches are held while logic reads the history, then it
// gets op 18 (RoomState), the records oldest first, and the held batches past the last record.
// The job stores records behind fan-out: a read that has not caught up with what this comet
// already delivered in the room is completed from the room's tail (room-tail.ts), or else
// repeated a few times. A joiner asking for the last N is served from the tail alone when it
// holds them.
//
// A multi-room connection (docs/protocol.md#several-rooms) replays per room: each joined room's
// hold sits on its seat, everything it writes is enveloped (op 23) with the room, and its
// history reads wait for one another (one read per connection at a time), sharing one bound on
// the bytes held.
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../log.js';
import type { HistoryAsk, HistoryReply, LogicService } from '../ports/index.js';
import { HEADER_LEN, writeHeader } from '../protocol/frame.js';
import { Op } from '../protocol/ops.js';
import { roomTypeOf } from '../protocol/room-key.js';
import type { Connection } from './connection.js';
import { batchAfter, frameBytes, PushBytes, roomEnvelope, scanBatch } from './frame-bytes.js';
import { Limit, type LimitLog } from './limit-log.js';
import type { Outbound } from './outbound.js';
import type { Room, Seat } from './room.js';
import type { RoomTail, RoomTails } from './room-tail.js';
import { MAX_ROOM_KEY_BYTES } from './room-requests.js';

/** Most records one join asks logic for; the room type's replayMax caps it further. */
export const REPLAY_LIMIT = 1000;
/**
 * Reads while the store is behind what this comet delivered or holds: up to 40 × 50 ms. The job
 * stores behind fan-out, by a few ms normally and by more under load; the hold bound caps the
 * memory this costs.
 */
const READ_ATTEMPTS = 40;
const READ_RETRY_MS = 50;
/** Replayed records are written in pushes of about this size (each must fit the send queue). */
const RECORD_CHUNK_BYTES = 64 << 10;
/** How long a room type's cap from logic is used without asking again. */
const CAP_TTL_MS = 30_000;
/** Least time between two reads meant to fill one room's tail (they fail to while the store is behind the tail). */
const WINDOW_RETRY_MS = 1000;
/**
 * A joined room's replay is written once the connection's send queue has room for it (the
 * rooms of one join are replayed one after another): looked at every FINISH_WAIT_MS, at most
 * FINISH_WAITS times; then its records are cut to the room there is.
 */
const FINISH_WAIT_MS = 20;
const FINISH_WAITS = 100;
/** Bytes an op-23 envelope adds to a chunk of replayed frames, at most (header, length, key). */
const ENVELOPE_BYTES = HEADER_LEN + 2 + MAX_ROOM_KEY_BYTES;

/** The live batches held for one connection while its replay is read. */
export class ReplayHold {
  readonly batches: PushBytes[] = [];
  bytes = 0;

  constructor(
    readonly room: Room,
    /** The room's highest delivered offset when the connection joined: the history must reach it. */
    readonly joinOffset: number,
    readonly ask: HistoryAsk,
    /** The seat it sits on (a multi-room connection: enveloped output); null: the connection's one room. */
    public seat: Seat | null = null,
  ) {}

  /**
   * The offset the history must reach for the replay and the held batches to join without a
   * gap: what the room had delivered here at the join, or just before the first batch held
   * since (the room may have had no member here before, after a restart).
   */
  needed(): number {
    return Math.max(this.joinOffset, this.heldFrom() ?? 0, this.ask.since ?? 0);
  }

  /** One less than the first offset held; undefined when nothing held carries one. */
  heldFrom(): number | undefined {
    for (const b of this.batches) {
      const first = scanBatch(b.proto.body).first;
      if (first > 0) return first - 1;
    }
    return undefined;
  }
}

export interface ReplaysOptions {
  logic: LogicService;
  log: Logger;
  out: Outbound;
  clock: Clock;
  limitLog: LimitLog;
  /** Most live bytes held for one connection; past it the replay is given up. */
  holdBytes: number;
  /** Most bytes of records replayed on one join; past it the oldest are left out. */
  recordBytes: number;
  /** The rooms' recent records as delivered here (fanout.ts feeds them). */
  tails: RoomTails<Room>;
}

/** Where joins' records came from (metrics). */
export interface ReplayReads {
  /** Served from the room's tail without a history read. */
  cache: number;
  /** History reads (calls to logic). */
  store: number;
  /** History reads behind what was delivered here, completed from the tail instead of read again. */
  completed: number;
}

/** A replay built from a room tail, with its encoded records per transport once built. */
interface TailReplay {
  version: number;
  n: number;
  reply: HistoryReply;
  tcp?: Buffer[];
  ws?: Buffer[];
}

/** What op 18 tells a joining connection (docs/history.md#opting-in). */
interface RoomState {
  room: string;
  epoch: string;
  first: number;
  last: number;
  recovered: boolean;
  reason?: string;
}

/** The bytes of the records as frames. */
function recordsSize(records: HistoryReply['records']): number {
  let size = 0;
  for (const r of records) size += HEADER_LEN + r.body.length;
  return size;
}

/** The newest records whose frames fit in `budget` bytes, oldest first. */
function newestWithin(records: HistoryReply['records'], budget: number): HistoryReply['records'] {
  let size = 0;
  let i = records.length;
  while (i > 0 && size + HEADER_LEN + records[i - 1].body.length <= budget) size += HEADER_LEN + records[--i].body.length;
  return i === 0 ? records : records.slice(i);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class Replays {
  /** Replays ended, by result: recovered, no_history, or the op-18 reason with _ for spaces (metrics). */
  readonly results: Record<string, number> = {};

  readonly reads: ReplayReads = { cache: 0, store: 0, completed: 0 };

  /** Whether logic's last reply for a room with history carried a cap; undefined before any. */
  private capSent: boolean | undefined = undefined;
  /** Reads filling a room's tail, shared by the joins waiting for them. */
  private readonly windows = new Map<Room, Promise<void>>();

  /** Connections with a history read in flight. */
  private readonly reading = new WeakSet<Connection>();
  /** The joined room's replay a multi-room connection is being served (one at a time, from read to written). */
  private readonly active = new WeakMap<Connection, ReplayHold>();
  /** Joined rooms' replays waiting for the active one (at most one per seat the connection holds). */
  private readonly queued = new WeakMap<Connection, ReplayHold[]>();
  /**
   * Room type → most records one joiner is replayed and when logic said so (types with history
   * only). Trusted for CAP_TTL_MS: a changed room type is heard at the next read after that.
   */
  private readonly caps = new Map<string, { cap: number; at: number }>();

  constructor(private readonly opts: ReplaysOptions) {}

  /** `c` (opted in) has just joined its room: hold its live batches and read the history. */
  start(c: Connection, ask: HistoryAsk): void {
    const room = c.room;
    if (room === null) return;
    if (this.reading.has(c)) {
      // One history read per connection at a time: room hopping cannot multiply store reads.
      c.replay = null;
      this.count('busy');
      this.state(c, null, { room: room.id, epoch: '', first: room.offset + 1, last: room.offset, recovered: false, reason: 'busy' });
      return;
    }
    const hold = new ReplayHold(room, room.offset, ask);
    c.replay = hold;
    this.begin(c, hold);
  }

  /**
   * `c` (opted in, multi-room) has just taken `seat`: hold the room's live batches for it from
   * now on; its replay is read and written once the connection's earlier ones are done.
   */
  startSeat(c: Connection, seat: Seat, ask: HistoryAsk): void {
    const hold = new ReplayHold(seat.room, seat.room.offset, ask, seat);
    seat.replay = hold;
    let q = this.queued.get(c);
    if (q === undefined) this.queued.set(c, (q = []));
    q.push(hold);
    this.pump(c);
  }

  /**
   * `c` has just become multi-room while its room's replay is read: the replay goes on in that
   * room's seat, and what it writes from now on is enveloped like the room's live batches.
   */
  toSeat(c: Connection): void {
    const h = c.replay;
    const seat = h === null ? undefined : c.seats?.get(h.room.id);
    if (h === null || seat === undefined) return;
    c.replay = null;
    h.seat = seat;
    seat.replay = h;
    this.active.set(c, h);
  }

  /** `seat` was left: its replay (running or waiting) ends now, with what it held. */
  dropSeat(c: Connection, seat: Seat): void {
    const h = seat.replay;
    if (h === null) return;
    const q = this.queued.get(c);
    if (q !== undefined) {
      const i = q.indexOf(h);
      if (i >= 0) q.splice(i, 1);
    }
    this.complete(c, h);
  }

  /** The connection left its one room: its replay there ends now, with what it held. */
  drop(c: Connection): void {
    if (c.replay !== null) this.complete(c, c.replay);
  }

  /** Served from the tail, from a read shared by the room's joiners, or from a read of its own. */
  private begin(c: Connection, hold: ReplayHold): void {
    if (this.fromTail(c, hold)) return;
    const window = this.windowRead(hold.room);
    if (window === null) {
      this.read(c, hold, 1);
      return;
    }
    // Many joiners of one room at once (a comet restart, a join storm): one read fills the
    // room's tail with what it may replay, and each of them is served from there.
    this.reading.add(c);
    void window.then(() => {
      this.settled(c);
      if (!this.current(c, hold)) this.complete(c, hold);
      else if (!this.fromTail(c, hold)) this.read(c, hold, 1);
    });
  }

  /** `c`'s history read is over: another may start. */
  private settled(c: Connection): void {
    this.reading.delete(c);
    this.pump(c);
  }

  /**
   * Starts the next joined room's replay of `c` when none is being served and no read is in
   * flight; those whose room was left meanwhile are let go.
   */
  private pump(c: Connection): void {
    const q = this.queued.get(c);
    while (q !== undefined && q.length > 0 && !this.active.has(c) && !this.reading.has(c)) {
      const h = q.shift()!;
      if (!this.current(c, h)) {
        this.end(c, h);
        continue;
      }
      this.active.set(c, h);
      this.begin(c, h);
    }
    if (q?.length === 0) this.queued.delete(c);
  }

  /** Whether `h` is still the replay its connection (or its seat) waits for. */
  private current(c: Connection, h: ReplayHold): boolean {
    if (h.seat === null) return c.replay === h;
    return h.seat.replay === h && c.seats?.get(h.room.id) === h.seat;
  }

  /** `h` holds no more: let go of it and of the bytes it counted (idempotent). */
  private end(c: Connection, h: ReplayHold): void {
    if (h.seat === null) {
      if (c.replay === h) c.replay = null;
    } else if (h.seat.replay === h) h.seat.replay = null;
    c.replayHeld -= h.bytes;
    h.bytes = 0;
  }

  /** `h` is over (written, given up, or no longer wanted): the connection's next one may start. */
  private complete(c: Connection, h: ReplayHold): void {
    this.end(c, h);
    if (this.active.get(c) !== h) return;
    this.active.delete(c);
    this.pump(c);
  }

  /** A room batch (or replayed frames) of `h`'s room, enveloped for a seat. */
  private emit(c: Connection, h: ReplayHold, bytes: PushBytes): void {
    const b = h.seat === null ? bytes : roomEnvelope(h.room.id, bytes);
    this.opts.out.push(c, c.isWs ? b.ws() : b.tcp());
  }

  /**
   * The read filling `room`'s tail with the newest stored records it may replay, shared by the
   * joins arriving meanwhile; null when there is none to share: the tail follows no live
   * records yet (stored records could not be joined to them), already holds what one join may
   * replay, or was tried less than a second ago.
   */
  private windowRead(room: Room): Promise<void> | null {
    const shared = this.windows.get(room);
    if (shared !== undefined) return shared;
    const t = this.opts.tails.get(room);
    const known = this.caps.get(roomTypeOf(room.id));
    if (t === undefined || t.count === 0 || t.complete || (known !== undefined && t.count >= known.cap)) return null;
    // A logic that sends no cap (an older one) makes nothing read servable from the tail.
    if (known === undefined && this.capSent === false) return null;
    const now = this.opts.clock.now();
    if (now - t.windowAt < WINDOW_RETRY_MS) return null;
    t.windowAt = now;
    this.reads.store++;
    let p: Promise<HistoryReply>;
    try {
      p = this.opts.logic.history({ room: room.id, last: REPLAY_LIMIT, limit: REPLAY_LIMIT });
    } catch (err) {
      p = Promise.reject(err);
    }
    const done = p.then(
      (r) => {
        this.windows.delete(room);
        this.learned(room, r);
      },
      () => {
        this.windows.delete(room);
      },
    );
    this.windows.set(room, done);
    return done;
  }

  /** What a history reply teaches about the room: its type's cap, its tail's epoch and older records. */
  private learned(room: Room, r: HistoryReply): void {
    const type = roomTypeOf(room.id);
    if (r.epoch === '') {
      this.caps.delete(type);
      return;
    }
    this.capSent = r.cap !== undefined;
    if (r.cap !== undefined) this.caps.set(type, { cap: r.cap, at: this.opts.clock.now() });
    const t = this.opts.tails.get(room);
    if (t === undefined) return;
    t.learn(r);
    this.opts.tails.seed(room, r.epoch, r.records);
    t.reachesBack(r.epoch, r.first);
  }

  /**
   * A `last N` join served from the room's tail when it holds the newest N (or all of its
   * epoch) and reaches what was delivered here; false: read the history.
   */
  private fromTail(c: Connection, h: ReplayHold): boolean {
    const { ask } = h;
    if (ask.since === undefined && ask.last <= 0) return false;
    const t = this.opts.tails.get(h.room);
    const known = this.caps.get(roomTypeOf(h.room.id));
    if (t === undefined || known === undefined || this.opts.clock.now() - known.at > CAP_TTL_MS) return false;
    const cap = known.cap;
    if (!this.tailServes(t, h, cap)) return false;
    // After the op-8 reply, like a read: the tail may have moved on (the batches held meanwhile are in it).
    c.afterReplies(() => {
      if (!this.current(c, h)) {
        this.complete(c, h);
        return;
      }
      if (this.opts.tails.get(h.room) !== t || !this.tailServes(t, h, cap)) {
        this.read(c, h, 1);
        return;
      }
      this.reads.cache++;
      if (ask.since !== undefined) {
        this.finish(c, h, { epoch: t.epoch, first: t.first, last: t.last, records: t.slice(ask.since + 1), recovered: true, cap });
        return;
      }
      // Every joiner of the room until its tail changes gets the same records: read and encode them once.
      const n = Math.min(ask.last, cap);
      let m = t.memo as TailReplay | null;
      if (m === null || m.version !== t.version || m.n !== n) {
        m = { version: t.version, n, reply: { epoch: t.epoch, first: t.first, last: t.last, records: t.newest(n), recovered: true } };
        t.memo = m;
      }
      this.finish(c, h, m.reply, m);
    });
    return true;
  }

  /**
   * The tail reaches what was delivered here and back to the join (an epoch that began after the
   * join leaves records of the old one among the held batches: read instead), and holds the n.
   */
  private tailServes(t: RoomTail, h: ReplayHold, cap: number): boolean {
    if (t.epoch === '' || t.last !== h.room.offset || t.last < h.needed() || t.first > h.joinOffset + 1) return false;
    const { since, epoch, last } = h.ask;
    // A `since` the store would answer "recovered" with everything after it (logic's rules, history.md#replay);
    // every other answer is left to logic.
    // Only in an epoch the store was seen to number as the tail does (an announced one may never be written).
    if (since !== undefined) return t.confirmed && epoch === t.epoch && since >= t.first - 1 && since <= t.last && t.last - since <= cap;
    return t.count >= Math.min(last, cap) || t.complete;
  }

  /**
   * A reply behind what this comet delivered (or holds), completed with the tail's newer records
   * when the tail is of the reply's epoch and continues it without a gap; null when it cannot.
   */
  private completed(h: ReplayHold, r: HistoryReply): HistoryReply | null {
    const t = this.opts.tails.get(h.room);
    // Without logic's cap the number of records it allows is unknown.
    if (r.cap === undefined || t === undefined || t.epoch !== r.epoch || t.count === 0 || t.first > r.last + 1 || t.last < h.needed()) return null;
    // Stored records older than the tail, then the tail (for `since`, only past it).
    const from = h.ask.since !== undefined ? Math.max(t.first, h.ask.since + 1) : t.first;
    const records = [...r.records.filter((x) => x.offset < t.first), ...t.slice(from)];
    if (h.ask.since !== undefined) {
      // Everything after `since`: logic checked the gap to its own last; the whole gap must fit its cap too.
      return records.length <= r.cap ? { ...r, last: t.last, records } : null;
    }
    const keep = Math.min(h.ask.last, r.cap);
    return { ...r, last: t.last, records: records.length > keep ? records.slice(records.length - keep) : records };
  }

  /**
   * A live batch for `c` while its replay is read (fanout.ts): of its one room, or of `seat`'s.
   * What one connection holds, over all its replays, is bounded by holdBytes.
   */
  hold(c: Connection, bytes: PushBytes, seat?: Seat): void {
    const h = seat === undefined ? c.replay! : seat.replay!;
    const size = bytes.proto.body.length;
    if (c.replayHeld + size <= this.opts.holdBytes) {
      h.bytes += size;
      c.replayHeld += size;
      h.batches.push(bytes);
      return;
    }
    // Past the bound: live goes on for this connection, without the replay.
    this.end(c, h);
    this.count('overflow');
    this.opts.limitLog.hit(Limit.ReplayHold, { key: c.key, room: h.room.id, holdBytes: this.opts.holdBytes });
    const last = h.heldFrom() ?? h.joinOffset;
    this.state(c, h, { room: h.room.id, epoch: '', first: last + 1, last, recovered: false, reason: 'overflow' });
    for (const b of h.batches) this.emit(c, h, b);
    this.emit(c, h, bytes);
    this.complete(c, h);
  }

  private read(c: Connection, h: ReplayHold, attempt: number): void {
    const { ask } = h;
    let p: Promise<HistoryReply>;
    this.reading.add(c);
    this.reads.store++;
    try {
      p = this.opts.logic.history({ room: h.room.id, last: ask.last, since: ask.since, epoch: ask.epoch, limit: REPLAY_LIMIT });
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (r) => {
        this.settled(c);
        if (!this.current(c, h)) {
          // closed, moved on, or given up meanwhile
          this.complete(c, h);
          return;
        }
        if (r.epoch === '') {
          // The room keeps no history: nothing extra, the held batches as they came.
          this.learned(h.room, r);
          this.end(c, h);
          this.count('no_history');
          for (const b of h.batches) this.emit(c, h, b);
          this.complete(c, h);
          return;
        }
        this.learned(h.room, r);
        const done = r.recovered && r.last < h.needed() ? this.completed(h, r) : null;
        if (done !== null) {
          this.reads.completed++;
          c.afterReplies(() => this.finish(c, h, done));
          return;
        }
        // A join asking for nothing (`last` 0) only learns where the room stands: no reason to wait for the store.
        const wants = h.ask.last > 0 || h.ask.since !== undefined;
        if (wants && (r.recovered || r.reason === 'ahead') && r.last < h.needed() && attempt < READ_ATTEMPTS) {
          this.opts.clock.setTimeout(() => {
            if (this.current(c, h)) this.read(c, h, attempt + 1);
            else this.complete(c, h);
          }, READ_RETRY_MS);
          return;
        }
        c.afterReplies(() => this.finish(c, h, r));
      },
      (err) => {
        this.settled(c);
        if (!this.current(c, h)) {
          this.complete(c, h);
          return;
        }
        this.opts.log.warn({ key: c.key, room: h.room.id, err: message(err) }, 'comet: reading the room history failed');
        c.afterReplies(() => this.fail(c, h));
      },
    );
  }

  /**
   * op 18, the records, then the held batches past the last record. A joined room's replay
   * waits until the connection's send queue has room for it (the rooms of one join come one
   * after another, and each may bring up to recordBytes), then cuts its records to that room.
   */
  private finish(c: Connection, h: ReplayHold, r: HistoryReply, memo?: TailReplay, waited = 0): void {
    if (!this.current(c, h)) {
      this.complete(c, h);
      return;
    }
    let budget = this.opts.recordBytes;
    if (h.seat !== null) {
      const held = h.bytes + h.batches.length * ENVELOPE_BYTES;
      const envelopes = Math.ceil(budget / RECORD_CHUNK_BYTES + 1) * ENVELOPE_BYTES;
      const wanted = Math.min(budget, recordsSize(r.records)) + envelopes;
      if (c.open && !this.opts.out.fits(c, wanted + held) && waited < FINISH_WAITS) {
        this.opts.clock.setTimeout(() => this.finish(c, h, r, memo, waited + 1), FINISH_WAIT_MS);
        return;
      }
      budget = Math.max(0, Math.min(budget, this.opts.out.pushSpace(c) - held - envelopes));
    }
    this.end(c, h);
    let recovered = r.recovered;
    let reason = r.reason;
    // Bounded bytes: the newest records that fit. A `since` request cut this way has a gap.
    const records = newestWithin(r.records, budget);
    if (records.length < r.records.length && h.ask.since !== undefined && recovered) {
      recovered = false;
      reason = 'too large';
    }
    let first: number;
    let last: number;
    if (records.length > 0) {
      first = records[0].offset;
      last = records[records.length - 1].offset;
    } else if (h.ask.since !== undefined && recovered) {
      last = h.ask.since;
      first = last + 1;
    } else {
      // Nothing replayed: the client's position is just before what it receives next.
      last = h.heldFrom() ?? Math.max(h.joinOffset, r.last);
      first = last + 1;
    }
    // The store never caught up with what was delivered before the join: a gap.
    if (recovered && (h.ask.last > 0 || h.ask.since !== undefined) && r.last < h.needed()) {
      recovered = false;
      reason = 'store behind';
    }
    this.count(recovered ? 'recovered' : (reason ?? 'unknown'));
    this.state(c, h, { room: h.room.id, epoch: r.epoch, first, last, recovered, ...(reason !== undefined && !recovered ? { reason } : {}) });
    // A seat's records go in envelopes, which carry TCP's frames on both transports.
    const ws = c.isWs && h.seat === null;
    let chunks: Buffer[];
    if (memo === undefined || records !== r.records) chunks = encodeRecords(records, ws);
    else if (ws) chunks = memo.ws ??= encodeRecords(records, true);
    else chunks = memo.tcp ??= encodeRecords(records, false);
    if (h.seat === null) for (const chunk of chunks) this.opts.out.push(c, chunk);
    else for (const chunk of chunks) this.emit(c, h, rawBatch(chunk));
    for (const b of h.batches) {
      const body = batchAfter(b.proto.body, last);
      this.emit(c, h, body === null ? b : new PushBytes({ ...b.proto, body }));
    }
    this.complete(c, h);
  }

  /** Logic failed: recovered false, live goes on. */
  private fail(c: Connection, h: ReplayHold): void {
    if (!this.current(c, h)) {
      this.complete(c, h);
      return;
    }
    this.end(c, h);
    this.count('unavailable');
    const last = h.heldFrom() ?? h.joinOffset;
    this.state(c, h, { room: h.room.id, epoch: '', first: last + 1, last, recovered: false, reason: 'unavailable' });
    for (const b of h.batches) this.emit(c, h, b);
    this.complete(c, h);
  }

  private count(result: string): void {
    const key = result.replaceAll(' ', '_');
    this.results[key] = (this.results[key] ?? 0) + 1;
  }

  /** Op 18 to the joiner, in reply space (it must not be dropped); a seat's in its room's envelope. */
  private state(c: Connection, h: ReplayHold | null, s: RoomState): void {
    const body = Buffer.from(JSON.stringify(s));
    if (h?.seat == null) {
      this.opts.out.reply(c, frameBytes(c.isWs, Op.RoomState, 1, 0, body));
      return;
    }
    const env = roomEnvelope(h.room.id, rawBatch(frameBytes(false, Op.RoomState, 1, 0, body)));
    this.opts.out.reply(c, c.isWs ? env.ws() : env.tcp());
  }
}

/** Frames as TCP carries them, as a room batch (an op-9 proto). */
function rawBatch(frames: Buffer): PushBytes {
  return new PushBytes({ ver: 1, op: Op.Raw, seq: 0, body: frames });
}

/** The records as room frames (op = record op, seq = offset), in pushes of about RECORD_CHUNK_BYTES: bare on TCP, in op-9 envelopes on WebSocket. */
function encodeRecords(records: HistoryReply['records'], ws: boolean): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < records.length) {
    let size = 0;
    let j = i;
    do size += HEADER_LEN + records[j++].body.length;
    while (j < records.length && size + HEADER_LEN + records[j].body.length <= RECORD_CHUNK_BYTES);
    const body = Buffer.allocUnsafe(size);
    let at = 0;
    for (let k = i; k < j; k++) {
      const rec = records[k];
      writeHeader(body, at, rec.body.length, 1, rec.op, rec.offset);
      body.set(rec.body, at + HEADER_LEN);
      at += HEADER_LEN + rec.body.length;
    }
    out.push(ws ? frameBytes(true, Op.Raw, 1, 0, body) : body);
    i = j;
  }
  return out;
}

// Offsets for the rooms of history-enabled types (docs/history.md#offsets-and-epochs).
//
// The job owning a room's queue partition sees the room's messages in queue order and numbers
// them here: at a room's first message it opens the room in the store (epoch, last offset,
// the ids of its newest records) and holds the room's messages until that answers (bounded:
// job.maxPending messages in all, and `openWait` — history.writeWait — after which they go
// out as if the open had failed); then each message gets offset last + 1. A message whose id is known — stored before (open's recent ids) or numbered
// by this job (a redelivery after a failed fan-out) — keeps its offset and is not stored again,
// so a new owner numbers redelivered messages exactly as the first did.
//
// Store down at open: the room's messages go out with seq 0 (unrecorded) and the open is
// retried with a back-off, without holding messages again; once it succeeds the room starts a new epoch, since messages went
// out that the history lacks. A new epoch (that case, records dropped by the writer, or the
// u32 wire offset running out) is announced at once inside the room's stream with an op-18
// frame and persisted by the writer before the room's next records.
import type { Clock, ClockTimer } from '../lib/clock.js';
import type { Logger } from '../log.js';
import type { HistoryStore, PushMsg, RoomOpen } from '../ports/index.js';
import { boundedCall, type HistoryWriter } from './history-writer.js';
import { ROOM_STATE_OP, roomStateBody } from './push-frame.js';
import { newEpochName } from '../lib/epoch-name.js';
import { UniqueIds } from '../lib/unique-id.js';

/** Ids for messages that came without one (a goim logic's PushMsg). */
const localIds = new UniqueIds();

/** Frame seqs are u32 (docs/history.md#offsets-and-epochs): the highest offset a frame can carry. */
const MAX_WIRE_OFFSET = 0xffff_ffff;
/** First wait before a failed open is retried; doubles per failure up to OPEN_RETRY_MAX_MS. */
const OPEN_RETRY_MS = 100;
const OPEN_RETRY_MAX_MS = 5000;

/** Sends one room message (or op-18 frame) with inner frame seq `seq`; resolves once the comets accepted its batch. */
export type DeliverRoom = (room: string, operation: number, body: Uint8Array, seq: number) => Promise<void>;

export interface RoomSequencerOptions {
  store: HistoryStore;
  writer: HistoryWriter;
  /** Ids of a room's newest records read at open (history.recentIds); also how many numbered ids a room remembers. */
  recentIds: number;
  /** A room with nothing pending for this long forgets its state (reopened at its next message). */
  idle: number;
  /** Longest a room's messages are held while it opens; then they go out without offsets (history.writeWait). */
  openWait: number;
  clock: Clock;
  log: Logger;
  deliver: DeliverRoom;
}

export interface RoomSequencerStats {
  /** Failed opens, and opens unanswered within openWait (the room's messages went out without offsets meanwhile). */
  openFailures: number;
  /** New epochs started by this job (open after an outage, records dropped, offsets wrapped). */
  epochsStarted: number;
}

interface Waiting {
  msg: PushMsg;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Known {
  offset: number;
  /** Settles once its record is stored (or dropped); already settled for ids read at open. */
  stored: Promise<void>;
}

interface RoomSeq {
  status: 'opening' | 'open' | 'down';
  epoch: string;
  /** The last offset handed out. */
  last: number;
  /** id → offset, at most recentIds: each live entry is also in the ring. */
  ids: Map<string, Known>;
  /**
   * The ids remembered, oldest overwritten first (ring[i] beside known[i]); a slot whose id now
   * maps to another Known is stale. Dropping the Map's oldest key instead walks the holes V8
   * leaves at its front, on every message.
   */
  ring: string[];
  ringKnown: Known[];
  ringPos: number;
  waiting: Waiting[];
  /** Messages went out unrecorded: start a new epoch once open. */
  newEpochDue: boolean;
  retryDelay: number;
  retryTimer: ClockTimer | null;
  /** Ends the hold of a first open that takes longer than openWait. */
  holdTimer: ClockTimer | null;
  lastActive: number;
}

const DONE = Promise.resolve();

const noop = (): void => {};

export class RoomSequencer {
  private readonly rooms = new Map<string, RoomSeq>();
  private readonly store: HistoryStore;
  private readonly writer: HistoryWriter;
  private readonly recentIds: number;
  private readonly idle: number;
  private readonly openWait: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly deliver: DeliverRoom;
  private sweeper: ClockTimer | null = null;
  readonly stats: RoomSequencerStats = { openFailures: 0, epochsStarted: 0 };

  constructor(opts: RoomSequencerOptions) {
    this.store = opts.store;
    this.writer = opts.writer;
    this.recentIds = opts.recentIds;
    this.idle = opts.idle;
    this.openWait = opts.openWait;
    this.clock = opts.clock;
    this.log = opts.log;
    this.deliver = opts.deliver;
  }

  /** Rooms with sequencer state. */
  get size(): number {
    return this.rooms.size;
  }

  /** Where `room` stands (tests, diagnostics): its epoch and last offset handed out. */
  position(room: string): { epoch: string; last: number; status: RoomSeq['status'] } | undefined {
    const r = this.rooms.get(room);
    return r && { epoch: r.epoch, last: r.last, status: r.status };
  }

  /** Numbers and delivers one room message; resolves once the comets accepted it and its record is stored. */
  offer(msg: PushMsg): Promise<void> {
    let r = this.rooms.get(msg.room);
    if (r === undefined) {
      r = {
        status: 'opening',
        epoch: '',
        last: 0,
        ids: new Map(),
        ring: [],
        ringKnown: [],
        ringPos: 0,
        waiting: [],
        newEpochDue: false,
        retryDelay: OPEN_RETRY_MS,
        retryTimer: null,
        holdTimer: null,
        lastActive: this.clock.now(),
      };
      this.rooms.set(msg.room, r);
      this.open(msg.room, r);
    }
    r.lastActive = this.clock.now();
    if (r.status === 'opening') return new Promise<void>((resolve, reject) => r.waiting.push({ msg, resolve, reject }));
    if (r.status === 'down') return this.deliver(msg.room, msg.operation, msg.msg, 0);
    return this.number(r, msg);
  }

  /** The writer dropped records of `room`'s epoch `epoch`: its history has a gap, so it starts a new epoch (when still in it). */
  readonly lost = (room: string, epoch: string): void => {
    const r = this.rooms.get(room);
    if (r === undefined || r.status !== 'open' || r.epoch !== epoch) return;
    this.startEpoch(room, r, r.last + 1);
  };

  /** Starts the sweep forgetting idle rooms. */
  start(): void {
    if (this.sweeper) return;
    this.sweeper = this.clock.setInterval(() => this.sweep(), Math.max(1, Math.floor(this.idle / 2)));
    (this.sweeper as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.sweeper) this.clock.clearInterval(this.sweeper);
    this.sweeper = null;
    for (const r of this.rooms.values()) {
      if (r.retryTimer) this.clock.clearTimeout(r.retryTimer);
      r.retryTimer = null;
      if (r.holdTimer) this.clock.clearTimeout(r.holdTimer);
      r.holdTimer = null;
    }
  }

  /** Forgets open rooms idle for `idle` with no record unwritten (a later message reopens them from the store). */
  sweep(now = this.clock.now()): number {
    let removed = 0;
    for (const [room, r] of this.rooms) {
      if (r.status === 'open' && now - r.lastActive >= this.idle && this.writer.pendingIn(room) === 0) {
        this.rooms.delete(room);
        removed++;
      }
    }
    return removed;
  }

  /** Opens `room` in the store; while the room is 'opening' its messages are held, for at most openWait. */
  private open(room: string, r: RoomSeq): void {
    let counted = false;
    if (r.status === 'opening')
      r.holdTimer = this.clock.setTimeout(() => {
        r.holdTimer = null;
        if (this.rooms.get(room) !== r || r.status !== 'opening') return;
        counted = true;
        this.stats.openFailures++;
        this.log.warn(
          { room, waitedMs: this.openWait },
          'job: history store did not open the room within history.writeWait; its messages go out without offsets',
        );
        this.down(room, r);
      }, this.openWait);
    const endHold = () => {
      if (r.holdTimer === null) return;
      this.clock.clearTimeout(r.holdTimer);
      r.holdTimer = null;
    };
    boundedCall(this.clock, 'history open', () => this.store.open(room, this.recentIds)).then(
      (o) => {
        endHold();
        this.opened(room, r, o);
      },
      (err: Error) => {
        endHold();
        this.openFailed(room, r, err, counted);
      },
    );
  }

  private opened(room: string, r: RoomSeq, o: RoomOpen): void {
    if (this.rooms.get(room) !== r) return;
    r.status = 'open';
    r.epoch = o.epoch;
    r.last = o.last;
    r.retryDelay = OPEN_RETRY_MS;
    for (const { id, offset } of o.recent) this.remember(r, id, offset, DONE);
    if (r.newEpochDue) {
      r.newEpochDue = false;
      this.startEpoch(room, r, r.last + 1);
    } else if (o.last < o.epochStart) {
      // Nothing stored in this epoch yet, so no join could have told the room's clients its
      // epoch: announce it ahead of the first message, or they could not recover later.
      this.deliver(room, ROOM_STATE_OP, roomStateBody(room, r.epoch, r.last + 1), 0).catch(noop);
    }
    const waiting = r.waiting;
    r.waiting = [];
    for (const w of waiting) this.number(r, w.msg).then(w.resolve, w.reject);
  }

  /** The open failed (`counted`: its hold already ended at openWait, and was counted then); retried with a back-off. */
  private openFailed(room: string, r: RoomSeq, err: Error, counted: boolean): void {
    if (this.rooms.get(room) !== r) return;
    if (!counted) this.stats.openFailures++;
    this.log.warn({ room, err: err.message, retryMs: r.retryDelay }, 'job: history store did not open the room; its messages go out without offsets');
    this.down(room, r);
    // The retry holds nothing: the room's messages keep going out without offsets until it succeeds.
    r.retryTimer = this.clock.setTimeout(() => {
      r.retryTimer = null;
      if (this.rooms.get(room) === r) this.open(room, r);
    }, r.retryDelay);
    r.retryDelay = Math.min(r.retryDelay * 2, OPEN_RETRY_MAX_MS);
  }

  /** Sends the held messages without offsets; the room is numbered again, in a new epoch, once an open succeeds. */
  private down(room: string, r: RoomSeq): void {
    r.status = 'down';
    r.newEpochDue = true;
    const waiting = r.waiting;
    r.waiting = [];
    for (const w of waiting) this.deliver(room, w.msg.operation, w.msg.msg, 0).then(w.resolve, w.reject);
  }

  private number(r: RoomSeq, msg: PushMsg): Promise<void> {
    const room = msg.room;
    const id = msg.id || localIds.next();
    const known = r.ids.get(id);
    if (known !== undefined) return both(this.deliver(room, msg.operation, msg.msg, known.offset), known.stored);
    // The wire seq is u32: past its top a room starts over at 1 in a new epoch.
    if (r.last >= MAX_WIRE_OFFSET) this.startEpoch(room, r, 1);
    const offset = ++r.last;
    // Delivered first: should adding the record overflow the writer, the new epoch's op 18 follows this message.
    const delivered = this.deliver(room, msg.operation, msg.msg, offset);
    const stored = this.writer.add(room, r.epoch, {
      offset,
      id,
      op: msg.operation,
      body: msg.msg,
      mid: msg.sender ?? 0n,
      time: msg.time ?? Date.now(),
      progress: msg.progress ?? null,
    });
    this.remember(r, id, offset, stored);
    return both(delivered, stored);
  }

  private remember(r: RoomSeq, id: string, offset: number, stored: Promise<void>): void {
    if (this.recentIds <= 0) return;
    const known = { offset, stored };
    r.ids.set(id, known);
    if (r.ring.length < this.recentIds) {
      r.ring.push(id);
      r.ringKnown.push(known);
      return;
    }
    const i = r.ringPos;
    if (r.ids.get(r.ring[i]) === r.ringKnown[i]) r.ids.delete(r.ring[i]);
    r.ring[i] = id;
    r.ringKnown[i] = known;
    r.ringPos = i + 1 === this.recentIds ? 0 : i + 1;
  }

  /** Starts a new epoch at `start` now: announced in the room's stream, persisted by the writer before the room's next records. */
  private startEpoch(room: string, r: RoomSeq, start: number): void {
    r.epoch = newEpochName();
    r.last = start - 1;
    this.stats.epochsStarted++;
    this.writer.newEpoch(room, r.epoch, start);
    this.log.info({ room, epoch: r.epoch, first: start }, 'job: room history starts a new epoch');
    this.deliver(room, ROOM_STATE_OP, roomStateBody(room, r.epoch, start), 0).catch(noop);
  }
}

/** Resolves once both did; rejects with the first failure (neither rejection goes unhandled). */
function both(a: Promise<void>, b: Promise<void>): Promise<void> {
  return Promise.all([a, b]).then(noop);
}

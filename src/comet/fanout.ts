// Pushes from job (goim.comet.Comet, docs/internal-protocol.md#goimcometcomet): each call
// encodes its proto once (PushBytes) and writes the same Buffer to every recipient. The loops do no awaiting, no
// logging and no allocation per recipient; the Outbound applies the per-socket cap.
//
// Throttled broadcasts (speed > 0) walk their recipients over time, all of them on one shared
// timer. Each holds the list of connections it has yet to visit: visited ones are let go at
// once, closed ones at the next compaction (every second), and a walk ends as soon as
// nothing is left, so clients that leave take their memory and the timer with them. At most
// `push.maxThrottled` walks run at once; a broadcast beyond that is delivered at once
// (unthrottled), counted as limit throttled_broadcasts: delivering late is what the speed
// asks for, never delivering would not be (docs/operations.md).
import { systemClock, type Clock, type ClockTimer } from '../lib/clock.js';
import { BucketCounts, LATENCY_BUCKETS } from '../metrics/bucket-counts.js';
import { asBuffer } from '../lib/bytes.js';
import type { InboxSeqs, Proto, RoomBatchParts } from '../ports/index.js';
import { partsProblem, unapplied } from './batch-numbers.js';
import { HEADER_LEN } from '../protocol/frame.js';
import { State, type Connection } from './connection.js';
import type { ConnectionTable } from './connection-table.js';
import { Op } from '../protocol/ops.js';
import { PushBytes, roomEnvelope, scanBatch } from './frame-bytes.js';
import { Limit, type LimitName } from './limit-log.js';
import type { Outbound } from './outbound.js';
import type { Room, Seat } from './room.js';
import type { RoomTails } from './room-tail.js';

/** Step of a throttled broadcast: small enough to look smooth, large enough to be cheap. */
const BROADCAST_STEP_MS = 100;
/** Every this many steps, walks drop the closed connections they still hold. */
const COMPACT_EVERY_STEPS = 10;
/** Where a refused throttle is counted and logged (comet's LimitLog). */
export interface ThrottleLimitLog {
  hit(limit: LimitName, detail: Record<string, unknown>): void;
}

export interface FanoutOptions {
  /** push.maxThrottled: throttled broadcasts walking at once. */
  maxThrottled?: number;
  limits?: ThrottleLimitLog;
  /** Paces throttled broadcasts and times push loops (default: the system clock). */
  clock?: Clock;
  /** Takes a room batch for a connection (or its seat) whose join replay is being read (replay.ts); default: deliver. */
  hold?: (c: Connection, bytes: PushBytes, seat?: Seat) => void;
  /** Takes a durable push's message for a connection that opted in to the inbox (inbox-delivery.ts). */
  inbox?: (c: Connection, seq: number, op: number, body: Uint8Array) => void;
  /** Recent numbered records per room, fed with every room batch (room-tail.ts). */
  tails?: RoomTails<Room>;
  /** Told why a room call's batch numbers could not be used (the whole call was written); for the log. */
  unnumbered?: (reason: string) => void;
}

/** One throttled broadcast in progress. */
interface Walk {
  readonly protoOp: number;
  readonly bytes: PushBytes;
  /** Connections per second. */
  readonly speed: number;
  /** Recipients from `next` on are still to visit; earlier slots are cleared. */
  targets: (Connection | undefined)[];
  next: number;
  credit: number;
  last: number;
}

/** A number per push kind: keys (PushMsg), room (BroadcastRoom), broadcast (Broadcast). */
export interface PushCounts {
  keys: number;
  room: number;
  broadcast: number;
}
export type PushKind = keyof PushCounts;

const zeroCounts = (): PushCounts => ({ keys: 0, room: 0, broadcast: 0 });

export class Fanout {
  /** Throttled broadcasts still walking. */
  private walks: Walk[] = [];
  /** Steps every walk while there is one (cleared by stop()). */
  private timer: ClockTimer | null = null;
  private steps = 0;
  private readonly maxThrottled: number;
  private readonly limits: ThrottleLimitLog | undefined;
  private readonly clock: Clock;
  private readonly hold: FanoutOptions['hold'];
  private readonly inboxLive: FanoutOptions['inbox'];
  private readonly tails: RoomTails<Room> | undefined;
  private readonly unnumbered: FanoutOptions['unnumbered'];
  /** Outbound's pushesTooLarge as of the last push call (a change is logged). */
  private tooLargeSeen = 0;
  /** Push calls received (metrics). */
  readonly received = zeroCounts();
  /** Socket writes made, and writes skipped over the send cap, per kind (from Outbound deltas). */
  readonly delivered = zeroCounts();
  readonly dropped = zeroCounts();
  /** Room batches not written again: a retried call carried them, and the room had them already. */
  repeatedBatches = 0;
  /** Room calls whose batch numbers could not be read or did not fit their body (written whole). */
  unnumberedCalls = 0;
  /** Seconds from a push call to the end of its loop (immediate pushes only). */
  readonly latency: Record<PushKind, BucketCounts> = {
    keys: new BucketCounts(LATENCY_BUCKETS),
    room: new BucketCounts(LATENCY_BUCKETS),
    broadcast: new BucketCounts(LATENCY_BUCKETS),
  };

  constructor(
    private readonly table: ConnectionTable,
    private readonly out: Outbound,
    opts: FanoutOptions = {},
  ) {
    this.maxThrottled = opts.maxThrottled ?? 16;
    this.limits = opts.limits;
    this.clock = opts.clock ?? systemClock;
    this.hold = opts.hold;
    this.inboxLive = opts.inbox;
    this.tails = opts.tails;
    this.unnumbered = opts.unnumbered;
  }

  /** Throttled broadcasts walking now. */
  get throttledWalks(): number {
    return this.walks.length;
  }

  /**
   * Push to keys: connections watching `protoOp`; missing keys are skipped. A durable push
   * (`inbox`) reaches a connection that opted in to its user's inbox as op 27, whatever it
   * watches (docs/protocol.md#durable-inbox); every other connection gets goim's bytes.
   */
  pushMsg(keys: string[], protoOp: number, proto: Proto, inbox?: InboxSeqs): void {
    this.received.keys++;
    if (!Array.isArray(keys) || keys.length === 0 || !proto) throw new Error('rpc pushmsg arg error');
    const t0 = this.clock.now();
    const w0 = this.out.pushesWritten;
    const d0 = this.out.pushesDropped;
    const bytes = new PushBytes(proto);
    const byKey = this.table.byKey;
    const seqs = inbox !== undefined && this.inboxLive !== undefined ? seqsByMid(inbox) : undefined;
    let message: Uint8Array | undefined; // the pushed message, taken out once for every opted-in device
    for (let i = 0; i < keys.length; i++) {
      const c = byKey.get(keys[i]);
      if (c === undefined) continue;
      if (seqs !== undefined && c.inbox !== null) {
        const seq = seqs.get(c.mid);
        if (seq !== undefined) {
          this.inboxLive!(c, seq, protoOp, (message ??= pushedMessage(proto)));
          continue;
        }
      }
      // A full connection does not stop the others (docs/protocol.md#differs-push-stops-at-full-connection).
      if (c.accepts.has(protoOp)) this.out.push(c, c.isWs ? bytes.ws() : bytes.tcp());
    }
    this.account('keys', w0, d0, t0);
  }

  /**
   * Push to a room's members, whatever they watch. A batch carrying offsets or op-18 frames
   * (docs/history.md#opting-in) goes as it is to connections that opted in to history, and
   * with seq 0 and no op 18 (goim's bytes, built once) to the others. `parts` number the
   * room batches the call carries: those the room had already (a retried call) are not
   * written again (batch-numbers.ts); unusable numbers (null: unreadable) are ignored.
   */
  broadcastRoom(roomId: string, proto: Proto, parts?: RoomBatchParts | null): void {
    this.received.room++;
    if (!proto || typeof roomId !== 'string' || roomId === '') throw new Error('rpc broadcast  room arg error');
    let numbers: RoomBatchParts | undefined;
    if (parts !== undefined) {
      const problem = parts === null ? 'unreadable' : partsProblem(parts, proto.body.length);
      if (problem !== null) {
        this.unnumberedCalls++;
        this.unnumbered?.(problem);
      } else numbers = parts ?? undefined;
    }
    const room = this.table.rooms.get(roomId);
    if (room !== undefined && numbers !== undefined) {
      const fresh = unapplied((room.applied ??= new Map<string, number>()), proto, numbers);
      if (fresh === null) {
        this.unnumberedCalls++;
        this.unnumbered?.('lengths do not end on a frame');
      } else {
        this.repeatedBatches += fresh.skipped;
        if (fresh.rest === null) return;
        proto = fresh.rest;
      }
    }
    if (room === undefined) {
      // Nobody here: only remember how far the room's offsets went, for a replay joining later.
      if (proto.op === Op.Raw) {
        const scan = scanBatch(proto.body);
        if (scan.offset > 0) this.table.rooms.noteVacant(roomId, scan.offset);
      }
      return;
    }
    const t0 = this.clock.now();
    const w0 = this.out.pushesWritten;
    const d0 = this.out.pushesDropped;
    const bytes = new PushBytes(proto);
    let tagged = false;
    if (proto.op === Op.Raw) {
      const scan = scanBatch(proto.body);
      tagged = scan.tagged;
      if (scan.offset > room.offset) room.offset = scan.offset;
      if (tagged) this.tails?.append(room, proto.body);
    }
    // Messages without offsets interrupt the numbering the tail follows.
    if (!tagged) this.tails?.drop(room);
    // goim's variant: the same bytes unless tagged, then built at the first member needing it.
    let goim: PushBytes | undefined = tagged ? undefined : bytes;
    const members = room.members;
    // Backwards: a member closed as slow is swap-removed without hiding another.
    for (let i = members.length - 1; i >= 0; i--) {
      const c = members[i];
      if (c.history === null) {
        goim ??= bytes.goim(true);
        this.out.push(c, c.isWs ? goim.ws() : goim.tcp());
      } else if (c.replay === null || this.hold === undefined) this.out.push(c, c.isWs ? bytes.ws() : bytes.tcp());
      else this.hold(c, bytes);
    }
    // Multi-room connections: the same batch in an op-23 envelope naming the room, built once
    // per variant; held unenveloped for a seat whose join replay is being read.
    const seats = room.seats;
    if (seats.length > 0) {
      let goimEnv: PushBytes | undefined;
      let taggedEnv: PushBytes | undefined;
      for (let i = seats.length - 1; i >= 0; i--) {
        const seat = seats[i];
        const c = seat.member;
        let env: PushBytes;
        if (c.history === null) env = goimEnv ??= roomEnvelope(roomId, (goim ??= bytes.goim(true)));
        else if (seat.replay !== null && this.hold !== undefined) {
          this.hold(c, bytes, seat);
          continue;
        } else env = taggedEnv ??= roomEnvelope(roomId, bytes);
        this.out.push(c, c.isWs ? env.ws() : env.tcp());
      }
    }
    this.account('room', w0, d0, t0);
  }

  /**
   * Push to every connection watching `protoOp`. speed > 0 spreads the walk at about that
   * many connections per second over timer steps; otherwise all at once.
   */
  broadcast(protoOp: number, proto: Proto, speed: number): void {
    this.received.broadcast++;
    if (!proto) throw new Error('rpc broadcast arg error');
    const t0 = this.clock.now();
    const bytes = new PushBytes(proto);
    const throttled = speed > 0;
    if (!throttled || this.walks.length >= this.maxThrottled) {
      if (throttled) this.limits?.hit(Limit.ThrottledBroadcasts, { maxThrottled: this.maxThrottled, speed });
      const w0 = this.out.pushesWritten;
      const d0 = this.out.pushesDropped;
      const all = this.table.all;
      for (let i = all.length - 1; i >= 0; i--) this.deliver(all[i], protoOp, bytes);
      this.account('broadcast', w0, d0, t0);
      return;
    }
    // The recipients as of now (connections arriving later are not), checked again when visited.
    const all = this.table.all;
    const targets: Connection[] = [];
    for (let i = all.length - 1; i >= 0; i--) {
      const c = all[i];
      if (c.state === State.Open && c.accepts.has(protoOp)) targets.push(c);
    }
    if (targets.length === 0) return;
    // The first step leaves now.
    const walk: Walk = { protoOp, bytes, speed, targets, next: 0, credit: Math.max(1, (speed * BROADCAST_STEP_MS) / 1000), last: this.clock.now() };
    this.step(walk);
    if (walk.next >= walk.targets.length) return;
    this.walks.push(walk);
    this.timer ??= this.clock.setInterval(this.tick, BROADCAST_STEP_MS);
  }

  private readonly tick = (): void => {
    const compact = ++this.steps % COMPACT_EVERY_STEPS === 0;
    let kept = 0;
    for (const w of this.walks) {
      if (compact) compactWalk(w);
      this.step(w);
      if (w.next < w.targets.length) this.walks[kept++] = w;
    }
    this.walks.length = kept;
    if (kept === 0 && this.timer !== null) {
      this.clock.clearInterval(this.timer);
      this.timer = null;
    }
  };

  /** Visits as many recipients as the walk's speed allows since its last step. */
  private step(w: Walk): void {
    const t = this.clock.now();
    w.credit += ((t - w.last) * w.speed) / 1000;
    w.last = t;
    const targets = w.targets;
    const end = Math.min(targets.length, w.next + Math.floor(w.credit));
    w.credit -= end - w.next;
    const w0 = this.out.pushesWritten;
    const d0 = this.out.pushesDropped;
    for (let i = w.next; i < end; i++) {
      this.deliver(targets[i]!, w.protoOp, w.bytes);
      targets[i] = undefined;
    }
    w.next = end;
    this.account('broadcast', w0, d0, -1);
  }

  /** Adds what one loop wrote and dropped (Outbound counter deltas) and, when t0 >= 0, its duration. */
  private account(kind: PushKind, written0: number, dropped0: number, t0: number): void {
    this.delivered[kind] += this.out.pushesWritten - written0;
    this.dropped[kind] += this.out.pushesDropped - dropped0;
    if (t0 >= 0) this.latency[kind].observe((this.clock.now() - t0) / 1000);
    if (this.out.pushesTooLarge !== this.tooLargeSeen) this.tooLarge(kind);
  }

  /** A push call whose push no connection could take, whatever it held: counted and logged once per call. */
  private tooLarge(kind: PushKind): void {
    const connections = this.out.pushesTooLarge - this.tooLargeSeen;
    this.tooLargeSeen = this.out.pushesTooLarge;
    this.limits?.hit(Limit.PushTooLarge, { kind, connections });
  }

  private deliver(c: Connection, protoOp: number, bytes: PushBytes): void {
    if (c.state === State.Open && c.accepts.has(protoOp)) this.out.push(c, c.isWs ? bytes.ws() : bytes.tcp());
  }

  /** Stops throttled broadcasts still in progress. */
  stop(): void {
    if (this.timer !== null) this.clock.clearInterval(this.timer);
    this.timer = null;
    this.walks = [];
  }
}

/** Lets go of the visited slots and of connections closed since the walk began. */
function compactWalk(w: Walk): void {
  const left: Connection[] = [];
  const targets = w.targets;
  for (let i = w.next; i < targets.length; i++) {
    const c = targets[i]!;
    if (c.state !== State.Closed) left.push(c);
  }
  w.targets = left;
  w.next = 0;
}

function seqsByMid(inbox: InboxSeqs): Map<bigint, number> {
  const m = new Map<bigint, number>();
  for (let i = 0; i < inbox.mids.length; i++) m.set(inbox.mids[i], inbox.seqs[i]);
  return m;
}

/** The pushed message: the body of the one frame inside a PUSH proto (op 9), else the proto's body. */
function pushedMessage(proto: Proto): Uint8Array {
  if (proto.op !== Op.Raw || proto.body.length < HEADER_LEN) return proto.body;
  const len = asBuffer(proto.body).readInt32BE(0);
  return proto.body.subarray(HEADER_LEN, len >= HEADER_LEN && len <= proto.body.length ? len : proto.body.length);
}

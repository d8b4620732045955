// The history of every room a client that opted in is in (docs/client.md#several-rooms-with-history):
// one RoomHistory per room, the primary one and those joined. Frames in a room's op-23
// envelope go through that room's; frames outside envelopes (a connection that has not
// joined yet, or what the server wrote before it saw the join) are the primary room's. Each
// room waits for its own gaps, on a timer of its own.

import { Op, type ClientFrame } from './codec.js';
import { PushMessage } from './messages.js';
import { type HistoryAsk, RoomHistory, type RoomStateEvent, roomStateEvent } from './room-history.js';

/** Messages held behind gaps at most, over all rooms; past it the room holding most gives its gap up at once. */
const MAX_GAP_WAITING = 10_000;

export interface HistoryOutput {
  message(m: PushMessage): void;
  roomState(ev: RoomStateEvent): void;
  notRecovered(ev: RoomStateEvent): void;
}

export class RoomHistories {
  private readonly rooms = new Map<string, RoomHistory>();
  private readonly gapTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private primaryRoom: string | undefined;

  /**
   * @param last what a join asks for when the room's position is unknown and it has no ask of its own
   * @param joined whether the client keeps a room as a joined one (its state outlives a primary-room change)
   */
  constructor(
    readonly last: number,
    private readonly gapWaitMs: number,
    private readonly joined: (room: string) => boolean,
    private readonly out: HistoryOutput,
  ) {}

  /** The room of frames outside envelopes. */
  get primary(): string | undefined {
    return this.primaryRoom;
  }

  /** The ask when the room has none of its own: the last N (`{}` for 0). */
  get fallback(): HistoryAsk {
    return this.last > 0 ? { last: this.last } : {};
  }

  /** The primary room becomes `room`; the one before is forgotten unless it is also a joined room. */
  setPrimary(room: string | undefined): void {
    const old = this.primaryRoom;
    if (old === room) return;
    this.primaryRoom = room;
    if (old !== undefined && !this.joined(old)) this.drop(old);
    if (room !== undefined) this.enter(room);
  }

  /** The client is (about to be) in `room`; `firstAsk` is what its first join asks for (a room already followed keeps its own). */
  enter(room: string, firstAsk?: HistoryAsk): void {
    if (!this.rooms.has(room)) this.rooms.set(room, new RoomHistory(firstAsk));
  }

  /** The client left `room` (or was refused it): its position and what waited in it are forgotten. */
  forget(room: string): void {
    if (room === this.primaryRoom) this.primaryRoom = undefined;
    this.drop(room);
  }

  /** What joining `room` asks for: what was missed there, its first join's ask, or undefined (none of its own). */
  ask(room: string | undefined): HistoryAsk | undefined {
    return room === undefined ? undefined : this.rooms.get(room)?.ask();
  }

  position(room: string): { epoch: string | undefined; offset: number } | undefined {
    return this.rooms.get(room)?.position;
  }

  /**
   * A pushed frame: `room` is its envelope's room, undefined outside envelopes. Outside one, a
   * message with an offset says the primary room too once that room's op 18 gave it an epoch
   * (before, it may be the previous room's, sent before a change of room was seen): the server
   * envelopes a room's batches only once it saw the connection's first join.
   */
  frame(f: ClientFrame, room: string | undefined): void {
    if (f.op === Op.RoomState && f.seq === 0) {
      const ev = roomStateEvent(f.body);
      if (ev !== null) {
        // Outside an envelope op 18 names the connection's room: it is the primary one (the server may have put it elsewhere).
        if (room === undefined) this.setPrimary(ev.room);
        const key = room ?? ev.room;
        const h = this.rooms.get(key);
        if (h === undefined) return; // a room left meanwhile: nothing to report
        for (const m of h.state<PushMessage>(ev)) this.out.message(m);
        this.out.roomState(ev);
        if (!ev.recovered) this.out.notRecovered(ev);
        this.gaps(key, h);
        return;
      }
    }
    const key = room ?? this.primaryRoom;
    const h = key === undefined ? undefined : this.rooms.get(key);
    const offset = f.seq >>> 0; // unsigned 32-bit on the wire
    const label = room ?? (offset !== 0 && h?.position.epoch !== undefined ? key! : '');
    const m = new PushMessage(f.op, f.body, f.ver, f.seq, offset, label);
    if (h === undefined) {
      this.out.message(m);
      return;
    }
    // A duplicate (redelivered, or replayed and live) is dropped; a message past a gap waits (at most gapWaitMs) for it to fill.
    const before = h.waiting;
    for (const x of h.order(offset, m)) this.out.message(x);
    if (h.waiting > before && this.waitingTotal() > MAX_GAP_WAITING) this.gapExpired(this.fullest());
    this.gaps(key!, h);
  }

  /** Stops the gap timers (the client closed); what waits stays until the next frame of its room. */
  stop(): void {
    for (const t of this.gapTimers.values()) clearTimeout(t);
    this.gapTimers.clear();
  }

  /** Starts or stops `room`'s gap timer as it holds messages or not. */
  private gaps(room: string, h: RoomHistory): void {
    if (h.waiting === 0) {
      clearTimeout(this.gapTimers.get(room));
      this.gapTimers.delete(room);
    } else if (!this.gapTimers.has(room)) {
      this.gapTimers.set(
        room,
        setTimeout(() => this.gapExpired(room), this.gapWaitMs),
      );
    }
  }

  /** A gap in `room`'s offsets did not fill: deliver what waited behind it and say what was missed. */
  private gapExpired(room: string): void {
    clearTimeout(this.gapTimers.get(room));
    this.gapTimers.delete(room);
    const h = this.rooms.get(room);
    if (h === undefined || h.waiting === 0) return;
    const { items, missedFrom } = h.gapExpired<PushMessage>();
    this.out.notRecovered({
      room,
      epoch: missedFrom.epoch,
      first: missedFrom.offset + 1,
      last: missedFrom.offset,
      recovered: false,
      reason: 'gap',
      missedFrom,
    });
    for (const m of items) this.out.message(m);
  }

  private waitingTotal(): number {
    let n = 0;
    for (const h of this.rooms.values()) n += h.waiting;
    return n;
  }

  private fullest(): string {
    let best = '';
    let most = -1;
    for (const [room, h] of this.rooms) {
      if (h.waiting > most) [best, most] = [room, h.waiting];
    }
    return best;
  }

  private drop(room: string): void {
    clearTimeout(this.gapTimers.get(room));
    this.gapTimers.delete(room);
    this.rooms.delete(room);
  }
}

// Where the client stands in its room's history (docs/history.md#opting-in): the epoch and the
// last offset received, what to ask for on the next (re)connect, and which messages are
// duplicates. Offsets arrive in the frame's seq field (unsigned 32-bit on the wire).

import { text } from './codec.js';

/** The history a client asks for when it joins its room: the last N, or nothing (offsets only). */
export interface HistoryOptions {
  /** Messages replayed on the first join (the server caps it; default 20). */
  last?: number;
}

/** Op 18: the state of the room at a join, or a new epoch inside the stream. */
export interface RoomStateEvent {
  room: string;
  epoch: string;
  /** The range replayed on this join (first = last + 1 when none); on an epoch change, the first offset of the new epoch. */
  first: number;
  last: number;
  /** false: what was missed could not be replayed (see `reason`); page the HTTP history API. */
  recovered: boolean;
  reason?: string;
  /** The position before this event, for paging what was missed: epoch and last offset received. */
  missedFrom?: { epoch: string; offset: number };
}

/** The token's `history` field (docs/history.md#opting-in). */
export type HistoryAsk = { last: number } | { since: number; epoch: string } | Record<string, never>;

export class RoomHistory {
  private room: string | undefined;
  private epoch: string | undefined;
  private lastOffset = 0;
  /** Messages past a gap, by offset, until it fills. */
  private readonly held = new Map<number, unknown>();

  constructor(private readonly last: number) {}

  /** The last offset received in the current epoch (0 before any). */
  get position(): { room: string | undefined; epoch: string | undefined; offset: number } {
    return { room: this.room, epoch: this.epoch, offset: this.lastOffset };
  }

  /** What to ask for when joining `room`: what was missed there, else the last N. */
  ask(room: string | undefined): HistoryAsk {
    if (room !== undefined && room === this.room && this.epoch !== undefined) return { since: this.lastOffset, epoch: this.epoch };
    return this.last > 0 ? { last: this.last } : {};
  }

  /** Forgets the position (the client moved to another room). */
  reset(room: string | undefined): void {
    if (room === this.room) return;
    this.room = room;
    this.epoch = undefined;
    this.lastOffset = 0;
    this.held.clear();
  }

  /**
   * Applies an op-18 body; null when it is not a RoomState object. `flushed`: messages that
   * waited behind a gap of the position this state replaces, to deliver (in order) before it.
   */
  state<T>(body: Uint8Array): { ev: RoomStateEvent; flushed: T[] } | null {
    let v: unknown;
    try {
      v = JSON.parse(text(body));
    } catch {
      return null;
    }
    if (typeof v !== 'object' || v === null) return null;
    const o = v as Record<string, unknown>;
    if (typeof o.room !== 'string' || typeof o.epoch !== 'string' || typeof o.first !== 'number') return null;
    const last = typeof o.last === 'number' ? o.last : o.first - 1;
    const ev: RoomStateEvent = { room: o.room, epoch: o.epoch, first: o.first, last, recovered: o.recovered !== false };
    if (typeof o.reason === 'string') ev.reason = o.reason;
    const before = this.room === o.room && this.epoch !== undefined ? { epoch: this.epoch, offset: this.lastOffset } : undefined;
    if (before !== undefined && !ev.recovered) ev.missedFrom = before;
    let flushed: T[] = [];
    // epoch "": the server could not say (history unavailable, or the replay given up): no position.
    const epoch = o.epoch === '' ? undefined : o.epoch;
    if (this.room !== o.room || this.epoch !== epoch || !ev.recovered) {
      flushed = this.gapExpired<T>().items;
      // Another room, a new epoch, or a gap that was not filled: count from where this join starts.
      this.room = o.room;
      this.epoch = epoch;
      this.lastOffset = ev.first - 1;
    }
    return { ev, flushed };
  }

  /**
   * Orders room messages by offset. Returns what may be delivered now, in order: nothing for a
   * duplicate (at or below the last offset: a redelivery, or a replayed message also seen
   * live), the message and any held ones that follow it, or nothing while it waits behind a gap
   * (a message the server redelivers after a failure arrives after later ones; see gapExpired).
   */
  order<T>(offset: number, item: T): T[] {
    if (offset === 0 || this.epoch === undefined) return [item];
    if (offset <= this.lastOffset) return [];
    if (offset > this.lastOffset + 1) {
      if (!this.held.has(offset)) this.held.set(offset, item);
      return [];
    }
    this.lastOffset = offset;
    const out: T[] = [item];
    for (let next = this.held.get(this.lastOffset + 1); next !== undefined; next = this.held.get(this.lastOffset + 1)) {
      this.held.delete(this.lastOffset + 1);
      this.lastOffset++;
      out.push(next as T);
    }
    return out;
  }

  /** Messages waiting behind a gap. */
  get waiting(): number {
    return this.held.size;
  }

  /**
   * The gap did not fill in time (or too much waits behind it): the held messages go out in
   * order past it, and the position before the gap is returned for paging what was missed.
   */
  gapExpired<T>(): { items: T[]; missedFrom: { epoch: string; offset: number } } {
    const missedFrom = { epoch: this.epoch ?? '', offset: this.lastOffset };
    const offsets = [...this.held.keys()].sort((a, b) => a - b);
    const items = offsets.map((o) => this.held.get(o) as T);
    if (offsets.length > 0) this.lastOffset = offsets[offsets.length - 1];
    this.held.clear();
    return { items, missedFrom };
  }
}

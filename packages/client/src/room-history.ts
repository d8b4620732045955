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
  }

  /** Applies an op-18 body; null when it is not a RoomState object. */
  state(body: Uint8Array): RoomStateEvent | null {
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
    if (this.room !== o.room || this.epoch !== o.epoch || !ev.recovered) {
      // Another room, a new epoch, or a gap that was not filled: count from where this join starts.
      this.room = o.room;
      this.epoch = o.epoch;
      this.lastOffset = ev.first - 1;
    }
    return ev;
  }

  /**
   * Whether a room message with this offset is new. Offsets at or below the last one received
   * are duplicates (a redelivery, or a replayed message also seen live) and are dropped.
   */
  accept(offset: number): boolean {
    if (offset === 0 || this.epoch === undefined) return true;
    if (offset <= this.lastOffset) return false;
    this.lastOffset = offset;
    return true;
  }
}

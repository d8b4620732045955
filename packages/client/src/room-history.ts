// Where the client stands in one room's history (docs/history.md#opting-in): the epoch and the
// last offset received, what to ask for when (re)joining the room, and which messages are
// duplicates. Offsets arrive in the frame's seq field (unsigned 32-bit on the wire).

import { text } from './codec.js';

/** The history a client asks for when it joins its room: the last N, or nothing (offsets only). */
export interface HistoryOptions {
  /** Messages replayed on the first join (the server caps it; default 20). */
  last?: number;
}

/** Op 18: the state of a room at a join, or a new epoch inside the stream. */
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

/** A join's `history` (the token's, op 12's or op 19's; docs/history.md#opting-in): the last N, what followed an offset, or nothing. */
export type HistoryAsk = { last: number } | { since: number; epoch: string } | Record<string, never>;

/** Most messages one join may ask for, and the longest epoch name (the server's bounds). */
const MAX_HISTORY_LAST = 10_000;
const MAX_EPOCH_LENGTH = 64;

/** Why `v` is not a history ask the server takes (it would refuse the join with code 1, in these words), or undefined. */
export function badHistoryAsk(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'history must be an object';
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'last' && k !== 'since' && k !== 'epoch') return `history.${k.slice(0, 32)} is not a known field`;
  if (o.since !== undefined || o.epoch !== undefined) {
    if (o.last !== undefined) return 'history takes either last or since with epoch';
    if (o.since === undefined || o.epoch === undefined) return 'history.since and history.epoch go together';
    if (typeof o.since !== 'number' || !Number.isSafeInteger(o.since) || o.since < 0) return 'history.since must be an integer >= 0';
    if (typeof o.epoch !== 'string' || o.epoch === '' || o.epoch.length > MAX_EPOCH_LENGTH) {
      return `history.epoch must be a string of 1 to ${MAX_EPOCH_LENGTH} characters`;
    }
    return undefined;
  }
  if (o.last === undefined) return undefined;
  if (typeof o.last !== 'number' || !Number.isInteger(o.last) || o.last < 0 || o.last > MAX_HISTORY_LAST) {
    return `history.last must be an integer from 0 to ${MAX_HISTORY_LAST}`;
  }
  return undefined;
}

/** An op-18 body as an event; null when it is not a RoomState object. */
export function roomStateEvent(body: Uint8Array): RoomStateEvent | null {
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
  return ev;
}

export class RoomHistory {
  private epoch: string | undefined;
  private lastOffset = 0;
  /** Messages past a gap, by offset, until it fills. */
  private readonly held = new Map<number, unknown>();

  /** @param firstAsk what the first join asks for (joinRoom's option), until the room's position is known. */
  constructor(private firstAsk?: HistoryAsk) {}

  /** The epoch and the last offset received in it (0 before any). */
  get position(): { epoch: string | undefined; offset: number } {
    return { epoch: this.epoch, offset: this.lastOffset };
  }

  /** What a join of the room asks for: what was missed there, else the first join's ask (undefined: none of its own). */
  ask(): HistoryAsk | undefined {
    if (this.epoch !== undefined) return { since: this.lastOffset, epoch: this.epoch };
    return this.firstAsk;
  }

  /**
   * Applies an op-18 event of this room: `ev` gets `missedFrom` when it did not recover.
   * Returns the messages that waited behind a gap of the position it replaces, to deliver
   * (in order) before it.
   */
  state<T>(ev: RoomStateEvent): T[] {
    if (this.epoch !== undefined && !ev.recovered) ev.missedFrom = { epoch: this.epoch, offset: this.lastOffset };
    // epoch "": the server could not say (history unavailable, or the replay given up): no position.
    const epoch = ev.epoch === '' ? undefined : ev.epoch;
    if (epoch !== undefined) this.firstAsk = undefined;
    if (this.epoch === epoch && ev.recovered) return [];
    // A new epoch, or a gap that was not filled: count from where this join starts.
    const flushed = this.gapExpired<T>().items;
    this.epoch = epoch;
    this.lastOffset = ev.first - 1;
    return flushed;
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

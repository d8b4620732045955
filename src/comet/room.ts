// Rooms of one comet (docs/protocol.md#rooms-and-accepts). A goim connection is in at most one room; members sit in a
// dense array so a room push is a plain indexed loop, and leaving is an O(1) swap-remove. A
// connection that joined extra rooms (op 19, docs/protocol.md#several-rooms) holds a seat in
// each of its rooms instead: seats sit in a second dense array, whose members get the room's
// batches in an op-23 envelope.
import type { ReplayHold } from './replay.js';

/** What a room needs to know about a member: where it sits, so it can leave in O(1). */
export interface RoomMember {
  /** The room op 12 and the auth token chose (the primary one); null = none. */
  room: Room | null;
  /** Position in room.members; -1 for a multi-room member (its seats hold the positions). */
  roomIndex: number;
  /** Every room of a multi-room member, the primary one included; null = one room at most (goim). */
  seats: Map<string, Seat> | null;
}

/** A multi-room member's place in one room. */
export class Seat<M extends RoomMember = RoomMember> {
  index = -1;
  /** While this room's join replay is read: the live batches held back for it (replay.ts). */
  replay: ReplayHold | null = null;
  constructor(
    readonly member: M,
    readonly room: Room<M>,
  ) {}
}

export class Room<M extends RoomMember = RoomMember> {
  /** Members in this room only (goim's bytes). */
  readonly members: M[] = [];
  /** Seats of multi-room members (enveloped bytes). */
  readonly seats: Seat<M>[] = [];
  /** Members on all comets, as last reported by logic (0 = unknown). */
  globalCount = 0;
  /** Highest offset this comet delivered in the room (docs/history.md#replay); 0 = none seen. */
  offset = 0;
  /**
   * Per job lane, the highest room batch number written here (docs/internal-protocol.md#room-batch-numbers),
   * least recently written first; a few lanes at most (batch-numbers.ts). Null until a numbered batch came.
   */
  applied: Map<string, number> | null = null;

  constructor(readonly id: string) {}

  /** What a heartbeat reply reports: the global count when known, else the local one. */
  onlineCount(): number {
    return this.globalCount > 0 ? this.globalCount : this.size;
  }

  /** Local members, seats included. */
  get size(): number {
    return this.members.length + this.seats.length;
  }
}

/** Rooms without members whose last offset is remembered. */
const MAX_VACANT = 65_536;

export class RoomTable<M extends RoomMember = RoomMember> {
  private readonly rooms = new Map<string, Room<M>>();
  /** The last global room → count map from logic, to seed rooms created between reports. */
  private global: Record<string, number> = {};
  /** Offsets seen for rooms without members (noteVacant). */
  private readonly vacant = new Map<string, number>();
  /** Told of each room deleted (its last member left). */
  onDeleted: ((room: Room) => void) | null = null;
  /** Rooms with a multi-room member (a seat): what limits.maxCometRooms bounds. */
  seatedRooms = 0;

  get size(): number {
    return this.rooms.size;
  }

  get(id: string): Room<M> | undefined {
    return this.rooms.get(id);
  }

  /** Whether a seat in room `id` would be its first (a room new to seatedRooms). */
  firstSeat(id: string): boolean {
    const room = this.rooms.get(id);
    return room === undefined || room.seats.length === 0;
  }

  /** Moves `m` into room `id` (leaving its current one). Joining the room it is in is a no-op. */
  join(m: M, id: string): void {
    if (m.room?.id === id) return; // re-joining dropped the member in goim (docs/protocol.md#differs-change-to-own-room)
    if (m.seats !== null) {
      // A multi-room member: `id` becomes its primary room; the old primary one is left.
      const old = m.room;
      const seat = (m.seats.get(id) as Seat<M> | undefined) ?? this.seat(m, id);
      m.room = seat.room;
      if (old !== null) this.unseat(m, old.id);
      return;
    }
    this.leave(m);
    const room = this.open(id);
    m.room = room;
    m.roomIndex = room.members.length;
    room.members.push(m);
  }

  /** Removes `m` from its (primary) room; an emptied room is deleted. A multi-room member keeps its other rooms. */
  leave(m: M): void {
    const room = m.room as Room<M> | null;
    if (room === null) return;
    if (m.seats !== null) {
      this.unseat(m, room.id);
      return;
    }
    takeOut(room, m);
    m.room = null;
    this.closeIfEmpty(room);
  }

  /** Makes `m` a multi-room member (its first op 19): its room, if any, becomes its first seat. */
  multi(m: M): void {
    if (m.seats !== null) return;
    m.seats = new Map();
    const room = m.room as Room<M> | null;
    if (room === null) return;
    takeOut(room, m);
    this.seat(m, room.id); // the room is not empty meanwhile: m's seat replaces its place
  }

  /** Adds room `id` to a multi-room member's rooms (no-op when it is in it). */
  add(m: M, id: string): void {
    if (m.seats === null) throw new Error('room table: add() needs a multi-room member');
    if (!m.seats.has(id)) this.seat(m, id);
  }

  /** Removes room `id` from a multi-room member's rooms; false when it was not in it. */
  drop(m: M, id: string): boolean {
    if (m.seats === null || !m.seats.has(id)) return false;
    this.unseat(m, id);
    return true;
  }

  /** Removes `m` from every room it is in (it closed). */
  leaveAll(m: M): void {
    if (m.seats === null) {
      this.leave(m);
      return;
    }
    for (const id of [...m.seats.keys()]) this.unseat(m, id);
  }

  private seat(m: M, id: string): Seat<M> {
    const room = this.open(id);
    const seat = new Seat(m, room);
    seat.index = room.seats.length;
    if (seat.index === 0) this.seatedRooms++;
    room.seats.push(seat);
    m.seats!.set(id, seat);
    return seat;
  }

  private unseat(m: M, id: string): void {
    const seat = m.seats!.get(id) as Seat<M> | undefined;
    if (seat === undefined) return;
    m.seats!.delete(id);
    const room = seat.room;
    if (m.room === room) m.room = null;
    const seats = room.seats;
    const last = seats.pop()!;
    if (last !== seat) {
      seats[seat.index] = last;
      last.index = seat.index;
    }
    seat.index = -1;
    if (seats.length === 0) this.seatedRooms--;
    this.closeIfEmpty(room);
  }

  /** The room `id`, created when it has no member yet. */
  private open(id: string): Room<M> {
    let room = this.rooms.get(id);
    if (room === undefined) {
      room = new Room<M>(id);
      room.globalCount = countOf(this.global, id);
      const seen = this.vacant.get(id);
      if (seen !== undefined) {
        room.offset = seen;
        this.vacant.delete(id);
      }
      this.rooms.set(id, room);
    }
    return room;
  }

  private closeIfEmpty(room: Room<M>): void {
    if (room.size > 0) return;
    this.rooms.delete(room.id);
    if (room.offset > 0) this.noteVacant(room.id, room.offset);
    this.onDeleted?.(room);
  }

  /**
   * The highest offset delivered to a room with no member here (a batch arriving before anyone
   * joined, e.g. after a restart): a joiner's replay must reach it (docs/history.md#replay).
   * Bounded: the oldest entries go first.
   */
  noteVacant(id: string, offset: number): void {
    const had = this.vacant.get(id);
    if (had !== undefined && had >= offset) return;
    this.vacant.delete(id);
    this.vacant.set(id, offset);
    if (this.vacant.size > MAX_VACANT) this.vacant.delete(this.vacant.keys().next().value!);
  }

  ids(): string[] {
    return [...this.rooms.keys()];
  }

  /** room → local member count, for RenewOnline (only rooms with members exist). */
  localCounts(): Record<string, number> {
    const out = Object.create(null) as Record<string, number>; // room ids are client text
    for (const room of this.rooms.values()) out[room.id] = room.size;
    return out;
  }

  /** Stores logic's global counts on every local room (absent → 0: fall back to local). */
  applyGlobal(counts: Record<string, number>): void {
    this.global = counts;
    for (const room of this.rooms.values()) room.globalCount = countOf(counts, room.id);
  }
}

function countOf(counts: Record<string, number>, id: string): number {
  return Object.hasOwn(counts, id) ? counts[id] | 0 : 0;
}

/** Swap-removes a primary member from its room's member list (O(1); order is not kept). */
function takeOut<M extends RoomMember>(room: Room<M>, m: M): void {
  const members = room.members;
  const last = members.pop()!;
  if (last !== m) {
    members[m.roomIndex] = last;
    last.roomIndex = m.roomIndex;
  }
  m.roomIndex = -1;
}

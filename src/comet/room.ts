// Rooms of one comet (docs/protocol.md#rooms-and-accepts): each connection is in at most one room; members sit in a
// dense array so a room push is a plain indexed loop, and leaving is an O(1) swap-remove.

/** What a room needs to know about a member: where it sits, so it can leave in O(1). */
export interface RoomMember {
  room: Room | null;
  roomIndex: number;
}

export class Room<M extends RoomMember = RoomMember> {
  readonly members: M[] = [];
  /** Members on all comets, as last reported by logic (0 = unknown). */
  globalCount = 0;
  /** Highest offset this comet delivered in the room (docs/history.md#replay); 0 = none seen. */
  offset = 0;

  constructor(readonly id: string) {}

  /** What a heartbeat reply reports: the global count when known, else the local one. */
  onlineCount(): number {
    return this.globalCount > 0 ? this.globalCount : this.members.length;
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

  get size(): number {
    return this.rooms.size;
  }

  get(id: string): Room<M> | undefined {
    return this.rooms.get(id);
  }

  /** Moves `m` into room `id` (leaving its current one). Joining the room it is in is a no-op. */
  join(m: M, id: string): void {
    if (m.room?.id === id) return; // re-joining dropped the member in goim (docs/protocol.md#differs-change-to-own-room)
    this.leave(m);
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
    m.room = room;
    m.roomIndex = room.members.length;
    room.members.push(m);
  }

  /** Removes `m` from its room; an emptied room is deleted. */
  leave(m: M): void {
    const room = m.room as Room<M> | null;
    if (room === null) return;
    const members = room.members;
    const last = members.pop()!;
    if (last !== m) {
      members[m.roomIndex] = last;
      last.roomIndex = m.roomIndex;
    }
    m.room = null;
    m.roomIndex = -1;
    if (members.length === 0) {
      this.rooms.delete(room.id);
      if (room.offset > 0) this.noteVacant(room.id, room.offset);
      this.onDeleted?.(room);
    }
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
    for (const room of this.rooms.values()) out[room.id] = room.members.length;
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

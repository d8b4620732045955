// Room keys are `type://id` (goim's logic builds them from the push API's type and room): the
// type selects what a room may do (docs/history.md#room-types), in logic and in job alike.

/** The type of a room key: the part before "://" ('' when the key has none). */
export function roomTypeOf(room: string): string {
  const i = room.indexOf('://');
  return i < 0 ? '' : room.slice(0, i);
}

/** Whether a `rooms` list (docs/security.md#claims) names `room`, itself or by its type's `type://*`. */
export function listsRoom(rooms: ReadonlySet<string>, room: string): boolean {
  return rooms.has(room) || rooms.has(`${roomTypeOf(room)}://*`);
}

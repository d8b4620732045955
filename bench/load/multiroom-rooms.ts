// Which rooms each connection of the multiroom scenario is in, shared by its worker and the
// scenario (which counts the members of each room to know what every push should deliver).

/** The room indexes (0-based) of connection g: perConn consecutive ones, wrapping at `rooms`. */
export function roomsOf(g: number, perConn: number, rooms: number): number[] {
  return Array.from({ length: perConn }, (_, j) => (g * perConn + j) % rooms);
}

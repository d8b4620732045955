// Every connection of one comet: the dense list the sweep and broadcasts walk, the key
// index pushes use, the rooms, and per-IP counts for the registry metadata (docs/protocol.md#same-key-replacement, docs/internal-protocol.md#registry-entries).
// goim spreads these over 32 locked buckets; one event loop needs no striping.
import type { Connection } from './connection.js';
import { RoomTable } from './room.js';

export class ConnectionTable {
  /** All accepted connections, authenticated or not (swap-remove via tableIndex). */
  readonly all: Connection[] = [];
  /** Registered (authenticated) connections by key. */
  readonly byKey = new Map<string, Connection>();
  readonly rooms = new RoomTable<Connection>();
  private readonly ips = new Map<string, number>();

  add(c: Connection): void {
    c.tableIndex = this.all.length;
    this.all.push(c);
  }

  /** Drops `c` from the list, and from the key index, room and IP counts if registered. */
  remove(c: Connection): void {
    const i = c.tableIndex;
    if (i >= 0) {
      const last = this.all.pop()!;
      if (last !== c) {
        this.all[i] = last;
        last.tableIndex = i;
      }
      c.tableIndex = -1;
    }
    if (this.byKey.get(c.key) === c) {
      this.byKey.delete(c.key);
      const n = (this.ips.get(c.ip) ?? 1) - 1;
      if (n > 0) this.ips.set(c.ip, n);
      else this.ips.delete(c.ip);
    }
    this.rooms.leaveAll(c);
  }

  /**
   * Registers an authenticated connection under its key (and room when given). Returns the
   * connection it replaces, if another one held the key; the caller closes that one.
   */
  register(c: Connection, roomId: string): Connection | undefined {
    const old = this.byKey.get(c.key);
    if (old !== undefined) {
      // Unregister the old one now, so counts and the room are right before it is closed.
      this.remove(old);
    }
    this.byKey.set(c.key, c);
    this.ips.set(c.ip, (this.ips.get(c.ip) ?? 0) + 1);
    if (roomId !== '') this.rooms.join(c, roomId);
    return old;
  }

  get connections(): number {
    return this.byKey.size;
  }

  get ipCount(): number {
    return this.ips.size;
  }
}

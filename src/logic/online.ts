// Logic's global room → online count map (docs/internal-protocol.md#room-counts): rebuilt
// periodically from the snapshots each comet stores through RenewOnline, and what
// /goim/online/* and the RenewOnline reply report.
import type { Logger } from '../log.js';
import type { SessionStore } from '../ports/index.js';
import { encodeRoomKey, roomIdOfKey } from './room-key.js';

export interface RoomTop {
  /** The room id goim reports for the room's key (room-key.ts). */
  roomId: string;
  count: number;
}

export interface OnlineTotal {
  connCount: number;
  ipCount: number;
}

export class OnlineRooms {
  private counts = new Map<string, number>();
  /** The same map as a frozen record, built once per reload for RenewOnline replies. */
  private record: Readonly<Record<string, number>> = Object.freeze({});

  /** The global map as last rebuilt (shared and frozen: callers must not modify it). */
  all(): Readonly<Record<string, number>> {
    return this.record;
  }

  private replace(counts: Map<string, number>): void {
    this.counts = counts;
    // fromEntries defines own properties, so even a room named "__proto__" is safe.
    this.record = Object.freeze(Object.fromEntries(counts));
  }

  /**
   * Rebuilds the map from the snapshots of `servers`. A snapshot older than `staleMs`
   * (or missing) is deleted and skipped. A store failure keeps the previous map: an
   * outage should not zero every room.
   */
  async reload(store: SessionStore, servers: readonly string[], staleMs: number, log: Logger): Promise<void> {
    const counts = new Map<string, number>();
    const nowMs = Date.now();
    for (const server of servers) {
      const online = await store.serverOnline(server);
      if (online === null || nowMs - online.updated * 1000 > staleMs) {
        await store.delServerOnline(server).catch((err: unknown) => {
          log.warn({ err, server }, `logic: deleting the stale online snapshot of ${server} failed`);
        });
        continue;
      }
      for (const [room, count] of Object.entries(online.roomCount)) {
        // goim sums into int32.
        counts.set(room, ((counts.get(room) ?? 0) + count) | 0);
      }
    }
    this.replace(counts);
  }

  /**
   * Rooms whose key starts with `type` (a plain prefix, as goim), largest first, at most
   * `limit`; `roomId` is the host part of the key (keys Go's url.Parse rejects are skipped).
   */
  top(type: string, limit: number): RoomTop[] {
    const tops: RoomTop[] = [];
    for (const [key, count] of this.counts) {
      if (!key.startsWith(type)) continue;
      const roomId = roomIdOfKey(key);
      if (roomId === undefined) continue;
      tops.push({ roomId, count });
    }
    tops.sort((a, b) => b.count - a.count);
    return tops.length > limit ? tops.slice(0, Math.max(0, limit)) : tops;
  }

  /** Rooms of every type by their full keys, largest first, at most `limit`. */
  topKeys(limit: number): { room: string; count: number }[] {
    const top: { room: string; count: number }[] = [];
    if (limit < 1) return top;
    for (const [room, count] of this.counts) {
      // A bounded insertion: the map may hold a million rooms, the answer a hundred.
      if (top.length === limit && count <= top[limit - 1].count) continue;
      let i = top.length;
      while (i > 0 && top[i - 1].count < count) i--;
      top.splice(i, 0, { room, count });
      if (top.length > limit) top.pop();
    }
    return top;
  }

  /** Count of each requested room of `type` (0 when unknown), each room once. */
  rooms(type: string, rooms: readonly string[]): Map<string, number> {
    const out = new Map<string, number>();
    for (const room of rooms) out.set(room, this.counts.get(encodeRoomKey(type, room)) ?? 0);
    return out;
  }
}

// The JSON of one `ol_<server>` shard exactly as goim's Go logic writes it
// (docs/internal-protocol.md#session-store-redis): `{"server":…,"room_count":{…},"updated":…}`, written by the
// one Go-JSON encoder (protocol/go/go-json.ts): compact, room keys in Go's map order, Go's
// string escaping. Byte equality matters when Go and TS logic instances share one Redis.
import type { ServerOnline } from '../../ports/index.js';
import { goJson } from '../../protocol/go/go-json.js';

/** One shard's value: `{"server":"…","room_count":{…sorted…},"updated":<unix s>}`. */
export function encodeOnlineShard(server: string, roomCount: Record<string, number>, updated: number): string {
  const counts = new Map<string, number>();
  for (const [room, n] of Object.entries(roomCount)) counts.set(room, Math.trunc(n));
  return goJson({ server, room_count: counts, updated: Math.trunc(updated) });
}

/** Parses one shard value; null when it is not goim's shape (logged and skipped by callers). */
export function decodeOnlineShard(text: string): ServerOnline | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as { server?: unknown; room_count?: unknown; updated?: unknown };
  const counts: Array<[string, number]> = [];
  if (typeof o.room_count === 'object' && o.room_count !== null) {
    for (const [room, n] of Object.entries(o.room_count as Record<string, unknown>)) {
      if (typeof n === 'number' && Number.isFinite(n)) counts.push([room, n]);
    }
  }
  return {
    server: typeof o.server === 'string' ? o.server : '',
    // fromEntries defines own properties, so even a room named "__proto__" stays data
    roomCount: Object.fromEntries(counts),
    updated: typeof o.updated === 'number' ? o.updated : 0,
  };
}

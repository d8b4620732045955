// Node snapshots for the operations console (docs/operations.md#operations-console): every
// comet, logic and job process publishes a small one each admin.statsInterval; logic's console
// lists them. adapters/memory/node-stats.ts (embedded) and adapters/redis/node-stats.ts.

export type NodeRole = 'comet' | 'logic' | 'job';

/** One process's view of itself in one role, at one moment. */
export interface NodeSnapshot {
  role: NodeRole;
  /** The process's env.host (a comet worker's id with its suffix). */
  id: string;
  version: string;
  /** ms since the epoch. */
  startedAt: number;
  /** When this snapshot was taken, ms since the epoch. */
  at: number;
  /** What it listens on, e.g. "tcp 127.0.0.1:3101". */
  addrs: string[];
  /** "ok", or why not (e.g. "stopping"). */
  health: string;
  /** Gauges and cumulative counters by name (docs/operations.md#node-snapshots). */
  values: Record<string, number>;
  /** A job's busiest rooms over the last interval (at most NODE_ROOMS_MAX, keys cut to NODE_ROOM_KEY_MAX). */
  rooms?: { room: string; perSecond: number }[];
}

export const NODE_ROOMS_MAX = 10;
export const NODE_ROOM_KEY_MAX = 128;

/** Bounds every adapter applies, so one bad publisher cannot grow what the console reads. */
const NODE_SNAPSHOT_MAX_BYTES = 4096;
const NODE_SNAPSHOT_MAX_VALUES = 32;
/** Most nodes listed: past it the oldest snapshots are left out. */
export const NODE_LIST_MAX = 1000;

export interface NodeStatsStore {
  /** Stores `s` for `ttlMs` (replacing the node's previous one); a snapshot over the bounds is refused. */
  publish(s: NodeSnapshot, ttlMs: number): Promise<void>;
  remove(role: NodeRole, id: string): Promise<void>;
  /** Live snapshots, at most NODE_LIST_MAX. */
  list(): Promise<NodeSnapshot[]>;
  close(): Promise<void>;
}

/** The JSON a snapshot is kept as, or an Error when over the bounds. */
export function encodeNodeSnapshot(s: NodeSnapshot): string {
  if (Object.keys(s.values).length > NODE_SNAPSHOT_MAX_VALUES) throw new Error(`node snapshot: more than ${NODE_SNAPSHOT_MAX_VALUES} values`);
  const json = JSON.stringify(s);
  if (Buffer.byteLength(json) > NODE_SNAPSHOT_MAX_BYTES) throw new Error(`node snapshot: over ${NODE_SNAPSHOT_MAX_BYTES} bytes`);
  return json;
}

/** A stored snapshot, checked field by field (what another process wrote is not trusted); null when unusable. */
export function decodeNodeSnapshot(text: string): NodeSnapshot | null {
  if (text.length > NODE_SNAPSHOT_MAX_BYTES) return null;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const { role, id, version, startedAt, at, addrs, health, values, rooms } = v;
  if (role !== 'comet' && role !== 'logic' && role !== 'job') return null;
  if (typeof id !== 'string' || typeof startedAt !== 'number' || typeof at !== 'number') return null;
  const vals: Record<string, number> = {};
  if (typeof values === 'object' && values !== null) {
    for (const [k, n] of Object.entries(values as Record<string, unknown>).slice(0, NODE_SNAPSHOT_MAX_VALUES)) {
      if (typeof n === 'number' && Number.isFinite(n)) vals[k] = n;
    }
  }
  return {
    role,
    id,
    version: typeof version === 'string' ? version : '',
    startedAt,
    at,
    addrs: Array.isArray(addrs) ? addrs.filter((a): a is string => typeof a === 'string').slice(0, 16) : [],
    health: typeof health === 'string' ? health : '',
    values: vals,
    ...(Array.isArray(rooms) ? { rooms: roomRates(rooms) } : {}),
  };
}

function roomRates(list: unknown[]): { room: string; perSecond: number }[] {
  const out: { room: string; perSecond: number }[] = [];
  for (const r of list.slice(0, NODE_ROOMS_MAX)) {
    const { room, perSecond } = (r ?? {}) as { room?: unknown; perSecond?: unknown };
    if (typeof room === 'string' && typeof perSecond === 'number' && Number.isFinite(perSecond))
      out.push({ room: room.slice(0, NODE_ROOM_KEY_MAX), perSecond });
  }
  return out;
}

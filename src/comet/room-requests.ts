// Ops 19 and 21, joining and leaving extra rooms (docs/protocol.md#several-rooms): what their
// bodies may say, which rooms the auth mode lets a connection into, and the reply bodies.
import type { HistoryAsk } from '../ports/index.js';
import { historyAsk, HistoryAskError } from '../protocol/history-ask.js';
import { listsRoom } from '../protocol/room-key.js';
import type { Connection } from './connection.js';

/** The reply codes of ops 20 and 22. */
export const JoinCode = {
  Ok: 0,
  /** The body is not a room key nor a valid JSON request. */
  Malformed: 1,
  /** The key's type is not a room type (`type://id`). */
  UnknownType: 2,
  /** The auth mode did not grant the room. */
  NotGranted: 3,
  /** limits.maxRooms reached. */
  TooMany: 4,
  /** The request asks for history, and the connection did not opt in to room history. */
  NoHistory: 5,
  // 6 is not used: a join while the connection's own room replays is accepted (replay.ts toSeat).
  /** Leave: the connection is not in that room. */
  NotIn: 7,
  /** The room is new to this comet, which holds limits.maxCometRooms rooms already. */
  CometFull: 8,
} as const;
export type JoinCode = (typeof JoinCode)[keyof typeof JoinCode];

/** Longest room key ops 19 and 21 take, in bytes (docs/security.md#limits). */
export const MAX_ROOM_KEY_BYTES = 256;

/** A room type as [roomTypes] names them, then "://", then a non-empty id. */
const ROOM_KEY = /^[A-Za-z0-9_.-]+:\/\/./s;

const utf8 = new TextDecoder('utf-8', { fatal: true });

export type Refusal = { ok: false; code: JoinCode; message: string; room?: string };
/** Rooms to join, in order, each with the history the request asked for there (undefined: none said). */
export type RoomRequest = { ok: true; rooms: string[]; asks: (HistoryAsk | undefined)[] } | Refusal;
type KeyCheck = { ok: true; room: string } | Refusal;

function refuse(code: JoinCode, message: string, room?: string): Refusal {
  return room === undefined ? { ok: false, code, message } : { ok: false, code, message, room };
}

/**
 * An op-19 or op-21 body: a room key, or JSON `{"room":"…"}`; op 19 also takes
 * `{"rooms":[…]}` (several rooms in one frame, so a client restoring its rooms stays within
 * the frame rate and the reply ring), whose entries are keys or `{"room":"…","history":{…}}`,
 * and `"history"`, the replay asked for in every room that names none (docs/history.md#several-rooms).
 * Bounded before anything is decoded: the body is at most protocol.maxBody bytes. Every key is
 * checked before any is joined.
 */
export function roomRequest(body: Buffer, join: boolean): RoomRequest {
  if (body.length === 0) return refuse(JoinCode.Malformed, 'empty body: a room key or {"room":"…"} expected');
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return refuse(JoinCode.Malformed, 'body is not UTF-8');
  }
  if (!text.startsWith('{')) return one(checkKey(text), undefined);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return refuse(JoinCode.Malformed, 'body is not valid JSON');
  }
  if (!isObject(v)) return refuse(JoinCode.Malformed, 'body is not a JSON object');
  for (const k of Object.keys(v)) {
    if (k === 'room' || (join && (k === 'rooms' || k === 'history'))) continue;
    return refuse(JoinCode.Malformed, `${JSON.stringify(k.slice(0, 32))} is not a known field`);
  }
  if ((v.room === undefined) === (v.rooms === undefined)) return refuse(JoinCode.Malformed, 'exactly one of "room" and "rooms" expected');
  const all = v.history === undefined ? undefined : ask(v.history);
  if (all instanceof HistoryAskError) return refuse(JoinCode.Malformed, all.message);
  if (v.room !== undefined) {
    if (typeof v.room !== 'string') return refuse(JoinCode.Malformed, '"room" must be a string');
    return one(checkKey(v.room), all);
  }
  const list = v.rooms;
  if (!Array.isArray(list) || list.length === 0) return refuse(JoinCode.Malformed, '"rooms" must be a non-empty array');
  if (all?.since !== undefined && list.length > 1) {
    return refuse(JoinCode.Malformed, 'history.since names a position in one room: give it per room, {"room":"…","history":{…}}');
  }
  const rooms: string[] = [];
  const asks: (HistoryAsk | undefined)[] = [];
  const seen = new Set<string>();
  for (const entry of list as unknown[]) {
    let room: unknown = entry;
    let own: HistoryAsk | undefined;
    if (isObject(entry)) {
      for (const k of Object.keys(entry)) {
        if (k !== 'room' && k !== 'history')
          return refuse(JoinCode.Malformed, `"rooms" entry: ${JSON.stringify(k.slice(0, 32))} is not a known field`);
      }
      room = entry.room;
      if (entry.history !== undefined) {
        const a = ask(entry.history, typeof room === 'string' ? room.slice(0, 64) : 'an entry');
        if (a instanceof HistoryAskError) return refuse(JoinCode.Malformed, a.message);
        own = a;
      }
    }
    if (typeof room !== 'string') return refuse(JoinCode.Malformed, '"rooms" entries must be room keys or {"room":"…","history":{…}}');
    const key = checkKey(room);
    if (!key.ok) return refuse(key.code, key.message, Buffer.byteLength(room) > MAX_ROOM_KEY_BYTES ? undefined : room);
    if (seen.has(room)) continue; // the first mention wins
    seen.add(room);
    rooms.push(room);
    asks.push(own ?? all);
  }
  return { ok: true, rooms, asks };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A history request of a join, or why it is refused (naming the room of a `rooms` entry). */
function ask(value: unknown, room?: string): HistoryAsk | HistoryAskError {
  try {
    return historyAsk(value);
  } catch (err) {
    if (!(err instanceof HistoryAskError)) throw err;
    return room === undefined ? err : new HistoryAskError(`${room}: ${err.message}`);
  }
}

function one(key: KeyCheck, history: HistoryAsk | undefined): RoomRequest {
  return key.ok ? { ok: true, rooms: [key.room], asks: [history] } : key;
}

/** A room key ops 19 and 21 accept, and op 12 of a multi-room connection. */
export function checkKey(room: string): KeyCheck {
  if (Buffer.byteLength(room) > MAX_ROOM_KEY_BYTES) return refuse(JoinCode.Malformed, `room key longer than ${MAX_ROOM_KEY_BYTES} bytes`);
  if (!ROOM_KEY.test(room)) return refuse(JoinCode.UnknownType, 'room key must be type://id with a room type of letters, digits, "_", "." or "-"');
  return { ok: true, room };
}

/**
 * Whether the auth mode lets `c` into `room`, with op 19 or op 12: the room it granted, any room
 * listed (its `rooms` claim, where `type://*` stands for every room of the type), else any room
 * when it granted none (goim's free choice). A list binds even when the token named no room
 * (trustBody): op 12 is an op-19 check then, not the free choice.
 */
export function mayJoin(c: Connection, room: string): boolean {
  if (room === c.grantedRoom) return true;
  const listed = c.allowedRooms;
  if (listed !== null) return listsRoom(listed, room);
  return c.grantedRoom === null;
}

/** The op-20 / op-22 body: the code, when refused a message (and the room refused, of several), and the connection's rooms. */
export function roomsReply(c: Connection, code: JoinCode, message?: string, room?: string): Buffer {
  const rooms = c.seats !== null ? [...c.seats.keys()] : c.room !== null ? [c.room.id] : [];
  if (code === JoinCode.Ok) return Buffer.from(JSON.stringify({ code, rooms }));
  return Buffer.from(JSON.stringify(room === undefined ? { code, message, rooms } : { code, message, room, rooms }));
}

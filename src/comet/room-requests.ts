// Ops 19 and 21, joining and leaving extra rooms (docs/protocol.md#several-rooms): what their
// bodies may say, which rooms the auth mode lets a connection into, and the reply bodies.
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
  /** The request asks for history, which joined rooms do not replay yet. */
  NoHistory: 5,
  /** A history replay of the connection's room is running. */
  Busy: 6,
  /** Leave: the connection is not in that room. */
  NotIn: 7,
} as const;
export type JoinCode = (typeof JoinCode)[keyof typeof JoinCode];

/** Longest room key ops 19 and 21 take, in bytes (docs/security.md#limits). */
export const MAX_ROOM_KEY_BYTES = 256;

/** A room type as [roomTypes] names them, then "://", then a non-empty id. */
const ROOM_KEY = /^[A-Za-z0-9_.-]+:\/\/./s;

const utf8 = new TextDecoder('utf-8', { fatal: true });

export type Refusal = { ok: false; code: JoinCode; message: string; room?: string };
export type RoomRequest = { ok: true; rooms: string[] } | Refusal;
type KeyCheck = { ok: true; room: string } | Refusal;

function refuse(code: JoinCode, message: string, room?: string): Refusal {
  return room === undefined ? { ok: false, code, message } : { ok: false, code, message, room };
}

/**
 * An op-19 or op-21 body: a room key, or JSON `{"room":"…"}`; op 19 also takes
 * `{"rooms":["…",…]}` (several rooms in one frame, so a client restoring its rooms stays within
 * the frame rate and the reply ring) and `"history"` (refused for now). Bounded before anything
 * is decoded: the body is at most protocol.maxBody bytes. Every key is checked before any is joined.
 */
export function roomRequest(body: Buffer, join: boolean): RoomRequest {
  if (body.length === 0) return refuse(JoinCode.Malformed, 'empty body: a room key or {"room":"…"} expected');
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return refuse(JoinCode.Malformed, 'body is not UTF-8');
  }
  if (!text.startsWith('{')) return one(checkKey(text));
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return refuse(JoinCode.Malformed, 'body is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return refuse(JoinCode.Malformed, 'body is not a JSON object');
  const fields = v as Record<string, unknown>;
  for (const k of Object.keys(fields)) {
    if (k === 'room' || (join && (k === 'rooms' || k === 'history'))) continue;
    return refuse(JoinCode.Malformed, `${JSON.stringify(k.slice(0, 32))} is not a known field`);
  }
  if ((fields.room === undefined) === (fields.rooms === undefined)) return refuse(JoinCode.Malformed, 'exactly one of "room" and "rooms" expected');
  if (fields.history !== undefined) return refuse(JoinCode.NoHistory, 'history replay is not available for joined rooms yet: join without "history"');
  if (fields.room !== undefined) {
    if (typeof fields.room !== 'string') return refuse(JoinCode.Malformed, '"room" must be a string');
    return one(checkKey(fields.room));
  }
  const list = fields.rooms;
  if (!Array.isArray(list) || list.length === 0 || list.some((r) => typeof r !== 'string')) {
    return refuse(JoinCode.Malformed, '"rooms" must be a non-empty array of strings');
  }
  for (const r of list as string[]) {
    const key = checkKey(r);
    if (!key.ok) return refuse(key.code, key.message, Buffer.byteLength(r) > MAX_ROOM_KEY_BYTES ? undefined : r);
  }
  return { ok: true, rooms: [...new Set(list as string[])] };
}

function one(key: KeyCheck): RoomRequest {
  return key.ok ? { ok: true, rooms: [key.room] } : key;
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

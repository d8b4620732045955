// What the fuzzer throws: goim frames with mutated headers, random bytes, broken tokens and
// malformed WebSocket frames. Every generator returns bytes and counts the frames in them.
import { DEFAULT_MAX_BODY, encodeFrame, HEADER_LEN } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import type { Rng } from './rng.js';

/** The room the normal clients sit in; fuzz connections join it now and then. */
export const NORMAL_ROOM_TYPE = 'live';
export const NORMAL_ROOM_ID = 'fuzz-normal';
export const NORMAL_ROOM = `${NORMAL_ROOM_TYPE}://${NORMAL_ROOM_ID}`;
export const PUSH_OP = 1000;

const INTERESTING_I32 = [
  0,
  1,
  -1,
  15,
  16,
  17,
  0x7fff,
  0x8000,
  0xffff,
  0x10000,
  0x7fffffff,
  -0x80000000,
  DEFAULT_MAX_BODY,
  DEFAULT_MAX_BODY + 16,
  DEFAULT_MAX_BODY + 17,
];
const OPS = [
  Op.Handshake,
  Op.Heartbeat,
  Op.HeartbeatReply,
  Op.SendMsg,
  Op.Auth,
  Op.AuthReply,
  Op.Raw,
  Op.ProtoReady,
  Op.ChangeRoom,
  Op.Sub,
  Op.Unsub,
  18,
  Op.Join,
  Op.Leave,
  100,
  1000,
  -1,
  0x7fffffff,
  -0x80000000,
];

function randomOp(rng: Rng): number {
  return rng.chance(0.7) ? rng.pick(OPS) : rng.i32();
}

function body(rng: Rng, max = 256): Buffer {
  return rng.bytes(rng.int(max + 1));
}

/** A valid frame of any op, with a small random body. */
export function validFrame(rng: Rng): Buffer {
  const op = randomOp(rng);
  let b: Buffer;
  switch (op) {
    case Op.ChangeRoom:
      b = Buffer.from(
        rng.chance(0.3) ? NORMAL_ROOM : rng.chance(0.5) ? `live://fz-${rng.int(50)}` : rng.bytes(rng.int(40)).toString('latin1'),
        'latin1',
      );
      break;
    case Op.Join:
    case Op.Leave: {
      const room = rng.chance(0.5) ? `live://fz-${rng.int(50)}` : rng.bytes(rng.int(40)).toString('latin1');
      const json = rng.chance(0.3)
        ? JSON.stringify({ room, ...(rng.chance(0.2) ? { history: { last: rng.int(30) } } : {}) })
        : rng.chance(0.2)
          ? JSON.stringify({ rooms: Array.from({ length: rng.range(0, 20) }, () => `live://fz-${rng.int(50)}`) })
          : undefined;
      b = Buffer.from(json ?? room, 'latin1');
      break;
    }
    case Op.Sub:
    case Op.Unsub:
      b = Buffer.from(
        rng.chance(0.6) ? Array.from({ length: rng.range(0, 5) }, () => rng.i32()).join(',') : rng.bytes(rng.int(30)).toString('latin1'),
        'latin1',
      );
      break;
    default:
      b = body(rng, 128);
  }
  return encodeFrame(op, b, rng.range(-0x8000, 0x7fff), rng.i32());
}

/** A frame with one or more header fields broken (or, sometimes, left valid). */
export function mutatedFrame(rng: Rng): Buffer {
  const f = Buffer.from(validFrame(rng));
  const mutations = rng.range(1, 3);
  for (let i = 0; i < mutations; i++) {
    switch (rng.int(7)) {
      case 0: // packLen negative, short, huge, or just off
        f.writeInt32BE(rng.chance(0.5) ? rng.pick(INTERESTING_I32) : rng.i32(), 0);
        break;
      case 1:
        f.writeInt32BE((f.readInt32BE(0) + rng.range(-20, 20)) | 0, 0);
        break;
      case 2: // headerLen != 16
        f.writeInt16BE(rng.chance(0.5) ? rng.pick([0, 1, 15, 17, 32, -16, 0x7fff, -0x8000]) : (rng.i32() << 16) >> 16, 4);
        break;
      case 3:
        f.writeInt16BE((rng.i32() << 16) >> 16, 6);
        break;
      case 4: // op in and out of range
        f.writeInt32BE(rng.chance(0.5) ? rng.pick(INTERESTING_I32) : rng.i32(), 8);
        break;
      case 5:
        f.writeInt32BE(rng.i32(), 12);
        break;
      default: // flip a few bytes anywhere
        for (let k = rng.range(1, 4); k > 0; k--) f[rng.int(f.length)] = rng.u32() & 0xff;
    }
  }
  return f;
}

/** A header announcing more than goim's body limit, followed by (part of) such a body. */
export function oversizedFrame(rng: Rng, maxBody = DEFAULT_MAX_BODY): Buffer {
  const len = maxBody + rng.range(1, 60_000);
  const sent = rng.chance(0.5) ? len : rng.int(len);
  const f = Buffer.alloc(HEADER_LEN + sent);
  f.writeInt32BE(HEADER_LEN + len, 0);
  f.writeInt16BE(HEADER_LEN, 4);
  f.writeInt16BE(1, 6);
  f.writeInt32BE(rng.chance(0.5) ? Op.Auth : randomOp(rng), 8);
  return f;
}

/** A valid frame cut short (the stream then ends). */
function truncatedFrame(rng: Rng): Buffer {
  const f = encodeFrame(randomOp(rng), body(rng, 512), 1, rng.i32());
  return f.subarray(0, rng.int(f.length));
}

export function randomBlob(rng: Rng): Buffer {
  return rng.bytes(rng.range(1, 512));
}

/** Any of the above, mostly broken. */
export function hostileFrame(rng: Rng): Buffer {
  return rng.weighted<() => Buffer>([
    [30, () => mutatedFrame(rng)],
    [25, () => validFrame(rng)],
    [20, () => randomBlob(rng)],
    [10, () => truncatedFrame(rng)],
    [5, () => oversizedFrame(rng)],
    [10, () => authFrame(rng, brokenToken(rng))],
  ])();
}

export interface Token {
  mid: number;
  key: string;
  room_id: string;
  accepts: number[];
}

/** A valid goim token: unique key (never a normal client's), any room, sometimes the normal one. */
export function validToken(rng: Rng, id: number): Token {
  return {
    mid: rng.range(1, 1_000_000),
    key: `fz-${id}-${rng.u32().toString(36)}`,
    room_id: rng.chance(0.3) ? NORMAL_ROOM : `live://fz-${rng.int(50)}`,
    accepts: rng.chance(0.5) ? [PUSH_OP] : Array.from({ length: rng.int(4) }, () => rng.i32()),
  };
}

/** Token text logic should refuse (or accept oddly): bad JSON, wrong types, huge numbers. */
export function brokenToken(rng: Rng): string {
  return rng.pick<() => string>([
    () => rng.bytes(rng.int(200)).toString('latin1'),
    () => JSON.stringify({ mid: 'x', key: 1 }),
    () => `{"mid":${'9'.repeat(rng.range(19, 40))}}`,
    () => `{"mid":1,"accepts":[${rng.i32()}, 1e99]}`,
    () => `{"mid":1,"room_id":${JSON.stringify(NORMAL_ROOM)}`,
    () => '[]',
    () => 'null',
    () => `{"mid":1, "key":"\\ud800", "accepts":[1,]}`,
    () => '{'.repeat(rng.range(1, 2000)),
    () => `{"MID":-9223372036854775808,"KEY":"fz","Room_Id":"live://fz-1"} trailing`,
  ])();
}

export function authFrame(rng: Rng, token: string | Token): Buffer {
  const text = typeof token === 'string' ? token : JSON.stringify(token);
  return encodeFrame(Op.Auth, Buffer.from(text, 'latin1'), 1, rng.i32());
}

// ---- WebSocket framing ----------------------------------------------------------------

interface WsFrameOpts {
  fin?: boolean;
  rsv?: number;
  opcode: number;
  mask?: boolean;
  payload: Buffer;
  /** Announce this length instead of the payload's (lies about the size). */
  announce?: number;
  /** Force the 8-byte length form (non-minimal encoding). */
  long?: boolean;
}

/** One client WebSocket frame, honest or not. */
export function wsFrame(rng: Rng, o: WsFrameOpts): Buffer {
  const len = o.announce ?? o.payload.length;
  const form = o.long ? 8 : len < 126 ? 0 : len < 65536 ? 2 : 8;
  const mask = o.mask ?? true;
  const head = Buffer.alloc(2 + form + (mask ? 4 : 0));
  head[0] = ((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | (o.opcode & 0x0f);
  head[1] = (mask ? 0x80 : 0) | (form === 0 ? len : form === 2 ? 126 : 127);
  if (form === 2) head.writeUInt16BE(len, 2);
  if (form === 8) head.writeBigUInt64BE(BigInt(len), 2);
  let payload = o.payload;
  if (mask) {
    const key = rng.bytes(4);
    key.copy(head, 2 + form);
    payload = Buffer.allocUnsafe(o.payload.length);
    for (let i = 0; i < payload.length; i++) payload[i] = o.payload[i] ^ key[i & 3];
  }
  return Buffer.concat([head, payload]);
}

/** A malformed (or sometimes valid) WebSocket frame for a raw socket after the upgrade. */
export function hostileWsFrame(rng: Rng): Buffer {
  const goim = (): Buffer => (rng.chance(0.5) ? hostileFrame(rng) : validFrame(rng));
  return rng.weighted<() => Buffer>([
    [20, () => wsFrame(rng, { opcode: 0x2, payload: goim() })], // valid binary message, goim frame inside
    [8, () => wsFrame(rng, { opcode: 0x1, payload: goim() })], // text message (goim ignores the type)
    [8, () => wsFrame(rng, { opcode: 0x2, mask: false, payload: goim() })], // unmasked client frame
    [8, () => wsFrame(rng, { opcode: 0x2, rsv: rng.range(1, 7), payload: goim() })], // RSV bits without an extension
    [8, () => wsFrame(rng, { opcode: rng.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]), payload: body(rng, 64) })], // reserved opcodes
    [6, () => wsFrame(rng, { opcode: 0x9, payload: body(rng, 300) })], // ping, sometimes over the 125-byte control limit
    [5, () => wsFrame(rng, { opcode: 0x9, fin: false, payload: body(rng, 20) })], // fragmented control frame
    [6, () => wsFrame(rng, { opcode: 0x0, payload: goim() })], // continuation with nothing to continue
    [6, () => wsFrame(rng, { opcode: 0x2, fin: false, payload: goim() })], // a fragment; what follows decides
    [5, () => wsFrame(rng, { opcode: 0x8, payload: rng.chance(0.5) ? Buffer.from([0x03, 0xe7]) : body(rng, 10) })], // close with odd codes
    [5, () => wsFrame(rng, { opcode: 0x2, payload: body(rng, 40), announce: rng.pick([0x7fff_ffff, 2 ** 53 - 1, 70_000]), long: true })], // lies about its length
    [5, () => wsFrame(rng, { opcode: 0x2, payload: rng.bytes(rng.range(8193, 20_000)) })], // over maxPayload
    [5, () => wsFrame(rng, { opcode: 0x2, payload: goim(), long: true })], // non-minimal length encoding
    [5, () => randomBlob(rng)], // not a WebSocket frame at all
  ])();
}

/** Something that is not a valid WebSocket upgrade request. */
export function badHttp(rng: Rng, host: string): Buffer {
  const key = rng.bytes(16).toString('base64');
  return Buffer.from(
    rng.pick<() => string>([
      () => rng.bytes(rng.range(1, 600)).toString('latin1'),
      () => `GET /sub HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n`, // no key
      () =>
        `GET /sub HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 99\r\n\r\n`,
      () =>
        `GET /other HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      () => `GET /sub HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
      () => `POST /sub HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 100000000\r\n\r\n${'x'.repeat(rng.int(3000))}`,
      () => `GET /sub HTTP/1.1\r\n${'X-Pad: y\r\n'.repeat(rng.range(1, 3000))}\r\n`,
      () =>
        `GET /sub HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`, // never finished
    ])(),
    'latin1',
  );
}

/** A valid upgrade request; the key is returned to check the answer is a 101. */
export function upgradeRequest(rng: Rng, host: string): Buffer {
  const key = rng.bytes(16).toString('base64');
  return Buffer.from(
    `GET /sub HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
}

// goim frame codec for clients (docs/protocol.md#frames, #pushes-on-the-wire). Uses only
// Uint8Array/DataView and TextEncoder/TextDecoder so the same code runs in browsers and in
// Node; the server-side codec in src/protocol/frame.ts is Buffer-based and stays there.
//
//   0       4         6     8       12      16
//   packLen headerLen ver   op      seq     body…      (all big-endian)

export { Op } from './ops.js';

export const HEADER_LEN = 16;
/** goim's client→server body limit (2^12); a larger frame makes the comet close the connection. */
export const MAX_CLIENT_BODY = 4096;
/** Server pushes have no protocol limit; this guards a stream reader against garbage lengths. */
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024;

export interface ClientFrame {
  ver: number;
  op: number;
  seq: number;
  body: Uint8Array;
}

export interface DecodedFrame extends ClientFrame {
  /** Bytes the frame occupies (header + body); the next frame starts at offset + packLen. */
  packLen: number;
}

export class CodecError extends Error {
  override name = 'CodecError';
}

const EMPTY = new Uint8Array(0);
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** UTF-8 text of `bytes` (invalid sequences become U+FFFD, never an exception). */
export function text(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One complete frame as bytes. A string body is sent as UTF-8. */
export function encodeFrame(op: number, body: Uint8Array | string = EMPTY, ver = 1, seq = 0): Uint8Array {
  const payload = typeof body === 'string' ? utf8(body) : body;
  const out = new Uint8Array(HEADER_LEN + payload.length);
  const view = viewOf(out);
  view.setInt32(0, HEADER_LEN + payload.length);
  view.setInt16(4, HEADER_LEN);
  view.setInt16(6, (ver << 16) >> 16); // only the low 16 bits go on the wire, as in goim
  view.setInt32(8, op | 0);
  view.setInt32(12, seq | 0);
  out.set(payload, HEADER_LEN);
  return out;
}

/**
 * Decodes the frame starting at `offset`. Returns null when fewer bytes than the whole frame
 * are available (a stream reader waits for more); throws CodecError on an impossible header.
 * The body is a view into `bytes`, not a copy. The body starts after `headerLen` bytes, as the
 * goim JavaScript client reads it.
 */
export function decodeFrame(bytes: Uint8Array, offset = 0, maxFrame = DEFAULT_MAX_FRAME): DecodedFrame | null {
  if (bytes.length - offset < HEADER_LEN) return null;
  const view = viewOf(bytes);
  const packLen = view.getInt32(offset);
  const headerLen = view.getInt16(offset + 4);
  if (headerLen < HEADER_LEN) throw new CodecError(`bad headerLen ${headerLen} at offset ${offset}`);
  if (packLen < headerLen) throw new CodecError(`bad packLen ${packLen} (headerLen ${headerLen}) at offset ${offset}`);
  if (packLen > maxFrame) throw new CodecError(`packLen ${packLen} exceeds limit ${maxFrame}`);
  if (bytes.length - offset < packLen) return null;
  return {
    ver: view.getInt16(offset + 6),
    op: view.getInt32(offset + 8),
    seq: view.getInt32(offset + 12),
    body: packLen === headerLen ? EMPTY : bytes.subarray(offset + headerLen, offset + packLen),
    packLen,
  };
}

/**
 * Iterates frames laid back to back in `bytes` (an op-9 body, or a room batch on TCP).
 * Throws CodecError when the bytes end inside a frame.
 */
export function* eachFrame(bytes: Uint8Array): Generator<DecodedFrame> {
  let off = 0;
  while (off < bytes.length) {
    const frame = decodeFrame(bytes, off);
    if (frame === null) throw new CodecError(`truncated frame at offset ${off} of ${bytes.length}`);
    off += frame.packLen;
    yield frame;
  }
}

/**
 * The frames one WebSocket message delivers (docs/protocol.md#pushes-on-the-wire): the inner
 * frames when it is an op-9 envelope (possibly none), otherwise the message's single frame.
 * Bytes after the outer packLen are ignored, as goim's reader does.
 */
export function messageFrames(message: Uint8Array): DecodedFrame[] {
  const outer = decodeFrame(message, 0);
  if (outer === null) throw new CodecError(`message of ${message.length} bytes holds no whole frame`);
  return outer.op === 9 ? [...eachFrame(outer.body)] : [outer];
}

/**
 * An op-23 body (docs/protocol.md#several-rooms): the room it is for and its frames (one or
 * more, as a TCP client gets a room batch; iterate them with eachFrame). Throws CodecError
 * when the room does not fit.
 */
export function roomMessage(body: Uint8Array): { room: string; frames: Uint8Array } {
  if (body.length < 2) throw new CodecError(`room message of ${body.length} bytes has no room length`);
  const len = (body[0] << 8) | body[1];
  if (2 + len > body.length) throw new CodecError(`room message of ${body.length} bytes cannot hold a room of ${len} bytes`);
  return { room: text(body.subarray(2, 2 + len)), frames: body.subarray(2 + len) };
}

/** The room online count carried by a heartbeat reply (op 3): int32 BE, 0 when absent. */
export function onlineCount(body: Uint8Array): number {
  return body.length >= 4 ? viewOf(body).getInt32(0) : 0;
}

/**
 * Incremental reader for a byte stream (the raw TCP protocol). Chunks may split frames
 * anywhere; bodies handed out stay valid because chunks are never reused.
 */
export class FrameStreamReader {
  private pending: Uint8Array = EMPTY;

  constructor(private readonly maxFrame = DEFAULT_MAX_FRAME) {}

  /** Feeds a chunk; calls onFrame per complete frame. Throws CodecError on a bad header. */
  push(chunk: Uint8Array, onFrame: (frame: DecodedFrame) => void): void {
    let buf: Uint8Array;
    if (this.pending.length === 0) {
      buf = chunk;
    } else {
      buf = new Uint8Array(this.pending.length + chunk.length);
      buf.set(this.pending, 0);
      buf.set(chunk, this.pending.length);
    }
    const frames: DecodedFrame[] = [];
    let off = 0;
    for (;;) {
      const frame = decodeFrame(buf, off, this.maxFrame);
      if (frame === null) break;
      off += frame.packLen;
      frames.push(frame);
    }
    // Settle the reader before handing frames out, so a throwing callback cannot replay them.
    this.pending = off === buf.length ? EMPTY : buf.slice(off);
    for (const frame of frames) onFrame(frame);
  }

  /** Bytes received that do not yet form a whole frame. */
  get buffered(): number {
    return this.pending.length;
  }
}

// goim frame codec (docs/protocol.md#frames). Hand-written: it sits on every read and write.
//
//   0       4        6     8       12      16
//   packLen headerLen ver   op      seq     body…      (all big-endian)

export const HEADER_LEN = 16;
/** goim's client→server body limit (2^12). Server→client frames have no limit. */
export const DEFAULT_MAX_BODY = 4096;

export interface Frame {
  ver: number;
  op: number;
  seq: number;
  body: Buffer;
}

export class FrameError extends Error {
  override name = 'FrameError';

  constructor(
    message: string,
    /** The frame is over the body limit (protocol.maxBody): counted as limit client_frame_size. */
    readonly tooLarge = false,
  ) {
    super(message);
  }
}

const EMPTY = Buffer.alloc(0);

/** Writes a 16-byte header at `offset` for a body of `bodyLen` bytes. */
export function writeHeader(buf: Buffer, offset: number, bodyLen: number, ver: number, op: number, seq: number): void {
  buf.writeInt32BE(HEADER_LEN + bodyLen, offset);
  buf.writeInt16BE(HEADER_LEN, offset + 4);
  buf.writeInt16BE((ver << 16) >> 16, offset + 6); // low 16 bits, as goim puts on the wire
  buf.writeInt32BE(op | 0, offset + 8);
  buf.writeInt32BE(seq | 0, offset + 12);
}

/** One complete frame as bytes. */
export function encodeFrame(op: number, body: Uint8Array = EMPTY, ver = 1, seq = 0): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_LEN + body.length);
  writeHeader(buf, 0, body.length, ver, op, seq);
  if (body.length > 0) buf.set(body, HEADER_LEN);
  return buf;
}

function checkHeader(packLen: number, headerLen: number, maxBody: number): void {
  if (headerLen !== HEADER_LEN) throw new FrameError(`bad headerLen ${headerLen} (want ${HEADER_LEN})`);
  // goim accepts packLen < 16 on TCP as an empty body (docs/protocol.md#differs-tcp-short-packlen); tsim rejects it.
  if (packLen < HEADER_LEN) throw new FrameError(`bad packLen ${packLen} (< ${HEADER_LEN})`);
  if (packLen > HEADER_LEN + maxBody) throw new FrameError(`packLen ${packLen} exceeds limit ${HEADER_LEN + maxBody}`, true);
}

/**
 * Decodes the single frame carried by one WebSocket message
 * (docs/protocol.md#reading-client-frames). Bytes after packLen are ignored as goim does; a
 * packLen beyond the message is an error (docs/protocol.md#differs-ws-packlen-beyond-message).
 */
export function decodeMessageFrame(data: Buffer, maxBody = DEFAULT_MAX_BODY): Frame {
  if (data.length < HEADER_LEN) throw new FrameError(`message of ${data.length} bytes is shorter than a header`);
  const packLen = data.readInt32BE(0);
  checkHeader(packLen, data.readInt16BE(4), maxBody);
  if (packLen > data.length) throw new FrameError(`packLen ${packLen} exceeds message length ${data.length}`);
  return {
    ver: data.readInt16BE(6),
    op: data.readInt32BE(8),
    seq: data.readInt32BE(12),
    body: packLen === HEADER_LEN ? EMPTY : data.subarray(HEADER_LEN, packLen),
  };
}

/**
 * Incremental decoder for a TCP byte stream. Bodies are copied out of the stream so that
 * echoed replies never alias later reads (docs/protocol.md#reading-client-frames).
 */
export class FrameReader {
  private pending: Buffer = EMPTY;

  constructor(private readonly maxBody = DEFAULT_MAX_BODY) {}

  /** Feeds a chunk; calls onFrame per complete frame. Throws FrameError on a bad header. */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let off = 0;
    while (buf.length - off >= HEADER_LEN) {
      const packLen = buf.readInt32BE(off);
      checkHeader(packLen, buf.readInt16BE(off + 4), this.maxBody);
      if (buf.length - off < packLen) break;
      const frame: Frame = {
        ver: buf.readInt16BE(off + 6),
        op: buf.readInt32BE(off + 8),
        seq: buf.readInt32BE(off + 12),
        body: packLen === HEADER_LEN ? EMPTY : Buffer.from(buf.subarray(off + HEADER_LEN, off + packLen)),
      };
      off += packLen;
      onFrame(frame);
    }
    this.pending = off === buf.length ? EMPTY : Buffer.from(buf.subarray(off));
  }
}

/**
 * Splits concatenated frames (an op-9 body, or bytes read from a TCP push stream).
 * Used by clients; the server never needs it. Throws FrameError on a truncated frame.
 */
export function splitFrames(data: Buffer): Frame[] {
  const out: Frame[] = [];
  let off = 0;
  while (off < data.length) {
    if (data.length - off < HEADER_LEN) throw new FrameError('truncated frame header');
    const packLen = data.readInt32BE(off);
    const headerLen = data.readInt16BE(off + 4);
    if (packLen < headerLen || headerLen < HEADER_LEN || off + packLen > data.length) {
      throw new FrameError(`bad inner frame packLen=${packLen} headerLen=${headerLen}`);
    }
    out.push({
      ver: data.readInt16BE(off + 6),
      op: data.readInt32BE(off + 8),
      seq: data.readInt32BE(off + 12),
      body: data.subarray(off + headerLen, off + packLen),
    });
    off += packLen;
  }
  return out;
}

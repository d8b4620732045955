// Counting goim frames as cheaply as a load client can: the counter walks packLen headers
// over a TCP byte stream and skips bodies without copying them, so reading costs no
// allocation per frame. A few connections also sample latency: for those, the first bytes
// of each body are copied into a small scratch buffer and handed to a callback.
import { HEADER_LEN } from '../../src/protocol/frame.js';

/** Called with the first `len` body bytes of each complete frame (sampling counters only). */
export type BodySample = (scratch: Buffer, len: number) => void;

export class CorruptStreamError extends Error {
  override name = 'CorruptStreamError';
}

export class StreamFrameCounter {
  /** Complete frames seen since construction. */
  frames = 0;
  /** Bytes still to skip in the current frame; 0 at a frame boundary. */
  private rest = 0;
  /** Bytes of the current frame consumed (to place sampled body bytes). */
  private pos = 0;
  /** packLen bytes gathered so far when a header straddles two chunks. */
  private lenBytes = 0;
  private len = 0;
  private readonly scratch: Buffer | null;

  /** @param scratchBytes how many body bytes `sample` sees (0 = no sampling). */
  constructor(
    private readonly sample: BodySample | null = null,
    scratchBytes = 32,
  ) {
    this.scratch = sample === null ? null : Buffer.allocUnsafe(scratchBytes);
  }

  /** Consumes buf[start, end); returns how many frames completed in it. */
  push(buf: Buffer, start: number, end: number): number {
    let i = start;
    let done = 0;
    while (i < end) {
      if (this.rest === 0) {
        if (this.lenBytes === 0 && end - i >= 4) {
          this.len = buf.readUInt32BE(i);
          i += 4;
        } else {
          while (this.lenBytes < 4 && i < end) {
            this.len = this.len * 256 + buf[i++];
            this.lenBytes++;
          }
          if (this.lenBytes < 4) break;
          this.lenBytes = 0;
        }
        if (this.len < HEADER_LEN) throw new CorruptStreamError(`packLen ${this.len} < ${HEADER_LEN}`);
        this.rest = this.len - 4;
        this.pos = 4;
        this.len = 0;
      }
      const take = Math.min(this.rest, end - i);
      if (this.scratch !== null) this.capture(buf, i, take);
      i += take;
      this.rest -= take;
      this.pos += take;
      if (this.rest === 0) {
        done++;
        if (this.scratch !== null) this.sample!(this.scratch, Math.min(this.pos - HEADER_LEN, this.scratch.length));
      }
    }
    this.frames += done;
    return done;
  }

  /** Copies the part of buf[i, i+take) that falls in the body's first scratch bytes. */
  private capture(buf: Buffer, i: number, take: number): void {
    const scratch = this.scratch!;
    const from = Math.max(this.pos, HEADER_LEN);
    const to = Math.min(this.pos + take, HEADER_LEN + scratch.length);
    if (from >= to) return;
    buf.copy(scratch, from - HEADER_LEN, i + (from - this.pos), i + (to - this.pos));
  }
}

/**
 * Walks the inner frames of one WebSocket message (an op-9 envelope, docs/protocol.md#pushes-on-the-wire) and returns
 * how many there are; `sample`, when given, sees each inner frame's body offsets.
 */
export function countEnvelope(msg: Buffer, sample: ((msg: Buffer, bodyStart: number, bodyEnd: number) => void) | null = null): number {
  let n = 0;
  let off = HEADER_LEN;
  const end = msg.length;
  while (end - off >= HEADER_LEN) {
    const packLen = msg.readUInt32BE(off);
    if (packLen < HEADER_LEN || off + packLen > end) throw new CorruptStreamError(`inner packLen ${packLen} at ${off} of ${end}`);
    if (sample !== null) sample(msg, off + HEADER_LEN, off + packLen);
    off += packLen;
    n++;
  }
  return n;
}

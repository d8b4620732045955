// The load workers that read whole frames (danmaku, persist, recovery, inbox, multiroom) share
// this walk over a TCP stream: complete frames of a chunk, with what the previous chunk left.
import { HEADER_LEN } from '../../src/protocol/frame.js';

/** A connection's bytes past its last complete frame. */
export interface FrameCarry {
  pending: Buffer | null;
}

/**
 * Calls `each(buf, start, end)` for every complete frame of `chunk`, after what `carry` kept from
 * the previous chunk, and keeps the incomplete rest (a copy: the chunk may live in a shared read
 * buffer). Returns 'corrupt stream' for a packLen below the header, or the first error `each`
 * returns; null when the chunk was read.
 */
export function eachFrame(carry: FrameCarry, chunk: Buffer, each: (buf: Buffer, start: number, end: number) => string | null | void): string | null {
  let buf = chunk;
  if (carry.pending !== null) {
    buf = Buffer.concat([carry.pending, chunk]);
    carry.pending = null;
  }
  let off = 0;
  while (buf.length - off >= HEADER_LEN) {
    const len = buf.readUInt32BE(off);
    if (len < HEADER_LEN) return 'corrupt stream';
    if (buf.length - off < len) break;
    const err = each(buf, off, off + len);
    if (typeof err === 'string') return err;
    off += len;
  }
  if (off < buf.length) carry.pending = Buffer.from(buf.subarray(off));
  return null;
}

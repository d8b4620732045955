// The bytes comet writes: replies (one frame) and pushes (encoded once per push call).
// A WebSocket connection gets each frame as one binary message; a TCP connection gets the
// frame itself, except that an op-9 push is unwrapped to its inner frames
// (docs/protocol.md#pushes-on-the-wire).
import { asBuffer } from '../lib/bytes.js';
import type { Proto } from '../ports/index.js';
import { HEADER_LEN, writeHeader } from '../protocol/frame.js';
import { Op } from '../protocol/ops.js';
import { WS_BINARY, wsHeaderLen, writeWsHeader } from './ws-frame.js';

const EMPTY = Buffer.alloc(0);

/** One frame (header + body), wrapped in a binary WebSocket frame when `ws`. */
export function frameBytes(ws: boolean, op: number, ver: number, seq: number, body: Uint8Array = EMPTY): Buffer {
  const len = HEADER_LEN + body.length;
  const at = ws ? wsHeaderLen(len) : 0;
  const buf = Buffer.allocUnsafe(at + len);
  if (ws) writeWsHeader(buf, WS_BINARY, len);
  writeHeader(buf, at, body.length, ver, op, seq);
  if (body.length > 0) buf.set(body, at + HEADER_LEN);
  return buf;
}

/** Heartbeat reply: op 3 with the int32 BE online count as its 4-byte body (docs/protocol.md#operations). */
export function heartbeatReplyBytes(ws: boolean, ver: number, seq: number, count: number): Buffer {
  const at = ws ? 2 : 0;
  const buf = Buffer.allocUnsafe(at + HEADER_LEN + 4);
  if (ws) writeWsHeader(buf, WS_BINARY, HEADER_LEN + 4);
  writeHeader(buf, at, 4, ver, Op.HeartbeatReply, seq);
  buf.writeInt32BE(count | 0, at + HEADER_LEN);
  return buf;
}

/**
 * One push, encoded at most once per transport however many sockets it is written to.
 * TCP: an op-9 proto's body is written raw (its inner frames), any other proto as a frame.
 * WebSocket: the whole proto as one frame in one binary message, built on first use.
 */
export class PushBytes {
  private tcpBytes: Buffer | undefined;
  private wsBytes: Buffer | undefined;

  constructor(private readonly proto: Proto) {}

  tcp(): Buffer {
    if (this.tcpBytes === undefined) {
      const p = this.proto;
      this.tcpBytes = p.op === Op.Raw ? asBuffer(p.body) : frameBytes(false, p.op, p.ver, p.seq, p.body);
    }
    return this.tcpBytes;
  }

  ws(): Buffer {
    if (this.wsBytes === undefined) {
      const p = this.proto;
      this.wsBytes = frameBytes(true, p.op, p.ver, p.seq, p.body);
    }
    return this.wsBytes;
  }
}

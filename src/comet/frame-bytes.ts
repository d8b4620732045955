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

/** A room batch's inner frames as comet reads them (docs/history.md#opting-in): where the offsets stand. */
export interface BatchScan {
  /** Highest and lowest offset (seq) of a room message in the batch; 0 when none carries one. */
  offset: number;
  first: number;
  /** Some frame carries an offset or is op 18: goim clients get a copy without them. */
  tagged: boolean;
}

/**
 * Walks the frame headers of an op-9 body (packLen, op, seq); a malformed tail ends the walk.
 * Cheap: no copy, one read per header.
 */
export function scanBatch(body: Uint8Array): BatchScan {
  const b = asBuffer(body);
  let offset = 0;
  let first = 0;
  let tagged = false;
  for (let at = 0; at + HEADER_LEN <= b.length;) {
    const len = b.readInt32BE(at);
    if (len < HEADER_LEN || at + len > b.length) break;
    const op = b.readInt32BE(at + 8);
    const seq = b.readUInt32BE(at + 12);
    if (op === Op.RoomState) tagged = true;
    else if (seq !== 0) {
      tagged = true;
      if (seq > offset) offset = seq;
      if (first === 0 || seq < first) first = seq;
    }
    at += len;
  }
  return { offset, first, tagged };
}

/**
 * The frames of an op-9 body that `keep` accepts, with `zeroSeq` their seq set to 0; null
 * when every frame is kept unchanged (no copy needed).
 */
function rewriteBatch(body: Uint8Array, keep: (op: number, seq: number) => boolean, zeroSeq: boolean): Buffer | null {
  const b = asBuffer(body);
  const parts: Buffer[] = [];
  let changed = false;
  let at = 0;
  while (at + HEADER_LEN <= b.length) {
    const len = b.readInt32BE(at);
    if (len < HEADER_LEN || at + len > b.length) break;
    const op = b.readInt32BE(at + 8);
    const seq = b.readUInt32BE(at + 12);
    const frame = b.subarray(at, at + len);
    at += len;
    if (!keep(op, seq)) {
      changed = true;
      continue;
    }
    if (zeroSeq && seq !== 0) {
      const copy = Buffer.from(frame);
      copy.writeInt32BE(0, 12);
      parts.push(copy);
      changed = true;
    } else parts.push(frame);
  }
  if (at < b.length) parts.push(b.subarray(at)); // a malformed tail passes as it came
  return changed ? Buffer.concat(parts) : null;
}

/** goim's bytes of a room batch: no op-18 frame, seq 0 everywhere. */
export function goimBatch(body: Uint8Array): Buffer | null {
  return rewriteBatch(body, (op) => op !== Op.RoomState, true);
}

/** A held batch without the room messages a replay already sent (offset ≤ `last`). */
export function batchAfter(body: Uint8Array, last: number): Buffer | null {
  return rewriteBatch(body, (op, seq) => op === Op.RoomState || seq === 0 || seq > last, false);
}

/**
 * One push, encoded at most once per transport however many sockets it is written to.
 * TCP: an op-9 proto's body is written raw (its inner frames), any other proto as a frame.
 * WebSocket: the whole proto as one frame in one binary message, built on first use.
 * A room batch carrying offsets has a second, goim variant (`goim()`) for connections that
 * did not opt in to history, built on first use.
 */
export class PushBytes {
  private tcpBytes: Buffer | undefined;
  private wsBytes: Buffer | undefined;
  private goimBytes: PushBytes | undefined;

  constructor(readonly proto: Proto) {}

  /** The bytes for connections that did not opt in: this when the batch is not tagged (see scanBatch). */
  goim(tagged: boolean): PushBytes {
    if (!tagged) return this;
    if (this.goimBytes === undefined) {
      const body = goimBatch(this.proto.body);
      // A batch of op-18 frames only is nothing for a goim client.
      this.goimBytes = body === null ? this : body.length === 0 ? NOTHING : new PushBytes({ ...this.proto, body });
    }
    return this.goimBytes;
  }

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

/**
 * A room batch as a multi-room connection receives it (docs/protocol.md#several-rooms): one
 * op-23 frame (ver 1, seq 0) whose body is the room id's length (u16), the room id (UTF-8)
 * and the batch's frames as a TCP client gets them. Built once per room batch and variant.
 */
export function roomEnvelope(roomId: string, batch: PushBytes): PushBytes {
  const frames = batch.tcp();
  if (frames.length === 0) return NOTHING;
  const idLen = Buffer.byteLength(roomId);
  const body = Buffer.allocUnsafe(2 + idLen + frames.length);
  body.writeUInt16BE(idLen, 0);
  body.write(roomId, 2);
  body.set(frames, 2 + idLen);
  return new PushBytes({ ver: 1, op: Op.RoomMessage, seq: 0, body });
}

/** A push with no bytes: Outbound writes nothing for it. */
class NoBytes extends PushBytes {
  override tcp(): Buffer {
    return EMPTY;
  }
  override ws(): Buffer {
    return EMPTY;
  }
}
const NOTHING: PushBytes = new NoBytes({ ver: 1, op: Op.Raw, seq: 0, body: EMPTY });

// The protos job sends to comets (docs/internal-protocol.md, "What job sends"; byte examples
// in docs/goim-test-vectors.md, "Room batch of two messages", "Single push"). Built once per
// message or batch and handed unchanged to every comet.
import type { Proto } from '../ports/index.js';
import { HEADER_LEN, encodeFrame, writeHeader } from '../protocol/frame.js';
import { Op } from '../protocol/ops.js';

/** The frame a client receives for one pushed message: ver 1, op = operation, seq 0. */
function pushFrame(operation: number, msg: Uint8Array): Buffer {
  return encodeFrame(operation, msg, 1, 0);
}

/** Proto{ver 1, op 9, seq 0, body = inner frame} for PUSH and BROADCAST. */
export function pushProto(operation: number, msg: Uint8Array): Proto {
  return { ver: 1, op: Op.Raw, seq: 0, body: pushFrame(operation, msg) };
}

/** Op 18, RoomState: a history room's epoch and range (docs/history.md#opting-in). */
export const ROOM_STATE_OP = 18;

/**
 * Proto{ver 1, op 9, seq 0, body = frame‖frame‖…} for a room batch: one allocation, each
 * message's header written in place ahead of its body. `seqs`: each inner frame's seq — a
 * history room's offsets (docs/history.md#offsets-and-epochs); absent = all 0, goim's bytes.
 * Offsets are u32 on the wire; the header holds them as the same four bytes.
 */
export function roomBatchProto(ops: readonly number[], msgs: readonly Uint8Array[], byteLength: number, seqs?: readonly number[] | null): Proto {
  const body = Buffer.allocUnsafe(byteLength);
  let off = 0;
  for (let i = 0; i < ops.length; i++) {
    const msg = msgs[i];
    writeHeader(body, off, msg.length, 1, ops[i], seqs ? seqs[i] : 0);
    body.set(msg, off + HEADER_LEN);
    off += HEADER_LEN + msg.length;
  }
  return { ver: 1, op: Op.Raw, seq: 0, body };
}

/** The body of an op-18 frame announcing a room's new epoch inside its stream: `first` is the epoch's first offset. */
export function roomStateBody(room: string, epoch: string, first: number): Buffer {
  return Buffer.from(JSON.stringify({ room, epoch, first }));
}

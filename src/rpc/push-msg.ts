// goim.logic.PushMsg, the value of each queue record (docs/internal-protocol.md, "The queue
// message"): what logic publishes and job consumes. Byte-compatible with goim's Kafka record
// values (docs/goim-test-vectors.md, "Protobuf encodings").
import { asBuffer } from '../lib/bytes.js';
import type { PushMsg } from '../ports/index.js';
import { PushMsg as PushMsgMessage } from './gen/goim/logic/logic.js';

export function encodePushMsg(msg: PushMsg): Uint8Array {
  return PushMsgMessage.encode({
    type: msg.type,
    operation: msg.operation,
    speed: msg.speed,
    server: msg.server,
    room: msg.room,
    keys: msg.keys,
    msg: asBuffer(msg.msg),
  }).finish();
}

/** Throws on malformed bytes or an unknown `type` (goim's job logs and skips such records). */
export function decodePushMsg(bytes: Uint8Array): PushMsg {
  const m = PushMsgMessage.decode(bytes);
  const type = m.type as number;
  if (type !== 0 && type !== 1 && type !== 2) throw new Error(`push message: unknown type ${type}`);
  return {
    type,
    operation: m.operation,
    speed: m.speed,
    server: m.server,
    room: m.room,
    keys: m.keys,
    msg: m.msg,
  };
}

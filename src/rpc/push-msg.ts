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
    // Unset extensions encode to nothing: goim's bytes (docs/history.md#the-queue-message).
    id: msg.id ?? '',
    sender: msg.sender ?? 0n,
    time: BigInt(msg.time ?? 0),
    progress: msg.progress !== undefined ? BigInt(msg.progress) : undefined,
    inboxMids: msg.inbox?.mids ?? [],
    inboxSeqs: msg.inbox?.seqs.map(BigInt) ?? [],
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
    ...(m.id !== '' ? { id: m.id } : {}),
    ...(m.sender !== 0n ? { sender: m.sender } : {}),
    ...(m.time !== 0n ? { time: Number(m.time) } : {}),
    ...(m.progress !== undefined ? { progress: Number(m.progress) } : {}),
    // Lists of different lengths are not a durable push: delivered as a plain one.
    ...(m.inboxMids.length > 0 && m.inboxMids.length === m.inboxSeqs.length ? { inbox: { mids: m.inboxMids, seqs: m.inboxSeqs.map(Number) } } : {}),
  };
}

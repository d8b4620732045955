// Which partition a PushMsg goes to (docs/internal-protocol.md, "Partitions"). goim keys
// each Kafka record — PUSH: first key, ROOM: room key, BROADCAST: decimal operation — and its
// Go client picks the partition with FNV-1a 32 over the key, taken as int32, mod the
// partition count, sign dropped. The same rule here keeps everything of one room (or one
// connection key) in one partition, which is what keeps it in order.
import { PushType, type PushMsg } from '../../ports/index.js';

const utf8 = new TextEncoder();

/** goim's record key of a message. */
export function recordKey(msg: PushMsg): string {
  switch (msg.type) {
    case PushType.PUSH:
      return msg.keys.length > 0 ? msg.keys[0] : msg.server;
    case PushType.ROOM:
      return msg.room;
    default:
      return String(msg.operation);
  }
}

/** FNV-1a, 32-bit. */
export function fnv1a32(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** FNV-1a 32 of the UTF-8 bytes of `key`; an ASCII key (the usual room key) is hashed as it is, without encoding it first. */
export function fnv1a32Key(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80) return fnv1a32(utf8.encode(key));
    h ^= c;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The hash partitioner of goim's Kafka client: |int32(fnv1a(key)) % n|. */
export function partitionOfKey(key: string, partitions: number): number {
  return Math.abs((fnv1a32Key(key) | 0) % partitions); // abs also turns -0 into 0
}

export function partitionOf(msg: PushMsg, partitions: number): number {
  return partitionOfKey(recordKey(msg), partitions);
}

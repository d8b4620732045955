// goim.protocol.Proto between the generated type (bytes as Buffer) and the port type.
import { asBuffer } from '../../lib/bytes.js';
import type { Proto } from '../../ports/index.js';
import type { Proto as WireProto } from '../../rpc/gen/goim/protocol/protocol.js';

const EMPTY = Buffer.alloc(0);

export function toWireProto(p: Proto): WireProto {
  return { ver: p.ver, op: p.op, seq: p.seq, body: asBuffer(p.body) };
}

/** An absent proto (possible on the wire) reads as an empty one. */
export function fromWireProto(p: WireProto | undefined): Proto {
  return p ?? { ver: 0, op: 0, seq: 0, body: EMPTY };
}

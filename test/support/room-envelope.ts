// An op-23 frame as a multi-room connection receives it (docs/protocol.md#several-rooms): the
// room it names and the frames inside, for tests to assert on.
import assert from 'node:assert/strict';
import type { Frame } from './goim-client.js';

export interface EnvelopedFrame {
  op: number;
  seq: number;
  body: Buffer;
}

/** The room and frames of an op-23 frame; fails the test on another op. */
export function openEnvelope(f: Frame): { room: string; frames: EnvelopedFrame[] } {
  assert.equal(f.op, 23, `expected op 23, got ${f.op}`);
  const b = Buffer.from(f.body);
  const len = b.readUInt16BE(0);
  const frames: EnvelopedFrame[] = [];
  for (let at = 2 + len; at < b.length;) {
    const packLen = b.readInt32BE(at);
    frames.push({ op: b.readInt32BE(at + 8), seq: b.readUInt32BE(at + 12), body: b.subarray(at + 16, at + packLen) });
    at += packLen;
  }
  return { room: b.subarray(2, 2 + len).toString(), frames };
}

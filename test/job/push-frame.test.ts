import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pushProto, roomBatchProto } from '../../src/job/push-frame.js';
import type { Proto } from '../../src/ports/index.js';
import { hex, unhex } from './fakes.js';

/** goim.protocol.Proto in protobuf (fields 1 ver, 2 op, 3 seq, 4 body; zero values omitted). */
function encodeProto(p: Proto): Buffer {
  const out: number[] = [];
  const varint = (v: number) => {
    let n = BigInt.asUintN(64, BigInt(v));
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n > 0n) b |= 0x80;
      out.push(b);
    } while (n > 0n);
  };
  const field = (no: number, v: number) => {
    if (v === 0) return;
    varint(no << 3);
    varint(v);
  };
  field(1, p.ver);
  field(2, p.op);
  field(3, p.seq);
  if (p.body.length > 0) {
    varint((4 << 3) | 2);
    varint(p.body.length);
    out.push(...p.body);
  }
  return Buffer.from(out);
}

test('PUSH proto: op-9 envelope around the single-push vector frame, encoded as the protobuf vector', () => {
  const proto = pushProto(1000, Buffer.from('hello'));
  assert.equal(proto.ver, 1);
  assert.equal(proto.op, 9);
  assert.equal(proto.seq, 0);
  assert.equal(hex(proto.body), hex(unhex('00 00 00 15 00 10 00 01 00 00 03 e8 00 00 00 00 68 65 6c 6c 6f')));
  assert.equal(hex(encodeProto(proto)), hex(unhex('08 01 | 10 09 | 22 15 00 00 00 15 00 10 00 01 00 00 03 e8 00 00 00 00 68 65 6c 6c 6f')));
});

test('room batch proto: two messages concatenated as the room-batch vector', () => {
  const body1 = Buffer.from('{"test":1}');
  const body2 = Buffer.from('{"test":2}');
  const proto = roomBatchProto([1000, 1000], [body1, body2], 52);
  assert.deepEqual({ ver: proto.ver, op: proto.op, seq: proto.seq }, { ver: 1, op: 9, seq: 0 });
  assert.equal(
    hex(proto.body),
    hex(
      unhex(
        '00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 31 7d ' +
          '00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 32 7d',
      ),
    ),
  );
});

test('negative and empty operations/bodies keep their frame layout', () => {
  const proto = roomBatchProto([-1, 7], [Buffer.alloc(0), Buffer.from('x')], 16 + 17);
  assert.equal(hex(proto.body), hex(unhex('00000010 0010 0001 ffffffff 00000000 00000011 0010 0001 00000007 00000000 78')));
});

test('room batch proto with seqs: all-zero seqs give the goim bytes; others land in each inner header as u32', () => {
  const bodies = [Buffer.from('{"test":1}'), Buffer.from('{"test":2}')];
  const goim = roomBatchProto([1000, 1000], bodies, 52);
  assert.equal(hex(roomBatchProto([1000, 1000], bodies, 52, [0, 0]).body), hex(goim.body));
  assert.equal(hex(roomBatchProto([1000, 1000], bodies, 52, null).body), hex(goim.body));
  const numbered = roomBatchProto([1000, 18], bodies, 52, [2 ** 32 - 1, 7]);
  assert.equal(
    hex(numbered.body),
    hex(
      unhex(
        '00 00 00 1a 00 10 00 01 00 00 03 e8 ff ff ff ff 7b 22 74 65 73 74 22 3a 31 7d ' +
          '00 00 00 1a 00 10 00 01 00 00 00 12 00 00 00 07 7b 22 74 65 73 74 22 3a 32 7d',
      ),
    ),
  );
  assert.equal(numbered.seq, 0, 'the envelope keeps seq 0');
});

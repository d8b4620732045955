// Generated message codecs against the byte vectors of docs/goim-test-vectors.md#protobuf-encodings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Proto } from '../../src/rpc/gen/goim/protocol/protocol.js';
import { ConnectReply, ConnectReq } from '../../src/rpc/gen/goim/logic/logic.js';
import { BroadcastRoomReq, PushMsgReq } from '../../src/rpc/gen/goim/comet/comet.js';

const hex = (s: string) => Buffer.from(s.replace(/[\s|]+/g, ''), 'hex');

test('goim.protocol.Proto op 9 carrying a frame', () => {
  const bytes = hex('08 01 | 10 09 | 22 15 00 00 00 15 00 10 00 01 00 00 03 e8 00 00 00 00 68 65 6c 6c 6f');
  const body = hex('00 00 00 15 00 10 00 01 00 00 03 e8 00 00 00 00 68 65 6c 6c 6f');
  const p = { ver: 1, op: 9, seq: 0, body };
  assert.deepEqual(Buffer.from(Proto.encode(p).finish()), bytes);
  assert.deepEqual(Proto.decode(bytes), p);
});

test('goim.logic.ConnectReq omits the empty cookie', () => {
  const bytes = hex('0a 07 63 6f 6d 65 74 30 31 | 1a 09 7b 22 6d 69 64 22 3a 31 7d');
  const req = { server: 'comet01', cookie: '', token: Buffer.from('{"mid":1}'), clientIp: '' };
  assert.deepEqual(Buffer.from(ConnectReq.encode(req).finish()), bytes);
  assert.deepEqual(ConnectReq.decode(bytes), req);
});

test('goim.logic.ConnectReply packs accepts and carries ns heartbeat', () => {
  const bytes = hex('08 7b | 12 03 61 62 63 | 1a 0b 6c 69 76 65 3a 2f 2f 31 30 30 30 | 22 06 e8 07 e9 07 ea 07 | 28 80 80 eb 91 fc 0d');
  const reply = {
    mid: 123n,
    key: 'abc',
    roomID: 'live://1000',
    accepts: [1000, 1001, 1002],
    heartbeat: 480_000_000_000n,
    roomFixed: false,
    acceptsFixed: false,
    offsets: false,
    historyLast: 0,
    historySince: undefined,
    historyEpoch: '',
    inbox: false,
    roomsListed: false,
    rooms: [],
  };
  assert.deepEqual(Buffer.from(ConnectReply.encode(reply).finish()), bytes);
  assert.deepEqual(ConnectReply.decode(bytes), reply);
});

test('ConnectReply: the room_fixed / accepts_fixed extensions (fields 100, 101) are unknown fields to goim, false when absent', () => {
  const reply = {
    mid: 1n,
    key: '',
    roomID: 'live://1',
    accepts: [],
    heartbeat: 0n,
    roomFixed: true,
    acceptsFixed: true,
    offsets: false,
    historyLast: 0,
    historySince: undefined,
    historyEpoch: '',
    inbox: false,
    roomsListed: false,
    rooms: [],
  };
  const bytes = Buffer.from(ConnectReply.encode(reply).finish());
  // Tags 100 and 101, varint 1: a goim (Go proto3) decoder keeps them as unknown fields.
  assert.deepEqual(bytes.subarray(bytes.length - 6), hex('a0 06 01 a8 06 01'));
  assert.deepEqual(ConnectReply.decode(bytes), reply);
  assert.equal(ConnectReply.decode(hex('1a 08 6c 69 76 65 3a 2f 2f 31')).roomFixed, false);
});

test('ConnectReply: the rooms extension (fields 107, 108) tells an empty list from none', () => {
  const base = ConnectReply.decode(hex('1a 01 72'));
  const listed = { ...base, roomsListed: true, rooms: ['chat://1', 'news://*'] };
  const bytes = Buffer.from(ConnectReply.encode(listed).finish());
  // Tag 107 varint (d8 06 01), then tag 108 length-delimited (e2 06) once per room.
  assert.deepEqual(bytes, hex('1a 01 72 | d8 06 01 | e2 06 08 63 68 61 74 3a 2f 2f 31 | e2 06 08 6e 65 77 73 3a 2f 2f 2a'));
  assert.deepEqual(ConnectReply.decode(bytes), listed);
  const none = { ...base, roomsListed: true, rooms: [] };
  assert.deepEqual(ConnectReply.decode(ConnectReply.encode(none).finish()), none);
  assert.equal(base.roomsListed, false);
});

test('ConnectReply decodes unpacked accepts too (proto3 parsers accept both)', () => {
  const unpacked = hex('20 e8 07 20 e9 07');
  assert.deepEqual(ConnectReply.decode(unpacked).accepts, [1000, 1001]);
});

test('int64 mids beyond 2^53 and negative mids survive', () => {
  for (const mid of [9007199254740993n, -1n, (1n << 63n) - 1n, -(1n << 63n)]) {
    const reply = {
      mid,
      key: '',
      roomID: '',
      accepts: [],
      heartbeat: 0n,
      roomFixed: false,
      acceptsFixed: false,
      offsets: false,
      historyLast: 0,
      historySince: undefined,
      historyEpoch: '',
      inbox: false,
      roomsListed: false,
      rooms: [],
    };
    assert.equal(ConnectReply.decode(ConnectReply.encode(reply).finish()).mid, mid);
  }
});

test('comet requests keep goim field numbers (PushMsgReq protoOp = 3, BroadcastRoomReq roomID = 1)', () => {
  const push = PushMsgReq.encode({
    keys: ['k'],
    protoOp: 1000,
    proto: { ver: 1, op: 9, seq: 0, body: Buffer.alloc(0) },
    inboxMids: [],
    inboxSeqs: [],
  }).finish();
  // Field-number order, as Go encoders write it: keys (1), proto (2), protoOp (3).
  assert.deepEqual(Buffer.from(push), hex('0a 01 6b | 12 04 08 01 10 09 | 18 e8 07'));
  // A durable push's users and seqs (fields 100, 101, packed): unknown fields to goim's comet.
  const durable = PushMsgReq.encode({ keys: ['k'], protoOp: 1000, proto: undefined, inboxMids: [7n], inboxSeqs: [3n] }).finish();
  assert.deepEqual(Buffer.from(durable), hex('0a 01 6b | 18 e8 07 | a2 06 01 07 | aa 06 01 03'));
  const room = BroadcastRoomReq.encode({ roomID: 'r', proto: { ver: 0, op: 0, seq: 0, body: Buffer.alloc(0) } }).finish();
  assert.deepEqual(Buffer.from(room), hex('0a 01 72 | 12 00'));
});

test('ConnectReq client_ip is an extra field (100) that goim parsers skip', () => {
  const bytes = Buffer.from(ConnectReq.encode({ server: 's', cookie: '', token: Buffer.alloc(0), clientIp: '1.2.3.4' }).finish());
  // tag (100 << 3 | 2) = 802 → varint a2 06.
  assert.deepEqual(bytes, hex('0a 01 73 | a2 06 07 31 2e 32 2e 33 2e 34'));
});

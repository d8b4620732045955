import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePushMsg, encodePushMsg } from '../../src/rpc/push-msg.js';
import { PushType, type PushMsg } from '../../src/ports/index.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/[\s|]+/g, ''), 'hex'));
const text = (s: string) => new TextEncoder().encode(s);

function msg(partial: Partial<PushMsg>): PushMsg {
  return { type: PushType.PUSH, operation: 0, speed: 0, server: '', room: '', keys: [], msg: new Uint8Array(0), ...partial };
}

function roundTrip(m: PushMsg, vector: string) {
  const bytes = hex(vector);
  assert.deepEqual(Buffer.from(encodePushMsg(m)), Buffer.from(bytes));
  const back = decodePushMsg(bytes);
  assert.deepEqual({ ...back, msg: Buffer.from(back.msg) }, { ...m, msg: Buffer.from(m.msg) });
}

test('ROOM push message matches its protobuf vector', () => {
  roundTrip(
    msg({ type: PushType.ROOM, operation: 1000, room: 'live://1000', msg: text('{"test":1}') }),
    '08 01 | 10 e8 07 | 2a 0b 6c 69 76 65 3a 2f 2f 31 30 30 30 | 3a 0a 7b 22 74 65 73 74 22 3a 31 7d',
  );
});

test('PUSH message omits type 0 and repeats keys', () => {
  roundTrip(
    msg({ type: PushType.PUSH, operation: 1000, server: 'comet01', keys: ['k1', 'k2'], msg: text('hello') }),
    '10 e8 07 | 22 07 63 6f 6d 65 74 30 31 | 32 02 6b 31 | 32 02 6b 32 | 3a 05 68 65 6c 6c 6f',
  );
});

test('BROADCAST message carries speed', () => {
  roundTrip(msg({ type: PushType.BROADCAST, operation: 1000, speed: 100, msg: text('hi') }), '08 02 | 10 e8 07 | 18 64 | 3a 02 68 69');
});

test('negative operation is a 10-byte varint', () => {
  roundTrip(msg({ operation: -1 }), '10 ff ff ff ff ff ff ff ff ff 01');
});

test('all-default message encodes to nothing and decodes back', () => {
  assert.equal(encodePushMsg(msg({})).length, 0);
  assert.deepEqual(decodePushMsg(new Uint8Array(0)).keys, []);
});

test('a body that is a view into a larger buffer is encoded from its own bytes only', () => {
  const big = text('xxhelloxx');
  const view = big.subarray(2, 7);
  const back = decodePushMsg(encodePushMsg(msg({ msg: view })));
  assert.equal(Buffer.from(back.msg).toString(), 'hello');
});

test('unknown type and malformed bytes are rejected', () => {
  assert.throws(() => decodePushMsg(hex('08 03')), /unknown type 3/);
  assert.throws(() => decodePushMsg(hex('3a 05 68')));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PushType, type PushMsg } from '../../src/ports/index.js';
import { fnv1a32, fnv1a32Key, partitionOf, partitionOfKey, recordKey } from '../../src/adapters/nats/partition.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function msg(over: Partial<PushMsg>): PushMsg {
  return { type: PushType.PUSH, operation: 1000, speed: 0, server: 'comet01', room: '', keys: [], msg: new Uint8Array(), ...over };
}

test('FNV-1a 32 reference values', () => {
  assert.equal(fnv1a32(utf8('')), 0x811c9dc5);
  assert.equal(fnv1a32(utf8('a')), 0xe40c292c);
  assert.equal(fnv1a32(utf8('foobar')), 0xbf9cf968);
});

test('a key string hashes as its UTF-8 bytes, ASCII or not', () => {
  for (const key of ['', 'a', 'live://1000', 'chat://7', 'live://房间', 'é', 'mixed-ascii-then-ü-and-😀', '\u007f\u0080']) {
    assert.equal(fnv1a32Key(key), fnv1a32(utf8(key)), JSON.stringify(key));
  }
});

test('record keys as goim keys its Kafka records', () => {
  assert.equal(recordKey(msg({ type: PushType.PUSH, keys: ['k1', 'k2'] })), 'k1');
  assert.equal(recordKey(msg({ type: PushType.ROOM, room: 'live://1000' })), 'live://1000');
  assert.equal(recordKey(msg({ type: PushType.BROADCAST, operation: 1000 })), '1000');
  assert.equal(recordKey(msg({ type: PushType.PUSH, keys: [] })), 'comet01');
});

test('partition = |int32(fnv1a(key)) % n|, like the Go hash partitioner', () => {
  // independent computation with BigInt: reinterpret as int32, truncated remainder, absolute value
  const ref = (key: string, n: number): number => {
    let h = BigInt(fnv1a32(utf8(key)));
    if (h >= 2n ** 31n) h -= 2n ** 32n;
    const r = h % BigInt(n); // BigInt % truncates toward zero, like Go
    return Number(r < 0n ? -r : r);
  };
  let negatives = 0;
  for (let i = 0; i < 500; i++) {
    const key = `live://${i}`;
    if (fnv1a32(utf8(key)) >= 2 ** 31) negatives++;
    for (const n of [1, 3, 8, 64]) {
      const p = partitionOfKey(key, n);
      assert.equal(p, ref(key, n), `${key} mod ${n}`);
      assert.ok(p >= 0 && p < n);
    }
  }
  assert.ok(negatives > 100, 'keys with a negative int32 hash are covered');
  assert.equal(partitionOf(msg({ type: PushType.ROOM, room: 'live://7' }), 8), partitionOfKey('live://7', 8));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeOnlineShard, encodeOnlineShard } from '../../src/adapters/redis/online-json.js';
import { compareCodePoints, goJsonString } from '../../src/protocol/go/go-json.js';

test('the ol_ shard value (docs/internal-protocol.md#session-store-redis)', () => {
  assert.equal(
    encodeOnlineShard('comet01', { 'live://1000': 3 }, 1700000000),
    '{"server":"comet01","room_count":{"live://1000":3},"updated":1700000000}',
  );
  assert.equal(encodeOnlineShard('c', {}, 5), '{"server":"c","room_count":{},"updated":5}');
});

test('strings are escaped as Go encoding/json escapes them', () => {
  // HTML-safe escapes, short escapes, other controls as \u00XX, line/paragraph separators
  assert.equal(goJsonString('a<b>&"\\'), '"a\\u003cb\\u003e\\u0026\\"\\\\"');
  assert.equal(goJsonString('\n\r\t\b\f\u0001\u001f'), '"\\n\\r\\t\\b\\f\\u0001\\u001f"');
  assert.equal(goJsonString('x\u2028y\u2029'), '"x\\u2028y\\u2029"');
  // non-ASCII is written as UTF-8, a lone surrogate (what Go's decoder makes U+FFFD) as U+FFFD
  assert.equal(goJsonString('房间😀'), '"房间😀"');
  assert.equal(goJsonString('a\ud800b'), '"a\ufffdb"');
  // anything plain round-trips through JSON.parse
  for (const s of ['', 'live://1000', 'a<b>&"\\\n', '房间😀']) assert.equal(JSON.parse(goJsonString(s)), s);
});

test('room keys sort by UTF-8 bytes, as Go sorts map keys', () => {
  const rooms = ['b', 'a', 'ab', 'A', '\uffff', '😀', 'é'];
  const sorted = [...rooms].sort(compareCodePoints);
  const byBytes = [...rooms].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  assert.deepEqual(sorted, byBytes);
  assert.equal(
    encodeOnlineShard('s', { b: 1, a: 2, '😀': 3, '\uffff': 4 }, 1),
    '{"server":"s","room_count":{"a":2,"b":1,"\uffff":4,"😀":3},"updated":1}',
  );
});

test('decoding tolerates foreign or broken values', () => {
  assert.deepEqual(decodeOnlineShard('{"server":"s","room_count":{"r":2},"updated":9}'), { server: 's', roomCount: { r: 2 }, updated: 9 });
  assert.equal(decodeOnlineShard('nope'), null);
  assert.equal(decodeOnlineShard('3'), null);
  assert.deepEqual(decodeOnlineShard('{"room_count":{"r":"x","__proto__":1}}'), {
    server: '',
    roomCount: JSON.parse('{"__proto__":1}') as Record<string, number>,
    updated: 0,
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cityHash32, cityHash32String } from '../../src/protocol/cityhash.js';

// docs/goim-test-vectors.md#cityhash32: input, hash, mod 32 (comet bucket), mod 64 (`ol_` field)
const vectors: Array<[string | Uint8Array, number, number, number]> = [
  ['', 3696677242, 26, 58],
  ['a', 1016544589, 13, 13],
  [Uint8Array.of(0xff, 0x80), 3747635810, 2, 34],
  ['abcd', 2562006677, 21, 21],
  ['k1', 1504690615, 23, 55],
  ['comet01', 1803861664, 0, 32],
  ['test_key', 1285076266, 10, 42],
  ['test://1', 4274401948, 28, 28],
  ['live://1000', 1126145323, 11, 43],
  ['live://1001', 1386120391, 7, 7],
  ['test://room_01', 1969132470, 22, 54],
  ['test://test_room', 4181585595, 27, 59],
  ['hello world, this is a longer key!', 2996532114, 18, 18],
  ['7d0c5b36-1bfb-4a4e-8f3c-8a1f2b3c4d5e', 3937709939, 19, 51],
  ['0123456789abcdefghijklmnopqrstuvwxyz0123456789', 2572427275, 11, 11],
];

for (const [input, hash, mod32, mod64] of vectors) {
  const name = typeof input === 'string' ? JSON.stringify(input) : `bytes ${Buffer.from(input).toString('hex')}`;
  test(`cityHash32 ${name}`, () => {
    const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
    const h = cityHash32(bytes);
    assert.equal(h, hash);
    assert.equal(h % 32, mod32);
    assert.equal(h % 64, mod64);
    if (typeof input === 'string') assert.equal(cityHash32String(input), hash);
  });
}

test('cityHash32 covers every length path with unsigned 32-bit results', () => {
  const bytes = new Uint8Array(100);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37 + 200) & 0xff;
  const seen = new Set<number>();
  for (let len = 0; len <= bytes.length; len++) {
    const h = cityHash32(bytes.subarray(0, len));
    assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff, `len ${len}: ${h}`);
    seen.add(h);
  }
  // distinct prefixes hash apart (no path collapses to a constant)
  assert.equal(seen.size, bytes.length + 1);
});

test('cityHash32 reads a subarray at its own offset', () => {
  const whole = new TextEncoder().encode('xxlive://1000yy');
  assert.equal(cityHash32(whole.subarray(2, 13)), 1126145323);
});

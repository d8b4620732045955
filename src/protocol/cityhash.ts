// Google CityHash v1.1, 32-bit variant (CityHash32), as in the Go port goim uses
// (github.com/zhenjl/cityhash): 4-byte words read little-endian, and bytes taken as
// *signed* in the ≤4-byte path. goim shards comet buckets and the Redis `ol_<server>`
// fields with it (docs/internal-protocol.md#cityhash32), so TS and Go logic instances can share Redis.
// All arithmetic is modulo 2^32: Math.imul for products, `>>> 0` to stay unsigned.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function fetch32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

function rotate32(v: number, shift: number): number {
  return shift === 0 ? v >>> 0 : ((v >>> shift) | (v << (32 - shift))) >>> 0;
}

function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mur(a: number, h: number): number {
  a = Math.imul(a, C1);
  a = rotate32(a, 17);
  a = Math.imul(a, C2);
  h ^= a;
  h = rotate32(h, 19);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

function hash32Len0to4(s: Uint8Array): number {
  const len = s.length;
  let b = 0;
  let c = 9;
  for (let i = 0; i < len; i++) {
    const v = (s[i] << 24) >> 24; // signed char
    b = (Math.imul(b, C1) + v) >>> 0;
    c = (c ^ b) >>> 0;
  }
  return fmix(mur(b, mur(len, c)));
}

function hash32Len5to12(s: Uint8Array): number {
  const len = s.length;
  let a = len;
  let b = Math.imul(len, 5) >>> 0;
  let c = 9;
  const d = b;
  a = (a + fetch32(s, 0)) >>> 0;
  b = (b + fetch32(s, len - 4)) >>> 0;
  c = (c + fetch32(s, (len >>> 1) & 4)) >>> 0;
  return fmix(mur(c, mur(b, mur(a, d))));
}

function hash32Len13to24(s: Uint8Array): number {
  const len = s.length;
  const a = fetch32(s, (len >>> 1) - 4);
  const b = fetch32(s, 4);
  const c = fetch32(s, len - 8);
  const d = fetch32(s, len >>> 1);
  const e = fetch32(s, 0);
  const f = fetch32(s, len - 4);
  return fmix(mur(f, mur(e, mur(d, mur(c, mur(b, mur(a, len)))))));
}

/** CityHash32 of `bytes` as an unsigned 32-bit integer. */
export function cityHash32(bytes: Uint8Array): number {
  const len = bytes.length;
  if (len <= 4) return hash32Len0to4(bytes);
  if (len <= 12) return hash32Len5to12(bytes);
  if (len <= 24) return hash32Len13to24(bytes);

  const s = bytes;
  let h = len >>> 0;
  let g = Math.imul(C1, len) >>> 0;
  let f = g;
  const a0 = Math.imul(rotate32(Math.imul(fetch32(s, len - 4), C1), 17), C2) >>> 0;
  const a1 = Math.imul(rotate32(Math.imul(fetch32(s, len - 8), C1), 17), C2) >>> 0;
  const a2 = Math.imul(rotate32(Math.imul(fetch32(s, len - 16), C1), 17), C2) >>> 0;
  const a3 = Math.imul(rotate32(Math.imul(fetch32(s, len - 12), C1), 17), C2) >>> 0;
  const a4 = Math.imul(rotate32(Math.imul(fetch32(s, len - 20), C1), 17), C2) >>> 0;
  h ^= a0;
  h = rotate32(h, 19);
  h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  h ^= a2;
  h = rotate32(h, 19);
  h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  g ^= a1;
  g = rotate32(g, 19);
  g = (Math.imul(g, 5) + 0xe6546b64) >>> 0;
  g ^= a3;
  g = rotate32(g, 19);
  g = (Math.imul(g, 5) + 0xe6546b64) >>> 0;
  f = (f + a4) >>> 0;
  f = rotate32(f, 19);
  f = (Math.imul(f, 5) + 0xe6546b64) >>> 0;

  let iters = Math.floor((len - 1) / 20);
  let p = 0;
  do {
    const b0 = Math.imul(rotate32(Math.imul(fetch32(s, p), C1), 17), C2) >>> 0;
    const b1 = fetch32(s, p + 4);
    const b2 = Math.imul(rotate32(Math.imul(fetch32(s, p + 8), C1), 17), C2) >>> 0;
    const b3 = Math.imul(rotate32(Math.imul(fetch32(s, p + 12), C1), 17), C2) >>> 0;
    const b4 = fetch32(s, p + 16);
    h ^= b0;
    h = rotate32(h, 18);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
    f = (f + b1) >>> 0;
    f = rotate32(f, 19);
    f = Math.imul(f, C1) >>> 0;
    g = (g + b2) >>> 0;
    g = rotate32(g, 18);
    g = (Math.imul(g, 5) + 0xe6546b64) >>> 0;
    h ^= (b3 + b1) >>> 0;
    h = rotate32(h, 19);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
    g ^= b4;
    g = Math.imul(bswap32(g), 5) >>> 0;
    h = (h + Math.imul(b4, 5)) >>> 0;
    h = bswap32(h);
    f = (f + b0) >>> 0;
    // PERMUTE3(f, h, g): swap(f, h); swap(f, g)
    const t = f;
    f = g;
    g = h;
    h = t;
    p += 20;
  } while (--iters !== 0);

  g = Math.imul(rotate32(g, 11), C1) >>> 0;
  g = Math.imul(rotate32(g, 17), C1) >>> 0;
  f = Math.imul(rotate32(f, 11), C1) >>> 0;
  f = Math.imul(rotate32(f, 17), C1) >>> 0;
  h = rotate32((h + g) >>> 0, 19);
  h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  h = Math.imul(rotate32(h, 17), C1) >>> 0;
  h = rotate32((h + f) >>> 0, 19);
  h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  h = Math.imul(rotate32(h, 17), C1) >>> 0;
  return h;
}

const utf8 = new TextEncoder();

/** CityHash32 of a string's UTF-8 bytes (connection keys, room keys). */
export function cityHash32String(text: string): number {
  return cityHash32(utf8.encode(text));
}

// The JSON of one `ol_<server>` shard exactly as goim's Go logic writes it (spec §4.4,
// §10.16): `{"server":…,"room_count":{…},"updated":…}`, compact, room keys sorted the way
// Go sorts map keys (by UTF-8 bytes), strings escaped as Go's encoding/json escapes them
// (HTML-safe: <, >, & as \u003c…; U+2028/U+2029; invalid UTF-16 as \ufffd). Byte equality
// matters when Go and TS logic instances share one Redis.
import type { ServerOnline } from '../../ports/index.js';

const HEX = '0123456789abcdef';

/** A JSON string literal as Go's encoding/json writes it. */
export function goJsonString(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | null = null;
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26) {
      switch (c) {
        case 0x22:
          esc = '\\"';
          break;
        case 0x5c:
          esc = '\\\\';
          break;
        case 0x0a:
          esc = '\\n';
          break;
        case 0x0d:
          esc = '\\r';
          break;
        case 0x09:
          esc = '\\t';
          break;
        case 0x08:
          esc = '\\b';
          break;
        case 0x0c:
          esc = '\\f';
          break;
        default:
          esc = '\\u00' + HEX[c >> 4] + HEX[c & 0xf];
      }
    } else if (c === 0x2028 || c === 0x2029) {
      esc = c === 0x2028 ? '\\u2028' : '\\u2029';
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair is written as is
        continue;
      }
      esc = '\\ufffd';
    }
    if (esc !== null) {
      out += s.slice(start, i) + esc;
      start = i + 1;
    }
  }
  return out + s.slice(start) + '"';
}

/** Compares by code point, which orders like UTF-8 bytes (Go's map key order). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800–DFFF) stand for code points above U+FFFF: they sort after U+E000–FFFF.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** One shard's value: `{"server":"…","room_count":{…sorted…},"updated":<unix s>}`. */
export function encodeOnlineShard(server: string, roomCount: Record<string, number>, updated: number): string {
  const rooms = Object.keys(roomCount).sort(compareCodePoints);
  let counts = '';
  for (const room of rooms) {
    if (counts !== '') counts += ',';
    counts += goJsonString(room) + ':' + String(Math.trunc(roomCount[room]));
  }
  return `{"server":${goJsonString(server)},"room_count":{${counts}},"updated":${Math.trunc(updated)}}`;
}

/** Parses one shard value; null when it is not goim's shape (logged and skipped by callers). */
export function decodeOnlineShard(text: string): ServerOnline | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as { server?: unknown; room_count?: unknown; updated?: unknown };
  const counts: Array<[string, number]> = [];
  if (typeof o.room_count === 'object' && o.room_count !== null) {
    for (const [room, n] of Object.entries(o.room_count as Record<string, unknown>)) {
      if (typeof n === 'number' && Number.isFinite(n)) counts.push([room, n]);
    }
  }
  return {
    server: typeof o.server === 'string' ? o.server : '',
    // fromEntries defines own properties, so even a room named "__proto__" stays data
    roomCount: Object.fromEntries(counts),
    updated: typeof o.updated === 'number' ? o.updated : 0,
  };
}

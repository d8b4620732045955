// JSON text as Go's encoding/json writes it, wherever tsim must write goim's bytes: the HTTP
// API's answers (docs/http-api.md) and the room counts in Redis
// (docs/internal-protocol.md#session-store-redis). `<`, `>`, `&`, U+2028 and U+2029 escaped,
// maps with their keys in byte order, structs in field order, no trailing newline.

const HTML_UNSAFE = /[<>&\u2028\u2029]/g;
const HTML_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/**
 * A JSON string literal with Go's escaping. A lone surrogate is written as U+FFFD: in tsim it
 * comes from a JSON `\udXXX` escape (gRPC and TextDecoder never make one), which Go's decoder
 * turns into U+FFFD, and Go writes that character as it is.
 */
export function goJsonString(s: string): string {
  const text = JSON.stringify((s as string & { toWellFormed(): string }).toWellFormed());
  return text.replace(HTML_UNSAFE, (c) => HTML_ESCAPES[c]);
}

/** Orders strings as Go compares them: by UTF-8 bytes, i.e. by code point. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+10000 and up) must sort after U+E000..U+FFFF.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Encodes `value` like encoding/json: a `Map` is a Go map (keys sorted), a plain object
 * is a struct (its keys in insertion order — never integer-like names), `undefined`
 * properties are omitted (omitempty is the caller's job), numbers print as Go prints
 * float64/int (JavaScript's shortest form uses the same exponent thresholds).
 */
export function goJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return goJsonString(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return 'null';
    case 'object':
      break;
    default:
      throw new TypeError(`goJson: cannot encode ${typeof value}`);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return '[' + value.map(goJson).join(',') + ']';
  if (value instanceof Map) {
    const keys = [...value.keys()].map(String).sort(compareCodePoints);
    return '{' + keys.map((k) => goJsonString(k) + ':' + goJson(value.get(k))).join(',') + '}';
  }
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined) parts.push(goJsonString(k) + ':' + goJson(v));
  }
  return '{' + parts.join(',') + '}';
}

/**
 * The value Go prints for a float32 field: the shortest decimal that reads back as the
 * same float32 (goim's backoff factor and jitter are float32).
 */
export function float32Shortest(x: number): number {
  const f = Math.fround(x);
  if (!Number.isFinite(f) || f === 0) return f;
  for (let p = 1; p <= 9; p++) {
    const d = Number(f.toPrecision(p));
    if (Math.fround(d) === f) return d;
  }
  return f;
}

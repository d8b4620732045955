// Identity fields as JWT claims and webhook answers carry them (JSON decoded by JSON.parse):
// mid as an integer number or a decimal string, room and key as strings, accepts as int32s.

/** A field of the wrong type or range; the message names the field, never its value. */
export class ClaimError extends Error {
  override name = 'ClaimError';
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const DECIMAL = /^-?\d{1,20}$/;

/**
 * mid as int64. Numbers past 2^53 were already rounded by JSON.parse, so they are refused
 * rather than silently naming another user: such ids must be sent as strings.
 */
export function midOf(value: unknown, name: string): bigint {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return BigInt(value);
    if (Number.isInteger(value)) throw new ClaimError(`${name} beyond 2^53 must be a decimal string`);
    throw new ClaimError(`${name} must be an integer`);
  }
  if (typeof value === 'string' && DECIMAL.test(value)) {
    const v = BigInt(value);
    if (v < INT64_MIN || v > INT64_MAX) throw new ClaimError(`${name} is out of the int64 range`);
    return v;
  }
  throw new ClaimError(`${name} must be an integer`);
}

/** Whether `value` is a string midOf accepts (used for the "sub" fallback). */
export function isDecimal(value: unknown): value is string {
  return typeof value === 'string' && DECIMAL.test(value);
}

/** A string field, or undefined when absent (null counts as absent). */
export function stringOf(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ClaimError(`${name} must be a string`);
  return value;
}

/** An int32 array, or undefined when absent (null counts as absent). */
export function acceptsOf(value: unknown, name: string): number[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new ClaimError(`${name} must be an array of integers`);
  const out: number[] = [];
  for (const v of value) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      throw new ClaimError(`${name} must hold int32 integers`);
    }
    out.push(v === 0 ? 0 : v);
  }
  return out;
}

/** Most entries of a `rooms` claim, and the longest one in bytes (the comet's join bound: docs/security.md#limits). */
const MAX_ROOMS_CLAIM = 1024;
const MAX_ROOM_KEY_BYTES = 256;

/** A list of room keys (`type://*` allowed), or undefined when absent (null counts as absent). */
export function roomsOf(value: unknown, name: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new ClaimError(`${name} must be an array of room keys`);
  if (value.length > MAX_ROOMS_CLAIM) throw new ClaimError(`${name} lists more than ${MAX_ROOMS_CLAIM} rooms`);
  for (const v of value) {
    if (typeof v !== 'string' || v === '' || Buffer.byteLength(v) > MAX_ROOM_KEY_BYTES) {
      throw new ClaimError(`${name} must hold room keys of 1 to ${MAX_ROOM_KEY_BYTES} bytes`);
    }
  }
  return value as string[];
}

/** Printable, bounded text from a remote party (for the log). */
export function sanitize(text: string, max = 100): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

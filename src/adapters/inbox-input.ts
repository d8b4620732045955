// What every inbox engine (memory/, sqlite/, postgres/) refuses before it stores anything, so
// that they agree: mids that are not int64 (a SQL engine could not bind them) or repeated in
// one append or too many of them, an item a column cannot hold or over the body limit, a device key an index cannot, and NaN where a seq or a retention number goes (a
// NaN watermark would compare false with every seq, and a prune would take the whole inbox).
import { DEFAULT_INBOX_LIMITS, INBOX_MAX_MIDS, type InboxItem, type InboxLimits, type InboxPruneRule } from '../ports/index.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT32_MAX = 2 ** 31 - 1;

/** Throws a RangeError when there are more than INBOX_MAX_MIDS mids, or a mid is outside int64 or appears twice. */
export function checkMids(mids: bigint[]): void {
  if (mids.length > INBOX_MAX_MIDS) throw new RangeError(`inbox: ${mids.length} mids in one append, at most ${INBOX_MAX_MIDS}`);
  const seen = new Set<bigint>();
  for (const mid of mids) {
    if (mid < INT64_MIN || mid > INT64_MAX) throw new RangeError(`inbox: mid ${mid} is outside int64`);
    if (seen.has(mid)) throw new RangeError(`inbox: mid ${mid} appears twice in one append`);
    seen.add(mid);
  }
}

/** Throws a RangeError when the item's body is over `maxBodyBytes`, its op is not an int32, its time not an integer (ms), or its id holds NUL. */
export function checkItem(item: InboxItem, maxBodyBytes: number): void {
  if (item.body.byteLength > maxBodyBytes) throw new RangeError(`inbox: a body of ${item.body.byteLength} bytes, at most ${maxBodyBytes}`);
  if (item.id.includes('\0')) throw new RangeError('inbox: a message id cannot hold NUL');
  if (!Number.isInteger(item.op) || item.op < -INT32_MAX - 1 || item.op > INT32_MAX) throw new RangeError(`inbox: op ${item.op} is not an int32`);
  if (!Number.isSafeInteger(item.time)) throw new RangeError(`inbox: time ${item.time} is not an integer`);
}

/** Longest device key, UTF-8 bytes: well within a PostgreSQL index entry (about 2,700 bytes). */
const KEY_MAX_BYTES = 1024;

/** Throws a RangeError when a device key holds NUL (PostgreSQL text cannot) or is longer than KEY_MAX_BYTES. */
export function checkKey(key: string): void {
  if (key.includes('\0')) throw new RangeError('inbox: a device key cannot hold NUL');
  if (Buffer.byteLength(key) > KEY_MAX_BYTES) throw new RangeError(`inbox: a device key is at most ${KEY_MAX_BYTES} bytes`);
}

/** The store's limits: `given` over the defaults, each a positive integer (a RangeError otherwise). */
export function inboxLimits(given: Partial<InboxLimits> = {}): InboxLimits {
  const limits: InboxLimits = {
    maxDevices: given.maxDevices ?? DEFAULT_INBOX_LIMITS.maxDevices,
    maxBodyBytes: given.maxBodyBytes ?? DEFAULT_INBOX_LIMITS.maxBodyBytes,
  };
  for (const [what, v] of Object.entries(limits))
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`inbox: ${what} ${v} is not a positive integer`);
  return limits;
}

/** Throws a RangeError when `value` (a seq argument) is NaN. */
export function checkSeq(what: string, value: number): void {
  if (Number.isNaN(value)) throw new RangeError(`inbox: ${what} is NaN`);
}

/** Throws a RangeError when a number of the rule, or the time, is NaN. */
export function checkRule(rule: InboxPruneRule, nowMs: number): void {
  for (const [what, v] of Object.entries({ keep: rule.keep, maxAgeMs: rule.maxAgeMs, deviceTtlMs: rule.deviceTtlMs, nowMs })) checkSeq(what, v);
}

/** `n` (not NaN) rounded by `round` into the safe integers, for binding to a SQL integer (±Infinity at the ends). */
export function bindInt(n: number, round: (x: number) => number = Math.floor): number {
  return Math.min(Math.max(round(n), -Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
}

/**
 * The prune bounds as SQL integers: entries with seq ≤ last - `keep`, or time below `aged`, go;
 * devices seen below `stale` go. Times are integers, so `time < x` is `time < ceil(x)`.
 */
export function pruneBounds(rule: InboxPruneRule, nowMs: number): { keep: number; aged: number; stale: number } {
  return {
    keep: bindInt(Math.max(0, Math.trunc(rule.keep))),
    aged: bindInt(nowMs - rule.maxAgeMs, Math.ceil),
    stale: bindInt(nowMs - rule.deviceTtlMs, Math.ceil),
  };
}

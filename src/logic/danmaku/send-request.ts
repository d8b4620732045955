// The op-4 body of a danmaku (docs/history.md#sending), checked before anything else is
// spent on it: a size cap before decoding, valid UTF-8, a JSON object of the known fields
// only, each of its type and within its bound. Every input yields a request or a refusal.
import { objectMembers } from './json-members.js';
import type { RefusalReason } from './refusal.js';

export interface SendLimits {
  /** Code points. */
  maxText: number;
  /** Bytes of `data` as sent. */
  maxData: number;
}

export interface SendRequest {
  text?: string;
  /** The `data` value's JSON text exactly as sent. */
  data?: string;
  nonce?: string;
  room?: string;
  progress?: number;
  mode?: number;
  color?: number;
}

export type ParsedSend = { ok: true; req: SendRequest } | { ok: false; reason: RefusalReason };

/** A nonce is the client's id for one send, not a payload. */
const MAX_NONCE_BYTES = 64;
/** Room keys, nonce, numbers, field names and whitespace around the text and data. */
const ENVELOPE_BYTES = 1024;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const KNOWN = new Set(['text', 'data', 'nonce', 'room', 'progress', 'mode', 'color']);

/** No lone surrogate (String.prototype.isWellFormed, which the compile target's lib does not declare yet). */
export function isWellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Bodies larger than this are refused undecoded: 4 bytes per code point of text, the data, the rest. */
export function maxSendBytes(limits: SendLimits): number {
  return limits.maxText * 4 + limits.maxData + ENVELOPE_BYTES;
}

const invalid: ParsedSend = { ok: false, reason: 'invalid' };
const tooLong: ParsedSend = { ok: false, reason: 'too_long' };

function isInt32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX;
}

/** Code points of `s`, counting no further than `max` + 1. */
function codePoints(s: string, max: number): number {
  let n = 0;
  for (const _ of s) if (++n > max) break;
  return n;
}

export function parseSend(body: Uint8Array, limits: SendLimits): ParsedSend {
  if (body.length > maxSendBytes(limits)) return tooLong;
  let json: string;
  let value: unknown;
  try {
    json = utf8.decode(body);
    value = JSON.parse(json);
  } catch {
    return invalid;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return invalid;
  const members = objectMembers(json);
  if (members === undefined) return invalid;
  const o = value as Record<string, unknown>;
  for (const k of members.keys()) if (!KNOWN.has(k)) return invalid;
  const req: SendRequest = {};

  const hasText = members.has('text');
  const hasData = members.has('data');
  if (hasText === hasData) return invalid;
  if (hasText) {
    const t = o.text;
    // A lone surrogate (from a \ud800 escape) cannot be written as UTF-8 to viewers.
    if (typeof t !== 'string' || t === '' || !isWellFormed(t)) return invalid;
    if (codePoints(t, limits.maxText) > limits.maxText) return tooLong;
    req.text = t;
  } else {
    const raw = members.get('data')!;
    if (Buffer.byteLength(raw) > limits.maxData) return tooLong;
    req.data = raw;
  }
  if (members.has('nonce')) {
    const n = o.nonce;
    if (typeof n !== 'string' || n === '' || !isWellFormed(n) || Buffer.byteLength(n) > MAX_NONCE_BYTES) return invalid;
    req.nonce = n;
  }
  if (members.has('room')) {
    if (typeof o.room !== 'string') return invalid;
    req.room = o.room;
  }
  if (members.has('progress')) {
    const p = o.progress;
    if (typeof p !== 'number' || !Number.isSafeInteger(p) || p < 0) return invalid;
    req.progress = p;
  }
  if (members.has('mode')) {
    if (!isInt32(o.mode)) return invalid;
    req.mode = o.mode;
  }
  if (members.has('color')) {
    if (!isInt32(o.color)) return invalid;
    req.color = o.color;
  }
  return { ok: true, req };
}

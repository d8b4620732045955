// Go's strconv as goim's HTTP layer and discovery filter use it: integer and bool parsing
// with Go's acceptance rules, and the error texts clients see (docs/http-api.md#parameter-binding).

/** A strconv.NumError: `strconv.ParseInt: parsing "abc": invalid syntax`. */
export class GoNumError extends Error {
  constructor(
    readonly num: string,
    readonly reason: 'invalid syntax' | 'value out of range',
  ) {
    super(`strconv.ParseInt: parsing ${goQuote(num)}: ${reason}`);
    this.name = 'GoNumError';
  }
}

const INT_RANGE = {
  32: { maxUint: (1n << 32n) - 1n, cutoff: 1n << 31n },
  64: { maxUint: (1n << 64n) - 1n, cutoff: 1n << 63n },
} as const;

/**
 * strconv.ParseInt(s, 10, bitSize): optional sign, ASCII digits only (no underscores,
 * no spaces). Like Go, an overflow is reported as soon as it happens, before any later
 * invalid character is seen.
 */
export function parseGoInt(s: string, bitSize: 32 | 64): bigint {
  let i = 0;
  let neg = false;
  if (s.length > 0 && (s[0] === '+' || s[0] === '-')) {
    neg = s[0] === '-';
    i = 1;
  }
  if (i === s.length) throw new GoNumError(s, 'invalid syntax');
  const { maxUint, cutoff } = INT_RANGE[bitSize];
  let n = 0n;
  // Small inputs stay in plain numbers; BigInt only once the value could pass 2^53.
  let small = 0;
  let digits = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) throw new GoNumError(s, 'invalid syntax');
    if (digits < 15) {
      small = small * 10 + (c - 48);
      if (bitSize === 32 && small > 0xffffffff) throw new GoNumError(s, 'value out of range');
      digits++;
      if (digits === 15) n = BigInt(small);
      continue;
    }
    n = n * 10n + BigInt(c - 48);
    if (n > maxUint) throw new GoNumError(s, 'value out of range');
  }
  if (digits < 15) n = BigInt(small);
  if (neg ? n > cutoff : n >= cutoff) throw new GoNumError(s, 'value out of range');
  return neg ? -n : n;
}

/** parseGoInt, or undefined where Go returns an error. */
export function tryParseGoInt(s: string, bitSize: 32 | 64): bigint | undefined {
  try {
    return parseGoInt(s, bitSize);
  } catch {
    return undefined;
  }
}

/** strconv.ParseBool; undefined where Go returns an error. */
export function parseGoBool(s: string): boolean | undefined {
  switch (s) {
    case '1':
    case 't':
    case 'T':
    case 'TRUE':
    case 'true':
    case 'True':
      return true;
    case '0':
    case 'f':
    case 'F':
    case 'FALSE':
    case 'false':
    case 'False':
      return false;
    default:
      return undefined;
  }
}

const PRINTABLE = /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u;
const SHORT_ESCAPES: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r' };

/** strconv.Quote: Go-syntax double-quoted string (printable runes kept, others escaped). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (cp < 0x80) {
      if (cp >= 0x20 && cp < 0x7f) out += ch;
      else out += SHORT_ESCAPES[cp] ?? '\\x' + cp.toString(16).padStart(2, '0');
    } else if (PRINTABLE.test(ch)) out += ch;
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\ufffd';
    else if (cp < 0x10000) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out + '"';
}

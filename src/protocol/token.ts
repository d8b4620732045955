// The goim auth token (body of op 7), decoded with Go encoding/json semantics into
// goim's `{mid int64, key, room_id, platform string, accepts []int32}` (docs/protocol.md#auth-token):
// keys match field names case-insensitively (with Go's Unicode folds), the last
// duplicate wins, null leaves a scalar unchanged and empties `accepts`, numbers must be
// integer literals within range, strings must be JSON strings, the top level is an
// object or null, and nothing but whitespace may follow it. Syntax errors win over type
// errors, as Go validates the whole text before decoding it.
import type { HistoryAsk } from '../ports/index.js';
import { Ch, GoJsonScanner, GoJsonSyntaxError } from './go/go-json-scanner.js';
import { historyAsk, HistoryAskError } from './history-ask.js';

/** Why a token was refused; the only error parseToken throws. */
export class TokenError extends Error {
  constructor(reason: string) {
    super(`auth token: ${reason}`);
    this.name = 'TokenError';
  }
}

export interface AuthToken {
  /** int64; <= 0 is anonymous. */
  mid: bigint;
  /** '' when the client sent none (logic then generates one). */
  key: string;
  roomId: string;
  platform: string;
  accepts: number[];
  /** tsim's opt-in to room history (docs/history.md#opting-in); absent or null = not opted in. */
  history?: HistoryAsk;
  /** tsim's opt-in to the durable inbox (docs/protocol.md#durable-inbox): `true`; absent, null or false = not opted in. */
  inbox?: boolean;
}

const utf8Text = new TextDecoder();

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

type Field = 'mid' | 'key' | 'roomId' | 'platform' | 'accepts' | 'history' | 'inbox';

/** Go's field lookup: exact, then case-folded (K→k and ſ→s fold to ASCII letters too). */
function fieldOf(name: string): Field | undefined {
  if (name.length < 3 || name.length > 8) return undefined;
  let folded = '';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) folded += String.fromCharCode(c + 0x20);
    else if (c === 0x212a) folded += 'k';
    else if (c === 0x017f) folded += 's';
    else if (c < 0x80) folded += name[i];
    else return undefined;
  }
  switch (folded) {
    case 'mid':
      return 'mid';
    case 'key':
      return 'key';
    case 'room_id':
      return 'roomId';
    case 'platform':
      return 'platform';
    case 'accepts':
      return 'accepts';
    case 'history':
      return 'history';
    case 'inbox':
      return 'inbox';
    default:
      return undefined;
  }
}

class TokenParser extends GoJsonScanner {
  /** First type mismatch; reported only if the whole text is valid JSON (Go's order). */
  private typeError: string | undefined;

  readonly token: AuthToken = { mid: 0n, key: '', roomId: '', platform: '', accepts: [] };
  /** accepts as a Go slice: `buf` is the backing array (its capacity), `len` the length. */
  private acceptsBuf: number[] = [];
  private acceptsLen = 0;

  parse(): AuthToken {
    this.ws();
    if (this.b.length === 0) throw new TokenError('empty token');
    const c = this.b[this.i];
    if (c === Ch.LBrace) this.object();
    else if (c === 0x6e /* n */) this.literal('null');
    else {
      this.skipValue();
      this.typeError ??= 'must be a JSON object or null';
    }
    this.ws();
    if (this.i < this.b.length) this.syntax(`invalid character ${this.describe()} after top-level value`);
    if (this.typeError !== undefined) throw new TokenError(this.typeError);
    this.token.accepts = this.acceptsBuf.slice(0, this.acceptsLen);
    return this.token;
  }

  // ---- structure --------------------------------------------------------------------

  private object(): void {
    this.open();
    this.i++;
    this.ws();
    if (this.peek() === Ch.RBrace) {
      this.i++;
      this.depth--;
      return;
    }
    for (;;) {
      this.ws();
      if (this.peek() !== Ch.Quote) this.syntax(`invalid character ${this.describe()} looking for beginning of object key string`);
      const name = this.string();
      this.ws();
      if (this.peek() !== Ch.Colon) this.syntax(`invalid character ${this.describe()} after object key`);
      this.i++;
      this.ws();
      const field = fieldOf(name);
      if (field === undefined) this.skipValue();
      else if (field === 'mid') this.mid();
      else if (field === 'accepts') this.accepts();
      else if (field === 'history') this.history();
      else if (field === 'inbox') this.inbox();
      else this.stringField(field);
      this.ws();
      const c = this.peek();
      if (c === Ch.Comma) {
        this.i++;
        continue;
      }
      if (c === Ch.RBrace) {
        this.i++;
        this.depth--;
        return;
      }
      this.syntax(`invalid character ${this.describe()} after object key:value pair`);
    }
  }

  private mid(): void {
    const c = this.peek();
    if (c === Ch.Minus || (c >= Ch.Zero && c <= Ch.Nine)) {
      const [start, integral] = this.number();
      if (!integral) {
        this.typeError ??= 'mid must be an integer';
        return;
      }
      const v = BigInt(this.text(start, this.i));
      if (v < INT64_MIN || v > INT64_MAX) this.typeError ??= 'mid is out of the int64 range';
      else this.token.mid = v;
      return;
    }
    if (this.isNull()) return;
    this.skipValue();
    this.typeError ??= 'mid must be an integer';
  }

  /** Not goim's: validated as a whole once the scanner has checked its syntax (the token is at most protocol.maxBody). */
  private history(): void {
    if (this.isNull()) {
      delete this.token.history;
      return;
    }
    const start = this.i;
    this.skipValue();
    try {
      this.token.history = historyAsk(JSON.parse(utf8Text.decode(this.b.subarray(start, this.i))));
    } catch (err) {
      if (!(err instanceof HistoryAskError) && !(err instanceof SyntaxError)) throw err;
      this.typeError ??= err.message;
    }
  }

  /** Not goim's: a JSON boolean; null leaves it unset, as Go does for a bool. */
  private inbox(): void {
    const c = this.peek();
    if (c === 0x74 /* t */ || c === 0x66 /* f */) {
      const v = c === 0x74;
      this.literal(v ? 'true' : 'false');
      if (v) this.token.inbox = true;
      else delete this.token.inbox;
      return;
    }
    if (this.isNull()) return;
    this.skipValue();
    this.typeError ??= 'inbox must be a boolean';
  }

  private stringField(field: 'key' | 'roomId' | 'platform'): void {
    if (this.peek() === Ch.Quote) {
      this.token[field] = this.string();
      return;
    }
    if (this.isNull()) return;
    this.skipValue();
    this.typeError ??= `${field === 'roomId' ? 'room_id' : field} must be a string`;
  }

  private accepts(): void {
    if (this.isNull()) {
      this.acceptsBuf = [];
      this.acceptsLen = 0;
      return;
    }
    if (this.peek() !== Ch.LBracket) {
      this.skipValue();
      this.typeError ??= 'accepts must be an array of integers';
      return;
    }
    this.open();
    this.i++;
    this.ws();
    let n = 0;
    if (this.peek() === Ch.RBracket) {
      this.i++;
    } else {
      for (;;) {
        this.ws();
        // Go decodes into the existing slice: elements past the old length but within
        // its capacity keep their old value when the new one is null.
        if (n >= this.acceptsBuf.length) this.acceptsBuf.push(0);
        if (n >= this.acceptsLen) this.acceptsLen = n + 1;
        this.acceptElement(n);
        n++;
        this.ws();
        const c = this.peek();
        if (c === Ch.Comma) {
          this.i++;
          continue;
        }
        if (c === Ch.RBracket) {
          this.i++;
          break;
        }
        this.syntax(`invalid character ${this.describe()} after array element`);
      }
    }
    this.depth--;
    if (n < this.acceptsLen) this.acceptsLen = n;
    if (n === 0) this.acceptsBuf = [];
  }

  private acceptElement(index: number): void {
    const c = this.peek();
    if (c === Ch.Minus || (c >= Ch.Zero && c <= Ch.Nine)) {
      const [start, integral] = this.number();
      if (!integral) {
        this.typeError ??= `accepts[${index}] must be an integer`;
        return;
      }
      // Anything longer than 11 characters is outside int32 anyway.
      const v = this.i - start <= 11 ? Number(this.text(start, this.i)) : Infinity;
      if (v < -2147483648 || v > 2147483647) this.typeError ??= `accepts[${index}] is out of the int32 range`;
      else this.acceptsBuf[index] = v === 0 ? 0 : v; // -0 → 0
      return;
    }
    if (this.isNull()) return;
    this.skipValue();
    this.typeError ??= `accepts[${index}] must be an integer`;
  }
}

const utf8 = new TextEncoder();

/** Decodes an auth token; throws TokenError (and nothing else) when goim would refuse it. */
export function parseToken(input: Uint8Array | string): AuthToken {
  const bytes = typeof input === 'string' ? utf8.encode(input) : input;
  try {
    return new TokenParser(bytes).parse();
  } catch (err) {
    if (err instanceof GoJsonSyntaxError) throw new TokenError(`invalid JSON: ${err.message}`);
    throw err;
  }
}

// A JSON scanner over bytes with Go encoding/json's rules: its grammar and whitespace,
// its nesting limit, and its string unquoting (each invalid UTF-8 byte and each lone
// surrogate escape becomes U+FFFD). Decoders for one shape build on it (protocol/token.ts).

/** Text Go's scanner refuses (syntax, truncation, nesting). */
export class GoJsonSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoJsonSyntaxError';
  }
}

/** Go's scanner maxNestingDepth. */
const MAX_DEPTH = 10000;

export const enum Ch {
  Tab = 0x09,
  Lf = 0x0a,
  Cr = 0x0d,
  Space = 0x20,
  Quote = 0x22,
  Plus = 0x2b,
  Comma = 0x2c,
  Minus = 0x2d,
  Dot = 0x2e,
  Zero = 0x30,
  Nine = 0x39,
  Colon = 0x3a,
  E = 0x45,
  LBracket = 0x5b,
  Backslash = 0x5c,
  RBracket = 0x5d,
  LowE = 0x65,
  LBrace = 0x7b,
  RBrace = 0x7d,
}

const latin1 = new TextDecoder('latin1');

export class GoJsonScanner {
  /** Offset of the next unread byte. */
  i = 0;
  /** Containers currently open. */
  depth = 0;

  /** Closers of the containers skipValue is inside. */
  private readonly stack: number[] = [];

  constructor(readonly b: Uint8Array) {}

  /** The bytes [start, end) as text (number literals are ASCII). */
  text(start: number, end: number): string {
    return latin1.decode(this.b.subarray(start, end));
  }

  /** Validates one value of any kind without recursion (unknown fields, wrong types). */
  skipValue(): void {
    const base = this.depth;
    for (;;) {
      this.ws();
      const c = this.peek();
      if (c === Ch.LBrace || c === Ch.LBracket) {
        this.open();
        this.i++;
        this.ws();
        const close = c === Ch.LBrace ? Ch.RBrace : Ch.RBracket;
        if (this.peek() === close) {
          this.i++;
          this.depth--;
        } else {
          if (c === Ch.LBrace) this.memberKey();
          this.stack.push(close);
          continue;
        }
      } else if (c === Ch.Quote) this.string();
      else if (c === Ch.Minus || (c >= Ch.Zero && c <= Ch.Nine)) this.number();
      else if (c === 0x74 /* t */) this.literal('true');
      else if (c === 0x66 /* f */) this.literal('false');
      else if (c === 0x6e /* n */) this.literal('null');
      else this.syntax(`invalid character ${this.describe()} looking for beginning of value`);
      // After a complete value: close containers or move to the next element.
      for (;;) {
        if (this.depth === base) return;
        this.ws();
        const d = this.peek();
        const close = this.stack[this.stack.length - 1];
        if (d === Ch.Comma) {
          this.i++;
          if (close === Ch.RBrace) this.memberKey();
          break;
        }
        if (d === close) {
          this.i++;
          this.depth--;
          this.stack.pop();
          continue;
        }
        this.syntax(`invalid character ${this.describe()} after ${close === Ch.RBrace ? 'object key:value pair' : 'array element'}`);
      }
    }
  }

  private memberKey(): void {
    this.ws();
    if (this.peek() !== Ch.Quote) this.syntax(`invalid character ${this.describe()} looking for beginning of object key string`);
    this.string();
    this.ws();
    if (this.peek() !== Ch.Colon) this.syntax(`invalid character ${this.describe()} after object key`);
    this.i++;
  }

  /** Counts a container being entered (the caller consumes its bracket). */
  open(): void {
    if (++this.depth > MAX_DEPTH) this.syntax('exceeded max depth');
  }

  // ---- scalars ------------------------------------------------------------------------

  /** Scans a JSON number; returns its start and whether it is an integer literal. */
  number(): [number, boolean] {
    const b = this.b;
    const start = this.i;
    let i = this.i;
    let integral = true;
    if (b[i] === Ch.Minus) i++;
    if (b[i] === Ch.Zero) i++;
    else if (b[i] > Ch.Zero && b[i] <= Ch.Nine) while (b[i] >= Ch.Zero && b[i] <= Ch.Nine) i++;
    else this.syntaxAt(i, 'in numeric literal');
    if (b[i] === Ch.Dot) {
      integral = false;
      i++;
      if (!(b[i] >= Ch.Zero && b[i] <= Ch.Nine)) this.syntaxAt(i, 'after decimal point in numeric literal');
      while (b[i] >= Ch.Zero && b[i] <= Ch.Nine) i++;
    }
    if (b[i] === Ch.E || b[i] === Ch.LowE) {
      integral = false;
      i++;
      if (b[i] === Ch.Plus || b[i] === Ch.Minus) i++;
      if (!(b[i] >= Ch.Zero && b[i] <= Ch.Nine)) this.syntaxAt(i, 'in exponent of numeric literal');
      while (b[i] >= Ch.Zero && b[i] <= Ch.Nine) i++;
    }
    this.i = i;
    return [start, integral];
  }

  /** Consumes a `null` literal if one is next. */
  isNull(): boolean {
    if (this.peek() !== 0x6e) return false;
    this.literal('null');
    return true;
  }

  /** Consumes exactly `word`. */
  literal(word: 'true' | 'false' | 'null'): void {
    for (let k = 0; k < word.length; k++) {
      if (this.b[this.i + k] !== word.charCodeAt(k)) this.syntaxAt(this.i + k, `in literal ${word} (expecting '${word[k]}')`);
    }
    this.i += word.length;
  }

  /** Reads a string literal with Go's unquoting (bad UTF-8 bytes and lone surrogates → U+FFFD). */
  string(): string {
    const b = this.b;
    let i = ++this.i;
    // Fast path: printable ASCII without escapes.
    while (i < b.length) {
      const c = b[i];
      if (c === Ch.Quote) {
        const s = latin1.decode(b.subarray(this.i, i));
        this.i = i + 1;
        return s;
      }
      if (c === Ch.Backslash || c < 0x20 || c >= 0x80) break;
      i++;
    }
    let out = latin1.decode(b.subarray(this.i, i));
    const units: number[] = [];
    const flush = () => {
      if (units.length > 0) {
        out += String.fromCharCode(...units);
        units.length = 0;
      }
    };
    for (;;) {
      if (i >= b.length) this.syntaxAt(i, 'in string literal');
      const c = b[i];
      if (c === Ch.Quote) break;
      if (c < 0x20) this.syntaxAt(i, 'in string literal');
      if (c === Ch.Backslash) {
        const e = b[i + 1];
        i += 2;
        switch (e) {
          case 0x22:
          case 0x5c:
          case 0x2f:
            units.push(e);
            break;
          case 0x62:
            units.push(0x08);
            break;
          case 0x66:
            units.push(0x0c);
            break;
          case 0x6e:
            units.push(0x0a);
            break;
          case 0x72:
            units.push(0x0d);
            break;
          case 0x74:
            units.push(0x09);
            break;
          case 0x75: {
            const r = this.hex4(i);
            i += 4;
            if (r >= 0xd800 && r < 0xdc00 && b[i] === Ch.Backslash && b[i + 1] === 0x75) {
              const r2 = this.hex4(i + 2);
              if (r2 >= 0xdc00 && r2 < 0xe000) {
                units.push(r, r2);
                i += 6;
                break;
              }
            }
            units.push(r >= 0xd800 && r < 0xe000 ? 0xfffd : r);
            break;
          }
          default:
            this.syntaxAt(i - 1, 'in string escape code');
        }
      } else if (c < 0x80) {
        units.push(c);
        i++;
      } else {
        const [cp, size] = decodeRune(b, i);
        if (cp >= 0x10000) units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
        else units.push(cp);
        i += size;
      }
      if (units.length > 4096) flush();
    }
    flush();
    this.i = i + 1;
    return out;
  }

  private hex4(at: number): number {
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const c = this.b[at + k];
      let d: number;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
      else return this.syntaxAt(at + k, 'in \\u hexadecimal character escape');
      v = v * 16 + d;
    }
    return v;
  }

  // ---- helpers ------------------------------------------------------------------------

  /** Skips JSON whitespace (space, tab, CR, LF only). */
  ws(): void {
    const b = this.b;
    let i = this.i;
    while (i < b.length && (b[i] === Ch.Space || b[i] === Ch.Lf || b[i] === Ch.Cr || b[i] === Ch.Tab)) i++;
    this.i = i;
  }

  /** The next byte, or -1 at the end. */
  peek(): number {
    return this.i < this.b.length ? this.b[this.i] : -1;
  }

  /** The byte at `at` as Go's error texts quote it. */
  describe(at = this.i): string {
    if (at >= this.b.length) return 'end of input';
    const c = this.b[at];
    if (c === 0x27) return `'\\''`;
    if (c === 0x22) return `'"'`;
    if (c >= 0x20 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
    return `0x${c.toString(16).padStart(2, '0')}`;
  }

  /** Fails at the current offset (or as truncated input at the end). */
  syntax(msg: string): never {
    if (this.i >= this.b.length) throw new GoJsonSyntaxError('unexpected end of JSON input');
    throw new GoJsonSyntaxError(`${msg} at offset ${this.i}`);
  }

  /** Fails on the byte at `at`, naming where it was found. */
  syntaxAt(at: number, where: string): never {
    if (at >= this.b.length) throw new GoJsonSyntaxError('unexpected end of JSON input');
    throw new GoJsonSyntaxError(`invalid character ${this.describe(at)} ${where} at offset ${at}`);
  }
}

/**
 * Go's utf8.DecodeRune: the code point at `i` and its length; any invalid or
 * overlong sequence, surrogate or truncated rune yields U+FFFD of length 1.
 */
function decodeRune(b: Uint8Array, i: number): [number, number] {
  const c0 = b[i];
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c0 >= 0xc2 && c0 <= 0xdf) {
    if (cont(1)) return [((c0 & 0x1f) << 6) | (b[i + 1] & 0x3f), 2];
  } else if (c0 >= 0xe0 && c0 <= 0xef) {
    const lo = c0 === 0xe0 ? 0xa0 : 0x80;
    const hi = c0 === 0xed ? 0x9f : 0xbf;
    if (cont(1, lo, hi) && cont(2)) return [((c0 & 0x0f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f), 3];
  } else if (c0 >= 0xf0 && c0 <= 0xf4) {
    const lo = c0 === 0xf0 ? 0x90 : 0x80;
    const hi = c0 === 0xf4 ? 0x8f : 0xbf;
    if (cont(1, lo, hi) && cont(2) && cont(3)) {
      return [((c0 & 0x07) << 18) | ((b[i + 1] & 0x3f) << 12) | ((b[i + 2] & 0x3f) << 6) | (b[i + 3] & 0x3f), 4];
    }
  }
  return [0xfffd, 1];
}

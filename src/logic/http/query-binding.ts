// goim's parameter binding (gin BindQuery, spec §4.1): parameters come only from the
// query string, repeated names form lists, an empty integer is 0, integers are range
// checked, and `required` means non-zero / non-empty / present. Errors carry the texts
// goim answers with.
import { GoNumError, parseGoInt } from '../../protocol/go/go-strconv.js';

/** Go's net/url query parsing: `&`-separated pairs; pairs with `;` or bad escapes are dropped. */
export function parseGoQuery(rawQuery: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  if (rawQuery === '') return values;
  for (const pair of rawQuery.split('&')) {
    if (pair === '' || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    const key = queryUnescape(eq < 0 ? pair : pair.slice(0, eq));
    const value = queryUnescape(eq < 0 ? '' : pair.slice(eq + 1));
    if (key === undefined || value === undefined) continue;
    const list = values.get(key);
    if (list) list.push(value);
    else values.set(key, [value]);
  }
  return values;
}

const utf8 = new TextDecoder();

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** url.QueryUnescape: `+` is a space, `%XX` a byte; undefined on a malformed escape. */
function queryUnescape(s: string): string | undefined {
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 || c === 0x2b || c >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) return s;
  // Node hands the request target over as latin1, one char per byte.
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= s.length) return undefined;
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return undefined;
      bytes.push((hi << 4) | lo);
      i += 2;
    } else if (c === 0x2b) bytes.push(0x20);
    else if (c <= 0xff) bytes.push(c);
    else for (const b of Buffer.from(s[i], 'utf8')) bytes.push(b);
  }
  return utf8.decode(new Uint8Array(bytes));
}

export type ParamKind = 'int32' | 'int64' | 'string' | 'int64[]' | 'string[]';

export interface ParamSpec {
  /** Query parameter name (gin `form` tag). */
  param: string;
  kind: ParamKind;
  /** gin `binding:"required"`. */
  required?: boolean;
}

type ValueOf<K extends ParamKind> = K extends 'int32'
  ? number
  : K extends 'int64'
    ? bigint
    : K extends 'string'
      ? string
      : K extends 'int64[]'
        ? bigint[] | undefined
        : string[] | undefined;

export type Bound<S extends Record<string, ParamSpec>> = { [F in keyof S]: ValueOf<S[F]['kind']> };

/** A binding failure; answered with HTTP 400 and code -400. */
export class BindingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BindingError';
  }
}

function bindInt(value: string, bitSize: 32 | 64): bigint {
  try {
    return parseGoInt(value === '' ? '0' : value, bitSize);
  } catch (err) {
    throw new BindingError((err as GoNumError).message);
  }
}

/** The validator's text for a failed rule on `field` (a Go struct field name). */
export function validationMessage(field: string, tag: string): string {
  return `Key: '${field}' Error:Field validation for '${field}' failed on the '${tag}' tag`;
}

/**
 * Binds `query` to the fields of `specs` (keys are the Go struct field names, in struct
 * order). Like gin, the first conversion error wins; then all `required` failures are
 * reported together, one per line.
 */
export function bindQuery<const S extends Record<string, ParamSpec>>(query: Map<string, string[]>, specs: S): Bound<S> {
  const out: Record<string, unknown> = {};
  for (const [field, spec] of Object.entries(specs)) {
    const values = query.get(spec.param);
    switch (spec.kind) {
      case 'int32':
        out[field] = values ? Number(bindInt(values[0], 32)) : 0;
        break;
      case 'int64':
        out[field] = values ? bindInt(values[0], 64) : 0n;
        break;
      case 'string':
        out[field] = values ? values[0] : '';
        break;
      case 'int64[]':
        out[field] = values?.map((v) => bindInt(v, 64));
        break;
      case 'string[]':
        out[field] = values ? [...values] : undefined;
        break;
    }
  }
  const failures: string[] = [];
  for (const [field, spec] of Object.entries(specs)) {
    if (!spec.required) continue;
    const v = out[field];
    if (v === 0 || v === 0n || v === '' || v === undefined) failures.push(validationMessage(field, 'required'));
  }
  if (failures.length > 0) throw new BindingError(failures.join('\n'));
  return out as Bound<S>;
}

// goim's parameter binding (gin BindQuery, docs/http-api.md): parameters come only from the
// query string (parsed by protocol/go/go-url.ts), repeated names form lists, an empty
// integer is 0, integers are range checked, and `required` means non-zero / non-empty /
// present. Errors carry the texts goim answers with.
import { GoNumError, parseGoInt } from '../../protocol/go/go-strconv.js';

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

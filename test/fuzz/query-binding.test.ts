// Properties of the push API's parameter parsing (fast-check, bounded runs): Go-style query
// parsing never throws, binding throws nothing but BindingError, and encoded values come
// back as they were.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BindingError, bindQuery, type ParamSpec } from '../../src/logic/http/query-binding.js';
import { parseGoQuery } from '../../src/protocol/go/go-url.js';

const RUNS = 500;

/** The bindings logic's routes use (routes.ts). */
const SPECS: Record<string, ParamSpec>[] = [
  { Op: { param: 'operation', kind: 'int32' }, Keys: { param: 'keys', kind: 'string[]' } },
  { Op: { param: 'operation', kind: 'int32' }, Mids: { param: 'mids', kind: 'int64[]' } },
  {
    Op: { param: 'operation', kind: 'int32', required: true },
    Type: { param: 'type', kind: 'string', required: true },
    Room: { param: 'room', kind: 'string', required: true },
  },
  { Op: { param: 'operation', kind: 'int32', required: true }, Speed: { param: 'speed', kind: 'int32' } },
  { Type: { param: 'type', kind: 'string', required: true }, Limit: { param: 'limit', kind: 'int64', required: true } },
  { Type: { param: 'type', kind: 'string', required: true }, Rooms: { param: 'rooms', kind: 'string[]', required: true } },
];

const name = fc.constantFrom('operation', 'keys', 'mids', 'type', 'room', 'speed', 'limit', 'rooms', 'platform', 'x');
const value = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }).map(String),
  fc.constantFrom('', '+', '-', '0x10', '1_000', ' 1', '%', '%zz', '%2', '+1', '-0', '9223372036854775808', '2147483648'),
);
/** Raw query strings: arbitrary text, and name=value pairs with stray separators and escapes. */
const rawQuery = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 120 }),
  fc
    .tuple(fc.array(fc.tuple(name, value, fc.constantFrom('=', '', '==')), { maxLength: 8 }), fc.constantFrom('&', '&&', ';'))
    .map(([pairs, sep]) => pairs.map(([n, v, eq]) => `${n}${eq}${v}`).join(sep)),
);

describe('query binding (property)', () => {
  it('parseGoQuery never throws; bindQuery throws nothing but BindingError', () => {
    fc.assert(
      fc.property(rawQuery, fc.constantFrom(...SPECS), (raw, spec) => {
        const query = parseGoQuery(raw);
        try {
          bindQuery(query, spec);
        } catch (err) {
          if (!(err instanceof BindingError)) throw err;
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('reads back percent-encoded names and values, repeated names as lists in order', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 20 });
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            text.filter((s) => s !== ''),
            text,
          ),
          { maxLength: 8 },
        ),
        (pairs) => {
          const raw = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
          const expected = new Map<string, string[]>();
          for (const [k, v] of pairs) expected.set(k, [...(expected.get(k) ?? []), v]);
          assert.deepEqual(parseGoQuery(raw), expected);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('binds int64 lists over the whole range and refuses out-of-range int32', () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), { minLength: 1, maxLength: 6 }),
        fc.bigInt({ min: 1n << 31n, max: 1n << 40n }),
        (mids, big) => {
          const ok = bindQuery(parseGoQuery(`operation=7&${mids.map((m) => `mids=${m}`).join('&')}`), SPECS[1]);
          assert.deepEqual(ok, { Op: 7, Mids: mids });
          assert.throws(() => bindQuery(parseGoQuery(`operation=${big}`), SPECS[1]), BindingError);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

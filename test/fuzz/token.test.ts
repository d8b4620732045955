// Properties of the auth token parser (fast-check, bounded runs): it throws nothing but
// TokenError on any input, and reads back every valid token, mid over the whole int64 range.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseToken, TokenError } from '../../src/protocol/token.js';

const RUNS = 500;

function onlyTokenError(input: string | Uint8Array): void {
  try {
    parseToken(input);
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
  }
}

/** JSON-ish text: real JSON values, token-shaped objects with fields of any type, and their truncations. */
const field = fc.constantFrom('mid', 'key', 'room_id', 'platform', 'accepts', 'MID', 'Room_ID', 'ſkey', 'Key', 'other');
const anyValue = fc.oneof(fc.jsonValue(), fc.bigInt().map(String), fc.constantFrom('1e3', '-0', '1.5', '[1,]', '{"a":', '"\\ud800"', 'nul'));
const tokenish = fc.oneof(
  fc.json(),
  fc
    .array(fc.tuple(field, anyValue), { maxLength: 6 })
    .map(
      (pairs) =>
        `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${typeof v === 'string' && /^[-\d[{"n]/.test(v) ? v : JSON.stringify(v)}`).join(',')}}`,
    ),
);

describe('parseToken (property)', () => {
  it('throws nothing but TokenError on arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), onlyTokenError), { numRuns: RUNS });
  });

  it('throws nothing but TokenError on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), onlyTokenError), { numRuns: RUNS });
  });

  it('throws nothing but TokenError on JSON-shaped text and its truncations', () => {
    fc.assert(
      fc.property(tokenish, fc.nat(), (text, cut) => {
        onlyTokenError(text);
        onlyTokenError(text.slice(0, cut % (text.length + 1)));
      }),
      { numRuns: RUNS },
    );
  });

  it('reads back valid tokens: mid over the whole int64 range, strings, accepts as int32', () => {
    const wellFormed = fc.string({ unit: 'grapheme', maxLength: 40 });
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
        wellFormed,
        wellFormed,
        wellFormed,
        fc.array(fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }), { maxLength: 8 }),
        fc.constantFrom('', ' ', '\n\t '),
        (mid, key, room, platform, accepts, ws) => {
          const text = `${ws}{"mid":${mid},${ws}"key":${JSON.stringify(key)},"room_id":${JSON.stringify(room)},"platform":${JSON.stringify(platform)},"accepts":${JSON.stringify(accepts)}}${ws}`;
          const t = parseToken(text);
          assert.equal(t.mid, mid);
          assert.equal(t.key, key);
          assert.equal(t.roomId, room);
          assert.equal(t.platform, platform);
          assert.deepEqual(
            t.accepts,
            accepts.map((n) => (n === 0 ? 0 : n)),
          );
          // The same token as bytes.
          assert.equal(parseToken(Buffer.from(text)).mid, mid);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('refuses a mid outside int64 with a TokenError', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 1n << 70n }), fc.boolean(), (excess, negative) => {
        const mid = negative ? -(1n << 63n) - excess : (1n << 63n) - 1n + excess;
        assert.throws(() => parseToken(`{"mid":${mid}}`), TokenError);
      }),
      { numRuns: 200 },
    );
  });
});

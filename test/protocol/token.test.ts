import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseToken, TokenError, type AuthToken } from '../../src/protocol/token.js';

const ZERO: AuthToken = { mid: 0n, key: '', roomId: '', platform: '', accepts: [] };

function ok(text: string | Uint8Array, expected: Partial<AuthToken>): void {
  assert.deepEqual(parseToken(text), { ...ZERO, ...expected }, `token ${JSON.stringify(String(text))}`);
}

function refused(text: string | Uint8Array, reason: RegExp): void {
  assert.throws(
    () => parseToken(text),
    (err: unknown) => {
      assert.ok(err instanceof TokenError, `expected a TokenError for ${JSON.stringify(String(text))}, got ${String(err)}`);
      assert.match(err.message, /^auth token: /);
      assert.match(err.message, reason);
      return true;
    },
  );
}

function bytes(...parts: Array<string | number[]>): Uint8Array {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
}

describe('auth token: tokens real clients send', () => {
  test('JavaScript example token (docs/goim-test-vectors.md)', () => {
    const token = '{"mid":123, "room_id":"live://1000", "platform":"web", "accepts":[1000,1001,1002]}';
    assert.equal(Buffer.byteLength(token), 82);
    ok(token, { mid: 123n, roomId: 'live://1000', platform: 'web', accepts: [1000, 1001, 1002] });
  });
  test('compact token (docs/goim-test-vectors.md)', () => {
    ok('{"mid":1,"room_id":"live://1000","accepts":[1000]}', { mid: 1n, roomId: 'live://1000', accepts: [1000] });
  });
  test('Go benchmark token, empty key (docs/goim-test-vectors.md)', () => {
    ok('{"mid":1,"key":"","room_id":"test://1","platform":"ios","accepts":[1000,1001,1002]}', {
      mid: 1n,
      roomId: 'test://1',
      platform: 'ios',
      accepts: [1000, 1001, 1002],
    });
  });
  test('bytes and strings decode alike', () => {
    ok(bytes('{"key":"k1"}'), { key: 'k1' });
  });
});

describe('auth token: Go encoding/json acceptance rules', () => {
  test('top level null, {} and surrounding whitespace', () => {
    ok('null', {});
    ok('{}', {});
    ok(' \t\r\n{ "mid" : 7 , "key" : "k" } \n\t', { mid: 7n, key: 'k' });
    ok('\n null \r', {});
  });

  test('keys match case-insensitively, with Go Unicode folds', () => {
    ok('{"MID":5,"Room_Id":"r","KEY":"k","PlatForm":"x","ACCEPTS":[1]}', {
      mid: 5n,
      roomId: 'r',
      key: 'k',
      platform: 'x',
      accepts: [1],
    });
    ok('{"\u212Aey":"kelvin"}', { key: 'kelvin' }); // KELVIN SIGN folds to k
    ok('{"accept\u017F":[2]}', { accepts: [2] }); // LATIN SMALL LONG S folds to s
    ok('{"\\u006did":8}', { mid: 8n }); // escaped key names are unquoted first
    ok('{"roomid":"x","room-id":"y","mid ":1}', {}); // near misses are unknown fields
  });

  test('the last duplicate wins', () => {
    ok('{"mid":1,"mid":2}', { mid: 2n });
    ok('{"mid":1,"MID":3}', { mid: 3n });
    ok('{"key":"a","Key":"b"}', { key: 'b' });
  });

  test('null leaves scalars unchanged and empties accepts', () => {
    ok('{"mid":null,"key":null,"room_id":null,"platform":null,"accepts":null}', {});
    ok('{"mid":5,"mid":null}', { mid: 5n });
    ok('{"key":"a","key":null}', { key: 'a' });
    ok('{"accepts":[1],"accepts":null}', { accepts: [] });
  });

  test('accepts decodes into the existing slice as Go does', () => {
    ok('{"accepts":[5,null]}', { accepts: [5, 0] });
    ok('{"accepts":[]}', { accepts: [] });
    ok('{"accepts":[1,2,3],"accepts":[7]}', { accepts: [7] });
    // null elements keep what the backing array held from the earlier value
    ok('{"accepts":[1,2,3],"accepts":[7],"accepts":[null,null]}', { accepts: [7, 2] });
    ok('{"accepts":[1],"accepts":[],"accepts":[null]}', { accepts: [0] });
    ok('{"accepts":[-0, 2147483647, -2147483648]}', { accepts: [0, 2147483647, -2147483648] });
  });

  test('unknown fields of any shape are skipped', () => {
    ok('{"x":{"a":[1,{"b":null},"s",-1.5e3,true,false],"c":{}},"mid":9,"y":[],"z":"\\u0041"}', { mid: 9n });
  });

  test('mid is an int64 parsed without JavaScript numbers', () => {
    ok('{"mid":9007199254740993}', { mid: 9007199254740993n }); // 2^53 + 1
    ok('{"mid":9223372036854775807}', { mid: 9223372036854775807n });
    ok('{"mid":-9223372036854775808}', { mid: -9223372036854775808n });
    ok('{"mid":-0}', { mid: 0n });
    ok('{"mid":-5}', { mid: -5n });
  });

  test('string escapes and UTF-8 follow Go (bad bytes and lone surrogates become U+FFFD)', () => {
    ok('{"key":"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00"}', { key: 'a"b\\c/d\b\f\n\r\t\u00e9\u{1f600}' });
    ok('{"key":"\\ud800"}', { key: '\ufffd' });
    ok('{"key":"\\ud800\\u0041"}', { key: '\ufffdA' });
    ok('{"key":"\\udc00\\ud800"}', { key: '\ufffd\ufffd' });
    ok('{"key":"h\u00e9\u4e2d\u{1f600}"}', { key: 'h\u00e9\u4e2d\u{1f600}' });
    ok(bytes('{"key":"', [0xff, 0xe2, 0x82], '"}'), { key: '\ufffd\ufffd\ufffd' });
    ok(bytes('{"key":"', [0xe2, 0x82, 0x41], '"}'), { key: '\ufffd\ufffdA' });
    ok(bytes('{"key":"', [0xed, 0xa0, 0x80], '"}'), { key: '\ufffd\ufffd\ufffd' }); // UTF-8-encoded surrogate
    ok(bytes('{"key":"', [0xc0, 0xaf], '"}'), { key: '\ufffd\ufffd' }); // overlong
  });

  test('nesting up to 10000 levels is accepted, deeper is not', () => {
    ok('{"x":' + '['.repeat(9999) + ']'.repeat(9999) + '}', {});
    refused('{"x":' + '['.repeat(10000) + ']'.repeat(10000) + '}', /exceeded max depth/);
    refused('['.repeat(100_000), /exceeded max depth/);
  });
});

describe('auth token: refusals', () => {
  test('empty or incomplete input', () => {
    refused('', /empty token/);
    refused('   ', /unexpected end of JSON input/);
    refused('{', /unexpected end of JSON input/);
    refused('{"mid":1', /unexpected end of JSON input/);
    refused('{"key":"abc', /unexpected end of JSON input/);
  });

  test('syntax errors', () => {
    for (const t of [
      '{"mid":1,}',
      '{"mid":01}',
      '{"mid":+1}',
      '{"mid":-}',
      '{"mid":1.}',
      '{"mid":1e}',
      "{'mid':1}",
      '{mid:1}',
      '{"mid" 1}',
      '{"mid":1 "key":"a"}',
      '{"key":"\\x"}',
      '{"key":"\\u12G4"}',
      '{"key":"a\nb"}',
      '{"key":"a\u0000b"}',
      'nul',
      '{"mid":tru}',
      '\ufeff{}',
      '{"x":[1,]}',
      '{"x":{"a"}}',
      '{"x":{"a":1,}}',
      '{"x":[1 2]}',
    ]) {
      refused(t, /invalid JSON/);
    }
  });

  test('trailing data after the top-level value', () => {
    refused('{} x', /invalid JSON: invalid character 'x' after top-level value/);
    refused('{}{}', /after top-level value/);
    refused('null null', /after top-level value/);
  });

  test('the top level must be an object or null', () => {
    for (const t of ['[]', '"x"', '1', 'true', 'false', '[{"mid":1}]']) refused(t, /must be a JSON object or null/);
  });

  test('mid must be an integer literal within int64', () => {
    for (const t of ['{"mid":1.0}', '{"mid":1e3}', '{"mid":"123"}', '{"mid":true}', '{"mid":[1]}', '{"mid":{}}']) {
      refused(t, /auth token: mid must be an integer$/);
    }
    refused('{"mid":9223372036854775808}', /mid is out of the int64 range/);
    refused('{"mid":-9223372036854775809}', /mid is out of the int64 range/);
    refused('{"mid":123456789012345678901234567890}', /mid is out of the int64 range/);
  });

  test('accepts must be an array of int32', () => {
    refused('{"accepts":{}}', /accepts must be an array of integers/);
    refused('{"accepts":1000}', /accepts must be an array of integers/);
    refused('{"accepts":"1000"}', /accepts must be an array of integers/);
    refused('{"accepts":[2147483648]}', /accepts\[0\] is out of the int32 range/);
    refused('{"accepts":[1,-2147483649]}', /accepts\[1\] is out of the int32 range/);
    refused('{"accepts":[1.5]}', /accepts\[0\] must be an integer/);
    refused('{"accepts":["1"]}', /accepts\[0\] must be an integer/);
    refused('{"accepts":[[1]]}', /accepts\[0\] must be an integer/);
  });

  test('key, room_id and platform must be strings', () => {
    refused('{"key":1}', /key must be a string/);
    refused('{"room_id":true}', /room_id must be a string/);
    refused('{"platform":[]}', /platform must be a string/);
    refused('{"KEY":{}}', /key must be a string/);
  });

  test('a syntax error anywhere wins over an earlier type error', () => {
    refused('{"mid":"x",', /invalid JSON/);
    refused('{"mid":"x"} x', /invalid JSON/);
    refused('[1] x', /invalid JSON/);
  });
});

describe('auth token: properties', () => {
  test('arbitrary text only ever yields a token or a TokenError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.json(), fc.uint8Array()), (input) => {
        try {
          parseToken(input);
        } catch (err) {
          if (!(err instanceof TokenError)) throw err;
        }
      }),
      { numRuns: 5000 },
    );
  });

  test('JSON that JavaScript refuses is refused too', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        let valid = true;
        try {
          JSON.parse(s);
        } catch {
          valid = false;
        }
        if (!valid) assert.throws(() => parseToken(s), TokenError);
      }),
      { numRuns: 5000 },
    );
  });

  test('well-typed tokens round-trip, whatever else they carry', () => {
    const int32 = fc.integer({ min: -2147483648, max: 2147483647 });
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
        fc.string(),
        fc.string(),
        fc.string(),
        fc.array(int32),
        fc.dictionary(
          fc.string().filter((k) => !/^(mid|key|room_id|platform|accepts)$/i.test(k.replace(/\u212a/g, 'k').replace(/\u017f/g, 's'))),
          fc.jsonValue(),
        ),
        (mid, key, roomId, platform, accepts, noise) => {
          const fields = [
            `"mid":${mid}`,
            `"key":${JSON.stringify(key)}`,
            `"room_id":${JSON.stringify(roomId)}`,
            `"platform":${JSON.stringify(platform)}`,
            `"accepts":${JSON.stringify(accepts)}`,
            ...Object.entries(noise).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`),
          ];
          const wellFormed = (s: string) => (s as string & { toWellFormed(): string }).toWellFormed();
          assert.deepEqual(parseToken(`{${fields.join(',')}}`), {
            mid,
            key: wellFormed(key),
            roomId: wellFormed(roomId),
            platform: wellFormed(platform),
            accepts: accepts.map((a) => (a === 0 ? 0 : a)),
          });
        },
      ),
      { numRuns: 1000 },
    );
  });
});

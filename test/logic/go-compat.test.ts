import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { float32Shortest, goJson, goJsonString } from '../../src/protocol/go/go-json.js';
import { goQuote, parseGoBool, parseGoInt } from '../../src/protocol/go/go-strconv.js';
import { parseGoQuery } from '../../src/protocol/go/go-url.js';
import { bindQuery, BindingError } from '../../src/logic/http/query-binding.js';
import { roomIdOfKey } from '../../src/logic/room-key.js';

describe('strconv.ParseInt', () => {
  test('accepts Go integers', () => {
    assert.equal(parseGoInt('0', 32), 0n);
    assert.equal(parseGoInt('+12', 32), 12n);
    assert.equal(parseGoInt('-2147483648', 32), -2147483648n);
    assert.equal(parseGoInt('2147483647', 32), 2147483647n);
    assert.equal(parseGoInt('-9223372036854775808', 64), -9223372036854775808n);
    assert.equal(parseGoInt('9223372036854775807', 64), 9223372036854775807n);
    assert.equal(parseGoInt('000000000000000000000000042', 64), 42n);
  });

  test('errors carry Go texts', () => {
    const cases: Array<[string, 32 | 64, string]> = [
      ['abc', 32, 'strconv.ParseInt: parsing "abc": invalid syntax'],
      ['', 32, 'strconv.ParseInt: parsing "": invalid syntax'],
      ['-', 64, 'strconv.ParseInt: parsing "-": invalid syntax'],
      [' 1', 32, 'strconv.ParseInt: parsing " 1": invalid syntax'],
      ['1_000', 32, 'strconv.ParseInt: parsing "1_000": invalid syntax'],
      ['2147483648', 32, 'strconv.ParseInt: parsing "2147483648": value out of range'],
      ['-2147483649', 32, 'strconv.ParseInt: parsing "-2147483649": value out of range'],
      ['9223372036854775808', 64, 'strconv.ParseInt: parsing "9223372036854775808": value out of range'],
      // overflow is reported before a later bad character, as Go scans left to right
      ['99999999999x', 32, 'strconv.ParseInt: parsing "99999999999x": value out of range'],
      ['99999999999999999999x', 64, 'strconv.ParseInt: parsing "99999999999999999999x": value out of range'],
      ['1x99999999999', 32, 'strconv.ParseInt: parsing "1x99999999999": invalid syntax'],
      ['a"b\\\n\u00e9\u00a0\u{1f600}\x7f', 32, 'strconv.ParseInt: parsing "a\\"b\\\\\\n\u00e9\\u00a0\u{1f600}\\x7f": invalid syntax'],
    ];
    for (const [s, bits, message] of cases) assert.throws(() => parseGoInt(s, bits), { message }, s);
  });

  test('agrees with BigInt on every decimal string', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }), (n) => {
        const inRange = n >= -(1n << 63n) && n < 1n << 63n;
        if (inRange) assert.equal(parseGoInt(n.toString(), 64), n);
        else assert.throws(() => parseGoInt(n.toString(), 64), /value out of range/);
      }),
    );
  });

  test('ParseBool', () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) assert.equal(parseGoBool(t), true);
    for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) assert.equal(parseGoBool(f), false);
    for (const x of ['', 'yes', 'tRUE', ' false']) assert.equal(parseGoBool(x), undefined);
  });

  test('Quote', () => {
    assert.equal(goQuote('abc'), '"abc"');
    assert.equal(goQuote('\t\x00'), '"\\t\\x00"');
    assert.equal(goQuote('\u2028'), '"\\u2028"');
    assert.equal(goQuote('\u{e0001}'), '"\\U000e0001"');
  });
});

describe('Go JSON encoding', () => {
  test('escapes < > & U+2028 U+2029 like encoding/json', () => {
    assert.equal(goJsonString('<a href="x">&\u2028\u2029</a>'), '"\\u003ca href=\\"x\\"\\u003e\\u0026\\u2028\\u2029\\u003c/a\\u003e"');
    assert.equal(goJsonString('\n\r\t\x01\x7f'), '"\\n\\r\\t\\u0001\x7f"');
    assert.equal(goJsonString('\ud800x'), '"\ufffdx"');
  });

  test('maps sort their keys by bytes, structs keep field order, undefined fields are omitted', () => {
    const m = new Map<string, number>([
      ['9', 1],
      ['10', 2],
      ['b', 3],
      ['\u{1f600}', 4],
      ['\uffff', 5],
      ['A', 6],
    ]);
    assert.equal(goJson(m), '{"10":2,"9":1,"A":6,"b":3,"\uffff":5,"\u{1f600}":4}');
    assert.equal(goJson({ z: 1, a: undefined, m: [true, null, 'x'] }), '{"z":1,"m":[true,null,"x"]}');
    assert.equal(goJson(12345678901234567890n), '12345678901234567890');
  });

  test('float32 values print as Go prints them', () => {
    assert.equal(float32Shortest(1.8), 1.8);
    assert.equal(float32Shortest(0.3), 0.3);
    assert.equal(float32Shortest(1.3), 1.3);
    assert.equal(float32Shortest(1.23456789), 1.2345679);
    assert.equal(float32Shortest(1e-7), 1e-7);
    assert.equal(String(float32Shortest(16777217)), '16777216');
  });
});

describe('room keys (url.Parse(key).Host)', () => {
  test('extracts the host part', () => {
    const cases: Array<[string, string | undefined]> = [
      ['live://1000', '1000'],
      ['live://1000/x?y#z', '1000'],
      ['live://host:80', 'host:80'],
      ['live://user@host', 'host'],
      ['live://[::1]:80', '[::1]:80'],
      ['live://%E4%B8%AD', '\u4e2d'],
      ['live://\u4e2d', '\u4e2d'],
      ['live:1000', ''], // opaque
      ['live1000', ''], // a path, no host
      ['live://', ''],
      ['live://a b', undefined], // space in host
      ['live://a%20b', undefined], // escaped ASCII in host
      ['live://a:b', undefined], // bad port
      ['live://[::1', undefined],
      ['live://1000/%zz', undefined],
      ['live://10\n00', undefined], // control character
      ['live://1000#%zz', undefined],
      ['live://us er@host', undefined],
      [':live', undefined], // missing protocol scheme
      ['1live://x', undefined], // no scheme; colon in first segment
    ];
    for (const [key, host] of cases) assert.equal(roomIdOfKey(key), host, key);
  });
});

describe('query binding (gin BindQuery)', () => {
  test('parses the query like net/url', () => {
    const q = parseGoQuery('keys=a&keys=b,c&&x=%41+b&bad=%zz&semi=1;2&k%3D=v%3D&flag&empty=');
    assert.deepEqual(
      [...q],
      [
        ['keys', ['a', 'b,c']],
        ['x', ['A b']],
        ['k=', ['v=']],
        ['flag', ['']],
        ['empty', ['']],
      ],
    );
  });

  const specs = {
    Op: { param: 'operation', kind: 'int32', required: true },
    Type: { param: 'type', kind: 'string', required: true },
    Mids: { param: 'mids', kind: 'int64[]' },
    Rooms: { param: 'rooms', kind: 'string[]', required: true },
  } as const;

  test('binds values; empty integers are 0; lists keep every value', () => {
    const v = bindQuery(parseGoQuery('operation=7&type=live&mids=1&mids=&mids=-9223372036854775808&rooms='), specs);
    assert.deepEqual(v, { Op: 7, Type: 'live', Mids: [1n, 0n, -9223372036854775808n], Rooms: [''] });
  });

  test('the first conversion error wins, then required failures are joined by newlines', () => {
    assert.throws(() => bindQuery(parseGoQuery('operation=abc&mids=x'), specs), {
      name: 'BindingError',
      message: 'strconv.ParseInt: parsing "abc": invalid syntax',
    });
    assert.throws(() => bindQuery(parseGoQuery('operation=1&mids=x'), specs), {
      message: 'strconv.ParseInt: parsing "x": invalid syntax',
    });
    assert.throws(
      () => bindQuery(parseGoQuery('operation=0'), specs),
      (err: unknown) => {
        assert.ok(err instanceof BindingError);
        assert.equal(
          err.message,
          [
            "Key: 'Op' Error:Field validation for 'Op' failed on the 'required' tag",
            "Key: 'Type' Error:Field validation for 'Type' failed on the 'required' tag",
            "Key: 'Rooms' Error:Field validation for 'Rooms' failed on the 'required' tag",
          ].join('\n'),
        );
        return true;
      },
    );
  });
});

// The op-4 body check (src/logic/danmaku/send-request.ts): each refusal of docs/history.md#sending
// it decides, and the property that no input makes it throw.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { maxSendBytes, parseSend, type ParsedSend, type SendLimits } from '../../../src/logic/danmaku/send-request.js';
import { REFUSAL_REASONS } from '../../../src/logic/danmaku/refusal.js';

const limits: SendLimits = { maxText: 10, maxData: 64 };
const parse = (body: string | Uint8Array, l = limits): ParsedSend => parseSend(typeof body === 'string' ? Buffer.from(body) : body, l);
const refused = (body: string | Uint8Array) => {
  const r = parse(body);
  return r.ok ? 'ok' : r.reason;
};

describe('danmaku body', () => {
  test('a full request: every field of its type', () => {
    assert.deepEqual(parse('{"text":"666","nonce":"c1-42","room":"live://1000","progress":73500,"mode":1,"color":16777215}'), {
      ok: true,
      req: { text: '666', nonce: 'c1-42', room: 'live://1000', progress: 73500, mode: 1, color: 16777215 },
    });
  });

  test('data is kept as the sender wrote it: spacing, big numbers, escapes', () => {
    const data = '{ "n": 12345678901234567890123, "s":"\\u00e9" , "a":[1, {"b":"}"}] }';
    assert.deepEqual(parse(`{"data": ${data} ,"nonce":"x"}`, { maxText: 10, maxData: 100 }), { ok: true, req: { data, nonce: 'x' } });
    assert.deepEqual(parse('{"data":null}'), { ok: true, req: { data: 'null' } });
    assert.deepEqual(parse('{"data":-1.5e3}'), { ok: true, req: { data: '-1.5e3' } });
  });

  test('not UTF-8, not JSON, not an object, unknown or repeated fields: code 1 (invalid)', () => {
    assert.equal(refused(Buffer.from([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])), 'invalid');
    assert.equal(refused(Buffer.from('{"text":"\xed\xa0\x80"}', 'latin1')), 'invalid', 'an encoded surrogate is not UTF-8');
    assert.equal(refused('{"text":"a"'), 'invalid');
    assert.equal(refused(''), 'invalid');
    assert.equal(refused('"text"'), 'invalid');
    assert.equal(refused('[{"text":"a"}]'), 'invalid');
    assert.equal(refused('null'), 'invalid');
    assert.equal(refused('{"text":"a","extra":1}'), 'invalid');
    assert.equal(refused('{"text":"a","__proto__":{}}'), 'invalid');
    assert.equal(refused('{"text":"a","text":"b"}'), 'invalid');
    assert.equal(refused('{"text":"a","t\\u0065xt":"b"}'), 'invalid', 'a repeat written with an escape');
  });

  test('text or data, exactly one, of the right type', () => {
    assert.equal(refused('{}'), 'invalid');
    assert.equal(refused('{"nonce":"n"}'), 'invalid');
    assert.equal(refused('{"text":"a","data":1}'), 'invalid');
    assert.equal(refused('{"text":1}'), 'invalid');
    assert.equal(refused('{"text":""}'), 'invalid');
    assert.equal(refused('{"text":"\\ud800"}'), 'invalid', 'a lone surrogate cannot reach viewers as UTF-8');
    assert.equal(refused('{"text":"\\ud83d\\ude00"}'), 'ok');
  });

  test('text length counts code points; data length counts bytes as sent', () => {
    assert.equal(refused(`{"text":"${'😀'.repeat(10)}"}`), 'ok');
    assert.equal(refused(`{"text":"${'😀'.repeat(11)}"}`), 'too_long');
    assert.equal(refused(`{"text":"${'a'.repeat(11)}"}`), 'too_long');
    assert.equal(refused(`{"data":"${'a'.repeat(62)}"}`), 'ok');
    assert.equal(refused(`{"data":"${'a'.repeat(63)}"}`), 'too_long');
  });

  test('a body over the byte cap is refused before it is decoded', () => {
    const cap = maxSendBytes(limits);
    assert.equal(cap, 10 * 4 + 64 + 1024);
    const pad = (n: number) => `{"text":"a"${' '.repeat(n - 12)}}`;
    assert.equal(Buffer.byteLength(pad(cap)), cap);
    assert.equal(refused(pad(cap)), 'ok');
    assert.equal(refused(pad(cap + 1)), 'too_long');
    assert.equal(refused(Buffer.alloc(cap + 1, 0xff)), 'too_long');
  });

  test('nonce: a non-empty string of at most 64 bytes', () => {
    assert.equal(refused(`{"text":"a","nonce":"${'n'.repeat(64)}"}`), 'ok');
    assert.equal(refused(`{"text":"a","nonce":"${'n'.repeat(65)}"}`), 'invalid');
    assert.equal(refused(`{"text":"a","nonce":"${'é'.repeat(33)}"}`), 'invalid', '66 bytes');
    assert.equal(refused('{"text":"a","nonce":""}'), 'invalid');
    assert.equal(refused('{"text":"a","nonce":42}'), 'invalid');
  });

  test('progress: a safe integer ≥ 0; mode and color: int32', () => {
    assert.equal(refused('{"text":"a","progress":0}'), 'ok');
    assert.equal(refused('{"text":"a","progress":9007199254740991}'), 'ok');
    assert.equal(refused('{"text":"a","progress":9007199254740992}'), 'invalid');
    assert.equal(refused('{"text":"a","progress":-1}'), 'invalid');
    assert.equal(refused('{"text":"a","progress":1.5}'), 'invalid');
    assert.equal(refused('{"text":"a","progress":"1"}'), 'invalid');
    assert.equal(refused('{"text":"a","mode":-2147483648,"color":2147483647}'), 'ok');
    assert.equal(refused('{"text":"a","color":2147483648}'), 'invalid');
    assert.equal(refused('{"text":"a","mode":-2147483649}'), 'invalid');
    assert.equal(refused('{"text":"a","mode":null}'), 'invalid');
    assert.equal(refused('{"text":"a","room":1}'), 'invalid');
  });

  test('property: arbitrary bytes never throw; the answer is a refusal reason or a request within the limits', () => {
    const fieldValue = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constant(null), fc.json());
    const object = fc
      .dictionary(fc.constantFrom('text', 'data', 'nonce', 'room', 'progress', 'mode', 'color', 'x'), fieldValue, { maxKeys: 7 })
      .map((o) => Buffer.from(JSON.stringify(o)));
    const bodies = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      object,
      fc.json().map((s) => Buffer.from(s)),
      fc.string({ unit: 'binary' }).map((s) => Buffer.from(s)),
    );
    fc.assert(
      fc.property(bodies, (body) => {
        const r = parseSend(body, limits);
        if (!r.ok) {
          assert.ok(REFUSAL_REASONS.includes(r.reason));
          assert.ok(r.reason === 'invalid' || r.reason === 'too_long', r.reason);
          return;
        }
        const q = r.req;
        assert.ok((q.text === undefined) !== (q.data === undefined));
        if (q.text !== undefined) assert.ok([...q.text].length >= 1 && [...q.text].length <= limits.maxText);
        if (q.data !== undefined) {
          assert.ok(Buffer.byteLength(q.data) <= limits.maxData);
          JSON.parse(q.data);
        }
        if (q.nonce !== undefined) assert.ok(Buffer.byteLength(q.nonce) <= 64);
        if (q.progress !== undefined) assert.ok(Number.isSafeInteger(q.progress) && q.progress >= 0);
      }),
      { numRuns: 2000 },
    );
  });
});

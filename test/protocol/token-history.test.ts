// The auth token's `history` field (docs/history.md#opting-in): the three forms, and the
// bounds every other value is refused by.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseToken, TokenError } from '../../src/protocol/token.js';

function history(text: string): unknown {
  return parseToken(text).history;
}

function refused(text: string, reason: RegExp): void {
  assert.throws(
    () => parseToken(text),
    (err: unknown) => err instanceof TokenError && reason.test(err.message),
    text,
  );
}

describe('auth token: history', () => {
  test('the three forms; absent or null is not opted in; the last duplicate wins', () => {
    assert.deepEqual(history('{"mid":1,"history":{}}'), { last: 0 });
    assert.deepEqual(history('{"history":{"last":20}}'), { last: 20 });
    assert.deepEqual(history('{"history":{"since":4711,"epoch":"k3x9"}}'), { last: 0, since: 4711, epoch: 'k3x9' });
    assert.deepEqual(history('{"history":{"last":0}}'), { last: 0 });
    assert.deepEqual(history('{"history":{"last":10000}}'), { last: 10000 });
    assert.deepEqual(history(`{"history":{"since":${Number.MAX_SAFE_INTEGER},"epoch":"${'e'.repeat(64)}"}}`), {
      last: 0,
      since: Number.MAX_SAFE_INTEGER,
      epoch: 'e'.repeat(64),
    });
    assert.equal(history('{"mid":1}'), undefined);
    assert.equal(history('{"history":null}'), undefined);
    assert.equal(history('{"history":{"last":1},"history":null}'), undefined);
    assert.deepEqual(history('{"history":{"last":1},"History":{"last":2}}'), { last: 2 });
    // The other fields are unaffected.
    assert.deepEqual(parseToken('{"mid":9,"room_id":"live://1","history":{"last":3},"accepts":[1000]}'), {
      mid: 9n,
      key: '',
      roomId: 'live://1',
      platform: '',
      accepts: [1000],
      history: { last: 3 },
    });
  });

  test('bad values are refused as token errors naming the field', () => {
    const cases: Array<[string, RegExp]> = [
      ['{"history":1}', /history must be an object/],
      ['{"history":"last"}', /history must be an object/],
      ['{"history":[]}', /history must be an object/],
      ['{"history":{"last":-1}}', /history\.last/],
      ['{"history":{"last":10001}}', /history\.last/],
      ['{"history":{"last":1.5}}', /history\.last/],
      ['{"history":{"last":"5"}}', /history\.last/],
      ['{"history":{"since":-1,"epoch":"a"}}', /history\.since/],
      ['{"history":{"since":9007199254740992,"epoch":"a"}}', /history\.since/],
      ['{"history":{"since":1.5,"epoch":"a"}}', /history\.since/],
      ['{"history":{"since":1}}', /go together/],
      ['{"history":{"epoch":"a"}}', /go together/],
      ['{"history":{"since":1,"epoch":""}}', /history\.epoch/],
      ['{"history":{"since":1,"epoch":7}}', /history\.epoch/],
      [`{"history":{"since":1,"epoch":"${'e'.repeat(65)}"}}`, /history\.epoch/],
      ['{"history":{"last":1,"since":1,"epoch":"a"}}', /either last or since/],
      ['{"history":{"lats":1}}', /history\.lats is not a known field/],
    ];
    for (const [text, reason] of cases) refused(text, reason);
  });

  test('syntax errors inside history are syntax errors of the token', () => {
    refused('{"history":{"last":1}', /invalid JSON|unexpected end/);
    refused('{"history":{"last":01}}', /invalid JSON/);
  });
});

// The auth token's `inbox` field (docs/protocol.md#durable-inbox): a JSON boolean with Go's
// rules for a bool field; anything else fails the auth.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseToken, TokenError } from '../../src/protocol/token.js';

const inbox = (text: string): unknown => parseToken(text).inbox;

test('auth token: inbox true opts in; false, null and absent do not; the last value wins; keys fold case', () => {
  assert.equal(inbox('{"mid":1,"inbox":true}'), true);
  assert.equal(inbox('{"mid":1,"INBOX":true}'), true);
  assert.equal(inbox('{"mid":1,"inbox":false}'), undefined);
  assert.equal(inbox('{"mid":1}'), undefined);
  assert.equal(inbox('{"mid":1,"inbox":null}'), undefined);
  assert.equal(inbox('{"inbox":true,"inbox":false}'), undefined);
  // null leaves a Go bool as it was.
  assert.equal(inbox('{"inbox":true,"inbox":null}'), true);
  assert.deepEqual(parseToken('{"mid":9,"key":"d","inbox":true,"accepts":[1000]}'), {
    mid: 9n,
    key: 'd',
    roomId: '',
    platform: '',
    accepts: [1000],
    inbox: true,
  });
});

test('auth token: any other inbox value fails the auth', () => {
  for (const text of ['{"inbox":1}', '{"inbox":"true"}', '{"inbox":{}}', '{"inbox":[true]}']) {
    assert.throws(
      () => parseToken(text),
      (err: unknown) => err instanceof TokenError && /inbox must be a boolean/.test(err.message),
      text,
    );
  }
  // A syntax error still wins over the type error, as in Go.
  assert.throws(
    () => parseToken('{"inbox":tru}'),
    (err: unknown) => err instanceof TokenError && /invalid character/.test(err.message),
  );
});

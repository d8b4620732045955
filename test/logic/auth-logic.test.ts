// How Logic.connect uses the authenticator: the identity it returns, "auth denied: …"
// rejections, goim mode's TokenError kept, counters per reason class, nothing stored for a
// denied connection, and configuration errors when Logic is built.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { MemoryRegistry } from '../../src/adapters/memory/registry.js';
import { MemorySessionStore } from '../../src/adapters/memory/session-store.js';
import { logicSettings } from '../../src/config/logic-settings.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { AuthDeniedError, type Authenticator } from '../../src/logic/auth/authenticator.js';
import { Logic } from '../../src/logic/logic.js';
import { TokenError } from '../../src/protocol/token.js';
import { logicConfig, RecordingQueue, testConfig } from './fixtures.js';

const SECRET = 'logic-test-secret-of-at-least-32-bytes';
const enc = (s: string) => new TextEncoder().encode(s);

const running: Logic[] = [];
afterEach(async () => {
  for (const l of running.splice(0)) await l.close();
});

function logicWith(input: ConfigInput, authenticator?: Authenticator): { logic: Logic; store: MemorySessionStore } {
  const store = new MemorySessionStore();
  const config = testConfig(input);
  const logic = new Logic({
    ...logicSettings(config),
    store,
    queue: new RecordingQueue(),
    registry: new MemoryRegistry(),
    log: silentLogger,
    authenticator: authenticator ?? logicConfig(config).authenticator,
  });
  running.push(logic);
  return { logic, store };
}

const connect = (logic: Logic, token: string) => logic.connect({ server: 'comet-1', cookie: '', token: enc(token), clientIp: '127.0.0.1' });

describe('logic: connect through the authenticator', () => {
  it('jwt mode: a verified token connects with its claims and a generated key; the routing is stored', async () => {
    const { logic, store } = logicWith({ auth: { mode: 'jwt', jwt: { secret: SECRET } } });
    const token = await new SignJWT({ mid: 9, room_id: 'live://9', accepts: [1000] })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(enc(SECRET));
    const reply = await connect(logic, JSON.stringify({ token }));
    assert.equal(reply.mid, 9n);
    assert.equal(reply.roomId, 'live://9');
    assert.deepEqual(reply.accepts, [1000]);
    assert.match(reply.key, /^[0-9a-f-]{36}$/);
    assert.deepEqual(await store.serversByKeys([reply.key]), ['comet-1']);
    assert.deepEqual(logic.authStats(), { accepted: 1, denied: {} });
  });

  it('jwt mode: a goim token is refused with "auth denied: <why>", counted, and nothing is stored', async () => {
    const { logic, store } = logicWith({ auth: { mode: 'jwt', jwt: { secret: SECRET } } });
    await assert.rejects(connect(logic, '{"mid":1,"key":"k1"}'), (err: unknown) => {
      assert.ok(err instanceof AuthDeniedError);
      assert.equal(err.reason, 'malformed');
      assert.equal(err.message, 'auth denied: JSON token has no string "token" field');
      return true;
    });
    const forged = await new SignJWT({ mid: 1, key: 'k1' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(enc(SECRET + 'x'));
    await assert.rejects(connect(logic, forged), /^AuthDeniedError: auth denied: signature verification failed$/);
    await assert.rejects(connect(logic, forged), /signature verification failed/);
    assert.deepEqual(await store.serversByKeys(['k1']), ['']);
    assert.deepEqual(logic.authStats(), { accepted: 0, denied: { malformed: 1, bad_signature: 2 } });
  });

  it('goim mode keeps goim: any token is trusted, a broken one rejects with its TokenError', async () => {
    const { logic } = logicWith({});
    assert.equal((await connect(logic, '{"mid":5,"key":"k5"}')).mid, 5n);
    await assert.rejects(
      connect(logic, '{"mid":"1"}'),
      (err: unknown) => err instanceof TokenError && err.message === 'auth token: mid must be an integer',
    );
    assert.deepEqual(logic.authStats(), { accepted: 1, denied: { malformed: 1 } });
  });

  it('an authenticator that throws denies as internal', async () => {
    const broken: Authenticator = { authenticate: () => Promise.reject(new Error('bug')) };
    const { logic } = logicWith({}, broken);
    await assert.rejects(connect(logic, '{}'), /^AuthDeniedError: auth denied: internal error$/);
    assert.deepEqual(logic.authStats(), { accepted: 0, denied: { internal: 1 } });
  });

  it('authStats() is a copy', async () => {
    const { logic } = logicWith({});
    const stats = logic.authStats();
    stats.accepted = 99;
    stats.denied.expired = 1;
    assert.deepEqual(logic.authStats(), { accepted: 0, denied: {} });
  });

  it('a configuration error throws when Logic is built, not per connection', () => {
    assert.throws(() => logicWith({ auth: { mode: 'jwt' } }), /auth\.mode is "jwt" but none of/);
    assert.throws(() => logicWith({ auth: { mode: 'webhook' } }), /auth\.webhook\.url is not set/);
  });
});

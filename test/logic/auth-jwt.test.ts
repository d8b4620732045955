// auth.mode = "jwt": HS256 with a secret, RS256 with a PEM key (inline and from a file),
// ES256 from a JWKS served over HTTP; token extraction, claim mapping, every refusal, and
// configuration errors at start-up.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWTPayload } from 'jose';
import { buildConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { AuthResult } from '../../src/logic/auth/authenticator.js';
import { extractJwt, JwtAuthenticator } from '../../src/logic/auth/jwt.js';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const enc = (s: string) => new TextEncoder().encode(s);
const now = () => Math.floor(Date.now() / 1000);

function jwtAuth(jwt: NonNullable<NonNullable<ConfigInput['auth']>['jwt']>): JwtAuthenticator {
  return new JwtAuthenticator(buildConfig({ auth: { mode: 'jwt', jwt } }).auth.jwt, silentLogger);
}

function connect(auth: JwtAuthenticator, token: string): Promise<AuthResult> {
  return auth.authenticate({ server: 'comet-1', cookie: '', token: enc(token), clientIp: '127.0.0.1' });
}

async function hs256(claims: JWTPayload, opts: { secret?: string; exp?: number | null; header?: Record<string, unknown> } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...opts.header });
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? now() + 300);
  return jwt.sign(enc(opts.secret ?? SECRET));
}

function denied(r: AuthResult, reason: string): void {
  assert.equal(r.ok, false, 'expected a denial');
  if (r.ok) return;
  assert.equal(r.reason, reason, r.message);
}

describe('jwt auth: HS256', () => {
  const auth = jwtAuth({ secret: SECRET });

  it('accepts a good token and maps its claims', async () => {
    const token = await hs256({ mid: 123, room_id: 'live://1000', accepts: [1000, 1001], key: 'dev-1' });
    const r = await connect(auth, JSON.stringify({ token }));
    assert.deepEqual(r, { ok: true, mid: 123n, key: 'dev-1', roomId: 'live://1000', accepts: [1000, 1001], roomFixed: true, acceptsFixed: true });
  });

  it("maps a rooms claim (never the body's); refuses one of the wrong type or size", async () => {
    const token = await hs256({ mid: 1, room_id: 'live://1', rooms: ['chat://a', 'news://*'] });
    const r = await connect(auth, JSON.stringify({ token, rooms: ['evil://1'] }));
    assert.deepEqual(r, {
      ok: true,
      mid: 1n,
      key: '',
      roomId: 'live://1',
      accepts: [],
      roomFixed: true,
      acceptsFixed: true,
      rooms: ['chat://a', 'news://*'],
    });
    const none = await connect(auth, await hs256({ mid: 1, rooms: [] }));
    assert.deepEqual((none as { rooms?: string[] }).rooms, []);
    const bodyOnly = await connect(
      jwtAuth({ secret: SECRET, trustBody: true }),
      JSON.stringify({ token: await hs256({ mid: 1 }), rooms: ['evil://1'] }),
    );
    assert.equal((bodyOnly as { rooms?: string[] }).rooms, undefined, 'a list grants rooms: never from the body');
    for (const rooms of ['chat://a', [1], [''], ['x'.repeat(257)], Array.from({ length: 1025 }, (_, i) => `r://${i}`)]) {
      denied(await connect(auth, await hs256({ mid: 1, rooms })), 'claims');
    }
  });

  it('takes the JWT as the whole body as well (whitespace around it ignored)', async () => {
    const token = await hs256({ mid: 7, room: 'live://7' });
    const r = await connect(auth, `  ${token}\n`);
    assert.deepEqual(r, { ok: true, mid: 7n, key: '', roomId: 'live://7', accepts: [], roomFixed: true, acceptsFixed: true });
  });

  it('reads mid from a decimal string (full int64) and falls back to a numeric sub', async () => {
    const big = await hs256({ mid: '9223372036854775807' });
    assert.equal(((await connect(auth, big)) as { mid: bigint }).mid, 9223372036854775807n);
    const sub = await hs256({ sub: '42' });
    assert.equal(((await connect(auth, sub)) as { mid: bigint }).mid, 42n);
  });

  it('refuses a forged token (signed with another secret)', async () => {
    const token = await hs256({ mid: 1 }, { secret: 'another-secret-of-at-least-32-bytes!!' });
    denied(await connect(auth, JSON.stringify({ token })), 'bad_signature');
  });

  it('refuses a token whose claims were altered after signing', async () => {
    const token = await hs256({ mid: 1 });
    const [h, , s] = token.split('.');
    const payload = Buffer.from(JSON.stringify({ mid: 2, exp: now() + 300 })).toString('base64url');
    denied(await connect(auth, `${h}.${payload}.${s}`), 'bad_signature');
  });

  it('refuses an expired token, and one without exp', async () => {
    denied(await connect(auth, await hs256({ mid: 1 }, { exp: now() - 60 })), 'expired');
    denied(await connect(auth, await hs256({ mid: 1 }, { exp: null })), 'claims');
  });

  it('allows a token without exp when requireExp is false', async () => {
    const lax = jwtAuth({ secret: SECRET, requireExp: false });
    assert.equal((await connect(lax, await hs256({ mid: 1 }, { exp: null }))).ok, true);
  });

  it('refuses a token not valid yet (nbf beyond the clock tolerance)', async () => {
    const token = await new SignJWT({ mid: 1 })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(now() + 600)
      .setNotBefore(now() + 120)
      .sign(enc(SECRET));
    denied(await connect(auth, token), 'not_yet_valid');
  });

  it('refuses alg none, whatever the claims', async () => {
    const token = new UnsecuredJWT({ mid: 1 }).setExpirationTime(now() + 300).encode();
    denied(await connect(auth, token), 'bad_algorithm');
    denied(await connect(auth, JSON.stringify({ token })), 'bad_algorithm');
  });

  it('refuses an algorithm without a configured key (HS512, RS256)', async () => {
    const hs512 = await new SignJWT({ mid: 1 })
      .setProtectedHeader({ alg: 'HS512' })
      .setExpirationTime(now() + 300)
      .sign(enc(SECRET + SECRET));
    denied(await connect(auth, hs512), 'bad_algorithm');
    const { privateKey } = await generateKeyPair('RS256');
    const rs = await new SignJWT({ mid: 1 })
      .setProtectedHeader({ alg: 'RS256' })
      .setExpirationTime(now() + 300)
      .sign(privateKey);
    denied(await connect(auth, rs), 'bad_algorithm');
  });

  it('says why a body holds no JWT', () => {
    assert.equal(extractJwt(enc('x')), 'token is neither a JSON object with a "token" field nor a compact JWT');
    assert.equal(extractJwt(enc('{"mid":1}')), 'JSON token has no string "token" field');
  });

  it('refuses malformed bodies and tokens', async () => {
    const cases = [
      '',
      'not a token',
      '{"mid":1}', // a goim token: no JWT in it
      '{"token":5}',
      '{"token":"abc"}',
      '{"token":',
      'a.b.c', // base64url-shaped, but no JSON header
      `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from('[1]').toString('base64url')}.AAAA`,
    ];
    for (const body of cases) {
      const r = await connect(auth, body);
      assert.equal(r.ok, false, body);
      if (!r.ok) assert.equal(r.reason, body.endsWith('.AAAA') ? 'bad_signature' : 'malformed', `${body}: ${r.message}`);
    }
    const notUtf8 = await auth.authenticate({ server: 's', cookie: '', token: new Uint8Array([0xff, 0xfe, 0x2e]) });
    denied(notUtf8, 'malformed');
  });

  it('refuses a mid that is missing, fractional, unsafe as a number or out of range', async () => {
    for (const claims of [{}, { sub: 'alice' }, { mid: 1.5 }, { mid: 2 ** 60 }, { mid: '9223372036854775808' }, { mid: true }, { mid: '12a' }]) {
      const r = await connect(auth, await hs256(claims));
      assert.equal(r.ok, false, JSON.stringify(claims));
      if (!r.ok) assert.equal(r.reason, 'claims', JSON.stringify(claims));
    }
  });

  it('refuses wrongly typed room, accepts or key claims', async () => {
    for (const claims of [{ room_id: 5 }, { accepts: 'x' }, { accepts: [1.5] }, { accepts: [2 ** 31] }, { key: 1 }]) {
      denied(await connect(auth, await hs256({ mid: 1, ...claims })), 'claims');
    }
  });

  it('takes the body history request (docs/history.md#opting-in); refuses an invalid one', async () => {
    const token = await hs256({ mid: 5, room_id: 'live://5' });
    const r = await connect(auth, JSON.stringify({ token, history: { since: 9, epoch: 'e1' } }));
    assert.ok(r.ok);
    if (r.ok) assert.deepEqual(r.history, { last: 0, since: 9, epoch: 'e1' });
    const none = await connect(auth, JSON.stringify({ token, history: null }));
    assert.ok(none.ok && none.history === undefined);
    denied(await connect(auth, JSON.stringify({ token, history: { last: 10001 } })), 'claims');
  });

  it('takes the body inbox opt-in (docs/protocol.md#durable-inbox); refuses a value that is not a boolean', async () => {
    const token = await hs256({ mid: 5 });
    const r = await connect(auth, JSON.stringify({ token, inbox: true }));
    assert.ok(r.ok && r.inbox === true && r.mid === 5n);
    const off = await connect(auth, JSON.stringify({ token, inbox: false }));
    assert.ok(off.ok && off.inbox === undefined);
    denied(await connect(auth, JSON.stringify({ token, inbox: 'yes' })), 'claims');
  });

  it('never messages token content', async () => {
    const token = await hs256({ mid: 1 }, { secret: 'another-secret-of-at-least-32-bytes!!' });
    const r = await connect(auth, token);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.ok(!r.message.includes(token.split('.')[2]));
      assert.ok(!r.message.includes(SECRET));
    }
  });
});

describe('jwt auth: issuer, audience, midClaim, trustBody', () => {
  it('checks iss and aud when configured', async () => {
    const auth = jwtAuth({ secret: SECRET, issuer: 'https://id.example', audience: ['tsim', 'push'] });
    const good = await hs256({ mid: 1, iss: 'https://id.example', aud: 'push' });
    assert.equal((await connect(auth, good)).ok, true);
    denied(await connect(auth, await hs256({ mid: 1, iss: 'https://id.example', aud: 'other' })), 'claims');
    denied(await connect(auth, await hs256({ mid: 1, iss: 'https://id.example' })), 'claims');
    denied(await connect(auth, await hs256({ mid: 1, iss: 'https://evil.example', aud: 'tsim' })), 'claims');
  });

  it('reads mid from another claim', async () => {
    const auth = jwtAuth({ secret: SECRET, midClaim: 'uid' });
    assert.equal(((await connect(auth, await hs256({ uid: 99, mid: 1 }))) as { mid: bigint }).mid, 99n);
  });

  it('ignores room_id and accepts of the body by default', async () => {
    const auth = jwtAuth({ secret: SECRET });
    const token = await hs256({ mid: 5 });
    const r = await connect(auth, JSON.stringify({ token, mid: 6, key: 'k', room_id: 'live://x', accepts: [1] }));
    assert.deepEqual(r, { ok: true, mid: 5n, key: '', roomId: '', accepts: [], roomFixed: true, acceptsFixed: true });
  });

  it('with trustBody, the body fills room_id and accepts only where the claims are silent; never mid or key', async () => {
    const auth = jwtAuth({ secret: SECRET, trustBody: true });
    const bare = await hs256({ mid: 5 });
    const r = await connect(auth, JSON.stringify({ token: bare, mid: 6, key: 'k', room_id: 'live://x', accepts: [1] }));
    // What the body filled stays the client's to change (op 12 / op 14); what the token names does not.
    assert.deepEqual(r, { ok: true, mid: 5n, key: '', roomId: 'live://x', accepts: [1], roomFixed: false, acceptsFixed: false });
    const full = await hs256({ mid: 5, room_id: 'live://claimed', accepts: [2] });
    const r2 = await connect(auth, JSON.stringify({ token: full, room_id: 'live://x', accepts: [1] }));
    assert.deepEqual(r2, { ok: true, mid: 5n, key: '', roomId: 'live://claimed', accepts: [2], roomFixed: true, acceptsFixed: true });
  });

  it('with trustBody and a rooms claim, the body room_id must be a listed room: another refuses the connection', async () => {
    const auth = jwtAuth({ secret: SECRET, trustBody: true });
    const listed = await hs256({ mid: 9, rooms: ['grant://a', 'open://*'] });
    for (const room of ['grant://a', 'open://7', '']) {
      const r = await connect(auth, JSON.stringify({ token: listed, room_id: room }));
      assert.equal(r.ok && r.roomId, room, room);
    }
    for (const room of ['evil://x', 'grant://b', 'open:/7']) {
      const r = await connect(auth, JSON.stringify({ token: listed, room_id: room }));
      denied(r, 'claims');
      assert.equal(!r.ok && r.message, 'body "room_id" is not among the rooms of claim "rooms"');
    }
    // The token's own room is granted whatever the list says; the body cannot replace it.
    const claimed = await hs256({ mid: 9, room_id: 'home://1', rooms: [] });
    const r = await connect(auth, JSON.stringify({ token: claimed, room_id: 'evil://x' }));
    assert.equal(r.ok && r.roomId, 'home://1');
  });
});

describe('jwt auth: RS256 with a PEM public key', () => {
  let privateKey: CryptoKey;
  let pem: string;
  let dir: string;

  before(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    pem = await exportSPKI(pair.publicKey);
    dir = mkdtempSync(join(tmpdir(), 'tsim-auth-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const rs256 = (claims: JWTPayload, key: CryptoKey = privateKey) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256' })
      .setExpirationTime(now() + 300)
      .sign(key);

  it('accepts tokens signed with the key, inline or from a file', async () => {
    const inline = jwtAuth({ publicKey: pem });
    const file = join(dir, 'key.pem');
    writeFileSync(file, pem);
    const fromFile = jwtAuth({ publicKey: `@${file}` });
    const token = await rs256({ mid: 10, room_id: 'live://rs' });
    for (const auth of [inline, fromFile]) {
      assert.deepEqual(await connect(auth, JSON.stringify({ token })), {
        ok: true,
        mid: 10n,
        key: '',
        roomId: 'live://rs',
        accepts: [],
        roomFixed: true,
        acceptsFixed: true,
      });
    }
  });

  it('refuses tokens signed with another key, and HS256 tokens keyed with the PEM text (algorithm confusion)', async () => {
    const auth = jwtAuth({ publicKey: pem });
    const other = await generateKeyPair('RS256');
    denied(await connect(auth, await rs256({ mid: 1 }, other.privateKey)), 'bad_signature');
    const confused = await hs256({ mid: 1 }, { secret: pem });
    denied(await connect(auth, confused), 'bad_algorithm');
  });

  it('refuses an expired RS256 token', async () => {
    const auth = jwtAuth({ publicKey: pem });
    const token = await new SignJWT({ mid: 1 })
      .setProtectedHeader({ alg: 'RS256' })
      .setExpirationTime(now() - 3600)
      .sign(privateKey);
    denied(await connect(auth, token), 'expired');
  });
});

describe('jwt auth: ES256 from a JWKS URL', () => {
  let server: Server;
  let url: string;
  let privateKey: CryptoKey;
  let fetches = 0;
  let jwksStatus = 200;

  before(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    server = createServer((req, res) => {
      fetches++;
      if (jwksStatus !== 200) {
        res.writeHead(jwksStatus).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const es256 = (claims: JWTPayload, kid = 'k1', key: CryptoKey = privateKey) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid })
      .setExpirationTime(now() + 300)
      .sign(key);

  it('accepts a token signed by a JWKS key, caching the key set', async () => {
    jwksStatus = 200;
    const auth = jwtAuth({ jwksUrl: url });
    const before = fetches;
    const r = await connect(auth, JSON.stringify({ token: await es256({ mid: 77, accepts: [1000] }) }));
    assert.deepEqual(r, { ok: true, mid: 77n, key: '', roomId: '', accepts: [1000], roomFixed: true, acceptsFixed: true });
    assert.equal((await connect(auth, await es256({ mid: 78 }))).ok, true);
    assert.equal(fetches - before, 1, 'the key set is fetched once');
  });

  it('refuses a forged token and an unknown kid', async () => {
    jwksStatus = 200;
    const auth = jwtAuth({ jwksUrl: url });
    const other = await generateKeyPair('ES256');
    denied(await connect(auth, await es256({ mid: 1 }, 'k1', other.privateKey)), 'bad_signature');
    denied(await connect(auth, await es256({ mid: 1 }, 'nope', other.privateKey)), 'unknown_key');
  });

  it('denies while the key set cannot be fetched', async () => {
    jwksStatus = 503;
    const auth = jwtAuth({ jwksUrl: url });
    denied(await connect(auth, await es256({ mid: 1 })), 'key_unavailable');
    jwksStatus = 200;
  });
});

describe('jwt auth: configuration errors stop start-up', () => {
  const fails = (jwt: Parameters<typeof jwtAuth>[0], message: RegExp) => assert.throws(() => jwtAuth(jwt), message);

  it('names what is missing or wrong', async () => {
    fails({}, /none of auth\.jwt\.secret, auth\.jwt\.publicKey, auth\.jwt\.jwksUrl is set/);
    fails({ secret: 'short' }, /auth\.jwt\.secret: must be at least 32 bytes/);
    fails({ secret: SECRET, algorithms: ['RS256'] }, /auth\.jwt\.algorithms lists RS256 but no key for it is configured/);
    fails({ publicKey: 'not a pem' }, /auth\.jwt\.publicKey: not a PEM public key/);
    fails({ publicKey: '@/nonexistent/key.pem' }, /auth\.jwt\.publicKey: cannot read \/nonexistent\/key\.pem/);
    fails({ jwksUrl: 'ftp://example.com/keys' }, /auth\.jwt\.jwksUrl: must be an http or https URL/);
    const { publicKey } = await generateKeyPair('ES384');
    fails({ publicKey: await exportSPKI(publicKey) }, /unsupported key type ec secp384r1/);
  });

  it('refuses "none" as an algorithm in the config', () => {
    assert.throws(() => buildConfig({ auth: { mode: 'jwt', jwt: { algorithms: ['none'] } } }), /auth\.jwt\.algorithms\.0/);
  });
});

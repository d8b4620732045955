// auth.mode = "webhook" against an in-test business server: what logic sends, allow and
// deny answers, and every failure denying (timeout, 500, bad JSON, redirect, no server).
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { buildConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { AuthResult } from '../../src/logic/auth/authenticator.js';
import { WebhookAuthenticator } from '../../src/logic/auth/webhook.js';
import { eventually } from '../support/eventually.js';

type Hook = NonNullable<NonNullable<ConfigInput['auth']>['webhook']>;
type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

const enc = (s: string) => new TextEncoder().encode(s);

function denied(r: AuthResult, reason: string, message?: RegExp): void {
  assert.equal(r.ok, false, 'expected a denial');
  if (r.ok) return;
  assert.equal(r.reason, reason, r.message);
  if (message) assert.match(r.message, message);
}

describe('webhook auth', () => {
  let server: Server;
  let url: string;
  let handler: Handler;
  const seen: Array<{ headers: IncomingMessage['headers']; body: string; method: string }> = [];
  const authenticators: WebhookAuthenticator[] = [];

  const webhook = (extra: Partial<Hook> = {}): WebhookAuthenticator => {
    const a = new WebhookAuthenticator(buildConfig({ auth: { mode: 'webhook', webhook: { url, ...extra } } }).auth.webhook, silentLogger);
    authenticators.push(a);
    return a;
  };
  const connect = (a: WebhookAuthenticator, token = '{"session":"s-1"}') =>
    a.authenticate({ server: 'comet-1', cookie: 'sid=abc', token: enc(token), clientIp: '203.0.113.9' });
  const answer = (status: number, body: string) => (_req: IncomingMessage, _b: string, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  };

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        seen.push({ headers: req.headers, body, method: req.method ?? '' });
        handler(req, body, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth`;
  });
  beforeEach(() => {
    seen.length = 0;
  });
  after(async () => {
    for (const a of authenticators) await a.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('POSTs the token, cookie, client address and comet as JSON with the configured headers', async () => {
    handler = answer(200, '{"allow":true,"mid":123,"key":"dev-1","room_id":"live://1000","accepts":[1000,1001]}');
    const r = await connect(webhook({ headers: { Authorization: 'Bearer business-key' } }));
    assert.deepEqual(r, { ok: true, mid: 123n, key: 'dev-1', roomId: 'live://1000', accepts: [1000, 1001], roomFixed: true, acceptsFixed: true });
    assert.equal(seen.length, 1);
    assert.equal(seen[0].method, 'POST');
    assert.equal(seen[0].headers['content-type'], 'application/json');
    assert.equal(seen[0].headers.authorization, 'Bearer business-key');
    assert.deepEqual(JSON.parse(seen[0].body), { token: '{"session":"s-1"}', cookie: 'sid=abc', client_ip: '203.0.113.9', server: 'comet-1' });
  });

  it('accepts mid as a decimal string (int64) and defaults missing fields', async () => {
    handler = answer(200, '{"allow":true,"mid":"9223372036854775807"}');
    assert.deepEqual(await connect(webhook()), {
      ok: true,
      mid: 9223372036854775807n,
      key: '',
      roomId: '',
      accepts: [],
      roomFixed: true,
      acceptsFixed: true,
    });
  });

  it('passes on the inbox opt-in of a JSON token for the mid the webhook answers; a bad one is refused before any call', async () => {
    handler = answer(200, '{"allow":true,"mid":6}');
    const r = await connect(webhook(), '{"session":"s-4","inbox":true}');
    assert.ok(r.ok && r.inbox === true && r.mid === 6n);
    const calls = seen.length;
    const bad = await connect(webhook(), '{"session":"s-5","inbox":1}');
    assert.ok(!bad.ok && bad.reason === 'malformed');
    assert.equal(seen.length, calls);
  });

  it('takes the rooms op 19 may join from the answer; a badly typed list refuses', async () => {
    handler = answer(200, '{"allow":true,"mid":5,"room_id":"live://1","rooms":["chat://2","news://*"]}');
    assert.deepEqual(await connect(webhook()), {
      ok: true,
      mid: 5n,
      key: '',
      roomId: 'live://1',
      accepts: [],
      roomFixed: true,
      acceptsFixed: true,
      rooms: ['chat://2', 'news://*'],
    });
    handler = answer(200, '{"allow":true,"mid":5,"rooms":"chat://2"}');
    const bad = await connect(webhook());
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.equal(bad.reason, 'webhook_error');
  });

  it('passes on the history request of a JSON token (the client opted in); a bad one is refused before any call', async () => {
    handler = answer(200, '{"allow":true,"mid":5,"room_id":"live://1"}');
    const r = await connect(webhook(), '{"session":"s-2","history":{"since":41,"epoch":"ab"}}');
    assert.deepEqual(r, {
      ok: true,
      mid: 5n,
      key: '',
      roomId: 'live://1',
      accepts: [],
      roomFixed: true,
      acceptsFixed: true,
      history: { last: 0, since: 41, epoch: 'ab' },
    });
    const calls = seen.length;
    const bad = await connect(webhook(), '{"session":"s-3","history":{"last":-1}}');
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.equal(bad.reason, 'malformed');
    assert.equal(seen.length, calls, 'the webhook was not called for a bad history request');
    // Not JSON: nothing to pass on, the webhook decides as before.
    const opaque = await connect(webhook(), 'opaque-session-token');
    assert.equal(opaque.ok, true);
    if (opaque.ok) assert.equal(opaque.history, undefined);
  });

  it('denies when the answer says so, with its reason', async () => {
    handler = answer(200, '{"allow":false,"reason":"user banned"}');
    denied(await connect(webhook()), 'webhook_denied', /^webhook: denied \(user banned\)$/);
    handler = answer(200, '{"allow":"true","mid":1}');
    denied(await connect(webhook()), 'webhook_denied');
    handler = answer(200, '{"mid":1}');
    denied(await connect(webhook()), 'webhook_denied');
  });

  it('denies on a non-200 status, including redirects', async () => {
    handler = answer(500, '{"allow":true}');
    denied(await connect(webhook()), 'webhook_error', /^webhook: HTTP 500$/);
    handler = answer(204, '');
    denied(await connect(webhook()), 'webhook_error', /HTTP 204/);
    handler = (_req, _b, res) => res.writeHead(307, { location: 'http://127.0.0.1:1/elsewhere' }).end();
    denied(await connect(webhook()), 'webhook_error', /HTTP 307/);
  });

  it('denies on an answer that is not JSON, not an object, or has wrongly typed fields', async () => {
    handler = answer(200, '<html>ok</html>');
    denied(await connect(webhook()), 'webhook_error', /not JSON/);
    handler = answer(200, '[true]');
    denied(await connect(webhook()), 'webhook_error', /not a JSON object/);
    handler = answer(200, '{"allow":true,"mid":1.5}');
    denied(await connect(webhook()), 'webhook_error', /bad answer/);
    handler = answer(200, '{"allow":true,"mid":1,"accepts":["x"]}');
    denied(await connect(webhook()), 'webhook_error', /bad answer/);
    handler = answer(200, JSON.stringify({ allow: true, pad: 'x'.repeat(70_000) }));
    denied(await connect(webhook()), 'webhook_error', /larger than/);
  });

  it('denies when the server does not answer in time', async () => {
    const held: ServerResponse[] = [];
    handler = (_req, _b, res) => held.push(res);
    denied(await connect(webhook({ timeout: '100ms' })), 'webhook_timeout', /^webhook: timeout after 100ms$/);
    for (const res of held) res.destroy();
  });

  it('denies when nothing listens at the URL', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const a = new WebhookAuthenticator(
      buildConfig({ auth: { mode: 'webhook', webhook: { url: `http://127.0.0.1:${port}/` } } }).auth.webhook,
      silentLogger,
    );
    denied(await connect(a), 'webhook_error', /ECONNREFUSED/);
  });

  it('holds calls past maxConcurrent until a slot frees', async () => {
    const held: ServerResponse[] = [];
    handler = (req, _b, res) => {
      if (req.headers['x-probe'] === '1') res.writeHead(200).end('{"allow":true}');
      else held.push(res);
    };
    const a = webhook({ maxConcurrent: 1, timeout: '5s' });
    const probe = webhook({ headers: { 'x-probe': '1' } });
    const first = connect(a);
    const second = connect(a);
    await eventually(() => held.length === 1, 'the first call at the webhook');
    // A full round trip started after the second call: had that call been sent, it would be here by now.
    assert.equal((await connect(probe)).ok, true);
    assert.equal(held.length, 1, 'the second call waits for the slot');
    held[0].writeHead(200).end('{"allow":true,"mid":1}');
    await eventually(() => held.length === 2, 'the second call at the webhook');
    held[1].writeHead(200).end('{"allow":true,"mid":2}');
    assert.equal(((await first) as { mid: bigint }).mid, 1n);
    assert.equal(((await second) as { mid: bigint }).mid, 2n);
  });

  it('a call waiting for a slot is denied at its deadline or on close()', async () => {
    const held: ServerResponse[] = [];
    handler = (_req, _b, res) => held.push(res);
    const a = webhook({ maxConcurrent: 1, timeout: '150ms' });
    const [first, second] = await Promise.all([connect(a), connect(a)]);
    denied(first, 'webhook_timeout', /^webhook: timeout after 150ms/);
    denied(second, 'webhook_timeout', /^webhook: timeout after 150ms/);

    // A path of its own: a late request of the calls above (the second one may get the slot as
    // the first times out, and reach the server under load) is not counted as one of these.
    const atB: ServerResponse[] = [];
    handler = (req, _b, res) => (req.url === '/auth/b' ? atB : held).push(res);
    const b = webhook({ url: `${url}/b`, maxConcurrent: 1, timeout: '10s' });
    const inFlight = connect(b);
    await eventually(() => atB.length === 1, 'the call in flight at the webhook');
    const waiting = connect(b);
    await b.close();
    denied(await inFlight, 'webhook_error', /closing/);
    denied(await waiting, 'webhook_error', /closing/);
    assert.equal(atB.length, 1, 'the waiting call never reached the server');
    for (const res of [...held, ...atB]) res.destroy();
  });

  it('close() ends calls in flight with a denial', async () => {
    const held: ServerResponse[] = [];
    handler = (_req, _b, res) => held.push(res);
    const a = webhook({ timeout: '10s' });
    const pending = connect(a);
    await eventually(() => held.length === 1, 'the call at the webhook');
    await a.close();
    denied(await pending, 'webhook_error', /closing/);
    for (const res of held) res.destroy();
  });

  it('refuses a bad configuration at start-up', () => {
    assert.throws(
      () => new WebhookAuthenticator(buildConfig({ auth: { mode: 'webhook' } }).auth.webhook, silentLogger),
      /auth\.webhook\.url is not set/,
    );
    assert.throws(() => webhook({ headers: { 'bad header': 'x' } }), /auth\.webhook\.headers/);
    assert.throws(
      () => new WebhookAuthenticator(buildConfig({ auth: { mode: 'webhook', webhook: { url: 'file:///etc/passwd' } } }).auth.webhook, silentLogger),
      /must be an http or https URL/,
    );
  });
});

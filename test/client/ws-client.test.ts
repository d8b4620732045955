// TsimClient (Node's global WebSocket) against a scripted goim peer built on `ws`.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { TsimClient, fetchNodes, type ClientEvents, type TsimClientOptions } from 'tsim-client';
import { FakeComet, collect, hex, next } from './fake-comet.js';

const JS_TOKEN = '{"mid":123, "room_id":"live://1000", "platform":"web", "accepts":[1000,1001,1002]}';
const V10_1 =
  '00 00 00 62 00 10 00 01 00 00 00 07 00 00 00 01 7b 22 6d 69 64 22 3a 31 32 33 2c 20 22 72 6f 6f 6d 5f 69 64 22 3a 22 6c 69 76 65 3a 2f 2f 31 30 30 30 22 2c 20 22 70 6c 61 74 66 6f 72 6d 22 3a 22 77 65 62 22 2c 20 22 61 63 63 65 70 74 73 22 3a 5b 31 30 30 30 2c 31 30 30 31 2c 31 30 30 32 5d 7d';
/** The room-batch vector: what a WebSocket client receives for a room batch of {"test":1}, {"test":2}. */
const BATCH =
  '00 00 00 44 00 10 00 01 00 00 00 09 00 00 00 00 00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 31 7d 00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 32 7d';

type Ev = ClientEvents;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: Partial<TsimClientOptions> = {}, peer?: FakeComet): Promise<{ comet: FakeComet; client: TsimClient }> {
  const comet = peer ?? (await FakeComet.ws());
  cleanups.push(() => comet.close());
  const client = new TsimClient({ url: comet.url, token: JS_TOKEN, reconnect: { baseMs: 10, maxMs: 40 }, ...opts });
  cleanups.push(() => client.close());
  return { comet, client };
}

describe('TsimClient over WebSocket', () => {
  it('authenticates with the exact auth-request vector bytes, then heartbeats and reports the online count', async () => {
    const { comet, client } = await setup();
    const open = next<Ev, 'open'>(client, 'open');
    const auth = next<Ev, 'auth'>(client, 'auth');
    const online = next<Ev, 'online'>(client, 'online');
    assert.deepEqual(await open, { url: comet.url, attempt: 0 });
    const authFrame = await comet.frame((f) => f.op === 7);
    assert.deepEqual(authFrame.raw, hex(V10_1));
    assert.deepEqual(await auth, { url: comet.url });
    assert.equal(client.state, 'open');
    // goim's JavaScript client heartbeats right after op 8.
    const hb = await comet.frame((f) => f.op === 2);
    assert.deepEqual([hb.ver, hb.body.length], [1, 0]);
    assert.equal(await online, 3);
    assert.equal(client.online, 3);
  });

  it('delivers every inner frame of an op-9 batch, and single pushes', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    const got = collect<Ev, 'message'>(client, 'message', 3);
    comet.send(1, hex(BATCH));
    comet.send(1, hex('00 00 00 25 00 10 00 01 00 00 00 09 00 00 00 00 00 00 00 15 00 10 00 01 00 00 03 e8 00 00 00 00 68 65 6c 6c 6f'));
    const msgs = await got;
    assert.deepEqual(
      msgs.map((m) => [m.op, m.ver, m.seq, m.text()]),
      [
        [1000, 1, 0, '{"test":1}'],
        [1000, 1, 0, '{"test":2}'],
        [1000, 1, 0, 'hello'],
      ],
    );
    assert.deepEqual(msgs[0].json(), { test: 1 });
    assert.ok(msgs[0].body instanceof Uint8Array);
  });

  it('changeRoom / sub / unsub / send resolve on the server’s replies', async () => {
    const { comet, client } = await setup({ token: { mid: 5, room_id: 'live://1000', accepts: [1000] } });
    assert.equal(await client.changeRoom('live://1'), false, 'not connected yet');
    await next<Ev, 'auth'>(client, 'auth');
    assert.equal(await client.changeRoom('live://1001'), true);
    const changes = comet.frames.filter((f) => f.op === 12).map((f) => f.body.toString());
    assert.deepEqual(changes, ['live://1', 'live://1001'], 'the early change is applied after auth');
    assert.equal(await client.sub([1002, 1003]), true);
    assert.equal((await comet.frame((f) => f.op === 14)).body.toString(), '1002,1003');
    assert.equal(await client.unsub(1000), true);
    assert.equal((await comet.frame((f) => f.op === 16)).body.toString(), '1000');
    assert.equal(await client.send(4, 'upstream text'), true);
    const up = await comet.frame((f) => f.op === 4);
    assert.equal(up.body.toString(), 'upstream text');
    assert.notEqual(up.seq, 0);
    assert.throws(() => client.send(7), RangeError);
    assert.throws(() => client.send(1000, new Uint8Array(4097)), RangeError);
    assert.throws(() => client.sub([1.5]), RangeError);
  });

  it('reconnects after the server drops the socket, with the changed room in the token', async () => {
    const { comet, client } = await setup({ token: { mid: 5, room_id: 'live://1000', accepts: [1000] } });
    await next<Ev, 'auth'>(client, 'auth');
    await client.changeRoom('live://1001');
    await client.sub(1001);
    await client.unsub(1000);
    const closed = next<Ev, 'close'>(client, 'close');
    const reopened = next<Ev, 'open'>(client, 'open');
    const reauthed = collect<Ev, 'auth'>(client, 'auth', 1);
    comet.drop(1);
    const ev = await closed;
    assert.equal(ev.authenticated, true);
    assert.equal(ev.willReconnect, true);
    assert.ok(ev.delayMs !== undefined && ev.delayMs >= 0);
    assert.equal(client.state, 'reconnecting');
    assert.equal((await reopened).attempt, 1);
    await reauthed;
    const auth2 = await comet.frame((f) => f.op === 7 && f.conn === 2);
    assert.deepEqual(JSON.parse(auth2.body.toString()), { mid: 5, room_id: 'live://1001', accepts: [1001] });
    // Pushes flow on the new connection.
    const msg = next<Ev, 'message'>(client, 'message');
    comet.send(2, hex(BATCH));
    assert.equal((await msg).text(), '{"test":1}');
  });

  it('replays room and accepts changes after re-auth when the token is a string', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    await client.changeRoom('live://7');
    await client.sub([1005]);
    comet.drop(1);
    const replayRoom = await comet.frame((f) => f.conn === 2 && f.op === 12);
    assert.equal(replayRoom.body.toString(), 'live://7');
    assert.equal((await comet.frame((f) => f.conn === 2 && f.op === 14)).body.toString(), '1005');
    const auth2 = await comet.frame((f) => f.conn === 2 && f.op === 7);
    assert.equal(auth2.body.toString(), JS_TOKEN, 'a string token is sent verbatim');
    assert.ok(comet.frames.indexOf(auth2) < comet.frames.indexOf(replayRoom));
  });

  it('calls a token function on every connect', async () => {
    let n = 0;
    const { comet, client } = await setup({ token: async () => ({ mid: ++n }) });
    await next<Ev, 'auth'>(client, 'auth');
    comet.drop(1);
    await next<Ev, 'auth'>(client, 'auth');
    const bodies = comet.frames.filter((f) => f.op === 7).map((f) => f.body.toString());
    assert.deepEqual(bodies, ['{"mid":1}', '{"mid":2}']);
  });

  it('gives up after maxAttempts when auth keeps failing', async () => {
    const comet = await FakeComet.ws({ auth: 'close' });
    const { client } = await setup({ reconnect: { baseMs: 5, maxMs: 5, maxAttempts: 2 } }, comet);
    const closes = await collect<Ev, 'close'>(client, 'close', 3);
    assert.deepEqual(
      closes.map((c) => [c.authenticated, c.willReconnect]),
      [
        [false, true],
        [false, true],
        [false, false],
      ],
    );
    assert.equal(client.state, 'closed');
    assert.equal(comet.connections, 3);
  });

  it('replaces a connection whose heartbeats go unanswered', async () => {
    const comet = await FakeComet.ws({ answerHeartbeats: false });
    const gone = new Promise((resolve) => comet.once('disconnect', resolve));
    const { client } = await setup({ heartbeatMs: 20, missedHeartbeats: 2, reconnect: false }, comet);
    const ev = await next<Ev, 'close'>(client, 'close');
    assert.match(ev.reason, /2 heartbeats unanswered/);
    assert.equal(ev.authenticated, true);
    await gone; // everything the client wrote has been read by now
    assert.equal(comet.frames.filter((f) => f.op === 2).length, 2);
  });

  it('drops a connection whose auth reply never comes', async () => {
    const comet = await FakeComet.ws({ auth: 'ignore' });
    const { client } = await setup({ authTimeoutMs: 30, reconnect: false }, comet);
    const ev = await next<Ev, 'close'>(client, 'close');
    assert.match(ev.reason, /no auth reply/);
    assert.equal(ev.authenticated, false);
    assert.equal(client.state, 'closed');
  });

  it('treats a text message as a protocol error and reconnects', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    const err = next<Ev, 'error'>(client, 'error');
    const closed = next<Ev, 'close'>(client, 'close');
    comet.sendText(1, 'not goim');
    assert.match((await err).message, /text WebSocket message/);
    assert.equal((await closed).willReconnect, true);
    await next<Ev, 'auth'>(client, 'auth');
  });

  it('reports a refused connection and retries', async () => {
    const comet = await FakeComet.ws();
    const url = comet.url;
    await comet.close();
    const client = new TsimClient({ url, token: {}, reconnect: { baseMs: 5, maxMs: 5, maxAttempts: 1 } });
    cleanups.push(() => client.close());
    const closes = await collect<Ev, 'close'>(client, 'close', 2);
    assert.deepEqual(
      closes.map((c) => c.willReconnect),
      [true, false],
    );
    assert.equal(client.state, 'closed');
  });

  it('applies a room change made while authenticating once op 8 arrives', async () => {
    const { comet, client } = await setup({ token: { mid: 1, room_id: 'live://1000' } });
    await next<Ev, 'open'>(client, 'open'); // op 7 is on its way with the old room
    assert.equal(await client.changeRoom('live://9'), false);
    const change = await comet.frame((f) => f.op === 12);
    assert.equal(change.body.toString(), 'live://9');
    assert.deepEqual(JSON.parse((await comet.frame((f) => f.op === 7)).body.toString()), { mid: 1, room_id: 'live://1000' });
  });

  it('uses what /goim/nodes/weighted advertises', async () => {
    const comet = await FakeComet.ws();
    cleanups.push(() => comet.close());
    const port = Number(new URL(comet.url).port);
    const logic = createServer((req, res) => {
      assert.equal(req.url, '/goim/nodes/weighted?platform=web');
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.end(
        JSON.stringify({
          code: 0,
          message: '',
          data: {
            domain: 'conn.goim.io',
            tcp_port: 3101,
            ws_port: port,
            wss_port: 3103,
            heartbeat: 240,
            nodes: ['127.0.0.1'],
            backoff: { max_delay: 300, base_delay: 3, factor: 1.8, jitter: 0.3 },
            heartbeat_max: 2,
          },
        }),
      );
    }).listen(0, '127.0.0.1');
    await once(logic, 'listening');
    cleanups.push(() => new Promise((resolve) => logic.close(() => resolve())));
    const nodes = await fetchNodes(`http://127.0.0.1:${(logic.address() as AddressInfo).port}`);
    const client = new TsimClient({ nodes, token: { mid: 2 } });
    cleanups.push(() => client.close());
    assert.equal(client.url, `ws://127.0.0.1:${port}/sub`);
    await next<Ev, 'auth'>(client, 'auth');
    const closed = next<Ev, 'close'>(client, 'close');
    comet.drop(1);
    const delay = (await closed).delayMs!;
    assert.ok(delay >= 2100 && delay <= 3900, `first retry after base_delay 3 s ± 30 %, got ${delay} ms`);
  });

  it('refuses addresses that are not WebSocket URLs', () => {
    assert.throws(() => new TsimClient({ url: '127.0.0.1:3102', token: {} }), TypeError);
    assert.throws(() => new TsimClient({ token: {} }), TypeError);
  });

  it('close() stops reconnecting and resolves once the socket is closed', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    const gone = new Promise((resolve) => comet.once('disconnect', resolve));
    const closed = next<Ev, 'close'>(client, 'close');
    await client.close();
    assert.equal(client.state, 'closed');
    const ev = await closed;
    assert.deepEqual([ev.willReconnect, ev.reason], [false, 'closed by client']);
    await gone;
    assert.equal(comet.connections, 1);
    assert.equal(await client.send(1000, 'x'), false);
  });
});

// TcpClient against a scripted goim peer on node:net: bare frames, no op-9 envelopes (docs/protocol.md#pushes-on-the-wire).

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { TcpClient, parseTcpAddress, type ClientEvents, type TcpClientOptions } from 'tsim-client';
import { startComet } from '../comet/harness.js';
import { FakeComet, collect, hex, next } from './fake-comet.js';

type Ev = ClientEvents;
const JS_TOKEN = '{"mid":123, "room_id":"live://1000", "platform":"web", "accepts":[1000,1001,1002]}';
const V10_1 =
  '00 00 00 62 00 10 00 01 00 00 00 07 00 00 00 01 7b 22 6d 69 64 22 3a 31 32 33 2c 20 22 72 6f 6f 6d 5f 69 64 22 3a 22 6c 69 76 65 3a 2f 2f 31 30 30 30 22 2c 20 22 70 6c 61 74 66 6f 72 6d 22 3a 22 77 65 62 22 2c 20 22 61 63 63 65 70 74 73 22 3a 5b 31 30 30 30 2c 31 30 30 31 2c 31 30 30 32 5d 7d';
/** The room-batch vector: what a TCP client receives for a room batch — two bare frames. */
const BATCH_TCP =
  '00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 31 7d 00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 32 7d';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: Partial<TcpClientOptions> = {}, peer?: FakeComet): Promise<{ comet: FakeComet; client: TcpClient }> {
  const comet = peer ?? (await FakeComet.tcp());
  cleanups.push(() => comet.close());
  const client = new TcpClient({ url: comet.url, token: JS_TOKEN, reconnect: { baseMs: 10, maxMs: 40 }, ...opts });
  cleanups.push(() => client.close());
  return { comet, client };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('TcpClient over raw TCP', () => {
  it('authenticates with the exact auth-request vector bytes and reports the online count', async () => {
    const { comet, client } = await setup();
    const auth = next<Ev, 'auth'>(client, 'auth');
    const online = next<Ev, 'online'>(client, 'online');
    assert.deepEqual((await comet.frame((f) => f.op === 7)).raw, hex(V10_1));
    assert.deepEqual(await auth, { url: comet.url });
    assert.equal(await online, 3);
    assert.equal(client.online, 3);
  });

  it('delivers a room batch as bare frames, however the stream is split', async () => {
    const { comet, client } = await setup();
    // After the first heartbeat's reply nothing else is due for 30 s, so no reply can land
    // between the partial writes below.
    await next<Ev, 'online'>(client, 'online');
    const got = collect<Ev, 'message'>(client, 'message', 4);
    const batch = hex(BATCH_TCP);
    comet.send(1, batch);
    // The same batch again, cut inside the first header and inside the second body.
    comet.send(1, batch.subarray(0, 7));
    await tick();
    comet.send(1, batch.subarray(7, 40));
    await tick();
    comet.send(1, batch.subarray(40));
    const msgs = await got;
    assert.deepEqual(
      msgs.map((m) => [m.op, m.text()]),
      [
        [1000, '{"test":1}'],
        [1000, '{"test":2}'],
        [1000, '{"test":1}'],
        [1000, '{"test":2}'],
      ],
    );
  });

  it('tells pushes (seq 0) from replies even when a push uses a protocol op number', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'online'>(client, 'online');
    const onlines: number[] = [];
    client.on('online', (n) => onlines.push(n));
    const msg = next<Ev, 'message'>(client, 'message');
    // A push with operation 3 and a 4-byte body, as job would frame it: seq 0.
    comet.send(1, hex('00 00 00 14 00 10 00 01 00 00 00 03 00 00 00 00 00 00 00 63'));
    const m = await msg;
    assert.deepEqual([m.op, m.seq, [...m.body]], [3, 0, [0, 0, 0, 0x63]]);
    assert.deepEqual(onlines, []);
  });

  it('changeRoom and send resolve on the echoed replies', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    assert.equal(await client.changeRoom('live://1001'), true);
    assert.equal((await comet.frame((f) => f.op === 12)).body.toString(), 'live://1001');
    assert.equal(await client.send(1000, 'up'), true);
    assert.equal((await comet.frame((f) => f.op === 1000)).body.toString(), 'up');
  });

  it('reconnects after the server drops the socket', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    const closed = next<Ev, 'close'>(client, 'close');
    const reauth = next<Ev, 'auth'>(client, 'auth');
    comet.drop(1);
    const ev = await closed;
    assert.deepEqual([ev.authenticated, ev.willReconnect], [true, true]);
    await reauth;
    assert.equal(comet.connections, 2);
    assert.deepEqual((await comet.frame((f) => f.op === 7 && f.conn === 2)).raw, hex(V10_1));
    const msg = next<Ev, 'message'>(client, 'message');
    comet.send(2, hex('00 00 00 15 00 10 00 01 00 00 03 e8 00 00 00 00 68 65 6c 6c 6f'));
    assert.equal((await msg).text(), 'hello');
  });

  it('drops and reconnects on a corrupt stream', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    const err = next<Ev, 'error'>(client, 'error');
    const closed = next<Ev, 'close'>(client, 'close');
    comet.send(1, hex('00 00 00 10 00 04 00 01 00 00 03 e8 00 00 00 00')); // headerLen 4
    assert.match((await err).message, /headerLen/);
    assert.match((await closed).reason, /protocol error/);
    await next<Ev, 'auth'>(client, 'auth');
  });

  it('close() ends the socket and stops reconnecting', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    const gone = new Promise((resolve) => comet.once('disconnect', resolve));
    await client.close();
    await gone;
    assert.equal(client.state, 'closed');
    assert.equal(comet.connections, 1);
  });

  it('parses comet addresses', () => {
    assert.deepEqual(parseTcpAddress('127.0.0.1:3101'), { host: '127.0.0.1', port: 3101 });
    assert.deepEqual(parseTcpAddress('tcp://example.org'), { host: 'example.org', port: 3101 });
    assert.deepEqual(parseTcpAddress('[::1]:4000'), { host: '::1', port: 4000 });
  });
});

describe('TcpClient against a comet that fixed the room at auth', () => {
  it('changeRoom to another room resolves false and keeps the granted room; leaving and returning work', async () => {
    const h = await startComet();
    cleanups.push(() => h.stop());
    const client = new TcpClient({
      url: `127.0.0.1:${h.tcpPort}`,
      token: { key: 'sdk-fixed', room_id: 'live://granted', room_fixed: true },
      reconnect: false,
    });
    cleanups.push(() => client.close());
    await next<Ev, 'auth'>(client, 'auth');
    assert.equal(await client.changeRoom('live://elsewhere'), false);
    assert.equal(await client.changeRoom(''), true);
    assert.equal(await client.changeRoom('live://granted'), true);
  });
});

// The durable inbox end to end in embedded mode (docs/protocol.md#durable-inbox): real clients
// over TCP and WebSocket, durable pushes through the HTTP API, the bytes each client gets.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryInboxStore } from '../../src/adapters/memory/inbox-store.js';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { encodeFrame, type Frame } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import { GoimTestClient } from '../support/goim-client.js';

function testConfig(inbox: Record<string, unknown> = {}) {
  return buildConfig({
    env: { host: 'comet-inbox' },
    tcp: { bind: ['127.0.0.1:0'] },
    websocket: { bind: ['127.0.0.1:0'] },
    httpServer: { addr: '127.0.0.1:0' },
    inbox,
  });
}

/** An op-27 frame's body: seq, op and the message. */
function inboxMessage(f: Frame): { seq: number; op: number; body: string } {
  assert.equal(f.op, Op.InboxMessage, `op ${f.op} is not an inbox message`);
  return { seq: Number(f.body.readBigUInt64BE(0)), op: f.body.readInt32BE(8), body: f.body.subarray(12).toString() };
}

/** The exact bytes of an op-27 frame. */
function inboxFrameBytes(seq: number, op: number, body: string): Buffer {
  const b = Buffer.alloc(12 + Buffer.byteLength(body));
  b.writeBigUInt64BE(BigInt(seq), 0);
  b.writeInt32BE(op, 8);
  b.write(body, 12);
  return encodeFrame(Op.InboxMessage, b, 1, 0);
}

const json = (f: Frame): unknown => JSON.parse(f.body.toString());

describe('durable inbox (embedded)', () => {
  let tsim: Embedded;
  let store: MemoryInboxStore;
  let api: string;
  let tcpPort: number;
  let wsPort: number;
  const clients: GoimTestClient[] = [];

  const call = async (method: string, path: string, body?: string) => {
    const res = await fetch(`${api}${path}`, { method, ...(body !== undefined ? { body } : {}) });
    return { status: res.status, text: await res.text() };
  };
  const post = (path: string, body: string) => call('POST', path, body);
  const tcp = async () => {
    const c = await GoimTestClient.tcp(tcpPort, '127.0.0.1');
    clients.push(c);
    return c;
  };
  const ws = async () => {
    const c = await GoimTestClient.ws(wsPort, { host: '127.0.0.1' });
    clients.push(c);
    return c;
  };
  /** Authenticates an inbox client and returns it with its op-29 state. */
  const inboxClient = async (mid: number, key: string, over: 'tcp' | 'ws' = 'tcp') => {
    const c = over === 'tcp' ? await tcp() : await ws();
    await c.auth({ mid, key, accepts: [], inbox: true });
    const state = await c.next();
    assert.equal(state.op, Op.InboxState);
    return { c, state: json(state) as { acked: number; first: number; last: number } };
  };
  const ok = { status: 200, text: '{"code":0,"message":""}' };

  before(async () => {
    store = new MemoryInboxStore();
    // Pages of 2: every backlog here spans pages.
    tsim = await startEmbedded(testConfig({ durableOps: [1001], pageMessages: 2 }), silentLogger, undefined, store);
    const a = tsim.addresses();
    api = `http://127.0.0.1:${a.http.port}`;
    tcpPort = a.tcp[0].port;
    wsPort = a.ws[0].port;
  });

  after(async () => {
    for (const c of clients) c.close();
    await tsim.stop();
  });

  it('delivers a durable push as op 27 to an inbox device and as goim bytes to a goim device of the same user', async () => {
    const { c: device, state } = await inboxClient(11, 'd-inbox');
    assert.deepEqual(state, { acked: 0, first: 1, last: 0 });
    const goim = await tcp();
    await goim.auth({ mid: 11, key: 'd-goim', accepts: [1000] });
    assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=11&durable=1', 'hello'), ok);
    const f = await device.next();
    assert.deepEqual(inboxMessage(f), { seq: 1, op: 1000, body: 'hello' });
    assert.deepEqual(device.rawBytes().subarray(-(16 + 12 + 5)), inboxFrameBytes(1, 1000, 'hello'));
    const g = await goim.next();
    assert.equal(g.op, 1000);
    assert.deepEqual(goim.rawBytes().subarray(-21), encodeFrame(1000, Buffer.from('hello')));
    // Not durable: both get goim's push, the inbox device only when it watches the op.
    assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=11', 'plain'), ok);
    assert.equal((await goim.next()).body.toString(), 'plain');
    // inbox.durableOps makes op 1001 durable without asking; durable=0 overrides it.
    assert.deepEqual(await post('/goim/push/mids?operation=1001&mids=11', 'by-config'), ok);
    assert.deepEqual(inboxMessage(await device.next()), { seq: 2, op: 1001, body: 'by-config' });
    assert.deepEqual(await post('/goim/push/mids?operation=1001&mids=11&durable=0', 'not-kept'), ok);
    assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=11&durable=1', 'third'), ok);
    assert.deepEqual(inboxMessage(await device.next()), { seq: 3, op: 1000, body: 'third' });
    assert.equal(device.queued, 0, 'the inbox device got neither the plain push (not watched) nor the non-durable 1001');
    assert.equal((await store.state(11n)).last, 3);
  });

  it('sends the backlog after auth oldest first, then live, across reconnects, from the acknowledged watermark', async () => {
    const first = await inboxClient(21, 'phone');
    assert.deepEqual(first.state, { acked: 0, first: 1, last: 0 });
    first.c.close();
    for (const body of ['m1', 'm2', 'm3']) assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=21&durable=1', body), ok);

    const second = await inboxClient(21, 'phone');
    assert.deepEqual(second.state, { acked: 0, first: 1, last: 3 });
    const backlog = (await second.c.collect(3)).map(inboxMessage);
    assert.deepEqual(
      backlog.map((m) => [m.seq, m.body]),
      [
        [1, 'm1'],
        [2, 'm2'],
        [3, 'm3'],
      ],
    );
    assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=21&durable=1', 'm4'), ok);
    assert.deepEqual(inboxMessage(await second.c.next()), { seq: 4, op: 1000, body: 'm4' });

    second.c.send(Op.InboxAck, '{"seq":2}', 1, 40);
    const reply = await second.c.next();
    assert.deepEqual([reply.op, reply.seq, reply.body.toString()], [Op.InboxAckReply, 40, '{"code":0,"acked":2}']);
    second.c.close();

    const third = await inboxClient(21, 'phone', 'ws');
    assert.deepEqual(third.state, { acked: 2, first: 1, last: 4 });
    assert.deepEqual(
      (await third.c.collect(2)).map((f) => inboxMessage(f).seq),
      [3, 4],
    );
    // A WebSocket client gets the backlog page in one op-9 envelope holding the op-27 frames.
    const envelope = third.c.rawMessages.at(-1)!;
    assert.equal(envelope.readInt32BE(8), Op.Raw);
    assert.deepEqual(envelope.subarray(16), Buffer.concat([inboxFrameBytes(3, 1000, 'm3'), inboxFrameBytes(4, 1000, 'm4')]));

    // Another device of the same user starts from now (inbox.newDeviceRecent = 0).
    const tablet = await inboxClient(21, 'tablet');
    assert.deepEqual(tablet.state, { acked: 4, first: 1, last: 4 });
    assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=21&durable=1', 'm5'), ok);
    assert.equal(inboxMessage(await tablet.c.next()).seq, 5);
    assert.equal(inboxMessage(await third.c.next()).seq, 5);
    assert.equal(tablet.c.queued + third.c.queued, 0);
  });

  it('delivers every seq once and in order while pushes race the connection', async () => {
    const pushes = Array.from({ length: 60 }, (_, i) => i + 1);
    const racing = (async () => {
      for (const i of pushes) {
        // Pairs in flight together: their seqs may reach the comet out of order.
        if (i % 2 === 1) {
          const [a, b] = await Promise.all([
            post('/goim/push/mids?operation=1000&mids=31&durable=1', `r${i}`),
            post('/goim/push/mids?operation=1000&mids=31&durable=1', `r${i + 1}`),
          ]);
          assert.deepEqual([a, b], [ok, ok]);
        }
      }
    })();
    // A device the inbox knows from before, connecting while the pushes run.
    await store.device(31n, 'racer', 0, Date.now());
    await new Promise((r) => setTimeout(r, 5));
    const { c, state } = await inboxClient(31, 'racer');
    assert.equal(state.acked, 0);
    await racing;
    const seqs = (await c.collect(60)).map((f) => inboxMessage(f).seq);
    assert.deepEqual(seqs, pushes);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(c.queued, 0, 'no duplicate');
  });

  it('reads the missing seqs from the inbox when a live message skips ahead, and drops late duplicates', async () => {
    const { c } = await inboxClient(32, 'skipper');
    // Stored by logic, but reaching this comet out of order (two queue partitions, two jobs).
    const at = Date.now();
    for (const b of ['s1', 's2', 's3']) await store.append([32n], { id: b, op: 1000, body: Buffer.from(b), time: at });
    const push = (seq: number, body: string) =>
      tsim.comet.pushMsg(['skipper'], 1000, { ver: 1, op: Op.Raw, seq: 0, body: encodeFrame(1000, Buffer.from(body)) }, { mids: [32n], seqs: [seq] });
    push(3, 's3');
    assert.deepEqual(
      (await c.collect(3)).map((f) => inboxMessage(f).body),
      ['s1', 's2', 's3'],
    );
    push(2, 's2');
    push(1, 's1');
    await store.append([32n], { id: 's4', op: 1000, body: Buffer.from('s4'), time: at });
    push(4, 's4');
    assert.deepEqual(inboxMessage(await c.next()), { seq: 4, op: 1000, body: 's4' });
    assert.equal(c.queued, 0, 'seqs 1 and 2 came again and were dropped');
    // A seq the inbox never gave is not waited for, and costs one read.
    const reads = tsim.comet.counters().inbox!.reads;
    push(1_000_000, 'bogus');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(tsim.comet.counters().inbox!.reads, reads + 1);
    await store.append([32n], { id: 's5', op: 1000, body: Buffer.from('s5'), time: at });
    push(5, 's5');
    assert.deepEqual(inboxMessage(await c.next()), { seq: 5, op: 1000, body: 's5' });
    assert.equal(c.queued, 0);
  });

  it('sends a backlog of many pages after auth, then live', async () => {
    const at = Date.now();
    await store.device(33n, 'pages', 0, at);
    for (let i = 1; i <= 7; i++) await store.append([33n], { id: `b${i}`, op: 1000, body: Buffer.from(`b${i}`), time: at });
    const { c, state } = await inboxClient(33, 'pages');
    assert.deepEqual(state, { acked: 0, first: 1, last: 7 });
    assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=33&durable=1', 'b8'), ok);
    assert.deepEqual(
      (await c.collect(8)).map((f) => inboxMessage(f).body),
      ['b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8'],
    );
  });

  it('refuses acknowledgements above what was delivered, malformed or for another user, and keeps the connection', async () => {
    const { c } = await inboxClient(41, 'ack-device');
    assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=41&durable=1', 'a'), ok);
    assert.equal(inboxMessage(await c.next()).seq, 1);
    assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=99&durable=1', 'other'), ok);
    const refusals: Array<[string, string]> = [
      ['{"seq":2}', '{"code":2,"message":"seq 2 is above what this connection was delivered (1)"}'],
      ['{"seq":-1}', '{"code":1,"message":"the body must be {\\"seq\\":N}, N an integer from 0"}'],
      ['not json', '{"code":1,"message":"the body must be {\\"seq\\":N}, N an integer from 0"}'],
      ['{"seq":1,"mid":99}', '{"code":3,"message":"mid is not the connection\'s: only its own inbox can be acknowledged"}'],
    ];
    for (const [i, [body, expected]] of refusals.entries()) {
      c.send(Op.InboxAck, body, 1, 100 + i);
      const r = await c.next();
      assert.deepEqual([r.op, r.seq, r.body.toString()], [Op.InboxAckReply, 100 + i, expected]);
    }
    assert.deepEqual(await store.devices(41n), [{ key: 'ack-device', acked: 0, seen: (await store.devices(41n))[0].seen }]);
    assert.equal((await store.devices(99n)).length, 0);
    c.send(Op.InboxAck, '{"seq":1,"mid":"41"}', 1, 7);
    assert.equal((await c.next()).body.toString(), '{"code":0,"acked":1}');
    c.send(Op.Heartbeat, '', 1, 8);
    assert.equal((await c.next()).op, Op.HeartbeatReply);
    const hits = await (await fetch(`${api}/metrics`)).text();
    assert.match(hits, /tsim_limit_hits_total\{limit="inbox_refused"\} [4-9]/);
    assert.match(hits, /tsim_comet_inbox_total\{event="acks"\} [1-9]/);
    assert.match(hits, /tsim_logic_inbox_pushes_total\{result="stored"\} [1-9]/);
  });

  it('re-sends what was delivered on op 26, one page, then op 28', async () => {
    const { c } = await inboxClient(51, 'fetcher');
    for (const b of ['f1', 'f2', 'f3']) assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=51&durable=1', b), ok);
    assert.deepEqual(
      (await c.collect(3)).map((f) => inboxMessage(f).seq),
      [1, 2, 3],
    );
    c.send(Op.InboxFetch, '{"after":1}', 1, 9);
    const again = await c.collect(3);
    assert.deepEqual(
      again.slice(0, 2).map((f) => inboxMessage(f)),
      [
        { seq: 2, op: 1000, body: 'f2' },
        { seq: 3, op: 1000, body: 'f3' },
      ],
    );
    assert.deepEqual([again[2].op, again[2].seq, again[2].body.toString()], [Op.InboxFetchReply, 9, '{"code":0,"next":3,"more":false}']);
    c.send(Op.InboxFetch, '{"after":"x"}', 1, 10);
    assert.equal((await c.next()).body.toString(), '{"code":1,"message":"the body must be {\\"after\\":N}, N an integer from 0"}');
  });

  it('leaves ops 24 and 26 from a goim connection on the generic path', async () => {
    const goim = await tcp();
    await goim.auth({ mid: 61, key: 'old', accepts: [1000] });
    goim.send(Op.InboxAck, '{"seq":1}', 1, 5);
    const echo = await goim.next();
    assert.deepEqual([echo.op, echo.seq, echo.body.length], [Op.InboxAck, 5, 0]);
  });

  it('answers 503 when the inbox store is down, and accepts pushes that are not durable', async () => {
    store.failing = new Error('disk on fire');
    try {
      assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=71&durable=1', 'lost?'), {
        status: 503,
        text: '{"code":-503,"message":"inbox unavailable: disk on fire"}',
      });
      assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=71', 'fine'), ok);
      const page = await call('GET', '/tsim/inbox/71');
      assert.equal(page.status, 503);
    } finally {
      store.failing = null;
    }
    assert.deepEqual(await store.state(71n), { first: 1, last: 0 });
  });

  it('retries reading an inbox the store could not serve; refuses acks meanwhile with code 4', async () => {
    store.failing = new Error('down for a moment');
    let c: GoimTestClient;
    try {
      c = await tcp();
      await c.auth({ mid: 72, key: 'patient', inbox: true });
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(c.queued, 0, 'no op 29 before the inbox answers');
      c.send(Op.InboxAck, '{"seq":0}', 1, 3);
      assert.equal((await c.next()).body.toString(), '{"code":4,"message":"inbox unavailable: try again"}');
    } finally {
      store.failing = null;
    }
    const state = await c.next(5000);
    assert.deepEqual([state.op, JSON.parse(state.body.toString())], [Op.InboxState, { acked: 0, first: 1, last: 0 }]);
    assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=72&durable=1', 'after'), ok);
    assert.deepEqual(inboxMessage(await c.next()), { seq: 1, op: 1000, body: 'after' });
  });

  it('serves the inbox API: pages by seq, devices, delete, and 400 on bad input', async () => {
    for (const b of ['p1', 'p2', 'p3']) assert.deepEqual(await post('/goim/push/mids?operation=1000&mids=81&durable=1', b), ok);
    const p1 = await call('GET', '/tsim/inbox/81?limit=2');
    assert.equal(p1.status, 200);
    const d1 = (JSON.parse(p1.text) as { data: { first: number; last: number; next: number; entries: Array<Record<string, unknown>> } }).data;
    assert.deepEqual([d1.first, d1.last, d1.next], [1, 3, 2]);
    assert.deepEqual(
      d1.entries.map((e) => [e.seq, e.op, e.body]),
      [
        [1, 1000, 'p1'],
        [2, 1000, 'p2'],
      ],
    );
    const p2 = JSON.parse((await call('GET', '/tsim/inbox/81?after=2')).text) as { data: Record<string, unknown> };
    assert.equal(p2.data.next, undefined);
    assert.deepEqual(
      (p2.data.entries as Array<{ seq: number }>).map((e) => e.seq),
      [3],
    );

    const { c } = await inboxClient(81, 'api-device');
    c.close();
    const devices = JSON.parse((await call('GET', '/tsim/inbox/81/devices')).text) as { data: { devices: Array<{ key: string; acked: number }> } };
    assert.deepEqual(
      devices.data.devices.map((d) => [d.key, d.acked]),
      [['api-device', 3]],
    );

    assert.deepEqual(await call('DELETE', '/tsim/inbox/81?upTo=2'), {
      status: 200,
      text: '{"code":0,"message":"","data":{"mid":"81","removed":2}}',
    });
    assert.deepEqual(await store.state(81n), { first: 3, last: 3 });
    assert.equal((await call('DELETE', '/tsim/inbox/81?devices=1')).text, '{"code":0,"message":"","data":{"mid":"81","removed":1}}');
    assert.deepEqual(await store.devices(81n), []);

    const bad: Array<[string, string, string]> = [
      ['GET', '/tsim/inbox/0', 'mid must be a decimal integer from 1 to 2^63 - 1'],
      ['GET', '/tsim/inbox/-3', 'mid must be a decimal integer from 1 to 2^63 - 1'],
      ['GET', '/tsim/inbox/9223372036854775808', 'mid must be a decimal integer from 1 to 2^63 - 1'],
      ['GET', '/tsim/inbox/81?limit=0', 'querystring/limit must be an integer from 1 to 1000'],
      ['GET', '/tsim/inbox/81?after=1e3', 'querystring/after must be an integer from 0 to 9007199254740991'],
      ['DELETE', '/tsim/inbox/81?upTo=-1', 'querystring/upTo must be an integer from 0 to 9007199254740991'],
      ['DELETE', '/tsim/inbox/81?devices=yes', 'querystring/devices must be 0, 1, true or false'],
    ];
    for (const [method, path, message] of bad) {
      const r = await call(method, path);
      assert.deepEqual(r, { status: 400, text: JSON.stringify({ code: -400, message }) }, `${method} ${path}`);
    }
    const durable = await post('/goim/push/mids?operation=1000&mids=81&durable=maybe', 'x');
    assert.equal(durable.status, 400);
    assert.match(durable.text, /durable must be 0, 1, true or false/);
    for (const path of [
      '/goim/push/mids?operation=27&mids=81',
      '/goim/push/keys?operation=24&keys=k',
      '/goim/push/room?operation=29&type=live&room=1',
      '/goim/push/all?operation=26',
    ]) {
      const r = await post(path, 'x');
      assert.equal(r.status, 400, path);
      assert.match(r.text, /reserved: ops 24 to 29 are the durable inbox's/);
    }
  });
});

describe('durable inbox to a slow reader (embedded)', () => {
  it('never drops an op-27 frame for the send queue: the stream pauses and resumes from the inbox', async () => {
    const config = testConfig({ pageMessages: 20 });
    config.protocol.sendQueueBytes = 256 * 1024;
    config.push.maxBytes = 64 * 1024;
    const tsim = await startEmbedded(config, silentLogger, undefined, new MemoryInboxStore());
    const a = tsim.addresses();
    const api = `http://127.0.0.1:${a.http.port}`;
    const c = await GoimTestClient.tcp(a.tcp[0].port, '127.0.0.1');
    try {
      await c.auth({ mid: 5, key: 'slow', inbox: true });
      assert.equal((await c.next()).op, Op.InboxState);
      c.socket.pause();
      const body = 'z'.repeat(60 * 1024);
      const push = async () => {
        const res = await fetch(`${api}/goim/push/mids?operation=1000&mids=5&durable=1`, { method: 'POST', body });
        assert.equal(res.status, 200);
      };
      // Until the kernel's buffers are full and the comet holds what it may, then as much again.
      let n = 0;
      while ((tsim.comet.sendQueueBytes('slow') ?? 0) < 128 * 1024) {
        assert.ok(n < 2000, 'the send queue never filled');
        await push();
        n++;
      }
      for (let i = 0; i < 20; i++, n++) await push();
      const queued = tsim.comet.sendQueueBytes('slow');
      assert.ok(queued !== undefined && queued <= 256 * 1024, `queued ${queued}`);
      c.socket.resume();
      const seqs = (await c.collect(n, 60_000)).map((f) => inboxMessage(f).seq);
      assert.deepEqual(
        seqs,
        Array.from({ length: n }, (_, i) => i + 1),
      );
      assert.equal(tsim.comet.stats().pushesDropped, 0);
    } finally {
      c.close();
      await tsim.stop();
    }
  });

  it('resumes with a send queue smaller than the socket buffer, which never asks to drain', async () => {
    const config = testConfig({ pageMessages: 4 });
    config.protocol.sendQueueBytes = 8 * 1024;
    config.push.maxBytes = 1024;
    const tsim = await startEmbedded(config, silentLogger, undefined, new MemoryInboxStore());
    const a = tsim.addresses();
    const c = await GoimTestClient.tcp(a.tcp[0].port, '127.0.0.1');
    try {
      await c.auth({ mid: 8, key: 'tiny', inbox: true });
      assert.equal((await c.next()).op, Op.InboxState);
      c.socket.pause();
      const body = 'q'.repeat(1000);
      let n = 0;
      // Until the kernel's buffers are full and the comet holds what it may, then some more.
      while ((tsim.comet.sendQueueBytes('tiny') ?? 0) < 4 * 1024) {
        assert.ok(n < 20_000, 'the send queue never filled');
        const res = await fetch(`http://127.0.0.1:${a.http.port}/goim/push/mids?operation=1000&mids=8&durable=1`, { method: 'POST', body });
        assert.equal(res.status, 200);
        n++;
      }
      for (let i = 0; i < 20; i++, n++) {
        const res = await fetch(`http://127.0.0.1:${a.http.port}/goim/push/mids?operation=1000&mids=8&durable=1`, { method: 'POST', body });
        assert.equal(res.status, 200);
      }
      c.socket.resume();
      const seqs = (await c.collect(n, 60_000)).map((f) => inboxMessage(f).seq);
      assert.deepEqual(
        seqs,
        Array.from({ length: n }, (_, i) => i + 1),
      );
    } finally {
      c.close();
      await tsim.stop();
    }
  });

  it('resumes a backlog that filled the socket once the client reads again', async () => {
    const config = testConfig({ pageMessages: 20 });
    config.protocol.sendQueueBytes = 256 * 1024;
    config.push.maxBytes = 64 * 1024;
    const store = new MemoryInboxStore();
    const n = 150; // ~9 MB of backlog
    const at = Date.now();
    await store.device(6n, 'behind', 0, at);
    for (let i = 1; i <= n; i++) await store.append([6n], { id: `x${i}`, op: 1000, body: Buffer.alloc(60 * 1024, i % 256), time: at });
    const tsim = await startEmbedded(config, silentLogger, undefined, store);
    const c = await GoimTestClient.tcp(tsim.addresses().tcp[0].port, '127.0.0.1');
    try {
      await c.auth({ mid: 6, key: 'behind', inbox: true });
      c.socket.pause();
      await new Promise((r) => setTimeout(r, 300));
      const queued = tsim.comet.sendQueueBytes('behind');
      assert.ok(queued !== undefined && queued > 0 && queued <= 256 * 1024, `queued ${queued}`);
      c.socket.resume();
      assert.equal((await c.next(30_000)).op, Op.InboxState);
      const seqs = (await c.collect(n, 60_000)).map((f) => inboxMessage(f).seq);
      assert.deepEqual(
        seqs,
        Array.from({ length: n }, (_, i) => i + 1),
      );
    } finally {
      c.close();
      await tsim.stop();
    }
  });
});

describe('durable inbox with one call to logic at a time (embedded)', () => {
  it('queues the inbox reads of many connecting devices and serves each its backlog', async () => {
    const config = testConfig({ pageMessages: 1 });
    config.limits.logicCalls = 1;
    const store = new MemoryInboxStore();
    const at = Date.now();
    const devices = 12;
    for (let d = 0; d < devices; d++) {
      await store.device(BigInt(100 + d), `k${d}`, 0, at);
      for (let i = 1; i <= 3; i++) await store.append([BigInt(100 + d)], { id: `${d}-${i}`, op: 1000, body: Buffer.from(`${d}:${i}`), time: at });
    }
    const tsim = await startEmbedded(config, silentLogger, undefined, store);
    const port = tsim.addresses().tcp[0].port;
    const clients = await Promise.all(Array.from({ length: devices }, () => GoimTestClient.tcp(port, '127.0.0.1')));
    try {
      // Connection keys are one namespace on a comet: one per device.
      await Promise.all(clients.map((c, d) => c.auth({ mid: 100 + d, key: `k${d}`, inbox: true })));
      for (const [d, c] of clients.entries()) {
        const frames = await c.collect(4);
        assert.equal(frames[0].op, Op.InboxState);
        assert.deepEqual(
          frames.slice(1).map((f) => inboxMessage(f).body),
          [`${d}:1`, `${d}:2`, `${d}:3`],
        );
      }
    } finally {
      for (const c of clients) c.close();
      await tsim.stop();
    }
  });
});

/** A memory inbox that counts the comet's acks and page reads, and can hold them until let go. */
class CountingStore extends MemoryInboxStore {
  acks = 0;
  reads = 0;
  /** The calls in the order they reached the store: `ack <mid>`, `read <mid>`. */
  readonly calls: string[] = [];
  gate: Promise<void> | null = null;

  override async ack(mid: bigint, key: string, seq: number, nowMs: number): Promise<number> {
    this.acks++;
    this.calls.push(`ack ${mid}`);
    if (this.gate !== null) await this.gate;
    return super.ack(mid, key, seq, nowMs);
  }

  override async read(...args: Parameters<MemoryInboxStore['read']>): ReturnType<MemoryInboxStore['read']> {
    this.reads++;
    this.calls.push(`read ${args[0]}`);
    if (this.gate !== null) await this.gate;
    return super.read(...args);
  }
}

describe('durable inbox acks and fetches against the storage (embedded)', () => {
  let tsim: Embedded;
  let store: CountingStore;
  let api: string;
  let port: number;
  const clients: GoimTestClient[] = [];
  const ok = { status: 200, text: '{"code":0,"message":""}' };

  /** An inbox client of `mid` that was delivered `n` new durable messages. */
  const delivered = async (mid: number, key: string, n: number) => {
    const c = await GoimTestClient.tcp(port, '127.0.0.1');
    clients.push(c);
    await c.auth({ mid, key, inbox: true });
    assert.equal((await c.next()).op, Op.InboxState);
    for (let i = 1; i <= n; i++) {
      const res = await fetch(`${api}/goim/push/mids?operation=1000&mids=${mid}&durable=1`, { method: 'POST', body: `m${i}` });
      assert.deepEqual({ status: res.status, text: await res.text() }, ok);
    }
    assert.equal((await c.collect(n)).length, n);
    return c;
  };
  /** Frames back to back in one write. */
  const pipelined = (c: GoimTestClient, op: number, bodies: string[], firstSeq: number) =>
    c.sendRaw(Buffer.concat(bodies.map((b, i) => encodeFrame(op, Buffer.from(b), 1, firstSeq + i))));

  before(async () => {
    store = new CountingStore();
    const config = testConfig();
    config.protocol.cliProto = 128;
    config.limits.logicCalls = 1;
    tsim = await startEmbedded(config, silentLogger, undefined, store);
    const a = tsim.addresses();
    api = `http://127.0.0.1:${a.http.port}`;
    port = a.tcp[0].port;
  });

  after(async () => {
    for (const c of clients) c.close();
    await tsim.stop();
  });

  it('answers acks at or below the known watermark without a storage call', async () => {
    const c = await delivered(201, 'flood', 3);
    const before = store.acks;
    pipelined(c, Op.InboxAck, Array<string>(60).fill('{"seq":0}'), 1000);
    const replies = await c.collect(60);
    assert.deepEqual(
      replies.map((f) => [f.op, f.seq, f.body.toString()]),
      Array.from({ length: 60 }, (_, i) => [Op.InboxAckReply, 1000 + i, '{"code":0,"acked":0}']),
    );
    assert.equal(store.acks, before, 'acks of seq 0 stay in the comet');
    // Within the frame rate (50 a second, 100 at once). One write stores 3; the repeats after it are answered from the watermark it returned.
    pipelined(c, Op.InboxAck, Array<string>(30).fill('{"seq":3}'), 2000);
    const again = await c.collect(30);
    assert.deepEqual(
      again.map((f) => [f.seq, f.body.toString()]),
      Array.from({ length: 30 }, (_, i) => [2000 + i, '{"code":0,"acked":3}']),
    );
    assert.equal(store.acks, before + 1);
    assert.deepEqual(
      (await store.devices(201n)).map((d) => [d.key, d.acked]),
      [['flood', 3]],
    );
  });

  it('stores acks that come while one is stored as one, and answers each in order', async () => {
    const c = await delivered(202, 'batch', 5);
    const before = store.acks;
    let release!: () => void;
    store.gate = new Promise((r) => (release = r));
    try {
      c.send(Op.InboxAck, '{"seq":1}', 1, 1);
      await waitFor(() => store.acks === before + 1);
      pipelined(c, Op.InboxAck, ['{"seq":2}', '{"seq":4}', '{"seq":3}', '{"seq":0}', '{"seq":1}'], 2);
      // Each answers once the one stored before it is: nothing yet.
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(c.queued, 0);
    } finally {
      store.gate = null;
      release();
    }
    const replies = await c.collect(6);
    assert.deepEqual(
      replies.map((f) => [f.op, f.seq, f.body.toString()]),
      [
        [Op.InboxAckReply, 1, '{"code":0,"acked":1}'],
        [Op.InboxAckReply, 2, '{"code":0,"acked":4}'],
        [Op.InboxAckReply, 3, '{"code":0,"acked":4}'],
        [Op.InboxAckReply, 4, '{"code":0,"acked":4}'],
        // At or below the watermark known when it came (0, from op 29): answered at once, written in its turn.
        [Op.InboxAckReply, 5, '{"code":0,"acked":0}'],
        [Op.InboxAckReply, 6, '{"code":0,"acked":4}'],
      ],
    );
    assert.equal(store.acks, before + 2, 'seq 1, then 4 for those that waited');
    assert.equal((await store.devices(202n))[0].acked, 4);
  });

  it('makes no ack or fetch of a connection that closed before its turn', async () => {
    const busy = await delivered(203, 'busy', 1);
    const gone = await delivered(204, 'gone', 2);
    const before = { acks: store.acks, reads: store.reads };
    let release!: () => void;
    store.gate = new Promise((r) => (release = r));
    try {
      // The one call slot is taken by another connection's ack.
      busy.send(Op.InboxAck, '{"seq":1}', 1, 1);
      await waitFor(() => store.acks === before.acks + 1);
      gone.send(Op.InboxAck, '{"seq":2}', 1, 1);
      gone.send(Op.InboxFetch, '{"after":0}', 1, 2);
      await new Promise((r) => setTimeout(r, 50));
      gone.close();
      await waitFor(() => tsim.comet.sendQueueBytes('gone') === undefined);
    } finally {
      store.gate = null;
      release();
    }
    assert.equal((await busy.next()).body.toString(), '{"code":0,"acked":1}');
    busy.send(Op.Heartbeat, '', 1, 2);
    assert.equal((await busy.next()).op, Op.HeartbeatReply);
    assert.deepEqual({ acks: store.acks, reads: store.reads }, { acks: before.acks + 1, reads: before.reads });
    assert.equal((await store.devices(204n))[0].acked, 0);
  });

  it('reads a backlog of exactly one full page once: a page that reached last is not confirmed by another read', async () => {
    const mid = 206n;
    const at = Date.now();
    await store.device(mid, 'onepage', 0, at);
    // inbox.pageMessages is 100 here.
    for (let i = 1; i <= 100; i++) await store.append([mid], { id: `p${i}`, op: 1000, body: Buffer.from(`p${i}`), time: at });
    const before = store.reads;
    const c = await GoimTestClient.tcp(port, '127.0.0.1');
    clients.push(c);
    await c.auth({ mid: Number(mid), key: 'onepage', inbox: true });
    assert.equal((await c.next()).op, Op.InboxState);
    const backlog = await c.collect(100);
    assert.deepEqual(
      backlog.map((f) => inboxMessage(f).seq),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    const res = await fetch(`${api}/goim/push/mids?operation=1000&mids=${mid}&durable=1`, { method: 'POST', body: 'live' });
    assert.deepEqual({ status: res.status, text: await res.text() }, ok);
    assert.deepEqual(inboxMessage(await c.next()), { seq: 101, op: 1000, body: 'live' });
    assert.equal(store.reads - before, 1, 'one page read for the backlog; the live message written as it came');
  });

  it('stores an ack before the backlog reads that waited for a call slot longer', async () => {
    const busy = await delivered(207, 'holder', 1);
    const acker = await delivered(208, 'acker', 2);
    const readers = await Promise.all(
      [209, 210].map(async () => {
        const c = await GoimTestClient.tcp(port, '127.0.0.1');
        clients.push(c);
        return c;
      }),
    );
    const reads = tsim.comet.counters().inbox!.reads;
    let release!: () => void;
    store.gate = new Promise((r) => (release = r));
    const from = store.calls.length;
    try {
      // The one call slot is taken; two devices connect and their backlog reads wait for it, then an ack comes.
      busy.send(Op.InboxAck, '{"seq":1}', 1, 1);
      await waitFor(() => store.acks > 0 && store.calls.at(-1) === 'ack 207');
      await Promise.all(readers.map((c, i) => c.auth({ mid: 209 + i, key: `reader${i}`, inbox: true })));
      await waitFor(() => tsim.comet.counters().inbox!.reads === reads + 2);
      acker.send(Op.InboxAck, '{"seq":2}', 1, 1);
      // The ack waits for the slot, queued after the reads.
      await waitFor(() => tsim.comet.counters().inbox!.acksWaiting === 1);
    } finally {
      store.gate = null;
      release();
    }
    assert.equal((await busy.next()).body.toString(), '{"code":0,"acked":1}');
    assert.equal((await acker.next()).body.toString(), '{"code":0,"acked":2}');
    for (const c of readers) assert.equal((await c.next()).op, Op.InboxState);
    const calls = store.calls.slice(from);
    assert.deepEqual(calls.slice(0, 2), ['ack 207', 'ack 208'], calls.join(', '));
    assert.deepEqual(calls.slice(2).sort(), ['read 209', 'read 210']);
  });

  it('refuses op-26 fetches past 2 a second with code 6, and never reads the storage for them', async () => {
    const c = await delivered(205, 'fetcher', 2);
    const before = store.reads;
    const started = performance.now();
    const codes: number[] = [];
    for (let i = 0; i < 40; i++) {
      c.send(Op.InboxFetch, '{"after":1}', 1, 100 + i);
      let r = await c.next();
      if (r.op === Op.InboxMessage) {
        assert.equal(inboxMessage(r).seq, 2);
        r = await c.next();
      }
      assert.deepEqual([r.op, r.seq], [Op.InboxFetchReply, 100 + i]);
      const body = json(r) as { code: number };
      if (body.code === 6) assert.equal(r.body.toString(), '{"code":6,"message":"too many fetches: at most 2 a second"}');
      else assert.equal(r.body.toString(), '{"code":0,"next":2,"more":false}');
      codes.push(body.code);
    }
    const seconds = (performance.now() - started) / 1000;
    const served = codes.filter((x) => x === 0).length;
    assert.deepEqual(codes.slice(0, 4), [0, 0, 0, 0], 'a burst of 4');
    assert.ok(served <= 4 + Math.ceil(2 * seconds), `${served} fetches served in ${seconds} s`);
    assert.equal(store.reads - before, served, 'a refused fetch reads nothing');
    // Answered without reading (nothing delivered above `after`): not counted, never refused.
    c.send(Op.InboxFetch, '{"after":2}', 1, 7);
    assert.equal((await c.next()).body.toString(), '{"code":0,"next":2,"more":false}');
  });
});

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; !check(); i++) {
    assert.ok(i < 500, 'never happened');
    await new Promise((r) => setTimeout(r, 10));
  }
}

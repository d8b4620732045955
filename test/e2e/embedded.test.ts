// End to end in embedded mode: real clients over TCP and WebSocket, pushes through the HTTP API.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import { GoimTestClient } from '../support/goim-client.js';

function testConfig(extra: Record<string, unknown> = {}) {
  return buildConfig({
    env: { host: 'comet-e2e' },
    tcp: { bind: ['127.0.0.1:0'] },
    websocket: { bind: ['127.0.0.1:0'] },
    httpServer: { addr: '127.0.0.1:0' },
    room: { signal: '20ms' },
    comet: { renewOnline: '50ms' },
    logic: { onlineReload: '50ms' },
    ...extra,
  });
}

describe('embedded tsim', () => {
  let tsim: Embedded;
  let api: string;
  let tcpPort: number;
  let wsPort: number;
  const clients: GoimTestClient[] = [];

  const post = async (path: string, body: string) => {
    const res = await fetch(`${api}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    return { status: res.status, text: await res.text() };
  };
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

  before(async () => {
    tsim = await startEmbedded(testConfig(), silentLogger);
    const a = tsim.addresses();
    api = `http://127.0.0.1:${a.http.port}`;
    tcpPort = a.tcp[0].port;
    wsPort = a.ws[0].port;
  });

  after(async () => {
    for (const c of clients) c.close();
    await tsim.stop();
  });

  it('delivers a room push as a bare frame on TCP and an op-9 envelope on WebSocket', async () => {
    const t = await tcp();
    const w = await ws();
    await t.auth({ mid: 1, room_id: 'live://1000', accepts: [1000] });
    await w.auth({ mid: 2, room_id: 'live://1000', accepts: [1000] });
    const res = await post('/goim/push/room?operation=1000&type=live&room=1000', 'hello');
    assert.deepEqual(res, { status: 200, text: '{"code":0,"message":""}' });

    const f = await t.next();
    assert.equal(f.op, 1000);
    assert.equal(f.body.toString(), 'hello');
    assert.deepEqual(t.rawBytes().subarray(-21), encodeFrame(1000, Buffer.from('hello')));

    const g = await w.next();
    assert.equal(g.op, 1000);
    assert.equal(g.body.toString(), 'hello');
    // the single-push vector (docs/goim-test-vectors.md#single-push): 82 25 | op-9 envelope | inner frame
    const inner = encodeFrame(1000, Buffer.from('hello'));
    const expected = Buffer.concat([Buffer.from([0x82, 16 + inner.length]), encodeFrame(Op.Raw, inner)]);
    assert.deepEqual(w.rawMessages.at(-1), expected.subarray(2));
  });

  it('pushes to mids and keys, honouring accepts', async () => {
    const a = await tcp();
    const b = await ws();
    await a.auth({ mid: 77, key: 'dev-a', accepts: [1000] });
    await b.auth({ mid: 77, key: 'dev-b', accepts: [1001] });

    assert.equal((await post('/goim/push/mids?operation=1000&mids=77', 'to mid')).text, '{"code":0,"message":""}');
    const fa = await a.next();
    assert.equal(fa.body.toString(), 'to mid');

    assert.equal((await post('/goim/push/keys?operation=1001&keys=dev-b&keys=dev-a', 'to keys')).text, '{"code":0,"message":""}');
    const fb = await b.next();
    assert.equal(fb.op, 1001);
    assert.equal(fb.body.toString(), 'to keys');
    // dev-a does not accept 1001: the next thing it sees is the broadcast below, not "to keys".
    await post('/goim/push/all?operation=1000', 'to all');
    const fa2 = await a.next();
    assert.equal(fa2.body.toString(), 'to all');
  });

  it('answers heartbeats with the room online count', async () => {
    const a = await tcp();
    const b = await tcp();
    await a.auth({ mid: 5, room_id: 'live://hb', accepts: [] });
    await b.auth({ mid: 6, room_id: 'live://hb', accepts: [] });
    // Counts are eventually consistent (local count, then logic's global count once reported).
    let count = -1;
    for (let seq = 1; count !== 2 && seq < 500; seq++) {
      a.send(Op.Heartbeat, undefined, 1, seq);
      const r = await a.nextWhere((f) => f.op === Op.HeartbeatReply);
      assert.equal(r.seq, seq);
      count = r.body.readInt32BE(0);
      if (count !== 2) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(count, 2);
    // The count reaches logic's online API after a RenewOnline and a reload.
    for (;;) {
      const res = await fetch(`${api}/goim/online/room?type=live&rooms=hb`);
      const body = await res.text();
      if (body === '{"code":0,"message":"","data":{"hb":2}}') break;
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('keeps a same-key reconnect reachable and closes the old connection', async () => {
    const old = await tcp();
    await old.auth({ mid: 9, key: 'phone', accepts: [1000] });
    const fresh = await ws();
    await fresh.auth({ mid: 9, key: 'phone', accepts: [1000] });
    await old.closed;
    await post('/goim/push/keys?operation=1000&keys=phone', 'still here');
    assert.equal((await fresh.next()).body.toString(), 'still here');
    await post('/goim/push/mids?operation=1000&mids=9', 'by mid');
    assert.equal((await fresh.next()).body.toString(), 'by mid');
  });

  it('loses nothing and keeps order: 10,000 room messages over 50 rooms pushed concurrently', async () => {
    const rooms = 50;
    const perRoom = 200;
    const members: GoimTestClient[] = [];
    for (let r = 0; r < rooms; r++) {
      const c = r % 2 === 0 ? await tcp() : await ws();
      await c.auth({ mid: 1000 + r, room_id: `order://${r}` });
      members.push(c);
    }
    // Rooms are pushed concurrently; within a room each push follows the previous answer,
    // since the order of requests in flight at once is not defined.
    const pushRoom = async (r: number) => {
      for (let i = 0; i < perRoom; i++) {
        const res = await post(`/goim/push/room?operation=1000&type=order&room=${r}`, `${r}:${i}`);
        assert.equal(res.text, '{"code":0,"message":""}');
      }
    };
    await Promise.all(Array.from({ length: rooms }, (_, r) => pushRoom(r)));
    await Promise.all(
      members.map(async (c, r) => {
        const frames = await c.collect(perRoom, 30_000);
        assert.deepEqual(
          frames.map((f) => f.body.toString()),
          Array.from({ length: perRoom }, (_, i) => `${r}:${i}`),
        );
      }),
    );
  });

  it('serves the demo page and its script', async () => {
    const page = await fetch(`${api}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const html = await page.text();
    const scripts = [...html.matchAll(/<script[^>]+src="\/?([^"]+)"/g)].map((m) => m[1]);
    assert.ok(scripts.length > 0, 'the page loads a script');
    for (const s of scripts) {
      const js = await fetch(`${api}/${s}`);
      assert.equal(js.status, 200, `/${s} is served`);
      assert.match(js.headers.get('content-type') ?? '', /javascript/);
      assert.ok((await js.text()).length > 100);
    }
  });

  it('keeps the HTTP envelope for bad parameters', async () => {
    const res = await fetch(`${api}/goim/push/room?type=live&room=1000`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 400);
    assert.equal(await res.text(), `{"code":-400,"message":"Key: 'Op' Error:Field validation for 'Op' failed on the 'required' tag"}`);
  });
});

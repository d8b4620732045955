// Room history end to end in embedded mode (docs/history.md#offsets-and-epochs): HTTP room
// pushes reach TCP and WebSocket clients with their offsets in the frames' seq and are in
// the store; a room type without history keeps goim's seq 0. With the store down, delivery goes
// on past the queue window (history.writeWait) and the records are written when it returns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryHistoryStore } from '../../src/adapters/memory/history-store.js';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { eventually } from '../support/eventually.js';
import { GoimTestClient } from '../support/goim-client.js';

test('embedded: room pushes to a history room carry offsets 1, 2, 3 on TCP and WebSocket and are stored; another room type gets seq 0', async () => {
  const store = new MemoryHistoryStore();
  const config = buildConfig({
    env: { host: `comet-history-${process.pid}` },
    tcp: { bind: ['127.0.0.1:0'] },
    websocket: { bind: ['127.0.0.1:0'] },
    httpServer: { addr: '127.0.0.1:0' },
    room: { signal: '20ms' },
    roomTypes: { live: { history: true }, chat: {} },
  });
  const tsim = await startEmbedded(config, silentLogger, store);
  const a = tsim.addresses();
  const clients: GoimTestClient[] = [];
  try {
    const tcp = await GoimTestClient.tcp(a.tcp[0].port);
    const ws = await GoimTestClient.ws(a.ws[0].port);
    const chat = await GoimTestClient.tcp(a.tcp[0].port);
    clients.push(tcp, ws, chat);
    await tcp.auth({ mid: 1, key: 'h-tcp', room_id: 'live://1000', accepts: [1000], history: {} });
    await ws.auth({ mid: 2, key: 'h-ws', room_id: 'live://1000', accepts: [1000], history: {} });
    await chat.auth({ mid: 3, key: 'h-chat', room_id: 'chat://1000', accepts: [1000] });
    const post = async (path: string, body: string) => {
      const res = await fetch(`http://127.0.0.1:${a.http.port}${path}`, { method: 'POST', body });
      assert.equal(res.status, 200, await res.text());
    };
    for (const text of ['one', 'two', 'three']) {
      await post('/goim/push/room?operation=1000&type=live&room=1000', text);
      await post('/goim/push/room?operation=1000&type=chat&room=1000', text);
    }
    for (const c of [tcp, ws]) {
      const got = [];
      for (let i = 0; i < 3; i++) got.push(await c.nextWhere((f) => f.op === 1000));
      assert.deepEqual(
        got.map((f) => [f.seq, f.body.toString()]),
        [
          [1, 'one'],
          [2, 'two'],
          [3, 'three'],
        ],
        c.transport,
      );
    }
    const plain = [];
    for (let i = 0; i < 3; i++) plain.push(await chat.nextWhere((f) => f.op === 1000));
    assert.deepEqual(
      plain.map((f) => [f.seq, f.body.toString()]),
      [
        [0, 'one'],
        [0, 'two'],
        [0, 'three'],
      ],
    );
    // Storage runs behind fan-out: the records land shortly after the clients got them.
    await eventually(async () => (await store.after('live://1000', 0, 10)).length === 3, 'records stored');
    const stored = await store.after('live://1000', 0, 10);
    assert.deepEqual(
      stored.map((r) => [r.offset, r.op, Buffer.from(r.body).toString()]),
      [
        [1, 1000, 'one'],
        [2, 1000, 'two'],
        [3, 1000, 'three'],
      ],
    );
    assert.equal(await store.state('chat://1000'), null);
  } finally {
    for (const c of clients) c.close();
    await tsim.stop();
  }
});

test('embedded: with the store down, live delivery goes on past the queue window; every record is stored once it returns', async () => {
  const store = new MemoryHistoryStore();
  const config = buildConfig({
    env: { host: `comet-outage-${process.pid}` },
    tcp: { bind: ['127.0.0.1:0'] },
    httpServer: { addr: '127.0.0.1:0' },
    room: { signal: '5ms' },
    job: { maxPending: 4, queueInflight: 4 },
    history: { writeWait: '100ms' },
    roomTypes: { live: { history: true } },
  });
  const tsim = await startEmbedded(config, silentLogger, store);
  const a = tsim.addresses();
  const client = await GoimTestClient.tcp(a.tcp[0].port);
  try {
    await client.auth({ mid: 1, key: 'outage', room_id: 'live://1', accepts: [1000], history: {} });
    const post = async (text: string) => {
      const res = await fetch(`http://127.0.0.1:${a.http.port}/goim/push/room?operation=1000&type=live&room=1`, { method: 'POST', body: text });
      assert.equal(res.status, 200, await res.text());
    };
    await post('m1');
    let first = await client.next();
    while (first.op !== 1000) first = await client.next(); // past the new room's op-18 announcement
    assert.equal(first.seq, 1);
    await eventually(async () => (await store.after('live://1', 0, 10)).length === 1, 'm1 stored');
    store.failing = new Error('store down');
    for (let i = 2; i <= 20; i++) await post(`m${i}`);
    const got: string[] = [];
    while (got.length < 20) {
      const f = await client.nextWhere((x) => x.op === 1000 || x.op === 18);
      got.push(f.op === 18 ? `18:${(JSON.parse(f.body.toString()) as { first: number }).first}` : `${f.body.toString()}@${f.seq}`);
    }
    // The window fills (four messages); writeWait later they are released, and the room's new
    // epoch starts right after the last message numbered in the old one.
    const announced = got.filter((x) => x.startsWith('18:'));
    assert.equal(announced.length, 1, got.join(' '));
    const newEpochAt = Number(announced[0].slice(3));
    assert.ok(newEpochAt > 2 && newEpochAt <= 6, got.join(' '));
    assert.deepEqual(
      got,
      Array.from({ length: 19 }, (_, k) => `m${k + 2}@${k + 2}`).flatMap((m, k) => (k + 2 === newEpochAt ? [announced[0], m] : [m])),
    );
    store.failing = null;
    await eventually(async () => (await store.after('live://1', 0, 100)).length === 20, 'every record stored after the outage');
    assert.deepEqual(
      (await store.after('live://1', 0, 100)).map((r) => `${Buffer.from(r.body).toString()}@${r.offset}`),
      Array.from({ length: 20 }, (_, k) => `m${k + 1}@${k + 1}`),
    );
    assert.equal((await store.state('live://1'))!.epochStart, newEpochAt);
  } finally {
    client.close();
    await tsim.stop();
  }
});

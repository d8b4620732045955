// The SDK's durable inbox against a real embedded tsim (docs/client.md#durable-inbox): durable
// pushes through the HTTP API, an SDK client that was offline gets the backlog in order, its
// acks move the device's watermark (read back through the inbox API), and a reconnect in the
// middle of the stream delivers nothing twice.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TcpClient, TsimClient, type ClientEvents, type ClientSession, type InboxMessage } from 'tsim-client';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { eventually } from '../support/eventually.js';
import { GoimTestClient } from '../support/goim-client.js';
import { collect, next } from './fake-comet.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Ev = ClientEvents;

describe('client inbox against embedded tsim', () => {
  let tsim: Embedded;
  let api: string;
  let wsUrl: string;
  let tcpAddr: string;
  let wsPort: number;
  const closers: (() => unknown)[] = [];

  const dataDir = mkdtempSync(join(tmpdir(), 'tsim-inbox-'));

  before(async () => {
    tsim = await startEmbedded(
      buildConfig({
        tcp: { bind: ['127.0.0.1:0'] },
        websocket: { bind: ['127.0.0.1:0'] },
        httpServer: { addr: '127.0.0.1:0' },
        // The SQLite engine embedded mode uses, in a directory of this suite's own.
        inbox: { dataDir },
      }),
      silentLogger,
    );
    const a = tsim.addresses();
    api = `http://127.0.0.1:${a.http.port}`;
    wsPort = a.ws[0].port;
    wsUrl = `ws://127.0.0.1:${wsPort}/sub`;
    tcpAddr = `127.0.0.1:${a.tcp[0].port}`;
  });

  after(async () => {
    for (const c of closers.reverse()) await c();
    await tsim?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const dm = async (mid: number, body: string): Promise<void> => {
    const res = await fetch(`${api}/goim/push/mids?operation=1000&mids=${mid}&durable=1`, { method: 'POST', body });
    assert.deepEqual([res.status, await res.text()], [200, '{"code":0,"message":""}']);
  };
  const watermark = async (mid: number, key: string): Promise<number | undefined> => {
    const res = await fetch(`${api}/tsim/inbox/${mid}/devices`);
    const data = ((await res.json()) as { data: { devices: { key: string; acked: number }[] } }).data;
    return data.devices.find((d) => d.key === key)?.acked;
  };
  const keyOf = async (mid: number): Promise<string> => {
    const res = await fetch(`${api}/tsim/inbox/${mid}/devices`);
    const devices = ((await res.json()) as { data: { devices: { key: string }[] } }).data.devices;
    assert.equal(devices.length, 1);
    return devices[0].key;
  };
  const track = <T extends ClientSession>(c: T): T => {
    closers.push(() => c.close());
    return c;
  };

  it('an offline user gets the backlog in order on reconnecting; acks move the watermark; a reconnect mid-stream repeats nothing', async () => {
    const b = track(
      new TsimClient({ url: wsUrl, token: { mid: 31 }, inbox: { ackEvery: 3, ackDelayMs: 60_000 }, reconnect: { baseMs: 10, maxMs: 20, jitter: 0 } }),
    );
    const all: InboxMessage[] = [];
    b.on('inbox', (m) => all.push(m));
    assert.deepEqual(await next<Ev, 'inboxState'>(b, 'inboxState'), { acked: 0, first: 1, last: 0 });
    const key = await keyOf(31);
    await b.close();

    // Offline: three direct messages.
    for (const body of ['one', 'two', 'three']) await dm(31, body);
    const state = next<Ev, 'inboxState'>(b, 'inboxState');
    const arrived = collect<Ev, 'inbox'>(b, 'inbox', 3);
    b.connect();
    assert.deepEqual(await state, { acked: 0, first: 1, last: 3 });
    const backlog = await arrived;
    assert.deepEqual(
      backlog.map((m) => [m.seq, m.op, m.text()]),
      [
        [1, 1000, 'one'],
        [2, 1000, 'two'],
        [3, 1000, 'three'],
      ],
    );
    // ackEvery 3: one ack for the three, at once.
    await eventually(async () => (await watermark(31, key)) === 3, 'watermark 3');

    // Two live ones, processed but not yet acknowledged (below ackEvery, ackDelayMs far away)…
    const live = collect<Ev, 'inbox'>(b, 'inbox', 2);
    await dm(31, 'four');
    await dm(31, 'five');
    assert.deepEqual(
      (await live).map((m) => m.seq),
      [4, 5],
    );
    // …when the connection is replaced (another connection with the device's key). The client
    // reconnects, and the server sends 4 and 5 again from the watermark.
    const reauth = next<Ev, 'inboxState'>(b, 'inboxState');
    const intruder = await GoimTestClient.ws(wsPort, { host: '127.0.0.1' });
    closers.push(() => intruder.close());
    await intruder.auth({ mid: 31, key, accepts: [] });
    assert.deepEqual(await reauth, { acked: 3, first: 1, last: 5 });
    const six = next<Ev, 'inbox'>(b, 'inbox');
    await dm(31, 'six');
    assert.equal((await six).text(), 'six');
    assert.deepEqual(
      all.map((m) => m.seq),
      [1, 2, 3, 4, 5, 6],
    );
    // Three more processed on this connection (4 and 5 re-sent, then 6): the ack covers them.
    await eventually(async () => (await watermark(31, key)) === 6, 'watermark 6');
    assert.equal(b.inbox?.lastSeq, 6);
  });

  it('manual acks over TCP, answered with the watermark; fetch re-sends what was delivered, marked as fetched', async () => {
    const c = track(
      new TcpClient({ url: tcpAddr, token: { mid: 32, key: 'tcp-device' }, inbox: { ack: 'manual', ackDelayMs: 10 }, reconnect: false }),
    );
    await next<Ev, 'inboxState'>(c, 'inboxState');
    const got = collect<Ev, 'inbox'>(c, 'inbox', 3);
    for (const body of ['a', 'b', 'c']) await dm(32, body);
    assert.deepEqual(
      (await got).map((m) => m.text()),
      ['a', 'b', 'c'],
    );
    const inbox = c.inbox!;
    assert.deepEqual(await inbox.ack(2), { code: 0, acked: 2 });
    assert.equal(await watermark(32, 'tcp-device'), 2);

    const again = collect<Ev, 'inbox'>(c, 'inbox', 2);
    assert.deepEqual(await inbox.fetch(1), { code: 0, next: 3, more: false });
    assert.deepEqual(
      (await again).map((m) => [m.seq, m.text(), m.fetched]),
      [
        [2, 'b', true],
        [3, 'c', true],
      ],
    );
    assert.deepEqual(await inbox.ack(3), { code: 0, acked: 3 });
    assert.equal(await watermark(32, 'tcp-device'), 3);
  });
});

// Danmaku end to end in embedded mode (docs/history.md#sending): goim clients over TCP and
// WebSocket send op 4, get op 5, and every client in the room receives the room message.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { Op } from '../../src/protocol/ops.js';
import { GoimTestClient, type Frame } from '../support/goim-client.js';

const BIG_MID = '9007199254740993';

/** The `code` of a JSON reply body (ops 5 and 20). */
const codeOf = (f: Frame): number => (JSON.parse(f.body.toString()) as { code: number }).code;

describe('embedded tsim: danmaku', () => {
  let tsim: Embedded;
  let api: string;
  let tcpPort: number;
  let wsPort: number;
  const clients: GoimTestClient[] = [];

  const join = async (transport: 'tcp' | 'ws', token: string) => {
    const c = transport === 'tcp' ? await GoimTestClient.tcp(tcpPort) : await GoimTestClient.ws(wsPort, { host: '127.0.0.1' });
    clients.push(c);
    await c.auth(token);
    return c;
  };
  const pair = async (room: string, senderMid = BIG_MID) => {
    const sender = await join('tcp', `{"mid":${senderMid},"room_id":"${room}","accepts":[1000]}`);
    const viewer = await join('ws', `{"mid":2,"room_id":"${room}","accepts":[1000]}`);
    return { sender, viewer };
  };
  /** Sends op 4 and resolves with its reply (the frame with the same seq). */
  const send = async (c: GoimTestClient, body: string, seq: number): Promise<Frame> => {
    c.send(Op.SendMsg, body, 1, seq);
    return c.nextWhere((f) => (f.op === Op.SendMsgReply || f.op === Op.SendMsg) && f.seq === seq);
  };
  const pushRoom = async (room: string, body: string) => {
    const res = await fetch(`${api}/goim/push/room?operation=1000&type=live&room=${room}`, { method: 'POST', body });
    assert.equal(await res.text(), '{"code":0,"message":""}');
  };
  const roomMessage = (c: GoimTestClient) => c.nextWhere((f) => f.op === 1000);

  before(async () => {
    const config = buildConfig({
      env: { host: 'comet-danmaku' },
      tcp: { bind: ['127.0.0.1:0'] },
      websocket: { bind: ['127.0.0.1:0'] },
      httpServer: { addr: '127.0.0.1:0' },
      room: { signal: '20ms' },
      roomTypes: { live: { send: true, burst: 100, rate: 100 } },
    });
    tsim = await startEmbedded(config, silentLogger);
    const a = tsim.addresses();
    api = `http://127.0.0.1:${a.http.port}`;
    tcpPort = a.tcp[0].port;
    wsPort = a.ws[0].port;
  });

  after(async () => {
    for (const c of clients) c.close();
    await tsim.stop();
  });

  it('answers op 5 with the id, and both clients receive the room message', async () => {
    const { sender, viewer } = await pair('live://1000');
    const reply = await send(sender, '{"text":"666","nonce":"c1-42","progress":73500,"mode":1,"color":16777215}', 7);
    assert.equal(reply.op, Op.SendMsgReply);
    assert.equal(reply.ver, 1);
    const m = /^\{"code":0,"id":"([A-Za-z0-9_-]{22})"\}$/.exec(reply.body.toString());
    assert.ok(m, reply.body.toString());
    const id = m[1];

    const a = await roomMessage(sender);
    const b = await roomMessage(viewer);
    const time = /"time":(\d+)\}$/.exec(a.body.toString())?.[1];
    assert.ok(time !== undefined && Math.abs(Number(time) - Date.now()) < 60_000, a.body.toString());
    const expected = Buffer.from(
      `{"id":"${id}","mid":${BIG_MID},"text":"666","nonce":"c1-42","progress":73500,"mode":1,"color":16777215,"time":${time}}`,
    );
    assert.deepEqual(a.body, expected);
    assert.deepEqual(b.body, expected);
    assert.equal(tsim.logic.danmaku.counts.accepted, 1);
  });

  it('a refused danmaku (too long) gets its code and reaches nobody', async () => {
    const { sender, viewer } = await pair('live://1001');
    const reply = await send(sender, JSON.stringify({ text: 'x'.repeat(101) }), 8);
    assert.equal(reply.op, Op.SendMsgReply);
    assert.equal(reply.body.toString(), '{"code":4,"message":"too long"}');
    // The next room message either client sees is the one pushed after the refusal.
    await pushRoom('1001', 'after');
    assert.equal((await roomMessage(sender)).body.toString(), 'after');
    assert.equal((await roomMessage(viewer)).body.toString(), 'after');
  });

  it('op 4 in a room type without send keeps goim’s echo', async () => {
    const { sender } = await pair('vod://1');
    const reply = await send(sender, '{"text":"666"}', 9);
    assert.equal(reply.op, Op.SendMsg);
    assert.equal(reply.seq, 9);
    assert.equal(reply.body.length, 0);
  });

  it('the same nonce twice at once: one broadcast, the same answer to both', async () => {
    const { sender, viewer } = await pair('live://1002', '77');
    const body = '{"text":"once","nonce":"dup-1"}';
    sender.send(Op.SendMsg, body, 1, 21);
    sender.send(Op.SendMsg, body, 1, 22);
    const r1 = await sender.nextWhere((f) => f.op === Op.SendMsgReply && f.seq === 21);
    const r2 = await sender.nextWhere((f) => f.op === Op.SendMsgReply && f.seq === 22);
    assert.match(r1.body.toString(), /^\{"code":0,"id":"[A-Za-z0-9_-]{22}"\}$/);
    assert.deepEqual(r2.body, r1.body);
    await pushRoom('1002', 'marker');
    for (const c of [sender, viewer]) {
      assert.match((await roomMessage(c)).body.toString(), /"text":"once"/);
      assert.equal((await roomMessage(c)).body.toString(), 'marker', 'no second broadcast');
    }
  });
  it('a multi-room connection sends to any of its rooms by naming it; a room it is not in is code 3', async () => {
    const multi = await join('tcp', '{"mid":31,"room_id":"live://mr-home","accepts":[1000]}');
    const other = await join('ws', '{"mid":32,"room_id":"live://mr-side","accepts":[1000]}');
    multi.send(19, 'live://mr-side', 1, 3);
    assert.equal(codeOf(await multi.nextWhere((f) => f.op === 20)), 0);
    const reply = await send(multi, '{"text":"to the side room","room":"live://mr-side"}', 4);
    assert.match(reply.body.toString(), /^\{"code":0,"id":/);
    assert.match((await roomMessage(other)).body.toString(), /"text":"to the side room"/);
    // The sender gets it in the room's envelope.
    const env = await multi.nextWhere((f) => f.op === 23);
    const b = Buffer.from(env.body);
    assert.equal(b.subarray(2, 2 + b.readUInt16BE(0)).toString(), 'live://mr-side');
    assert.match(b.subarray(2 + b.readUInt16BE(0) + 16).toString(), /"text":"to the side room"/);
    assert.equal(codeOf(await send(multi, '{"text":"x","room":"live://mr-elsewhere"}', 5)), 3);
    // Without a room: the primary one.
    assert.equal(codeOf(await send(multi, '{"text":"home"}', 6)), 0);
    const home = await multi.nextWhere((f) => f.op === 23);
    assert.equal(
      Buffer.from(home.body)
        .subarray(2, 2 + Buffer.from(home.body).readUInt16BE(0))
        .toString(),
      'live://mr-home',
    );
  });
});

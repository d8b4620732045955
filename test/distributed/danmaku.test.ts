// Danmaku in distributed mode: comets call logic over gRPC, logics share slow mode and nonces
// through Redis (docs/history.md#limits), the danmaku travels NATS and a job to both comets.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Op } from '../../src/protocol/ops.js';
import { Cluster, clusterGate, cometConfig, jobConfig, logicConfig, portOf, type CometStarted } from '../support/cluster.js';
import { GoimTestClient, type Frame } from '../support/goim-client.js';

const skip = await clusterGate();
const ROOM_TYPES = { live: { send: true, slowMode: '1m', rate: 100, burst: 100 } };

describe('distributed tsim: danmaku', { skip }, () => {
  let h: Cluster;
  const ports = new Map<string, number>();
  const clients: GoimTestClient[] = [];

  const join = async (comet: string, mid: number, key: string, room: string) => {
    const c = await GoimTestClient.tcp(ports.get(comet)!);
    clients.push(c);
    await c.auth({ mid, key, room_id: room, accepts: [1000] });
    return c;
  };
  const send = async (c: GoimTestClient, body: string, seq: number): Promise<string> => {
    c.send(Op.SendMsg, body, 1, seq);
    const f: Frame = await c.nextWhere((x) => x.op === Op.SendMsgReply && x.seq === seq);
    return f.body.toString();
  };
  const roomMessage = async (c: GoimTestClient) => (await c.nextWhere((f) => f.op === 1000)).body.toString();

  before(async () => {
    h = await Cluster.start('tsim-dm-');
    const logics = [
      h.spawn('logic', 'logic-1', logicConfig('logic-1', { roomTypes: ROOM_TYPES })),
      h.spawn('logic', 'logic-2', logicConfig('logic-2', { roomTypes: ROOM_TYPES })),
    ];
    const comets = ['comet-a', 'comet-b'].map((host) => h.spawn('comet', host, cometConfig(host)));
    const job = h.spawn('job', 'job-1', jobConfig('job-1', { roomTypes: ROOM_TYPES }));
    for (const p of [...(await Promise.all(logics)), await job]) await p.started;
    for (const [i, p] of (await Promise.all(comets)).entries()) {
      const started = (await p.started) as CometStarted;
      ports.set(i === 0 ? 'comet-a' : 'comet-b', portOf(started.tcp[0]));
    }
  });

  after(async () => {
    for (const c of clients) c.close();
    await h?.cleanup();
  });

  it('a danmaku on one comet reaches the room on both; slow mode and the nonce hold on the other comet', async () => {
    const sender = await join('comet-a', 501, 'dm-a', 'live://d1');
    const viewer = await join('comet-b', 502, 'dm-b', 'live://d1');
    const reply = await send(sender, '{"text":"hello","nonce":"n-1"}', 3);
    const id = /^\{"code":0,"id":"([A-Za-z0-9_-]{22})"\}$/.exec(reply)?.[1];
    assert.ok(id, reply);
    for (const c of [sender, viewer])
      assert.match(await roomMessage(c), new RegExp(`^\\{"id":"${id}","mid":501,"text":"hello","nonce":"n-1","time":\\d+\\}$`));

    // The same user on the other comet (whichever logic it calls): the nonce's answer, then slow mode.
    const again = await join('comet-b', 501, 'dm-c', 'live://d1');
    assert.equal(await send(again, '{"text":"hello","nonce":"n-1"}', 4), reply);
    assert.equal(await send(again, '{"text":"second"}', 5), '{"code":6,"message":"slow mode"}');
    // A different user is not held back, and is the next message the viewer sees.
    assert.match(await send(viewer, '{"text":"other"}', 6), /^\{"code":0,/);
    assert.match(await roomMessage(viewer), /"mid":502,"text":"other"/);
  });
});

// Several rooms per connection in distributed mode (docs/protocol.md#several-rooms): a logic
// with jwt auth (the rooms claim crosses gRPC to the comets), two comets, a job. A room joined
// as an extra room gets its pushes on both comets, enveloped for multi-room connections and
// plain for goim ones, and logic counts each connection in each of its rooms.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { Op } from '../../src/protocol/ops.js';
import { api, Cluster, clusterGate, cometConfig, jobConfig, logicConfig, portOf, type CometStarted, type LogicStarted } from '../support/cluster.js';
import { GoimTestClient, type Frame } from '../support/goim-client.js';
import { openEnvelope } from '../support/room-envelope.js';
import { eventually } from '../support/eventually.js';

const skip = await clusterGate();
const SECRET = 'distributed-multi-room-secret-long-enough';

function sign(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));
}

/** An op-23 body: its room and the bodies of its frames. */
function envelope(f: Frame): [string, string[]] {
  const { room, frames } = openEnvelope(f);
  return [room, frames.map((x) => x.body.toString())];
}

describe('distributed tsim: extra rooms across two comets', { skip }, () => {
  let h: Cluster;
  let base: string;
  const ports = new Map<string, { tcp: number; ws: number }>();
  const clients: GoimTestClient[] = [];

  const connect = async (host: string, transport: 'tcp' | 'ws', claims: Record<string, unknown>): Promise<GoimTestClient> => {
    const p = ports.get(host)!;
    const c = transport === 'tcp' ? await GoimTestClient.tcp(p.tcp) : await GoimTestClient.ws(p.ws);
    clients.push(c);
    assert.equal((await c.auth({ token: await sign(claims) })).op, Op.AuthReply);
    return c;
  };

  const join = async (c: GoimTestClient, room: string, seq: number): Promise<{ code: number; rooms: string[] }> => {
    c.send(Op.Join, room, 1, seq);
    const f = await c.nextWhere((x) => x.op === Op.JoinReply && x.seq === seq);
    return JSON.parse(Buffer.from(f.body).toString()) as { code: number; rooms: string[] };
  };

  before(async () => {
    h = await Cluster.start('tsim-multiroom-');
    const logic = await h.spawn('logic', 'logic', logicConfig('logic-1', { auth: { mode: 'jwt', jwt: { secret: SECRET } } }));
    const [, a, b, job] = await Promise.all([
      logic.started,
      h.spawn('comet', 'comet-a', cometConfig('comet-a')),
      h.spawn('comet', 'comet-b', cometConfig('comet-b')),
      h.spawn('job', 'job-1', jobConfig('job-1')),
    ]);
    for (const [host, proc] of [
      ['comet-a', a],
      ['comet-b', b],
    ] as const) {
      const s = (await proc.started) as CometStarted;
      ports.set(host, { tcp: portOf(s.tcp[0]), ws: portOf(s.websocket[0]) });
    }
    await job.started;
    base = `http://127.0.0.1:${portOf(((await logic.started) as LogicStarted).http)}`;
  });

  after(async () => {
    for (const c of clients) c.close();
    await h?.cleanup();
  });

  it('a room joined as an extra room gets pushes on both comets, and logic counts every member', async () => {
    const multiA = await connect('comet-a', 'tcp', { mid: 1, room_id: 'live://home-a', rooms: ['chat://shared'] });
    const multiB = await connect('comet-b', 'ws', { mid: 2, room_id: 'live://home-b', rooms: ['chat://*'] });
    const goimB = await connect('comet-b', 'tcp', { mid: 3, room_id: 'chat://shared' });

    assert.deepEqual(await join(multiA, 'chat://shared', 2), { code: 0, rooms: ['live://home-a', 'chat://shared'] });
    assert.deepEqual(await join(multiB, 'chat://shared', 2), { code: 0, rooms: ['live://home-b', 'chat://shared'] });
    // The claim reached comet-a over gRPC: a room it does not list is refused.
    assert.equal((await join(multiA, 'chat://other', 3)).code, 3);

    const r = await api(base, '/goim/push/room?operation=1000&type=chat&room=shared', 'to everyone in chat://shared');
    assert.equal(r.text, '{"code":0,"message":""}');
    for (const c of [multiA, multiB]) {
      assert.deepEqual(envelope(await c.nextWhere((f) => f.op === Op.RoomMessage)), ['chat://shared', ['to everyone in chat://shared']]);
    }
    const plain = await goimB.nextWhere((f) => f.op === 1000);
    assert.equal(Buffer.from(plain.body).toString(), 'to everyone in chat://shared');

    // The primary rooms still arrive, enveloped, on their own comet.
    await api(base, '/goim/push/room?operation=1000&type=live&room=home-a', 'home a');
    assert.deepEqual(envelope(await multiA.nextWhere((f) => f.op === Op.RoomMessage)), ['live://home-a', ['home a']]);

    await eventually(async () => {
      const online = await api(base, '/goim/online/room?type=chat&rooms=shared');
      return JSON.stringify(online.body?.data) === '{"shared":3}';
    }, 'chat://shared counted 3 over both comets (two extra-room members, one goim member)');
    await eventually(async () => {
      const online = await api(base, '/goim/online/room?type=live&rooms=home-a&rooms=home-b');
      return JSON.stringify(online.body?.data) === '{"home-a":1,"home-b":1}';
    }, 'the primary rooms counted once each');
    await eventually(async () => {
      goimB.send(Op.Heartbeat, '', 1, 9);
      const f = await goimB.nextWhere((x) => x.op === Op.HeartbeatReply);
      return f.body.readInt32BE(0) === 3;
    }, "the goim member's heartbeat reply carries the global count 3");
  });
});

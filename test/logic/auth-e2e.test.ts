// End to end in embedded mode with auth.mode = "jwt": real clients over TCP and WebSocket,
// a room push through the HTTP API reaching the verified clients only, forged and expired
// tokens closed without an auth reply.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { Op } from '../../src/protocol/ops.js';
import { GoimTestClient } from '../support/goim-client.js';

const SECRET = 'e2e-secret-that-is-long-enough-for-hs256';
const enc = (s: string) => new TextEncoder().encode(s);

function sign(claims: Record<string, unknown>, secret = SECRET, exp: string | number = '5m'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(enc(secret));
}

describe('embedded tsim with jwt auth', () => {
  let tsim: Embedded;
  let api: string;
  let tcpPort: number;
  let wsPort: number;
  const clients: GoimTestClient[] = [];

  const open = async (transport: 'tcp' | 'ws') => {
    const c = transport === 'tcp' ? await GoimTestClient.tcp(tcpPort) : await GoimTestClient.ws(wsPort);
    clients.push(c);
    return c;
  };

  before(async () => {
    const config = buildConfig({
      env: { host: 'comet-auth' },
      tcp: { bind: ['127.0.0.1:0'] },
      websocket: { bind: ['127.0.0.1:0'] },
      httpServer: { addr: '127.0.0.1:0' },
      room: { signal: '20ms' },
      comet: { renewOnline: '30ms' },
      logic: { onlineReload: '30ms' },
      limits: { maxRooms: 3 },
      auth: { mode: 'jwt', jwt: { secret: SECRET } },
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

  it('a valid JWT gets op 8 and the room push; forged and expired ones are closed without op 8', async () => {
    const good = await open('tcp');
    const goodWs = await open('ws');
    const forged = await open('tcp');
    const expired = await open('ws');
    const goim = await open('tcp');

    const reply = await good.auth({ token: await sign({ mid: 1, room_id: 'live://secure', accepts: [1000] }) });
    assert.equal(reply.op, Op.AuthReply);
    await goodWs.auth(await sign({ mid: 2, room_id: 'live://secure' }));

    // Forged: the claims of a real user, signed with another secret, trying to join the same room.
    forged.send(Op.Auth, JSON.stringify({ token: await sign({ mid: 1, room_id: 'live://secure' }, 'another-secret-long-enough-for-hs256') }));
    expired.send(Op.Auth, await sign({ mid: 3, room_id: 'live://secure' }, SECRET, Math.floor(Date.now() / 1000) - 60));
    // A plain goim token, as goim mode would take it.
    goim.send(Op.Auth, JSON.stringify({ mid: 4, room_id: 'live://secure', accepts: [1000] }));
    await Promise.all([forged.closed, expired.closed, goim.closed]);
    for (const c of [forged, expired, goim]) {
      assert.equal(c.queued, 0, 'no frame at all, op 8 included');
      assert.equal(c.rawMessages.length, 0);
    }

    const res = await fetch(`${api}/goim/push/room?operation=1000&type=live&room=secure`, { method: 'POST', body: 'only for verified clients' });
    assert.deepEqual({ status: res.status, text: await res.text() }, { status: 200, text: '{"code":0,"message":""}' });
    for (const c of [good, goodWs]) {
      const f = await c.nextWhere((x) => x.op === 1000);
      assert.equal(Buffer.from(f.body).toString(), 'only for verified clients');
    }

    assert.deepEqual(tsim.logic.authStats(), { accepted: 2, denied: { bad_signature: 1, expired: 1, malformed: 1 } });
  });

  for (const transport of ['tcp', 'ws'] as const) {
    it(`the token's room and accepts bind the connection after login too (${transport})`, async () => {
      const mid = transport === 'tcp' ? 101 : 102;
      const c = await open(transport);
      await c.auth(await sign({ mid, room_id: `live://granted-${mid}`, accepts: [1000] }));

      // Op 12 to another room: refused, and the reply names the room the connection is in.
      c.send(Op.ChangeRoom, `live://other-${mid}`, 1, 5);
      const moved = await c.nextWhere((f) => f.op === Op.ChangeRoomReply);
      assert.deepEqual([moved.seq, Buffer.from(moved.body).toString()], [5, `live://granted-${mid}`]);
      // Op 14 with an op the token does not grant: nothing is added.
      c.send(Op.Sub, '2001', 1, 6);
      assert.equal((await c.nextWhere((f) => f.op === Op.SubReply)).seq, 6);

      const push = (path: string, body: string) => fetch(`${api}/goim/push/${path}`, { method: 'POST', body }).then((r) => r.text());
      assert.equal(await push(`room?operation=1000&type=live&room=other-${mid}`, 'other room'), '{"code":0,"message":""}');
      assert.equal(await push(`mids?operation=2001&mids=${mid}`, 'op not granted'), '{"code":0,"message":""}');
      // Markers through the same paths: had the refused changes taken effect, the pushes above
      // would arrive first (and the room marker never).
      await push(`mids?operation=1000&mids=${mid}`, 'mid marker');
      await push(`room?operation=1000&type=live&room=granted-${mid}`, 'room marker');
      const got = [await c.nextWhere((f) => f.op === 1000 || f.op === 2001), await c.nextWhere((f) => f.op === 1000 || f.op === 2001)];
      assert.deepEqual(got.map((f) => Buffer.from(f.body).toString()).sort(), ['mid marker', 'room marker']);

      // Leaving, and coming back to the granted room, stay allowed.
      c.send(Op.ChangeRoom, '', 1, 7);
      assert.equal(Buffer.from((await c.nextWhere((f) => f.op === Op.ChangeRoomReply)).body).toString(), '');
      c.send(Op.ChangeRoom, `live://granted-${mid}`, 1, 8);
      assert.equal(Buffer.from((await c.nextWhere((f) => f.op === Op.ChangeRoomReply)).body).toString(), `live://granted-${mid}`);
      await push(`room?operation=1000&type=live&room=granted-${mid}`, 'back');
      assert.equal(Buffer.from((await c.nextWhere((f) => f.op === 1000)).body).toString(), 'back');
    });
  }

  for (const transport of ['tcp', 'ws'] as const) {
    it(`extra rooms: the token's rooms claim decides what op 19 joins; pushes come enveloped, counts per room (${transport})`, async () => {
      const mid = transport === 'tcp' ? 201 : 202;
      const c = await open(transport);
      await c.auth(await sign({ mid, room_id: `live://home-${mid}`, rooms: [`live://extra-${mid}`, 'chat://*'] }));
      const goim = await open(transport);
      await goim.auth(await sign({ mid: mid + 10, room_id: `live://extra-${mid}` }));
      const join = async (room: string, seq: number) => {
        c.send(Op.Join, room, 1, seq);
        return JSON.parse(Buffer.from((await c.nextWhere((f) => f.op === Op.JoinReply && f.seq === seq)).body).toString()) as {
          code: number;
          rooms: string[];
        };
      };
      assert.equal((await join(`live://extra-${mid}`, 2)).code, 0);
      assert.equal((await join(`chat://${mid}`, 3)).code, 0);
      assert.equal((await join(`live://other-${mid}`, 4)).code, 3, 'not listed');
      assert.equal((await join(`chat://more-${mid}`, 5)).code, 4, 'limits.maxRooms');

      const push = (type: string, room: string, body: string) =>
        fetch(`${api}/goim/push/room?operation=1000&type=${type}&room=${room}`, { method: 'POST', body }).then((r) => r.text());
      for (const [type, room] of [
        ['live', `home-${mid}`],
        ['live', `extra-${mid}`],
        ['chat', `${mid}`],
      ]) {
        assert.equal(await push(type, room, `to ${type}://${room}`), '{"code":0,"message":""}');
        const f = await c.nextWhere((x) => x.op === Op.RoomMessage);
        const body = Buffer.from(f.body);
        const key = body.subarray(2, 2 + body.readUInt16BE(0)).toString();
        const inner = body.subarray(2 + key.length);
        assert.deepEqual([key, inner.readInt32BE(8), inner.subarray(16).toString()], [`${type}://${room}`, 1000, `to ${type}://${room}`]);
      }
      // The goim member of the extra room gets the plain frame.
      assert.equal(Buffer.from((await goim.nextWhere((f) => f.op === 1000)).body).toString(), `to live://extra-${mid}`);

      // Logic's room counts count the multi-room connection in each of its rooms.
      const online = async () => {
        const r = await fetch(`${api}/goim/online/room?type=live&rooms=home-${mid}&rooms=extra-${mid}`);
        return ((await r.json()) as { data: Record<string, number> }).data;
      };
      let counts: Record<string, number> = {};
      for (let i = 0; i < 200; i++) {
        counts = await online();
        if (counts[`extra-${mid}`] === 2 && counts[`home-${mid}`] === 1) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(counts, { [`home-${mid}`]: 1, [`extra-${mid}`]: 2 });
    });
  }
});

describe('embedded tsim with jwt auth and trustBody: a rooms claim binds what the body and op 12 choose', () => {
  let tsim: Embedded;
  let tcpPort: number;
  const clients: GoimTestClient[] = [];

  before(async () => {
    const config = buildConfig({
      env: { host: 'comet-trust' },
      tcp: { bind: ['127.0.0.1:0'] },
      websocket: { bind: ['127.0.0.1:0'] },
      httpServer: { addr: '127.0.0.1:0' },
      auth: { mode: 'jwt', jwt: { secret: SECRET, trustBody: true } },
    });
    tsim = await startEmbedded(config, silentLogger);
    tcpPort = tsim.addresses().tcp[0].port;
  });

  after(async () => {
    for (const c of clients) c.close();
    await tsim.stop();
  });

  const open = async () => {
    const c = await GoimTestClient.tcp(tcpPort);
    clients.push(c);
    return c;
  };

  it('op 12 and op 19 reach listed rooms only; a body room_id not listed is refused without op 8', async () => {
    const token = await sign({ mid: 9, rooms: ['grant://a'] });
    const c = await open();
    await c.auth({ token });
    c.send(Op.Join, 'evil://y', 1, 2);
    const joined = JSON.parse(Buffer.from((await c.nextWhere((f) => f.op === Op.JoinReply && f.seq === 2)).body).toString()) as { code: number };
    assert.equal(joined.code, 3);
    c.send(Op.ChangeRoom, 'evil://x', 1, 3);
    assert.equal(Buffer.from((await c.nextWhere((f) => f.op === Op.ChangeRoomReply && f.seq === 3)).body).toString(), '', 'refused');
    c.send(Op.ChangeRoom, 'grant://a', 1, 4);
    assert.equal(Buffer.from((await c.nextWhere((f) => f.op === Op.ChangeRoomReply && f.seq === 4)).body).toString(), 'grant://a');
    assert.ok(!tsim.comet.rooms().includes('evil://x'));

    const listed = await open();
    await listed.auth({ token, room_id: 'grant://a' });
    const unlisted = await open();
    unlisted.send(Op.Auth, JSON.stringify({ token, room_id: 'evil://x' }));
    await unlisted.closed;
    assert.equal(unlisted.queued, 0, 'no frame at all, op 8 included');
    assert.deepEqual(tsim.logic.authStats().denied, { claims: 1 });
  });
});

// The SDK's extra rooms (docs/client.md#several-rooms) against a real comet: joinRoom /
// leaveRoom, messages with their room, rooms restored after a reconnect.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TcpClient, TsimClient, type ClientEvents, type ClientSession, type PushMessage } from 'tsim-client';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import { innerFrame, rawProto, startComet, type Harness } from '../comet/harness.js';
import { GoimTestClient } from '../support/goim-client.js';
import { eventually } from '../support/eventually.js';
import { collect, next } from './fake-comet.js';

type Ev = ClientEvents;
const roomOf = (m: PushMessage): [string, number, string] => [m.room, m.op, m.text()];

describe('client: several rooms per connection', () => {
  let h: Harness;
  const clients: ClientSession[] = [];
  const hits = new LimitHits();
  before(async () => {
    h = await startComet({ limits: { maxRooms: 3 } }, undefined, { limits: hits });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await h.stop();
  });

  const open = (transport: 'tcp' | 'ws', token: Record<string, unknown>, extra: Record<string, unknown> = {}): ClientSession => {
    const opts = { token, reconnect: { baseMs: 10, maxMs: 40 }, ...extra };
    const c =
      transport === 'tcp'
        ? new TcpClient({ url: `127.0.0.1:${h.tcpPort}`, ...opts })
        : new TsimClient({ url: `ws://127.0.0.1:${h.wsPort}/sub`, ...opts });
    clients.push(c);
    return c;
  };

  for (const transport of ['tcp', 'ws'] as const) {
    it(`joins and leaves rooms; messages say their room (${transport})`, async () => {
      const home = `home://${transport}`;
      const c = open(transport, { mid: 1, room_id: home });
      assert.equal((await c.joinRoom('chat://early')).code, -1, 'not connected yet: joined after auth');
      await next<Ev, 'auth'>(c, 'auth');
      await eventually(() => h.comet.rooms().includes('chat://early'), 'the early join made after auth');
      assert.deepEqual(await c.joinRoom(`chat://${transport}`), { code: 0, rooms: [home, 'chat://early', `chat://${transport}`] });
      assert.deepEqual(c.rooms, [home, 'chat://early', `chat://${transport}`]);

      const got = collect<Ev, 'message'>(c, 'message', 3);
      h.comet.broadcastRoom(home, rawProto(innerFrame(1000, 'to home')));
      h.comet.broadcastRoom(`chat://${transport}`, rawProto(innerFrame(1001, 'to chat'), innerFrame(1002, 'and again')));
      assert.deepEqual((await got).map(roomOf), [
        [home, 1000, 'to home'],
        [`chat://${transport}`, 1001, 'to chat'],
        [`chat://${transport}`, 1002, 'and again'],
      ]);

      // Refused: past limits.maxRooms (3); the room is not kept for reconnects.
      const refused = await c.joinRoom('chat://fourth');
      assert.deepEqual([refused.code, refused.rooms.length], [4, 3]);
      assert.ok(!c.rooms.includes('chat://fourth'));

      assert.deepEqual(await c.leaveRoom('chat://early'), { code: 0, rooms: [home, `chat://${transport}`] });
      const after = next<Ev, 'message'>(c, 'message');
      h.comet.broadcastRoom('chat://early', rawProto(innerFrame(1000, 'gone')));
      h.comet.broadcastRoom(`chat://${transport}`, rawProto(innerFrame(1000, 'still')));
      assert.deepEqual(roomOf(await after), [`chat://${transport}`, 1000, 'still']);
      await c.close();
    });
  }

  it('restores its rooms after a reconnect (the primary one, joined ones; not those it left)', async () => {
    const c = open('ws', { mid: 2, key: 'sdk-restore', room_id: 'home://r' });
    await next<Ev, 'auth'>(c, 'auth');
    assert.equal((await c.joinRoom('chat://r1')).code, 0);
    assert.equal((await c.joinRoom('chat://r2')).code, 0);
    assert.equal((await c.leaveRoom('chat://r2')).code, 0);

    // Another connection with the same key replaces it: the client reconnects and replaces that one in turn.
    const closed = next<Ev, 'close'>(c, 'close');
    const reauthed = next<Ev, 'auth'>(c, 'auth');
    const thief = await GoimTestClient.tcp(h.tcpPort);
    await thief.auth({ mid: 2, key: 'sdk-restore' });
    assert.equal((await closed).willReconnect, true);
    await reauthed;
    await thief.closed;
    await eventually(() => h.comet.rooms().includes('chat://r1'), 'chat://r1 joined again');
    assert.ok(!h.comet.rooms().includes('chat://r2'));
    assert.deepEqual(c.rooms, ['home://r', 'chat://r1']);

    const got = collect<Ev, 'message'>(c, 'message', 2);
    h.comet.broadcastRoom('chat://r1', rawProto(innerFrame(1000, 'after reconnect')));
    h.comet.broadcastRoom('home://r', rawProto(innerFrame(1000, 'home again')));
    assert.deepEqual((await got).map(roomOf), [
      ['chat://r1', 1000, 'after reconnect'],
      ['home://r', 1000, 'home again'],
    ]);
  });

  it("with history, a join while the primary room's history is read is answered at once; that replay goes on in the room's envelopes", async () => {
    const records = ['r1', 'r2'].map((text, i) => ({ offset: i + 1, op: 1000, body: Buffer.from(text) }));
    h.logic.historyReply = (req) =>
      req.room === 'live://replayed'
        ? { epoch: 'e1', first: 1, last: 2, records, recovered: true }
        : { epoch: '', first: 1, last: 0, records: [], recovered: true };
    const release = h.logic.hold('history');
    const c = open('tcp', { mid: 3, room_id: 'live://replayed' }, { history: { last: 5 } });
    await next<Ev, 'auth'>(c, 'auth');
    await h.logic.waitFor('history', (r) => r.room === 'live://replayed');
    assert.deepEqual(await c.joinRoom('chat://h'), { code: 0, rooms: ['live://replayed', 'chat://h'] });
    const state = next<Ev, 'roomState'>(c, 'roomState');
    const replayed = collect<Ev, 'message'>(c, 'message', 2);
    release();
    assert.deepEqual(await state, { room: 'live://replayed', epoch: 'e1', first: 1, last: 2, recovered: true });
    assert.deepEqual(
      (await replayed).map((m) => [m.room, m.offset, m.text()]),
      [
        ['live://replayed', 1, 'r1'],
        ['live://replayed', 2, 'r2'],
      ],
    );
    assert.deepEqual(c.historyPositionOf('live://replayed'), { epoch: 'e1', offset: 2 });
    const got = next<Ev, 'message'>(c, 'message');
    h.comet.broadcastRoom('chat://h', rawProto(innerFrame(1000, 'extra room')));
    assert.deepEqual(roomOf(await got), ['chat://h', 1000, 'extra room']);
  });

  it('room messages that overtake the join reply (held behind an earlier reply) still say their room', async () => {
    const c = open('ws', { mid: 5, room_id: 'home://overtake' });
    await next<Ev, 'auth'>(c, 'auth');
    const release = h.logic.hold('receive');
    const echoed = c.send(1000, 'waits for logic');
    const joined = c.joinRoom('chat://overtake');
    await eventually(() => h.comet.rooms().includes('chat://overtake'), 'the join made');
    const got = next<Ev, 'message'>(c, 'message');
    h.comet.broadcastRoom('chat://overtake', rawProto(innerFrame(1000, 'before the reply')));
    assert.deepEqual(roomOf(await got), ['chat://overtake', 1000, 'before the reply']);
    release();
    assert.equal(await echoed, true);
    assert.equal((await joined).code, 0);
  });

  it('refuses keys the server would refuse before sending, and joins the valid rooms of the same call', async () => {
    const c = open('tcp', { mid: 6, room_id: 'home://keys' });
    await next<Ev, 'auth'>(c, 'auth');
    const before = hits.snapshot().room_request ?? 0;
    // 131 characters, 258 UTF-8 bytes.
    const long = `x://${'é'.repeat(127)}`;
    const r = await c.joinRoom(['ok://1', long, 'no-type', 'ok://2']);
    assert.deepEqual(r, { code: 1, message: 'room key longer than 256 bytes', room: long, rooms: ['home://keys', 'ok://1', 'ok://2'] });
    assert.deepEqual(await c.joinRoom('no-type'), {
      code: 2,
      message: 'room key must be type://id with a room type of letters, digits, "_", "." or "-"',
      room: 'no-type',
      rooms: ['home://keys', 'ok://1', 'ok://2'],
    });
    assert.equal(hits.snapshot().room_request ?? 0, before, 'never sent');
    assert.deepEqual(c.rooms, ['home://keys', 'ok://1', 'ok://2']);
    const got = collect<Ev, 'message'>(c, 'message', 2);
    h.comet.broadcastRoom('ok://1', rawProto(innerFrame(1000, 'one')));
    h.comet.broadcastRoom('ok://2', rawProto(innerFrame(1000, 'two')));
    assert.deepEqual((await got).map(roomOf), [
      ['ok://1', 1000, 'one'],
      ['ok://2', 1000, 'two'],
    ]);
  });

  it('leaveRoom on a connection that never joined leaves its room with op 12, never op 21 (a goim op there)', async () => {
    const c = open('ws', { mid: 7, room_id: 'plain://leave' });
    await next<Ev, 'auth'>(c, 'auth');
    assert.deepEqual(await c.leaveRoom('other://1'), { code: 7, message: 'not in that room', rooms: ['plain://leave'] });
    assert.deepEqual(await c.leaveRoom('plain://leave'), { code: 0, rooms: [] });
    assert.ok(!h.comet.rooms().includes('plain://leave'));
    assert.equal(h.logic.calls.receive.filter((x) => x.mid === 7n).length, 0, 'no op 21 reached logic');
  });

  it('a client that never joins gets messages without a room, as before', async () => {
    const c = open('tcp', { mid: 4, room_id: 'plain://1' });
    await next<Ev, 'auth'>(c, 'auth');
    const got = next<Ev, 'message'>(c, 'message');
    h.comet.broadcastRoom('plain://1', rawProto(innerFrame(1000, 'goim')));
    assert.deepEqual(roomOf(await got), ['', 1000, 'goim']);
  });
});

describe('client: many rooms at once', () => {
  let h: Harness;
  const clients: ClientSession[] = [];
  before(async () => {
    // The default frame rate (50/s, bursts of 100) and reply ring (8) stay in force.
    h = await startComet({ limits: { maxRooms: 200 } });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await h.stop();
  });

  it('joins 150 rooms in one call and restores them after a reconnect, in a few frames; a refused one is skipped', async () => {
    const c = new TcpClient({
      url: `127.0.0.1:${h.tcpPort}`,
      token: { mid: 7, key: 'sdk-many', room_id: 'bulk://home', room_fixed: true, rooms: ['bulk://*'] },
      reconnect: { baseMs: 10, maxMs: 40 },
    });
    clients.push(c);
    await next<Ev, 'auth'>(c, 'auth');
    const rooms = Array.from({ length: 150 }, (_, i) => `bulk://${i}`);
    const r = await c.joinRoom([...rooms.slice(0, 70), 'other://x', ...rooms.slice(70)]);
    assert.deepEqual([r.code, r.room, r.rooms.length], [3, 'other://x', 151]);
    assert.equal(c.rooms.length, 151);
    const joins = () => h.logic.calls.connect.length; // a marker that the connection was not replaced
    const before = joins();

    const closed = next<Ev, 'close'>(c, 'close');
    const reauthed = next<Ev, 'auth'>(c, 'auth');
    const thief = await GoimTestClient.tcp(h.tcpPort);
    await thief.auth({ mid: 7, key: 'sdk-many' });
    await closed;
    await reauthed;
    await eventually(() => h.comet.rooms().filter((id) => id.startsWith('bulk://')).length === 151, 'every room joined again');
    assert.equal(joins(), before + 2, 'the thief and one reconnect: the client was not closed for its joins');
    const got = next<Ev, 'message'>(c, 'message');
    h.comet.broadcastRoom('bulk://149', rawProto(innerFrame(1000, 'last room')));
    assert.deepEqual(roomOf(await got), ['bulk://149', 1000, 'last room']);
  });

  it('150 joinRoom calls made at once go out together: all answered, the connection kept', async () => {
    const c = new TsimClient({ url: `ws://127.0.0.1:${h.wsPort}/sub`, token: { mid: 8, room_id: 'loop://home' }, reconnect: false });
    clients.push(c);
    await next<Ev, 'auth'>(c, 'auth');
    const replies = await Promise.all(Array.from({ length: 150 }, (_, i) => c.joinRoom(`loop://${i}`)));
    assert.deepEqual(new Set(replies.map((r) => r.code)), new Set([0]));
    assert.equal(c.state, 'open');
    assert.equal(h.comet.rooms().filter((id) => id.startsWith('loop://')).length, 151);
    const refused = await Promise.all([c.joinRoom('loop://150'), c.joinRoom('nope'), c.joinRoom(['loop://151', 'loop://152'])]);
    assert.deepEqual(
      refused.map((r) => [r.code, r.room]),
      [
        [0, undefined],
        [2, 'nope'],
        [0, undefined],
      ],
    );
    // Sent in one frame, whose bad key made the server join none of it: the others were sent again.
    for (const room of ['loop://150', 'loop://151', 'loop://152']) assert.ok(h.comet.rooms().includes(room), room);
  });
});

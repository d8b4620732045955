// Several rooms per connection (docs/protocol.md#several-rooms): ops 19-23 over real sockets.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import type { Frame, GoimTestClient } from '../support/goim-client.js';
import { eventually } from '../support/eventually.js';
import { openEnvelope } from '../support/room-envelope.js';
import { hex, innerFrame, rawProto, startComet, type Harness } from './harness.js';

interface RoomsReply {
  code: number;
  message?: string;
  room?: string;
  rooms: string[];
}

/** An op-23 body: the room and its frames (each: op, seq, body). */
function envelope(f: Frame): { room: string; frames: { op: number; seq: number; body: string }[] } {
  const { room, frames } = openEnvelope(f);
  return { room, frames: frames.map((x) => ({ op: x.op, seq: x.seq, body: x.body.toString() })) };
}

async function request(c: GoimTestClient, op: 19 | 21, body: string, seq: number): Promise<RoomsReply> {
  c.send(op, body, 1, seq);
  const f = await c.nextWhere((x) => x.op === op + 1 && x.seq === seq);
  return JSON.parse(Buffer.from(f.body).toString()) as RoomsReply;
}

const join = (c: GoimTestClient, body: string, seq = 5): Promise<RoomsReply> => request(c, 19, body, seq);
const leave = (c: GoimTestClient, body: string, seq = 6): Promise<RoomsReply> => request(c, 21, body, seq);

/** A heartbeat's count, which also proves the connection is still open and answering. */
async function heartbeat(c: GoimTestClient, seq = 77): Promise<number> {
  c.send(2, '', 1, seq);
  return (await c.nextWhere((f) => f.op === 3 && f.seq === seq)).body.readInt32BE(0);
}

describe('several rooms per connection', () => {
  let h: Harness;
  const hits = new LimitHits();
  before(async () => {
    h = await startComet({ limits: { maxRooms: 4 }, comet: { renewOnline: '30ms' } }, undefined, { limits: hits });
  });
  after(() => h.stop());

  for (const transport of ['tcp', 'ws'] as const) {
    it(`joins three rooms: each room's batch arrives once, enveloped with its room; leave stops it (${transport})`, async () => {
      const c = await h.client(transport, { mid: 1, room_id: `home://${transport}` });
      assert.deepEqual(await join(c, `chat://a-${transport}`), { code: 0, rooms: [`home://${transport}`, `chat://a-${transport}`] });
      assert.deepEqual((await join(c, `{"room":"chat://b-${transport}"}`)).rooms.length, 3);
      const third = await join(c, `news://c-${transport}`);
      assert.deepEqual(third.rooms, [`home://${transport}`, `chat://a-${transport}`, `chat://b-${transport}`, `news://c-${transport}`]);
      // Joining a room it is in changes nothing.
      assert.deepEqual((await join(c, `chat://a-${transport}`)).rooms, third.rooms);

      for (const room of third.rooms) h.comet.broadcastRoom(room, rawProto(innerFrame(1000, `to ${room}`), innerFrame(1001, 'second')));
      const got = (await c.collect(4)).map(envelope);
      assert.deepEqual(
        got.map((e) => e.room),
        third.rooms,
      );
      for (const e of got)
        assert.deepEqual(e.frames, [
          { op: 1000, seq: 0, body: `to ${e.room}` },
          { op: 1001, seq: 0, body: 'second' },
        ]);

      assert.deepEqual(await leave(c, `chat://a-${transport}`), {
        code: 0,
        rooms: [`home://${transport}`, `chat://b-${transport}`, `news://c-${transport}`],
      });
      // The primary room can be left too; the connection stays multi-room.
      assert.equal((await leave(c, `{"room":"home://${transport}"}`)).code, 0);
      assert.ok(!h.comet.rooms().includes(`chat://a-${transport}`), 'the emptied room is gone');
      h.comet.broadcastRoom(`chat://a-${transport}`, rawProto(innerFrame(1000, 'left')));
      h.comet.broadcastRoom(`home://${transport}`, rawProto(innerFrame(1000, 'left too')));
      h.comet.broadcastRoom(`news://c-${transport}`, rawProto(innerFrame(1000, 'still in')));
      const next = envelope(await c.next());
      assert.deepEqual([next.room, next.frames[0].body], [`news://c-${transport}`, 'still in'], 'nothing from the rooms left');
      // Not in the room: refused with the rooms listed.
      assert.deepEqual(await leave(c, `chat://a-${transport}`), {
        code: 7,
        message: 'not in that room',
        rooms: [`chat://b-${transport}`, `news://c-${transport}`],
      });
    });
  }

  it('the envelope bytes on TCP and WebSocket, and a goim client in the same room gets goim bytes', async () => {
    const goim = await h.client('tcp', { mid: 2, room_id: 'bytes://1' });
    const multi = await h.client('tcp', { mid: 3 });
    const ws = await h.client('ws', { mid: 4 });
    await join(multi, 'bytes://1');
    await join(ws, 'bytes://1');
    const goimAt = goim.rawBytes().length;
    const multiAt = multi.rawBytes().length;
    const frame = innerFrame(1000, 'hi');
    h.comet.broadcastRoom('bytes://1', rawProto(frame));
    await goim.next();
    assert.deepEqual(goim.rawBytes().subarray(goimAt), frame, "goim's bytes: the inner frame itself");
    await multi.next();
    // op 23, ver 1, seq 0; body: u16 9, "bytes://1", the inner frame.
    const body = Buffer.concat([hex('00 09'), Buffer.from('bytes://1'), frame]);
    const env = Buffer.concat([hex('00 00 00 2d 00 10 00 01 00 00 00 17 00 00 00 00'), body]);
    assert.equal(env.readInt32BE(0), env.length);
    assert.deepEqual(multi.rawBytes().subarray(multiAt), env);
    await ws.next();
    assert.deepEqual(ws.rawFrames.at(-1), Buffer.concat([hex('82 2d'), env]), 'one binary message holding the op-23 frame, no op 9');
  });

  it('counts each room once per member: heartbeat replies and the counts reported to logic', async () => {
    const a = await h.client('tcp', { mid: 5, room_id: 'count://x' });
    const b = await h.client('ws', { mid: 6, room_id: 'count://y' });
    await join(b, 'count://x');
    await join(b, 'count://z');
    assert.equal(await heartbeat(a), 2, 'x: a and b');
    assert.equal(await heartbeat(b), 1, "b's heartbeat counts its primary room y");
    await eventually(() => {
      const last = h.logic.calls.renewOnline.at(-1)?.roomCount ?? {};
      return last['count://x'] === 2 && last['count://y'] === 1 && last['count://z'] === 1;
    }, 'room counts reported to logic');
    b.close();
    await eventually(() => !h.comet.rooms().includes('count://z'), 'b gone from every room');
    assert.equal(await heartbeat(a), 1);
  });

  it('refuses a join past limits.maxRooms with a reason, counted, and the connection stays', async () => {
    const c = await h.client('tcp', { mid: 7, room_id: 'cap://0' });
    for (const r of ['cap://1', 'cap://2', 'cap://3']) assert.equal((await join(c, r)).code, 0);
    const before = hits.snapshot().rooms ?? 0;
    const refused = await join(c, 'cap://4');
    assert.deepEqual(refused, { code: 4, message: 'already in 4 rooms (limits.maxRooms)', rooms: ['cap://0', 'cap://1', 'cap://2', 'cap://3'] });
    assert.equal(hits.snapshot().rooms, before + 1);
    assert.equal(await heartbeat(c), 1);
    // Op 12 moves the primary room within the cap; the batch still comes enveloped.
    c.send(12, 'cap://5', 1, 9);
    assert.equal((await c.nextWhere((f) => f.op === 13)).body.toString(), 'cap://5');
    assert.deepEqual((await join(c, 'cap://9')).rooms, ['cap://1', 'cap://2', 'cap://3', 'cap://5']);
    h.comet.broadcastRoom('cap://5', rawProto(innerFrame(1000, 'moved')));
    assert.equal(envelope(await c.next()).room, 'cap://5');
  });

  it('refuses malformed bodies, unknown room types and history requests, each with a reason; the connection stays', async () => {
    const c = await h.client('ws', { mid: 8 });
    const cases: [string, number, string][] = [
      ['', 1, 'empty body: a room key or {"room":"…"} expected'],
      ['{"room":', 1, 'body is not valid JSON'],
      ['[1]', 2, 'room key must be type://id with a room type of letters, digits, "_", "." or "-"'],
      ['{"room":7}', 1, '"room" must be a string'],
      ['{"room":"a://1","extra":1}', 1, '"extra" is not a known field'],
      ['1000', 2, 'room key must be type://id with a room type of letters, digits, "_", "." or "-"'],
      ['://1', 2, 'room key must be type://id with a room type of letters, digits, "_", "." or "-"'],
      ['live://', 2, 'room key must be type://id with a room type of letters, digits, "_", "." or "-"'],
      [`live://${'x'.repeat(300)}`, 1, 'room key longer than 256 bytes'],
      ['{"room":"live://1","history":{"last":20}}', 5, 'history: the connection did not opt in to room history (the auth token\'s "history")'],
      ['{"rooms":[{"room":"live://1","history":{}}]}', 5, 'history: the connection did not opt in to room history (the auth token\'s "history")'],
      ['{"room":"live://1","history":{"last":-1}}', 1, 'history.last must be an integer from 0 to 10000'],
      ['{"room":"live://1","history":[]}', 1, 'history must be an object'],
      [
        '{"rooms":["live://1","live://2"],"history":{"since":1,"epoch":"e"}}',
        1,
        'history.since names a position in one room: give it per room, {"room":"…","history":{…}}',
      ],
      ['{"rooms":[{"room":"live://1","history":{"since":1}}]}', 1, 'live://1: history.since and history.epoch go together'],
      ['{"rooms":[{"room":"live://1","extra":1}]}', 1, '"rooms" entry: "extra" is not a known field'],
      ['{"rooms":[{"history":{}}]}', 1, '"rooms" entries must be room keys or {"room":"…","history":{…}}'],
      ['{"rooms":[]}', 1, '"rooms" must be a non-empty array'],
    ];
    const before = hits.snapshot().room_request ?? 0;
    let seq = 100;
    for (const [body, code, message] of cases) assert.deepEqual(await join(c, body, seq++), { code, message, rooms: [] }, body);
    c.send(19, Buffer.from([0x6c, 0x69, 0x76, 0x65, 0x3a, 0x2f, 0x2f, 0xff]), 1, seq);
    const bad = JSON.parse((await c.nextWhere((f) => f.op === 20 && f.seq === seq)).body.toString()) as RoomsReply;
    assert.deepEqual(bad, { code: 1, message: 'body is not UTF-8', rooms: [] });
    assert.equal(hits.snapshot().room_request, before + cases.length + 1);
    assert.equal(await heartbeat(c), 0);
    assert.equal(h.comet.stats().rooms, h.comet.rooms().length);
    assert.ok(!h.comet.rooms().includes('live://1'));

    // A goim room key too long to name in an envelope keeps its connection single-room.
    const long = `long://${'x'.repeat(300)}`;
    const goim = await h.client('tcp', { mid: 12, room_id: long });
    assert.deepEqual(await join(goim, 'live://2'), { code: 1, message: "the connection's room key is longer than 256 bytes", rooms: [long] });
    const frame = innerFrame(1000, 'plain');
    h.comet.broadcastRoom(long, rawProto(frame));
    const f = await goim.next();
    assert.deepEqual([f.op, f.body.toString()], [1000, 'plain']);
  });

  it('joins several rooms in one frame, in order: a bad key refuses them all, a refusal stops at the room it names', async () => {
    const c = await h.client('tcp', { mid: 16, room_id: 'many://0', room_fixed: true, rooms: ['many://*'] });
    assert.deepEqual(await join(c, '{"rooms":["many://1","many://2","many://1"]}'), { code: 0, rooms: ['many://0', 'many://1', 'many://2'] });
    // Checked before anything is joined.
    assert.deepEqual(await join(c, '{"rooms":["many://3","bad"]}', 6), {
      code: 2,
      message: 'room key must be type://id with a room type of letters, digits, "_", "." or "-"',
      room: 'bad',
      rooms: ['many://0', 'many://1', 'many://2'],
    });
    assert.deepEqual(await join(c, '{"rooms":["many://3","other://1","many://4"]}', 7), {
      code: 3,
      message: 'the auth mode did not grant this room',
      room: 'other://1',
      rooms: ['many://0', 'many://1', 'many://2', 'many://3'],
    });
    // limits.maxRooms (4) reached at the second.
    const full = await join(c, '{"rooms":["many://1","many://4"]}', 8);
    assert.deepEqual([full.code, full.room, full.rooms.length], [4, 'many://4', 4]);
    for (const body of ['{"rooms":[]}', '{"rooms":"many://5"}', '{"rooms":[5]}', '{"room":"many://5","rooms":["many://6"]}', '{}']) {
      assert.equal((await join(c, body, 9)).code, 1, body);
    }
    assert.equal((await leave(c, '{"rooms":["many://1"]}', 10)).code, 1, 'leave takes one room');
  });

  it('a room the auth mode did not grant is refused; listed rooms and type wildcards are joined', async () => {
    const listed = await h.client('tcp', { mid: 9, room_id: 'grant://home', room_fixed: true, rooms: ['grant://a', 'open://*'] });
    assert.equal((await join(listed, 'grant://a')).code, 0);
    assert.equal((await join(listed, 'open://anything')).code, 0);
    const before = hits.snapshot().room_not_granted ?? 0;
    assert.deepEqual(await join(listed, 'grant://b'), {
      code: 3,
      message: 'the auth mode did not grant this room',
      rooms: ['grant://home', 'grant://a', 'open://anything'],
    });
    assert.equal(hits.snapshot().room_not_granted, before + 1);
    // Op 12 may move to a listed room too, not to another.
    listed.send(12, 'grant://b', 1, 3);
    assert.equal((await listed.nextWhere((f) => f.op === 13)).body.toString(), 'grant://home');
    listed.send(12, 'grant://a', 1, 4);
    assert.equal((await listed.nextWhere((f) => f.op === 13)).body.toString(), 'grant://a');

    // A granted room without a list: that room only.
    const fixed = await h.client('ws', { mid: 10, room_id: 'grant://home', room_fixed: true });
    assert.equal((await join(fixed, 'grant://a')).code, 3);
    assert.deepEqual(await join(fixed, 'grant://home'), { code: 0, rooms: ['grant://home'] });
    assert.equal(await heartbeat(fixed), 1, 'the listed client moved to grant://a');
  });

  it('a list binds op 12 even when the auth mode named no room (trustBody): only listed rooms', async () => {
    const free = await h.client('tcp', { mid: 9, rooms: ['grant://a', 'open://*'] });
    assert.equal((await join(free, 'evil://y')).code, 3);
    const before = hits.snapshot().room_not_granted ?? 0;
    free.send(12, 'evil://x', 1, 3);
    assert.equal((await free.nextWhere((f) => f.op === 13 && f.seq === 3)).body.toString(), '', 'refused: the reply names the room it is in (none)');
    assert.equal(hits.snapshot().room_not_granted, before + 1);
    assert.ok(!h.comet.rooms().includes('evil://x'));
    free.send(12, 'open://1', 1, 4);
    assert.equal((await free.nextWhere((f) => f.op === 13 && f.seq === 4)).body.toString(), 'open://1');
    free.send(12, 'evil://x', 1, 5);
    assert.equal((await free.nextWhere((f) => f.op === 13 && f.seq === 5)).body.toString(), 'open://1', 'stays in its room');
    assert.ok(!h.comet.rooms().includes('evil://x'));
  });

  it('offsets: an opted-in multi-room connection gets them in its envelope, a plain one gets goim bytes (seq 0, no op 18)', async () => {
    const opted = await h.client('tcp', { mid: 13, history: {} });
    const plain = await h.client('ws', { mid: 14 });
    const goim = await h.client('tcp', { mid: 15, room_id: 'num://1' });
    assert.equal((await join(opted, 'num://1')).code, 0);
    assert.equal((await join(plain, 'num://1')).code, 0);
    const numbered = (op: number, seq: number, body: string): Buffer => {
      const f = innerFrame(op, body);
      f.writeUInt32BE(seq, 12);
      return f;
    };
    const state = numbered(18, 0, '{"room":"num://1","epoch":"e","first":7}');
    const at = goim.rawBytes().length;
    h.comet.broadcastRoom('num://1', rawProto(state, numbered(1000, 7, 'seven'), numbered(1000, 8, 'eight')));
    assert.deepEqual(envelope(await opted.next()), {
      room: 'num://1',
      frames: [
        { op: 18, seq: 0, body: '{"room":"num://1","epoch":"e","first":7}' },
        { op: 1000, seq: 7, body: 'seven' },
        { op: 1000, seq: 8, body: 'eight' },
      ],
    });
    assert.deepEqual(envelope(await plain.next()), {
      room: 'num://1',
      frames: [
        { op: 1000, seq: 0, body: 'seven' },
        { op: 1000, seq: 0, body: 'eight' },
      ],
    });
    await goim.collect(2);
    assert.deepEqual(goim.rawBytes().subarray(at), Buffer.concat([innerFrame(1000, 'seven'), innerFrame(1000, 'eight')]));
    // A batch of op 18 alone is nothing for a connection that did not opt in.
    h.comet.broadcastRoom('num://1', rawProto(numbered(18, 0, '{"room":"num://1","epoch":"f","first":9}')));
    h.comet.broadcastRoom('num://1', rawProto(innerFrame(1000, 'after')));
    assert.deepEqual(envelope(await plain.next()).frames, [{ op: 1000, seq: 0, body: 'after' }]);
    assert.equal(envelope(await opted.next()).frames[0].op, 18);
  });

  it('a client that never joins keeps op 12 and its bytes exactly as goim', async () => {
    const c = await h.client('tcp', { mid: 11, room_id: 'plain://1' });
    c.send(12, 'plain://2', 1, 7);
    await c.next();
    const at = c.rawBytes().length;
    const frame = innerFrame(1000, 'goim');
    h.comet.broadcastRoom('plain://2', rawProto(frame, frame));
    await c.collect(2);
    assert.deepEqual(c.rawBytes().subarray(at), Buffer.concat([frame, frame]));
    // Op 21 is not a leave before op 19: goim's generic path, Logic.Receive and a header-only echo.
    const at1 = c.rawBytes().length;
    c.send(21, 'plain://2', 1, 9);
    await c.nextWhere((f) => f.op === 21);
    assert.deepEqual(c.rawBytes().subarray(at1), hex('00 00 00 10 00 10 00 01 00 00 00 15 00 00 00 09'));
    const r = await h.logic.waitFor('receive', (x) => x.mid === 11n && x.proto.op === 21);
    assert.deepEqual([r.room, r.proto.seq, Buffer.from(r.proto.body).toString()], ['plain://2', 9, 'plain://2']);
    const at2 = c.rawBytes().length;
    h.comet.broadcastRoom('plain://2', rawProto(frame));
    await c.next();
    assert.deepEqual(c.rawBytes().subarray(at2), frame, 'still in its room, goim bytes');
    c.send(12, 'plain://3', 1, 8);
    await c.nextWhere((f) => f.op === 13);
    const at3 = c.rawBytes().length;
    h.comet.broadcastRoom('plain://3', rawProto(frame));
    await c.next();
    assert.deepEqual(c.rawBytes().subarray(at3), frame);
  });
});

describe('several rooms: the comet-wide bound on rooms joins create', () => {
  let h: Harness;
  const hits = new LimitHits();
  before(async () => {
    h = await startComet({ limits: { maxCometRooms: 3 } }, undefined, { limits: hits });
  });
  after(() => h.stop());

  it('a join that would seat a room past limits.maxCometRooms is refused with code 8; joined rooms can still be joined; op 12 does not get around it', async () => {
    const full = 'this server holds 3 joined rooms (limits.maxCometRooms): try again later';
    const a = await h.client('tcp', { mid: 40, room_id: 'cap://1' });
    const b = await h.client('ws', { mid: 41 });
    // cap://1 (a's own room, now a seat), cap://2, cap://3: three rooms with multi-room members.
    assert.equal((await join(a, '{"rooms":["cap://2","cap://3"]}')).code, 0);
    assert.deepEqual(await join(a, 'cap://4', 6), { code: 8, message: full, rooms: ['cap://1', 'cap://2', 'cap://3'] });
    assert.equal(hits.snapshot().comet_rooms, 1);
    assert.deepEqual(await join(b, 'cap://2', 7), { code: 0, rooms: ['cap://2'] }, 'a joined room');
    // A room made by a goim connection's op 12 is not a way around it.
    const g = await h.client('tcp', { mid: 42 });
    g.send(12, 'cap://9', 1, 3);
    assert.equal((await g.nextWhere((f) => f.op === 13)).body.toString(), 'cap://9');
    assert.equal((await join(b, 'cap://9', 8)).code, 8);
    // Nor is op 12 of a multi-room connection: refused, the reply names the room it stays in.
    a.send(12, 'cap://10', 1, 4);
    assert.equal((await a.nextWhere((f) => f.op === 13)).body.toString(), 'cap://1');
    assert.equal(hits.snapshot().comet_rooms, 3);
    // A room left by its last multi-room member frees its place.
    assert.equal((await leave(a, 'cap://3', 9)).code, 0);
    assert.deepEqual(await join(b, 'cap://9', 10), { code: 0, rooms: ['cap://2', 'cap://9'] });
    assert.equal(await heartbeat(a), 1, 'the refused connection stays');
  });
});

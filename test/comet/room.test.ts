// Rooms: change-room (docs/protocol.md#rooms-and-accepts), room fan-out, and the RoomTable itself.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RoomTable, type RoomMember } from '../../src/comet/room.js';
import type { GoimTestClient } from '../support/goim-client.js';
import { hex, innerFrame, rawProto, startComet, type Harness } from './harness.js';
import { eventually } from '../support/eventually.js';

describe('change room', () => {
  let h: Harness;
  before(async () => {
    h = await startComet();
  });
  after(() => h.stop());

  it('echoes op 13 with ver, seq and body on TCP and WebSocket', async () => {
    const tcp = await h.client('tcp', { mid: 1 });
    const at = tcp.rawBytes().length;
    tcp.send(12, 'live://1001', 1, 7);
    await tcp.next();
    assert.deepEqual(tcp.rawBytes().subarray(at), hex('00 00 00 1b 00 10 00 01 00 00 00 0d 00 00 00 07 6c 69 76 65 3a 2f 2f 31 30 30 31'));
    const ws = await h.client('ws', { mid: 2 });
    ws.send(12, 'live://1001', 1, 7);
    await ws.next();
    assert.deepEqual(ws.rawFrames.at(-1), hex('82 1b 00 00 00 1b 00 10 00 01 00 00 00 0d 00 00 00 07 6c 69 76 65 3a 2f 2f 31 30 30 31'));
    assert.ok(h.comet.rooms().includes('live://1001'));
  });

  it('moves the connection: room pushes follow it, the emptied room disappears', async () => {
    const c = await h.client('tcp', { room_id: 'move://a' });
    assert.ok(h.comet.rooms().includes('move://a'));
    c.send(12, 'move://b', 1, 1);
    await c.next();
    assert.ok(!h.comet.rooms().includes('move://a'), 'empty room deleted');
    h.comet.broadcastRoom('move://a', rawProto(innerFrame(1000, 'old')));
    h.comet.broadcastRoom('move://b', rawProto(innerFrame(1000, 'new')));
    assert.equal((await c.next()).body.toString(), 'new');
  });

  it('changing to the room it is alone in keeps the connection there (goim dropped it)', async () => {
    const c = await h.client('ws', { room_id: 'alone://1' });
    c.send(12, 'alone://1', 1, 1);
    await c.next();
    assert.ok(h.comet.rooms().includes('alone://1'));
    h.comet.broadcastRoom('alone://1', rawProto(innerFrame(1000, 'still here')));
    assert.equal((await c.next()).body.toString(), 'still here');
    c.send(2, '', 1, 2);
    assert.equal((await c.next()).body.readInt32BE(0), 1);
  });

  it('an empty body leaves the room', async () => {
    const c = await h.client('tcp', { room_id: 'leave://x' });
    c.send(12, '', 1, 3);
    const reply = await c.next();
    assert.deepEqual([reply.op, reply.seq, reply.body.length], [13, 3, 0]);
    assert.ok(!h.comet.rooms().includes('leave://x'));
  });
});

describe('room fan-out', () => {
  let h: Harness;
  before(async () => {
    h = await startComet();
  });
  after(() => h.stop());

  it('delivers one batch to every member on both transports, ignoring accepts, and to no one else', async () => {
    const members: GoimTestClient[] = [];
    for (let i = 0; i < 60; i++) {
      members.push(await h.client(i % 3 === 0 ? 'ws' : 'tcp', { mid: i, room_id: 'fan://1', accepts: [] }));
    }
    const outsider = await h.client('tcp', { room_id: 'fan://2' });
    // Some members leave again (swap-removal in the middle of the member list).
    for (const i of [5, 17, 59]) {
      members[i].close();
      await members[i].closed;
    }
    const gone = new Set([5, 17, 59]);
    await eventually(() => h.comet.stats().connections === 58, 'closed members to be gone');

    const f1 = innerFrame(1000, '{"test":1}');
    const f2 = innerFrame(1000, '{"test":2}');
    h.comet.broadcastRoom('fan://1', rawProto(f1, f2));
    for (const [i, m] of members.entries()) {
      if (gone.has(i)) continue;
      const frames = await m.collect(2);
      assert.deepEqual(
        frames.map((f) => [f.op, f.body.toString()]),
        [
          [1000, '{"test":1}'],
          [1000, '{"test":2}'],
        ],
        `member ${i}`,
      );
    }
    h.comet.broadcastRoom('fan://2', rawProto(innerFrame(1001, 'only for 2')));
    const first = await outsider.next();
    assert.equal(first.body.toString(), 'only for 2', 'the outsider got nothing before');
    assert.equal(h.comet.stats().rooms, 2);
  });

  it('a push to a room with no member here does nothing', async () => {
    const bystander = await h.client('tcp', { room_id: 'somebody://1' });
    const rooms = h.comet.rooms();
    const seen = h.comet.counters();
    h.comet.broadcastRoom('nobody://1', rawProto(innerFrame(1000, 'x')));
    const now = h.comet.counters();
    assert.equal(now.pushesReceived.room, seen.pushesReceived.room + 1, 'the push was received');
    assert.deepEqual(now.pushesDelivered, seen.pushesDelivered, 'delivered to no one');
    assert.deepEqual(now.pushesDropped, seen.pushesDropped, 'nothing dropped');
    assert.deepEqual(h.comet.rooms(), rooms, 'no room created');
    // The bystander's next frame is the push to its own room, so nothing came before it.
    h.comet.broadcastRoom('somebody://1', rawProto(innerFrame(1000, 'mine')));
    assert.equal((await bystander.next()).body.toString(), 'mine');
  });
});

describe('RoomTable', () => {
  const member = (): RoomMember => ({ room: null, roomIndex: -1, seats: null });

  it('keeps members dense with swap-remove and deletes emptied rooms', () => {
    const t = new RoomTable();
    const ms = Array.from({ length: 5 }, member);
    for (const m of ms) t.join(m, 'r');
    t.leave(ms[1]);
    t.leave(ms[4]);
    const room = t.get('r')!;
    assert.equal(room.members.length, 3);
    room.members.forEach((m, i) => assert.equal(m.roomIndex, i));
    assert.deepEqual(new Set(room.members), new Set([ms[0], ms[2], ms[3]]));
    for (const m of [ms[0], ms[2], ms[3]]) t.leave(m);
    assert.equal(t.get('r'), undefined);
    assert.equal(t.size, 0);
  });

  it('join moves between rooms; joining the current room is a no-op', () => {
    const t = new RoomTable();
    const m = member();
    t.join(m, 'a');
    t.join(m, 'a');
    assert.equal(t.get('a')!.members.length, 1);
    t.join(m, 'b');
    assert.deepEqual(t.ids(), ['b']);
    assert.deepEqual({ ...t.localCounts() }, { b: 1 });
  });

  it('seats: a multi-room member keeps its room as a seat, adds and drops others; rooms count members and seats', () => {
    const t = new RoomTable();
    const single = member();
    const multi = member();
    t.join(single, 'a');
    t.join(multi, 'a');
    t.multi(multi);
    assert.equal(multi.roomIndex, -1);
    assert.equal(single.roomIndex, 0, 'swap-removed without disturbing the other member');
    const a = t.get('a')!;
    assert.deepEqual([a.members.length, a.seats.length, a.size], [1, 1, 2]);
    t.add(multi, 'b');
    t.add(multi, 'c');
    t.add(multi, 'b');
    assert.deepEqual([...multi.seats!.keys()], ['a', 'b', 'c']);
    assert.deepEqual({ ...t.localCounts() }, { a: 2, b: 1, c: 1 });
    // Op 12 moves the primary room: the old one is left, the new one promoted or joined.
    t.join(multi, 'c');
    assert.deepEqual([multi.room?.id, [...multi.seats!.keys()]], ['c', ['b', 'c']]);
    assert.equal(t.get('a')!.size, 1);
    assert.equal(t.drop(multi, 'c'), true);
    assert.equal(multi.room, null, 'dropping the primary room leaves none');
    assert.equal(t.drop(multi, 'c'), false);
    t.join(multi, 'd');
    t.leave(multi);
    assert.deepEqual([...multi.seats!.keys()], ['b']);
    t.leaveAll(multi);
    t.leaveAll(single);
    assert.equal(t.size, 0);
    assert.deepEqual(t.ids(), []);
  });

  it('reports the global count when known, else the local count; room ids are plain data', () => {
    const t = new RoomTable();
    const m = member();
    t.join(m, '__proto__');
    t.join(member(), 'constructor');
    assert.deepEqual(Object.entries(t.localCounts()).sort(), [
      ['__proto__', 1],
      ['constructor', 1],
    ]);
    t.applyGlobal({ x: 3 });
    assert.equal(t.get('constructor')!.onlineCount(), 1);
    t.applyGlobal({ __proto__: 9 }); // a prototype, not a count
    assert.equal(t.get('__proto__')!.onlineCount(), 1);
    const counts = JSON.parse('{"__proto__": 9}') as Record<string, number>;
    t.applyGlobal(counts);
    assert.equal(t.get('__proto__')!.onlineCount(), 9);
  });
});

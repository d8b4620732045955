// Heartbeat replies (docs/protocol.md#operations, docs/goim-test-vectors.md#heartbeats) and the room online counts behind them (docs/internal-protocol.md#room-counts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StubLogic } from '../support/stub-logic.js';
import { hex, SERVER_ID, startComet, type Harness } from './harness.js';

const JS_HEARTBEAT = hex('00 00 00 10 00 10 00 01 00 00 00 02 00 00 00 01');
const BENCH_HEARTBEAT = hex('00 00 00 10 00 10 00 00 00 00 00 02 00 00 00 01');

describe('heartbeat replies', () => {
  let h: Harness;
  before(async () => {
    h = await startComet();
  });
  after(() => h.stop());

  it('reports the local room count (count 3, as the heartbeat-reply vector) over TCP and WebSocket', async () => {
    const tcp = await h.client('tcp', { mid: 1, room_id: 'live://1000' });
    const ws = await h.client('ws', { mid: 2, room_id: 'live://1000' });
    await h.client('tcp', { mid: 3, room_id: 'live://1000' });
    await h.client('tcp', { mid: 4, room_id: 'live://other' });

    const before = tcp.rawBytes().length;
    tcp.sendRaw(JS_HEARTBEAT);
    await tcp.next();
    assert.deepEqual(tcp.rawBytes().subarray(before), hex('00 00 00 14 00 10 00 01 00 00 00 03 00 00 00 01 00 00 00 03'));

    ws.sendRaw(JS_HEARTBEAT);
    await ws.next();
    assert.deepEqual(ws.rawFrames.at(-1), hex('82 14 00 00 00 14 00 10 00 01 00 00 00 03 00 00 00 01 00 00 00 03'));
  });

  it('reports 0 outside any room, echoing ver and seq', async () => {
    const c = await h.client('tcp', { mid: 5 });
    let at = c.rawBytes().length;
    c.sendRaw(JS_HEARTBEAT);
    await c.next();
    assert.deepEqual(c.rawBytes().subarray(at), hex('00 00 00 14 00 10 00 01 00 00 00 03 00 00 00 01 00 00 00 00'));
    at = c.rawBytes().length;
    c.sendRaw(BENCH_HEARTBEAT);
    await c.next();
    assert.deepEqual(c.rawBytes().subarray(at), hex('00 00 00 14 00 10 00 00 00 00 00 03 00 00 00 01 00 00 00 00'));
  });

  it('reports 0 after leaving the room (goim kept the stale count)', async () => {
    const c = await h.client('tcp', { mid: 6, room_id: 'leave://1' });
    c.send(2, '', 1, 1);
    assert.equal((await c.next()).body.readInt32BE(0), 1);
    c.send(12, '', 1, 2); // change room to "" = leave
    const reply = await c.next();
    assert.deepEqual([reply.op, reply.body.length], [13, 0]);
    c.send(2, '', 1, 3);
    assert.equal((await c.next()).body.readInt32BE(0), 0);
  });

  it('answers a client op 3 as a heartbeat reply with the count, and forwards it to logic', async () => {
    const c = await h.client('ws', { mid: 7, room_id: 'op3://1' });
    c.send(3, 'x', 1, 9);
    const f = await c.next();
    assert.deepEqual([f.op, f.ver, f.seq, f.body.readInt32BE(0)], [3, 1, 9, 1]);
    const r = await h.logic.waitFor('receive', (r) => r.mid === 7n);
    assert.deepEqual([r.proto.op, r.proto.seq, Buffer.from(r.proto.body).toString()], [3, 9, 'x']);
  });
});

describe('room online reporting', () => {
  let h: Harness;
  const logic = new StubLogic();
  before(async () => {
    h = await startComet({ comet: { renewOnline: '30ms' } }, logic);
  });
  after(() => h.stop());

  /** Waits until a RenewOnline made from now on has been answered and applied (the next call proves it). */
  async function nextReport(): Promise<void> {
    const n = logic.calls.renewOnline.length;
    await logic.waitFor('renewOnline', (r) => logic.calls.renewOnline.indexOf(r) >= n + 1);
  }

  it('reports local room counts to logic under this server id', async () => {
    await h.client('tcp', { room_id: 'count://a' });
    await h.client('ws', { room_id: 'count://a' });
    await h.client('tcp', { room_id: 'count://b' });
    await h.client('tcp', {}); // in no room: not reported
    const r = await logic.waitFor('renewOnline', (r) => r.roomCount['count://a'] === 2 && r.roomCount['count://b'] === 1);
    assert.equal(r.server, SERVER_ID);
    assert.deepEqual({ ...r.roomCount }, { 'count://a': 2, 'count://b': 1 });
  });

  it('heartbeats report the global count from logic when it is known, else the local one', async () => {
    const c = await h.client('tcp', { room_id: 'global://1' });
    await h.client('tcp', { room_id: 'global://1' });
    logic.globalCounts = { 'global://1': 42 };
    await nextReport();
    c.send(2, '', 1, 1);
    assert.equal((await c.nextWhere((f) => f.op === 3)).body.readInt32BE(0), 42);

    logic.globalCounts = {}; // unknown again → local count
    await nextReport();
    c.send(2, '', 1, 2);
    assert.equal((await c.nextWhere((f) => f.op === 3)).body.readInt32BE(0), 2);
  });

  it('a room created after a report starts from the global count logic last gave', async () => {
    logic.globalCounts = { 'late://1': 7 };
    await nextReport();
    const c = await h.client('ws', { room_id: 'late://1' });
    c.send(2, '', 1, 1);
    assert.equal((await c.nextWhere((f) => f.op === 3)).body.readInt32BE(0), 7);
    logic.globalCounts = {};
  });
});

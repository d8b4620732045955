// Replay to connections that opted in to room history (docs/history.md#opting-in, #replay), over
// real sockets on both transports: op 18 then the records then live, without a gap or a
// duplicate when live batches arrive while the history is read; goim's bytes for the others.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HistoryReply, HistoryRequest } from '../../src/ports/index.js';
import type { Frame } from '../support/goim-client.js';
import { StubLogic } from '../support/stub-logic.js';
import { innerFrame, rawProto, startComet, turn, type Harness } from './harness.js';

async function waitUntil(ok: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An inner frame as the job builds it for a history room: seq = offset. */
function offsetFrame(op: number, seq: number, body: string): Buffer {
  const f = innerFrame(op, body);
  f.writeInt32BE(seq, 12);
  return f;
}

/** Records 1000-op "m<offset>" for offsets from..to. */
function records(from: number, to: number): HistoryReply['records'] {
  const out: HistoryReply['records'] = [];
  for (let o = from; o <= to; o++) out.push({ offset: o, op: 1000, body: Buffer.from(`m${o}`) });
  return out;
}

function reply(epoch: string, first: number, last: number, recs = records(first, last)): HistoryReply {
  return { epoch, first, last, records: recs, recovered: true };
}

/** What a client received, reduced to op:seq:body. */
function brief(frames: Frame[]): string[] {
  return frames.map((f) => `${f.op}:${f.seq}:${f.op === 18 ? '' : f.body.toString()}`);
}

function roomState(f: Frame): Record<string, unknown> {
  assert.equal(f.op, 18, `expected op 18, got ${f.op}`);
  assert.equal(f.seq, 0);
  return JSON.parse(f.body.toString()) as Record<string, unknown>;
}

const TRANSPORTS = ['tcp', 'ws'] as const;

describe('replay on join', () => {
  let h: Harness;
  let logic: StubLogic;
  before(async () => {
    logic = new StubLogic();
    h = await startComet({}, logic);
  });
  after(() => h.stop());

  for (const transport of TRANSPORTS) {
    it(`${transport}: op 18, the records oldest first (seq = offset), then live`, async () => {
      const room = `live://r-${transport}`;
      logic.historyReply = (req) => (req.room === room ? reply('ep1', 1, 3) : reply('', 1, 0, []));
      const c = await h.client(transport, { key: `a-${transport}`, room_id: room, history: { last: 3 } });
      const [state, ...recs] = await c.collect(4);
      assert.deepEqual(roomState(state), { room, epoch: 'ep1', first: 1, last: 3, recovered: true });
      assert.deepEqual(brief(recs), ['1000:1:m1', '1000:2:m2', '1000:3:m3']);
      const call = await logic.waitFor('history', (r) => r.room === room);
      assert.equal(call.last, 3);
      h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 4, 'm4')));
      assert.deepEqual(brief([await c.next()]), ['1000:4:m4']);
    });
  }

  for (const transport of TRANSPORTS) {
    it(`${transport}: live batches arriving while the history is read follow it without a gap or a duplicate`, async () => {
      const room = `live://held-${transport}`;
      logic.historyReply = () => reply('ep2', 1, 3);
      const release = logic.hold('history');
      const c = await h.client(transport, { key: `held-${transport}`, room_id: room, history: { last: 10 } });
      await logic.waitFor('history', (r) => r.room === room);
      // 3 is also among the records read; 4 and 5 are not.
      h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 3, 'm3'), offsetFrame(1000, 4, 'm4')));
      h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 5, 'm5')));
      await turn();
      assert.equal(c.queued, 0, 'live batches are held while the history is read');
      release();
      const [state, ...rest] = await c.collect(6);
      assert.deepEqual(roomState(state), { room, epoch: 'ep2', first: 1, last: 3, recovered: true });
      assert.deepEqual(brief(rest), ['1000:1:m1', '1000:2:m2', '1000:3:m3', '1000:4:m4', '1000:5:m5']);
      h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 6, 'm6')));
      assert.deepEqual(brief([await c.next()]), ['1000:6:m6']);
    });
  }

  it('reads again while the store is behind what the room already delivered', async () => {
    const room = 'live://behind';
    const goim = await h.client('tcp', { key: 'behind-goim', room_id: room });
    h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 1, 'm1'), offsetFrame(1000, 2, 'm2'), offsetFrame(1000, 3, 'm3')));
    await goim.collect(3);
    let reads = 0;
    // The first read has stored only up to 2; the second has caught up with 3.
    logic.historyReply = (req) => (req.room === room ? (++reads === 1 ? reply('ep3', 1, 2) : reply('ep3', 1, 3)) : reply('', 1, 0, []));
    const c = await h.client('tcp', { key: 'behind-opt', room_id: room, history: { last: 5 } });
    const [state, ...recs] = await c.collect(4);
    assert.deepEqual(roomState(state), { room, epoch: 'ep3', first: 1, last: 3, recovered: true });
    assert.deepEqual(brief(recs), ['1000:1:m1', '1000:2:m2', '1000:3:m3']);
    assert.equal(reads, 2);
  });

  it('members that did not opt in get goim bytes: seq 0 and no op 18 (TCP and WebSocket)', async () => {
    const room = 'live://mixed';
    logic.historyReply = () => reply('ep4', 1, 0, []);
    const opted = await h.client('tcp', { key: 'mixed-opt', room_id: room, history: {} });
    assert.deepEqual(roomState(await opted.next()), { room, epoch: 'ep4', first: 1, last: 0, recovered: true });
    const tcp = await h.client('tcp', { key: 'mixed-tcp', room_id: room });
    const ws = await h.client('ws', { key: 'mixed-ws', room_id: room });
    const at = tcp.rawBytes().length;
    const epochChange = offsetFrame(18, 0, '{"room":"live://mixed","epoch":"ep5","first":8,"last":7,"recovered":true}');
    h.comet.broadcastRoom(room, rawProto(epochChange, offsetFrame(1000, 8, 'x'), offsetFrame(1000, 9, 'y')));
    assert.deepEqual(brief(await opted.collect(3)), ['18:0:', '1000:8:x', '1000:9:y']);
    await Promise.all([tcp.collect(2), ws.collect(2)]);
    assert.deepEqual(tcp.rawBytes().subarray(at), Buffer.concat([innerFrame(1000, 'x'), innerFrame(1000, 'y')]));
    const body = Buffer.concat([innerFrame(1000, 'x'), innerFrame(1000, 'y')]);
    const envelope = Buffer.alloc(16);
    envelope.writeInt32BE(16 + body.length, 0);
    envelope.writeInt16BE(16, 4);
    envelope.writeInt16BE(1, 6);
    envelope.writeInt32BE(9, 8);
    assert.deepEqual(ws.rawFrames.at(-1), Buffer.concat([Buffer.from([0x82, 16 + body.length]), envelope, body]));
    // A batch of an op-18 frame alone is nothing at all for them.
    h.comet.broadcastRoom(room, rawProto(epochChange));
    h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 10, 'z')));
    assert.deepEqual(brief(await tcp.collect(1)), ['1000:0:z']);
    assert.deepEqual(brief(await ws.collect(1)), ['1000:0:z']);
    assert.deepEqual(brief(await opted.collect(2)), ['18:0:', '1000:10:z']);
  });

  it('a room without history: the held batches go out as they came, nothing else', async () => {
    const room = 'plain://1';
    logic.historyReply = () => reply('', 1, 0, []);
    const release = logic.hold('history');
    const c = await h.client('ws', { key: 'plain-opt', room_id: room, history: { last: 5 } });
    await logic.waitFor('history', (r) => r.room === room);
    h.comet.broadcastRoom(room, rawProto(innerFrame(1000, 'p1')));
    release();
    assert.deepEqual(brief([await c.next()]), ['1000:0:p1']);
    h.comet.broadcastRoom(room, rawProto(innerFrame(1000, 'p2')));
    assert.deepEqual(brief([await c.next()]), ['1000:0:p2']);
  });

  it('logic failing: op 18 recovered false "unavailable", then live', async () => {
    const room = 'live://fail';
    logic.historyReply = () => {
      throw new Error('store down');
    };
    const c = await h.client('tcp', { key: 'fail-opt', room_id: room, history: { last: 5 } });
    assert.deepEqual(roomState(await c.next()), { room, epoch: '', first: 1, last: 0, recovered: false, reason: 'unavailable' });
    assert.equal(h.comet.counters().replays?.unavailable, 1);
    h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 1, 'm1')));
    assert.deepEqual(brief([await c.next()]), ['1000:1:m1']);
  });

  it('a since request the reply refuses: recovered false with its reason, live after it', async () => {
    const room = 'live://since';
    let seen: HistoryRequest | undefined;
    logic.historyReply = (req) => {
      seen = req;
      return { epoch: 'new', first: 1, last: 9, records: [], recovered: false, reason: 'epoch changed' };
    };
    const c = await h.client('ws', { key: 'since-opt', room_id: room, history: { since: 4, epoch: 'old' } });
    const state = roomState(await c.next());
    assert.deepEqual(state, { room, epoch: 'new', first: 10, last: 9, recovered: false, reason: 'epoch changed' });
    assert.deepEqual([seen?.since, seen?.epoch], [4, 'old']);
    h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 10, 'm10')));
    assert.deepEqual(brief([await c.next()]), ['1000:10:m10']);
  });

  it('op 12 JSON form from an opted-in connection: op 13, then op 18 and the replay of the new room', async () => {
    logic.historyReply = (req) => (req.room === 'live://j2' ? reply('ej', 4, 5) : reply('', 1, 0, []));
    const c = await h.client('tcp', { key: 'j-opt', room_id: 'plain://j1', history: {} });
    const body = JSON.stringify({ room: 'live://j2', history: { last: 2 } });
    c.send(12, body, 1, 7);
    const [r13, state, ...recs] = await c.collect(4);
    assert.deepEqual([r13.op, r13.seq, r13.body.toString()], [13, 7, body]);
    assert.deepEqual(roomState(state), { room: 'live://j2', epoch: 'ej', first: 4, last: 5, recovered: true });
    assert.deepEqual(brief(recs), ['1000:4:m4', '1000:5:m5']);
    const call = await logic.waitFor('history', (r) => r.room === 'live://j2');
    assert.equal(call.last, 2);
    // An invalid request is refused: the connection stays, the reply names its room.
    c.send(12, JSON.stringify({ room: 'live://j3', history: { last: -1 } }), 1, 8);
    const refused = await c.nextWhere((f) => f.op === 13);
    assert.deepEqual([refused.seq, refused.body.toString()], [8, 'live://j2']);
  });

  it('one history read per connection: a join while a read is in flight gets op 18 "busy", no second read', async () => {
    logic.historyReply = (req) => (req.room.startsWith('live://') ? reply('eb', 1, 1) : reply('', 1, 0, []));
    const c = await h.client('tcp', { key: 'busy-opt', room_id: 'plain://b0', history: {} });
    const before = logic.calls.history.length;
    const release = logic.hold('history');
    try {
      c.send(12, JSON.stringify({ room: 'live://b1', history: { last: 1 } }), 1, 3);
      await logic.waitFor('history', (r) => r.room === 'live://b1');
      c.send(12, JSON.stringify({ room: 'live://b2', history: { last: 1 } }), 1, 4);
      const [r13a, r13b, busy] = await c.collect(3);
      assert.deepEqual([r13a.op, r13a.seq, r13b.op, r13b.seq], [13, 3, 13, 4]);
      assert.deepEqual(roomState(busy), { room: 'live://b2', epoch: '', first: 1, last: 0, recovered: false, reason: 'busy' });
      assert.equal(logic.calls.history.length, before + 1, 'the second join read nothing');
    } finally {
      release();
    }
  });

  it('op 12 with a JSON body from a goim connection: the body is the room id', async () => {
    const calls = logic.calls.history.length;
    const c = await h.client('tcp', { key: 'j-goim' });
    const body = JSON.stringify({ room: 'live://j2', history: { last: 2 } });
    c.send(12, body);
    assert.equal((await c.nextWhere((f) => f.op === 13)).body.toString(), body);
    h.comet.broadcastRoom(body, rawProto(innerFrame(1000, 'raw-id')));
    assert.deepEqual(brief([await c.next()]), ['1000:0:raw-id']);
    assert.equal(logic.calls.history.length, calls);
  });

  it('replies waiting on logic go out before op 18 (op 4, then op 13, then the replay)', async () => {
    logic.historyReply = (req) => (req.room === 'live://order' ? reply('eo', 1, 1) : reply('', 1, 0, []));
    const c = await h.client('ws', { key: 'order-opt', history: {} });
    const release = logic.hold('receive');
    c.send(4, 'hello', 1, 1);
    c.send(12, JSON.stringify({ room: 'live://order', history: { last: 1 } }), 1, 2);
    await logic.waitFor('history', (r) => r.room === 'live://order');
    await turn();
    release();
    const frames = await c.collect(4);
    assert.deepEqual(
      frames.map((f) => `${f.op}:${f.seq}`),
      ['4:1', '13:2', '18:0', '1000:1'],
    );
  });
});

describe('replay cache (docs/history.md#replay-cache)', () => {
  let h: Harness;
  let logic: StubLogic;
  before(async () => {
    logic = new StubLogic();
    h = await startComet({}, logic);
  });
  after(() => h.stop());

  const announce = (room: string, epoch: string, first: number): Buffer => offsetFrame(18, 0, JSON.stringify({ room, epoch, first }));
  const historyCalls = (room: string): number => logic.calls.history.filter((r) => r.room === room).length;

  for (const transport of TRANSPORTS) {
    it(`${transport}: once logic told the cap, a join asking for the last N is served from the records delivered here`, async () => {
      // A room type of its own: comet learns the cap once per type.
      const room = `cache${transport}://1`;
      const member = await h.client('tcp', { key: `cache-member-${transport}`, room_id: room });
      h.comet.broadcastRoom(room, rawProto(announce(room, 'ec', 1), ...[1, 2, 3, 4, 5].map((o) => offsetFrame(1000, o, `m${o}`))));
      await member.collect(5);
      logic.historyReply = (req) => (req.room === room ? { ...reply('ec', 1, 5, records(3, 5)), cap: 3 } : reply('', 1, 0, []));
      const first = await h.client(transport, { key: `cache-a-${transport}`, room_id: room, history: { last: 3 } });
      const [s1, ...r1] = await first.collect(4);
      assert.deepEqual(roomState(s1), { room, epoch: 'ec', first: 3, last: 5, recovered: true });
      assert.deepEqual(brief(r1), ['1000:3:m3', '1000:4:m4', '1000:5:m5']);
      assert.equal(historyCalls(room), 1);
      const cached0 = h.comet.counters().replayReads?.cache ?? 0;
      // Asks for 10: the room type's cap (3) bounds it, as logic would.
      const second = await h.client(transport, { key: `cache-b-${transport}`, room_id: room, history: { last: 10 } });
      const [s2, ...r2] = await second.collect(4);
      assert.deepEqual(roomState(s2), { room, epoch: 'ec', first: 3, last: 5, recovered: true });
      assert.deepEqual(brief(r2), ['1000:3:m3', '1000:4:m4', '1000:5:m5']);
      assert.equal(historyCalls(room), 1, 'the second join read no history');
      // Two more joiners share the replay built for the second, each in its own transport's bytes.
      for (const other of TRANSPORTS) {
        const more = await h.client(other, { key: `cache-m-${transport}-${other}`, room_id: room, history: { last: 3 } });
        const [sm, ...rm] = await more.collect(4);
        assert.deepEqual(roomState(sm), { room, epoch: 'ec', first: 3, last: 5, recovered: true });
        assert.deepEqual(brief(rm), ['1000:3:m3', '1000:4:m4', '1000:5:m5']);
      }
      assert.equal(h.comet.counters().replayReads?.cache, cached0 + 3);
      h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 6, 'm6')));
      assert.deepEqual(brief([await second.next()]), ['1000:6:m6']);
      assert.deepEqual(brief([await first.next()]), ['1000:6:m6']);
      // A gap in the numbering: the tail is forgotten and the next join reads the history again.
      h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 9, 'm9')));
      await member.collect(2);
      logic.historyReply = (req) => (req.room === room ? { ...reply('ec', 1, 9, records(7, 9)), cap: 3 } : reply('', 1, 0, []));
      const third = await h.client(transport, { key: `cache-c-${transport}`, room_id: room, history: { last: 3 } });
      const [s3, ...r3] = await third.collect(4);
      assert.deepEqual(roomState(s3), { room, epoch: 'ec', first: 7, last: 9, recovered: true });
      assert.deepEqual(brief(r3), ['1000:7:m7', '1000:8:m8', '1000:9:m9']);
      assert.equal(historyCalls(room), 2);
    });
  }

  it('a read behind what was delivered here is completed from the delivered records, not read again', async () => {
    const room = 'live://complete';
    const member = await h.client('tcp', { key: 'complete-member', room_id: room });
    h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 1, 'm1'), offsetFrame(1000, 2, 'm2'), offsetFrame(1000, 3, 'm3')));
    await member.collect(3);
    // The store has only 1..2 so far.
    logic.historyReply = (req) => (req.room === room ? { ...reply('ep', 1, 2), cap: 100 } : reply('', 1, 0, []));
    const completed0 = h.comet.counters().replayReads?.completed ?? 0;
    const cache0 = h.comet.counters().replayReads?.cache ?? 0;
    const c = await h.client('tcp', { key: 'complete-opt', room_id: room, history: { last: 5 } });
    const [state, ...recs] = await c.collect(4);
    assert.deepEqual(roomState(state), { room, epoch: 'ep', first: 1, last: 3, recovered: true });
    assert.deepEqual(brief(recs), ['1000:1:m1', '1000:2:m2', '1000:3:m3']);
    // Either the join's own read, completed from the tail, or a read filling the tail (it then holds
    // everything stored) and the join served from there; never a second read of the same records.
    const calls = historyCalls(room);
    const reads = h.comet.counters().replayReads!;
    assert.ok(
      (calls === 1 && reads.completed === completed0 + 1) || (calls === 1 && reads.cache === cache0 + 1),
      `${calls} reads, ${JSON.stringify(reads)}`,
    );
    // A recovering client: everything after 1 of epoch ep, the store again only at 2.
    const r = await h.client('ws', { key: 'complete-since', room_id: room, history: { since: 1, epoch: 'ep' } });
    const [s2, ...r2] = await r.collect(3);
    assert.deepEqual(roomState(s2), { room, epoch: 'ep', first: 2, last: 3, recovered: true });
    assert.deepEqual(brief(r2), ['1000:2:m2', '1000:3:m3']);
    assert.equal(historyCalls(room), calls, 'served from the tail');
  });

  it('a room that empties drops its cached records', async () => {
    const room = 'live://empties';
    const member = await h.client('tcp', { key: 'empties-member', room_id: room });
    h.comet.broadcastRoom(room, rawProto(announce(room, 'ee', 1), offsetFrame(1000, 1, 'm1')));
    await member.collect(1);
    const rooms0 = h.comet.counters().replayCache?.rooms ?? 0;
    assert.ok(rooms0 >= 1);
    member.close();
    await waitUntil(() => h.comet.counters().replayCache?.rooms === rooms0 - 1);
  });

  it('a cap of 0 from logic is kept: joiners are replayed nothing; a room type without history forgets it', async () => {
    const room = 'capzero://1';
    const member = await h.client('tcp', { key: 'cz-member', room_id: room });
    h.comet.broadcastRoom(room, rawProto(announce(room, 'ez', 1), offsetFrame(1000, 1, 'm1'), offsetFrame(1000, 2, 'm2')));
    await member.collect(2);
    logic.historyReply = (req) => (req.room === room ? { ...reply('ez', 1, 2, []), cap: 0 } : reply('', 1, 0, []));
    for (const key of ['cz-a', 'cz-b']) {
      const c = await h.client('tcp', { key, room_id: room, history: { last: 5 } });
      assert.deepEqual(roomState(await c.next()), { room, epoch: 'ez', first: 3, last: 2, recovered: true });
    }
    assert.equal(historyCalls(room), 1, 'the second joiner was answered from the cache');
    // The type loses its history: the read says so, and the next joiner reads again.
    logic.historyReply = () => reply('', 1, 0, []);
    h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 3, 'm3')));
    await member.collect(1);
    const gap = await h.client('tcp', { key: 'cz-c', room_id: room, history: { since: 1, epoch: 'ez' } });
    await waitUntil(() => historyCalls(room) === 2);
    const after = await h.client('tcp', { key: 'cz-d', room_id: room, history: { last: 5 } });
    await waitUntil(() => historyCalls(room) === 3);
    h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 4, 'm4')));
    assert.deepEqual(brief([await after.next()]), ['1000:4:m4']);
    assert.deepEqual(brief([await gap.next()]), ['1000:4:m4']);
  });

  it('a join after the job announced a new epoch: op 18 names it, nothing of the old epoch is replayed', async () => {
    const room = 'newepoch://1';
    const member = await h.client('tcp', { key: 'ne-member', room_id: room });
    h.comet.broadcastRoom(room, rawProto(announce(room, 'e1', 1), ...[1, 2, 3, 4, 5].map((o) => offsetFrame(1000, o, `m${o}`))));
    await member.collect(5);
    logic.historyReply = (req) => (req.room === room ? { ...reply('e1', 1, 5, records(3, 5)), cap: 3 } : reply('', 1, 0, []));
    const first = await h.client('tcp', { key: 'ne-a', room_id: room, history: { last: 3 } });
    await first.collect(4);
    const calls = historyCalls(room);
    h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 6, 'm6'), offsetFrame(1000, 7, 'm7')));
    h.comet.broadcastRoom(room, rawProto(announce(room, 'e2', 8)));
    await member.collect(2);
    const c = await h.client('ws', { key: 'ne-b', room_id: room, history: { last: 3 } });
    assert.deepEqual(roomState(await c.next()), { room, epoch: 'e2', first: 8, last: 7, recovered: true });
    assert.equal(historyCalls(room), calls, 'answered from the cache');
    h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 8, 'm8')));
    assert.deepEqual(brief([await c.next()]), ['1000:8:m8']);
  });

  it('joiners piling up on a room (a comet restart): one read fills the tail, since and last asks are served from it', async () => {
    const room = 'window://1';
    const member = await h.client('tcp', { key: 'w-member', room_id: room });
    // Live records seen since this comet started; their epoch is not known yet.
    h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 11, 'm11'), offsetFrame(1000, 12, 'm12')));
    await member.collect(2);
    logic.historyReply = (req) => {
      if (req.room !== room) return reply('', 1, 0, []);
      if (req.since === undefined) return { ...reply('ew', 3, 12, records(3, 12)), cap: 10 };
      if (req.epoch !== 'ew') return { epoch: 'ew', first: 3, last: 12, records: [], recovered: false, reason: 'epoch changed', cap: 10 };
      return { ...reply('ew', 3, 12, records(req.since + 1, 12)), cap: 10 };
    };
    const release = logic.hold('history');
    const a = await h.client('tcp', { key: 'w-a', room_id: room, history: { since: 5, epoch: 'ew' } });
    const b = await h.client('ws', { key: 'w-b', room_id: room, history: { since: 8, epoch: 'ew' } });
    const c = await h.client('tcp', { key: 'w-c', room_id: room, history: { last: 4 } });
    const stale = await h.client('tcp', { key: 'w-d', room_id: room, history: { since: 8, epoch: 'old' } });
    await turn();
    release();
    const [sa, ...ra] = await a.collect(8);
    assert.deepEqual(roomState(sa), { room, epoch: 'ew', first: 6, last: 12, recovered: true });
    assert.deepEqual(
      brief(ra),
      [6, 7, 8, 9, 10, 11, 12].map((o) => `1000:${o}:m${o}`),
    );
    const [sb, ...rb] = await b.collect(5);
    assert.deepEqual(roomState(sb), { room, epoch: 'ew', first: 9, last: 12, recovered: true });
    assert.deepEqual(
      brief(rb),
      [9, 10, 11, 12].map((o) => `1000:${o}:m${o}`),
    );
    const [sc, ...rc] = await c.collect(5);
    assert.deepEqual(roomState(sc), { room, epoch: 'ew', first: 9, last: 12, recovered: true });
    assert.deepEqual(
      brief(rc),
      [9, 10, 11, 12].map((o) => `1000:${o}:m${o}`),
    );
    // Another epoch is not the tail's to judge: that join read the history itself.
    assert.deepEqual(roomState(await stale.next()), { room, epoch: 'ew', first: 13, last: 12, recovered: false, reason: 'epoch changed' });
    assert.equal(historyCalls(room), 2, 'one read filled the tail for three joins; the fourth read its own');
    h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 13, 'm13')));
    for (const x of [a, b, c, stale]) assert.deepEqual(brief([await x.next()]), ['1000:13:m13']);
  });

  it('a since in an epoch only announced, not yet seen stored, is left to logic', async () => {
    const room = 'unconfirmed://1';
    const member = await h.client('tcp', { key: 'uc-member', room_id: room });
    h.comet.broadcastRoom(room, rawProto(announce(room, 'e1', 1), ...[1, 2, 3].map((o) => offsetFrame(1000, o, `m${o}`))));
    await member.collect(3);
    logic.historyReply = (req) => {
      if (req.room !== room) return reply('', 1, 0, []);
      if (req.since !== undefined && req.epoch !== 'e1')
        return { epoch: 'e1', first: 1, last: 3, records: [], recovered: false, reason: 'epoch changed', cap: 10 };
      return { ...reply('e1', 1, 3, records((req.since ?? 0) + 1, 3)), cap: 10 };
    };
    const a = await h.client('tcp', { key: 'uc-a', room_id: room, history: { since: 1, epoch: 'e1' } });
    assert.deepEqual(brief((await a.collect(3)).slice(1)), ['1000:2:m2', '1000:3:m3']);
    const calls = historyCalls(room);
    const b = await h.client('tcp', { key: 'uc-b', room_id: room, history: { since: 2, epoch: 'e1' } });
    assert.deepEqual(brief((await b.collect(2)).slice(1)), ['1000:3:m3']);
    assert.equal(historyCalls(room), calls, 'the stored epoch: served from the cache');
    h.comet.broadcastRoom(room, rawProto(announce(room, 'e2', 4), offsetFrame(1000, 4, 'm4')));
    await member.collect(1);
    const c = await h.client('tcp', { key: 'uc-c', room_id: room, history: { since: 4, epoch: 'e2' } });
    assert.equal(roomState(await c.next()).reason, 'epoch changed');
    assert.equal(historyCalls(room), calls + 1, 'the announced epoch: logic answered');
  });

  it('comet.replayCache = 0: every join reads the history', async () => {
    const l = new StubLogic();
    const h0 = await startComet({ comet: { replayCache: 0 } }, l);
    try {
      const room = 'live://nocache';
      const member = await h0.client('tcp', { key: 'nc-member', room_id: room });
      h0.comet.broadcastRoom(room, rawProto(announce(room, 'en', 1), offsetFrame(1000, 1, 'm1')));
      await member.collect(1);
      l.historyReply = () => ({ ...reply('en', 1, 1), cap: 10 });
      for (const key of ['nc-a', 'nc-b']) {
        const c = await h0.client('tcp', { key, room_id: room, history: { last: 1 } });
        assert.deepEqual(brief((await c.collect(2)).slice(1)), ['1000:1:m1']);
      }
      assert.equal(l.calls.history.length, 2);
    } finally {
      await h0.stop();
    }
  });
});

describe('replay hold bound', () => {
  let h: Harness;
  let logic: StubLogic;
  before(async () => {
    logic = new StubLogic();
    h = await startComet({}, logic, { replayHoldBytes: 100 });
  });
  after(() => h.stop());

  for (const transport of TRANSPORTS) {
    it(`${transport}: past the bound the replay is given up: op 18 "overflow", then every held batch and live`, async () => {
      const room = `live://over-${transport}`;
      logic.historyReply = () => reply('eb', 1, 3);
      const release = logic.hold('history');
      const c = await h.client(transport, { key: `over-${transport}`, room_id: room, history: { last: 3 } });
      await logic.waitFor('history', (r) => r.room === room);
      h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 4, 'a'.repeat(40))));
      h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 5, 'b'.repeat(40))));
      const [state, ...live] = await c.collect(3);
      assert.deepEqual(roomState(state), { room, epoch: '', first: 4, last: 3, recovered: false, reason: 'overflow' });
      assert.equal(h.comet.counters().replays?.overflow, transport === 'tcp' ? 1 : 2);
      assert.deepEqual(
        live.map((f) => f.seq),
        [4, 5],
      );
      release();
      h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 6, 'c')));
      // The late history answer adds nothing: the next frame is live.
      assert.deepEqual(brief([await c.next()]), ['1000:6:c']);
    });
  }
});

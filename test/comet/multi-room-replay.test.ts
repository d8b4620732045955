// Replay in joined rooms (docs/history.md#several-rooms): an opted-in multi-room connection gets
// each room's op 18, records and held live batches inside that room's op-23 envelopes, in order,
// without a gap or a duplicate; its history reads run one at a time; a room left meanwhile
// sends nothing more.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HistoryReply } from '../../src/ports/index.js';
import type { Frame, GoimTestClient } from '../support/goim-client.js';
import { StubLogic } from '../support/stub-logic.js';
import { openEnvelope } from '../support/room-envelope.js';
import { innerFrame, rawProto, startComet, turn, type Harness } from './harness.js';

function offsetFrame(op: number, seq: number, body: string): Buffer {
  const f = innerFrame(op, body);
  f.writeInt32BE(seq, 12);
  return f;
}

function reply(epoch: string, first: number, last: number, prefix = 'm'): HistoryReply {
  const records: HistoryReply['records'] = [];
  for (let o = first; o <= last; o++) records.push({ offset: o, op: 1000, body: Buffer.from(`${prefix}${o}`) });
  return { epoch, first, last, records, recovered: true };
}

/** An op-23 frame as `room|op:seq:body` per inner frame (op 18: its JSON). */
function opened(f: Frame): string[] {
  const { room, frames } = openEnvelope(f);
  return frames.map((x) => `${room}|${x.op}:${x.seq}:${x.body.toString()}`);
}

/** The next n room frames (enveloped), flattened. */
async function roomFrames(c: GoimTestClient, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) out.push(...opened(await c.nextWhere((f) => f.op === 23)));
  return out;
}

async function join(c: GoimTestClient, body: string, seq: number): Promise<{ code: number; message?: string; rooms: string[] }> {
  c.send(19, body, 1, seq);
  const f = await c.nextWhere((x) => x.op === 20 && x.seq === seq);
  return JSON.parse(f.body.toString()) as { code: number; rooms: string[] };
}

const TRANSPORTS = ['tcp', 'ws'] as const;

describe('replay in joined rooms', () => {
  let h: Harness;
  let logic: StubLogic;
  before(async () => {
    logic = new StubLogic();
    h = await startComet({}, logic);
  });
  after(() => h.stop());

  for (const transport of TRANSPORTS) {
    it(`${transport}: op 20, then the room's op 18 and records in its envelopes, held live batches after them without a duplicate, then live`, async () => {
      const room = `chat://j-${transport}`;
      logic.historyReply = (req) => (req.room === room ? reply('ej', 1, 3) : reply('', 1, 0));
      const c = await h.client(transport, { key: `j-${transport}`, room_id: `home://j-${transport}`, history: {} });
      const release = logic.hold('history');
      c.send(19, JSON.stringify({ room, history: { last: 3 } }), 1, 5);
      // The reply comes at once; the room's replay waits for its read.
      const r = await c.next();
      assert.deepEqual([r.op, r.seq, JSON.parse(r.body.toString())], [20, 5, { code: 0, rooms: [`home://j-${transport}`, room] }]);
      const call = await logic.waitFor('history', (x) => x.room === room);
      assert.equal(call.last, 3);
      // 3 is among the records read, 4 is not.
      h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 3, 'm3'), offsetFrame(1000, 4, 'm4')));
      await turn();
      assert.equal(c.queued, 0, "the room's live batches are held while its history is read");
      release();
      const got = await roomFrames(c, 5);
      assert.deepEqual(got, [
        `${room}|18:0:{"room":"${room}","epoch":"ej","first":1,"last":3,"recovered":true}`,
        `${room}|1000:1:m1`,
        `${room}|1000:2:m2`,
        `${room}|1000:3:m3`,
        `${room}|1000:4:m4`,
      ]);
      h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 5, 'm5')));
      assert.deepEqual(opened(await c.next()), [`${room}|1000:5:m5`]);
    });
  }

  it("several rooms in one join: each its own request (since per room), read one after another; the token's last where none is given", async () => {
    const rooms = ['chat://s1', 'chat://s2', 'chat://s3'];
    logic.historyReply = (req) => {
      if (req.room === 'chat://s1') return reply('e1', 5, 7, 'a');
      if (req.room === 'chat://s2') return reply('e2', 1, 2, 'b');
      if (req.room === 'chat://s3') return reply('e3', 1, 1, 'c');
      return reply('', 1, 0);
    };
    const c = await h.client('tcp', { key: 'several', room_id: 'home://several', history: { last: 1 } });
    const release = logic.hold('history');
    const before = logic.calls.history.length;
    const body = { rooms: [{ room: 'chat://s1', history: { since: 4, epoch: 'e1' } }, 'chat://s2', 'chat://s3'], history: { last: 2 } };
    assert.equal((await join(c, JSON.stringify(body), 6)).code, 0);
    await logic.waitFor('history', (x) => x.room === 'chat://s1');
    await turn();
    assert.equal(logic.calls.history.length, before + 1, 'one history read at a time per connection');
    release();
    const got = await roomFrames(c, 3 + 1 + 2 + 1 + 1 + 1);
    assert.deepEqual(got, [
      'chat://s1|18:0:{"room":"chat://s1","epoch":"e1","first":5,"last":7,"recovered":true}',
      'chat://s1|1000:5:a5',
      'chat://s1|1000:6:a6',
      'chat://s1|1000:7:a7',
      'chat://s2|18:0:{"room":"chat://s2","epoch":"e2","first":1,"last":2,"recovered":true}',
      'chat://s2|1000:1:b1',
      'chat://s2|1000:2:b2',
      'chat://s3|18:0:{"room":"chat://s3","epoch":"e3","first":1,"last":1,"recovered":true}',
      'chat://s3|1000:1:c1',
    ]);
    const calls = logic.calls.history.slice(before);
    assert.deepEqual(
      calls.map((x) => [x.room, x.last, x.since, x.epoch]),
      [
        ['chat://s1', 0, 4, 'e1'],
        ['chat://s2', 2, undefined, undefined],
        ['chat://s3', 2, undefined, undefined],
      ],
    );
    // A later join naming no history replays the token's `last` (1).
    logic.historyReply = (req) => (req.room === 'chat://s4' ? reply('e4', 1, 1, 'd') : reply('', 1, 0));
    assert.equal((await join(c, 'chat://s4', 7)).code, 0);
    assert.deepEqual(await roomFrames(c, 2), [
      'chat://s4|18:0:{"room":"chat://s4","epoch":"e4","first":1,"last":1,"recovered":true}',
      'chat://s4|1000:1:d1',
    ]);
    assert.equal(logic.calls.history.at(-1)!.last, 1);
    for (const room of rooms) {
      h.comet.broadcastRoom(room, rawProto(offsetFrame(1000, 99, `live ${room}`)));
      assert.deepEqual(opened(await c.next()), [`${room}|1000:99:live ${room}`]);
    }
  });

  it('a room left while its history is read sends nothing more; the other rooms go on', async () => {
    logic.historyReply = (req) => (req.room === 'chat://gone' ? reply('eg', 1, 2) : reply('', 1, 0));
    const c = await h.client('ws', { key: 'leaver', room_id: 'home://leaver', history: {} });
    const release = logic.hold('history');
    assert.equal((await join(c, '{"room":"chat://gone","history":{"last":5}}', 8)).code, 0);
    await logic.waitFor('history', (x) => x.room === 'chat://gone');
    h.comet.broadcastRoom('chat://gone', rawProto(offsetFrame(1000, 3, 'held')));
    c.send(21, 'chat://gone', 1, 9);
    const left = await c.nextWhere((f) => f.op === 22);
    assert.deepEqual(JSON.parse(left.body.toString()), { code: 0, rooms: ['home://leaver'] });
    release();
    await turn();
    await turn();
    h.comet.broadcastRoom('home://leaver', rawProto(innerFrame(1000, 'home')));
    // The next frame is the home room's: nothing of the room left, held or replayed.
    assert.deepEqual(opened(await c.next()), ['home://leaver|1000:0:home']);
  });

  it("a join while the connection's own room replays: the replay goes on in that room's envelopes; op 12 of a multi-room connection replays its new room", async () => {
    logic.historyReply = (req) => (req.room.startsWith('chat://m') ? reply('em', 1, 1, 'x') : reply('', 1, 0));
    const release = logic.hold('history');
    const c = await h.client('tcp', { key: 'mover', room_id: 'chat://m0', history: { last: 1 } });
    await logic.waitFor('history', (x) => x.room === 'chat://m0');
    h.comet.broadcastRoom('chat://m0', rawProto(offsetFrame(1000, 2, 'x2')));
    assert.deepEqual(await join(c, 'other://1', 10), { code: 0, rooms: ['chat://m0', 'other://1'] });
    h.comet.broadcastRoom('chat://m0', rawProto(offsetFrame(1000, 3, 'x3')));
    await turn();
    assert.equal(c.queued, 0, 'still held');
    release();
    assert.deepEqual(await roomFrames(c, 4), [
      'chat://m0|18:0:{"room":"chat://m0","epoch":"em","first":1,"last":1,"recovered":true}',
      'chat://m0|1000:1:x1',
      'chat://m0|1000:2:x2',
      'chat://m0|1000:3:x3',
    ]);
    c.send(12, '{"room":"chat://m2","history":{"last":1}}', 1, 12);
    assert.equal((await c.nextWhere((f) => f.op === 13)).body.toString(), '{"room":"chat://m2","history":{"last":1}}');
    assert.deepEqual(await roomFrames(c, 2), [
      'chat://m2|18:0:{"room":"chat://m2","epoch":"em","first":1,"last":1,"recovered":true}',
      'chat://m2|1000:1:x1',
    ]);
  });

  it('the rooms of one join replay more than the send queue holds: each waits for room, nothing is dropped', async () => {
    // 8 rooms × 1,000 records of ~300 bytes: 2.4 MB against a 1 MiB send queue.
    const rooms = Array.from({ length: 8 }, (_, i) => `big://${i}`);
    const body = 'x'.repeat(290);
    logic.historyReply = (req) => {
      if (!req.room.startsWith('big://')) return reply('', 1, 0);
      const records: HistoryReply['records'] = [];
      for (let o = 1; o <= 1000; o++) records.push({ offset: o, op: 1000, body: Buffer.from(`${req.room}#${String(o).padStart(4, '0')}${body}`) });
      return { epoch: 'eb', first: 1, last: 1000, records, recovered: true };
    };
    const c = await h.client('tcp', { key: 'big', room_id: 'home://big', history: {} });
    const dropped = h.comet.stats().pushesDropped;
    assert.equal((await join(c, JSON.stringify({ rooms, history: { last: 1000 } }), 20)).code, 0);
    const got = new Map<string, number[]>();
    const states: string[] = [];
    while ([...got.values()].reduce((n, l) => n + l.length, 0) < 8000) {
      for (const line of opened(await c.nextWhere((f) => f.op === 23))) {
        const [room, rest] = line.split('|');
        const [op, seq] = rest.split(':');
        if (op === '18') {
          states.push(rest.slice(5));
          continue;
        }
        let l = got.get(room);
        if (l === undefined) got.set(room, (l = []));
        l.push(Number(seq));
      }
    }
    assert.deepEqual([...got.keys()], rooms, 'one room after another');
    for (const room of rooms)
      assert.deepEqual(
        got.get(room),
        Array.from({ length: 1000 }, (_, i) => i + 1),
        room,
      );
    assert.deepEqual(
      states.map((x) => (JSON.parse(x) as { recovered: boolean; first: number; last: number }).recovered),
      rooms.map(() => true),
    );
    assert.deepEqual(h.comet.stats().pushesDropped, dropped, 'no push dropped');
  });

  it('a room left while its replay waits lets go of what it held: a later room does not overflow', async () => {
    const hc = await startComet({}, logic, { replayHoldBytes: 4096 });
    try {
      logic.historyReply = (req) => (req.room.startsWith('hold://') ? reply('eh', 1, 1, 'h') : reply('', 1, 0));
      const c = await hc.client('tcp', { key: 'holder', room_id: 'home://holder', history: {} });
      const release = logic.hold('history');
      assert.equal((await join(c, '{"rooms":["hold://a","hold://b"],"history":{"last":1}}', 30)).code, 0);
      await logic.waitFor('history', (x) => x.room === 'hold://a');
      // hold://b waits behind hold://a and holds 3 KB of live batches; then it is left.
      hc.comet.broadcastRoom('hold://b', rawProto(offsetFrame(1000, 2, 'b'.repeat(3000))));
      c.send(21, 'hold://b', 1, 31);
      assert.equal((JSON.parse((await c.nextWhere((f) => f.op === 22)).body.toString()) as { code: number }).code, 0);
      assert.equal((await join(c, 'hold://c', 32)).code, 0);
      // hold://c's 3 KB fits the 4 KB bound only if hold://b's bytes were let go.
      hc.comet.broadcastRoom('hold://c', rawProto(offsetFrame(1000, 2, 'c'.repeat(3000))));
      release();
      const got: string[] = [];
      while (got.length < 5) got.push(...opened(await c.nextWhere((f) => f.op === 23)));
      const short = got.map((l) => {
        const [room, rest] = l.split('|');
        const [op, seq, ...b] = rest.split(':');
        return op === '18' ? `${room} 18 recovered=${(JSON.parse(b.join(':')) as { recovered: boolean }).recovered}` : `${room} ${op}:${seq}`;
      });
      assert.deepEqual(short, ['hold://a 18 recovered=true', 'hold://a 1000:1', 'hold://c 18 recovered=true', 'hold://c 1000:1', 'hold://c 1000:2']);
    } finally {
      await hc.stop();
    }
  });
});

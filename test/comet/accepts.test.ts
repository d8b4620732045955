// Accept lists are shared between connections with the same ops; sub/unsub on one
// connection never shows on another (copy-on-write).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SharedAccepts } from '../../src/comet/accepts.js';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import { Op } from '../../src/protocol/ops.js';
import { innerFrame, rawProto, startComet, type Harness } from './harness.js';

describe('SharedAccepts', () => {
  it('gives one set for the same ops in any order, with duplicates', () => {
    const shared = new SharedAccepts();
    const a = shared.of([3, 1, 2]);
    assert.equal(shared.of([1, 2, 3, 3]), a);
    assert.deepEqual([...a], [1, 2, 3]);
    assert.notEqual(shared.of([1, 2]), a);
    assert.equal(shared.of([]), shared.of(new Set<number>()));
    assert.equal(shared.size, 3);
  });

  it('stops sharing new lists past its bound, still giving the right sets', () => {
    const shared = new SharedAccepts();
    for (let i = 0; i < 1100; i++) assert.ok(shared.of([i]).has(i));
    assert.equal(shared.size, 1024);
    assert.notEqual(shared.of([1099]), shared.of([1099]));
  });

  it('keeps long lists out of the cache: one client inventing lists cannot fill it with big sets', () => {
    const shared = new SharedAccepts();
    const long = Array.from({ length: 33 }, (_, i) => i);
    const a = shared.of(long);
    assert.equal(a.size, 33);
    assert.notEqual(shared.of(long), a);
    assert.equal(shared.size, 0);
  });
});

describe('accept set bounds and granted accepts', () => {
  let h: Harness;
  let hits: LimitHits;
  before(async () => {
    hits = new LimitHits();
    h = await startComet({ limits: { maxAccepts: 64 } }, undefined, { limits: hits });
  });
  after(() => h.stop());

  const ops = (from: number, n: number): string => Array.from({ length: n }, (_, i) => from + i).join(',');

  for (const transport of ['tcp', 'ws'] as const) {
    it(`a client subscribing to ever new ops is closed at limits.maxAccepts (${transport})`, async () => {
      const before = hits.snapshot().accepts ?? 0;
      const c = await h.client(transport, { key: `flood-${transport}`, accepts: [1] });
      c.send(Op.Sub, ops(100, 40), 1, 2);
      assert.equal((await c.next()).op, Op.SubReply);
      // Unsub frees room below the limit again.
      c.send(Op.Unsub, ops(100, 30), 1, 3);
      assert.equal((await c.next()).op, Op.UnsubReply);
      c.send(Op.Sub, ops(200, 40), 1, 4); // 1 + 10 + 40 = 51 ops: within 64
      assert.equal((await c.next()).op, Op.SubReply);
      c.send(Op.Sub, ops(300, 40), 1, 5); // 91: over
      await c.closed;
      assert.equal(c.queued, 0, 'no reply to the frame that went over');
      assert.equal((hits.snapshot().accepts ?? 0) - before, 1);
      await h.logic.waitFor('disconnect', (r) => r.key === `flood-${transport}`);
    });
  }

  it('an auth reply granting more than limits.maxAccepts ops is refused before op 8', async () => {
    const c = await h.tcp();
    c.send(Op.Auth, JSON.stringify({ key: 'too-many', accepts: Array.from({ length: 65 }, (_, i) => i) }));
    await c.closed;
    assert.equal(c.queued, 0);
  });

  it('with accepts granted by the auth mode, op 14 adds only granted ops; unsub and re-sub work', async () => {
    const before = hits.snapshot().accepts_not_granted ?? 0;
    const c = await h.client('ws', { key: 'granted', accepts: [1000, 1001], accepts_fixed: true });
    c.send(Op.Unsub, '1001', 1, 2);
    assert.equal((await c.next()).op, Op.UnsubReply);
    c.send(Op.Sub, '2001,1001', 1, 3);
    const reply = await c.next();
    assert.deepEqual([reply.op, reply.body.toString()], [Op.SubReply, '2001,1001']); // echoed, as goim
    assert.equal((hits.snapshot().accepts_not_granted ?? 0) - before, 1);
    h.comet.pushMsg(['granted'], 2001, rawProto(innerFrame(2001, 'not granted')));
    h.comet.pushMsg(['granted'], 1001, rawProto(innerFrame(1001, 'granted again')));
    assert.equal((await c.next()).body.toString(), 'granted again');
  });

  it('with a room granted by the auth mode, op 12 to another room is refused and names the room kept', async () => {
    const before = hits.snapshot().room_not_granted ?? 0;
    const c = await h.client('tcp', { key: 'room-granted', room_id: 'live://a', room_fixed: true });
    const free = await h.client('tcp', { key: 'room-free', room_id: 'live://a' });
    c.send(Op.ChangeRoom, 'live://b', 1, 2);
    free.send(Op.ChangeRoom, 'live://b', 1, 2);
    assert.equal((await c.next()).body.toString(), 'live://a');
    assert.equal((await free.next()).body.toString(), 'live://b', 'goim freedom without a grant');
    assert.equal((hits.snapshot().room_not_granted ?? 0) - before, 1);
    h.comet.broadcastRoom('live://b', rawProto(innerFrame(5, 'b')));
    h.comet.broadcastRoom('live://a', rawProto(innerFrame(5, 'a')));
    assert.equal((await c.next()).body.toString(), 'a');
    assert.equal((await free.next()).body.toString(), 'b');
  });
});

describe('accepts on live connections', () => {
  let h: Harness;
  before(async () => {
    h = await startComet();
  });
  after(() => h.stop());

  it('sub and unsub change only the connection that sent them', async () => {
    const a = await h.client('tcp', { key: 'acc-a', accepts: [1000] });
    const b = await h.client('ws', { key: 'acc-b', accepts: [1000] });
    a.send(Op.Sub, '2000', 1, 2);
    assert.equal((await a.next()).op, Op.SubReply);
    b.send(Op.Unsub, '1000', 1, 2);
    assert.equal((await b.next()).op, Op.UnsubReply);

    h.comet.broadcast(1000, rawProto(innerFrame(1000, 'to 1000')), 0);
    h.comet.broadcast(2000, rawProto(innerFrame(2000, 'to 2000')), 0);
    h.comet.pushMsg(['acc-a', 'acc-b'], 1000, rawProto(innerFrame(1000, 'key push')));
    assert.deepEqual(
      (await a.collect(3)).map((f) => f.body.toString()),
      ['to 1000', 'to 2000', 'key push'],
    );
    // b watches nothing now: the next push it gets is the one to an op it subscribes to after.
    b.send(Op.Sub, '3000', 1, 3);
    assert.equal((await b.next()).op, Op.SubReply);
    h.comet.broadcast(3000, rawProto(innerFrame(3000, 'marker')), 0);
    assert.equal((await b.next()).body.toString(), 'marker');
  });
});

// Accept lists are shared between connections with the same ops; sub/unsub on one
// connection never shows on another (copy-on-write).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SharedAccepts } from '../../src/comet/accepts.js';
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

// Logic.history over the memory history store (docs/history.md#replay): caps, and every
// recovered / not-recovered answer a joining connection can get.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryHistoryStore } from '../../src/adapters/memory/history-store.js';
import { startLogic, type Running } from './fixtures.js';
import { fill, makeRecords } from './history-fixtures.js';

const offsets = (r: { records: { offset: number }[] }): number[] => r.records.map((x) => x.offset);

describe('Logic.history', () => {
  let s: Running;
  const store = new MemoryHistoryStore();
  let epoch: string;
  before(async () => {
    s = await startLogic({ roomTypes: { live: { history: true, replayMax: 5 }, chat: { send: true } } }, { history: store });
    epoch = await fill(store, 'live://1', 20);
  });
  after(() => s.stop());

  it('a room type without history, or a room nothing was stored for: epoch "" (nothing extra)', async () => {
    for (const room of ['chat://1', 'nosuch://1', 'live://empty', 'no-type']) {
      const r = await s.logic.history({ room, last: 5, limit: 100 });
      assert.deepEqual(r, { epoch: '', first: 1, last: 0, records: [], recovered: true }, room);
    }
  });

  it('last N is capped by replayMax and by the request limit', async () => {
    const all = await s.logic.history({ room: 'live://1', last: 50, limit: 100 });
    assert.deepEqual([all.epoch, all.first, all.last, all.recovered], [epoch, 1, 20, true]);
    assert.deepEqual(offsets(all), [16, 17, 18, 19, 20]);
    assert.deepEqual(Buffer.from(all.records[0].body).toString(), 'm16');
    assert.deepEqual(offsets(await s.logic.history({ room: 'live://1', last: 3, limit: 100 })), [18, 19, 20]);
    assert.deepEqual(offsets(await s.logic.history({ room: 'live://1', last: 50, limit: 2 })), [19, 20]);
    assert.deepEqual(offsets(await s.logic.history({ room: 'live://1', last: 0, limit: 100 })), []);
  });

  it('since within the cap: the records after it', async () => {
    const r = await s.logic.history({ room: 'live://1', last: 0, since: 16, epoch, limit: 100 });
    assert.deepEqual([r.recovered, offsets(r)], [true, [17, 18, 19, 20]]);
    const none = await s.logic.history({ room: 'live://1', last: 0, since: 20, epoch, limit: 100 });
    assert.deepEqual([none.recovered, offsets(none), none.last], [true, [], 20]);
    // Past what the store holds: never "recovered" (comet reads again while the store catches up).
    const ahead = await s.logic.history({ room: 'live://1', last: 0, since: 25, epoch, limit: 100 });
    assert.deepEqual([ahead.recovered, ahead.reason, offsets(ahead)], [false, 'ahead', []]);
  });

  it('since with another epoch: not recovered, "epoch changed"', async () => {
    const r = await s.logic.history({ room: 'live://1', last: 0, since: 18, epoch: 'other', limit: 100 });
    assert.deepEqual([r.recovered, r.reason, r.epoch, offsets(r)], [false, 'epoch changed', epoch, []]);
  });

  it('more missing than the cap, or since + 1 no longer stored: not recovered, "gap too large"', async () => {
    const wide = await s.logic.history({ room: 'live://1', last: 0, since: 10, epoch, limit: 100 });
    assert.deepEqual([wide.recovered, wide.reason, offsets(wide)], [false, 'gap too large', []]);
    const capped = await s.logic.history({ room: 'live://1', last: 0, since: 17, epoch, limit: 2 });
    assert.deepEqual([capped.recovered, capped.reason], [false, 'gap too large']);
    const pruned = new MemoryHistoryStore();
    const e = await fill(pruned, 'live://p', 10);
    await pruned.prune([{ prefix: 'live://', keep: 3, maxAgeMs: 1e12 }], Date.now());
    const p = await startLogic({ roomTypes: { live: { history: true, replayMax: 100 } } }, { history: pruned });
    try {
      const r = await p.logic.history({ room: 'live://p', last: 0, since: 2, epoch: e, limit: 100 });
      assert.deepEqual([r.first, r.recovered, r.reason], [8, false, 'gap too large']);
      const ok = await p.logic.history({ room: 'live://p', last: 0, since: 7, epoch: e, limit: 100 });
      assert.deepEqual([ok.recovered, offsets(ok)], [true, [8, 9, 10]]);
    } finally {
      await p.stop();
    }
  });

  it('joins of one room at once share one state read and one records read, each answered as if alone', async () => {
    class CountingStore extends MemoryHistoryStore {
      readonly calls: string[] = [];
      override async state(room: string) {
        this.calls.push('state');
        return super.state(room);
      }
      override async after(room: string, after: number, limit: number) {
        this.calls.push(`after ${after} ${limit}`);
        return super.after(room, after, limit);
      }
      override async latest(room: string, n: number) {
        this.calls.push(`latest ${n}`);
        return super.latest(room, n);
      }
    }
    const counting = new CountingStore();
    const e = await fill(counting, 'live://storm', 300);
    const c = await startLogic({ roomTypes: { live: { history: true, replayMax: 100 } } }, { history: counting });
    try {
      counting.calls.length = 0;
      const sinces = Array.from({ length: 500 }, (_, i) => 200 + (i % 100));
      const lasts = [1, 7, 100, 30];
      const [bySince, byLast] = await Promise.all([
        Promise.all(sinces.map((since) => c.logic.history({ room: 'live://storm', last: 0, since, epoch: e, limit: 1000 }))),
        Promise.all(lasts.map((last) => c.logic.history({ room: 'live://storm', last, limit: 1000 }))),
      ]);
      bySince.forEach((r, i) => {
        assert.equal(r.recovered, true);
        assert.deepEqual(
          offsets(r),
          Array.from({ length: 300 - sinces[i] }, (_, k) => sinces[i] + 1 + k),
          `since ${sinces[i]}`,
        );
        if (r.records.length > 0) assert.equal(Buffer.from(r.records[0].body).toString(), `m${sinces[i] + 1}`);
      });
      byLast.forEach((r, i) =>
        assert.deepEqual(
          offsets(r),
          Array.from({ length: lasts[i] }, (_, k) => 301 - lasts[i] + k),
        ),
      );
      assert.deepEqual(counting.calls, ['state', 'after 200 100', 'latest 100']);
      // A join after the state was read starts a read of its own: it sees what was stored since.
      await counting.append([{ room: 'live://storm', epoch: e, records: makeRecords(301, 301) }]);
      const later = await c.logic.history({ room: 'live://storm', last: 0, since: 299, epoch: e, limit: 1000 });
      assert.deepEqual(offsets(later), [300, 301]);
    } finally {
      await c.stop();
    }
  });

  it('a store failure rejects (comet answers recovered false "unavailable")', async () => {
    store.failing = new Error('down');
    try {
      await assert.rejects(s.logic.history({ room: 'live://1', last: 5, limit: 100 }), /down/);
    } finally {
      store.failing = null;
    }
  });

  it('connect passes the token history request on', async () => {
    const r = await s.logic.connect({
      server: 'c1',
      cookie: '',
      token: Buffer.from('{"mid":1,"room_id":"live://1","history":{"since":3,"epoch":"ab"}}'),
    });
    assert.deepEqual(r.history, { last: 0, since: 3, epoch: 'ab' });
    const plain = await s.logic.connect({ server: 'c1', cookie: '', token: Buffer.from('{"mid":1,"room_id":"live://1"}') });
    assert.equal(plain.history, undefined);
  });
});

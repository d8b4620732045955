// Logic.history over the memory history store (docs/history.md#replay): caps, and every
// recovered / not-recovered answer a joining connection can get.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryHistoryStore } from '../../src/adapters/memory/history-store.js';
import { startLogic, type Running } from './fixtures.js';
import { fill } from './history-fixtures.js';

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

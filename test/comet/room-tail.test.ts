// The rooms' recent records kept for joiners (docs/history.md#replay-cache): contiguous or
// nothing, epochs from the job's announcement or from an overlapping history reply, and the
// byte and count bounds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FRAME_OVERHEAD, RoomTail, RoomTails, TAIL_OVERHEAD } from '../../src/comet/room-tail.js';
import { encodeFrame } from '../../src/protocol/frame.js';

/** A room batch body: frames of op 1000 "m<offset>" (seq = offset), or op 18 announcements. */
function batch(...parts: Array<number | { epoch: string; first: number } | 'unnumbered'>): Buffer {
  return Buffer.concat(
    parts.map((p) =>
      typeof p === 'number'
        ? encodeFrame(1000, Buffer.from(`m${p}`), 1, p)
        : p === 'unnumbered'
          ? encodeFrame(1000, Buffer.from('x'), 1, 0)
          : encodeFrame(18, Buffer.from(JSON.stringify({ room: 'live://1', ...p })), 1, 0),
    ),
  );
}

const offsets = (t: RoomTail, n = 1000): number[] => t.newest(n).map((r) => r.offset);
const BIG = 1 << 20;

describe('room tail', () => {
  it('keeps contiguous records; the epoch is unknown until announced or learned', () => {
    const t = new RoomTail();
    t.append(batch(5, 6), BIG, 1000);
    t.append(batch(7), BIG, 1000);
    assert.deepEqual([t.first, t.last, t.count, t.epoch, t.complete], [5, 7, 3, '', false]);
    assert.deepEqual(offsets(t, 2), [6, 7]);
    assert.deepEqual(
      t.slice(6).map((r) => [r.offset, r.op, r.body.toString()]),
      [
        [6, 1000, 'm6'],
        [7, 1000, 'm7'],
      ],
    );
  });

  it('an announcement starts a complete tail of that epoch, also at offset 1', () => {
    const t = new RoomTail();
    t.append(batch(1, 2), BIG, 1000);
    t.append(batch({ epoch: 'e2', first: 1 }, 1, 2), BIG, 1000);
    assert.deepEqual([t.epoch, t.complete, t.first, t.last], ['e2', true, 1, 2]);
    t.append(batch({ epoch: 'e3', first: 40 }), BIG, 1000);
    assert.deepEqual([t.epoch, t.complete, t.first, t.last, t.count], ['e3', true, 40, 39, 0]);
  });

  it('a gap, an offset going back or a message without offset forgets everything', () => {
    const t = new RoomTail();
    t.append(batch({ epoch: 'e', first: 1 }, 1, 2), BIG, 1000);
    t.append(batch(4), BIG, 1000);
    assert.deepEqual([t.epoch, t.complete, t.first, t.last], ['', false, 4, 4]);
    t.learn({ epoch: 'e', first: 1, last: 4, records: [], recovered: true });
    assert.equal(t.epoch, 'e');
    t.append(batch(3), BIG, 1000);
    assert.deepEqual([t.epoch, t.first, t.last], ['', 3, 3]);
    t.append(batch('unnumbered'), BIG, 1000);
    assert.deepEqual([t.epoch, t.count], ['', 0]);
  });

  it('a malformed announcement forgets the epoch', () => {
    const t = new RoomTail();
    t.append(batch({ epoch: 'e', first: 1 }, 1), BIG, 1000);
    t.append(Buffer.concat([encodeFrame(18, Buffer.from('{'), 1, 0)]), BIG, 1000);
    assert.deepEqual([t.epoch, t.count], ['', 0]);
    t.append(batch({ epoch: 'e', first: -3 }), BIG, 1000);
    assert.equal(t.epoch, '');
  });

  it('learns an epoch only from a reply that reaches into the tail', () => {
    const t = new RoomTail();
    t.append(batch(10, 11), BIG, 1000);
    // A store still at the previous epoch, ending just before the tail: not the tail's epoch.
    t.learn({ epoch: 'old', first: 1, last: 9, records: [], recovered: true });
    assert.equal(t.epoch, '');
    t.learn({ epoch: 'cur', first: 1, last: 10, records: [], recovered: true });
    assert.equal(t.epoch, 'cur');
    // An older epoch's reply ending before the tail changes nothing.
    t.learn({ epoch: 'older', first: 1, last: 9, records: [], recovered: true });
    assert.equal(t.epoch, 'cur');
    // Another epoch stored at the tail's offsets: the numbering followed was not the one stored.
    t.learn({ epoch: 'other', first: 1, last: 11, records: [], recovered: true });
    assert.deepEqual([t.epoch, t.count], ['', 0]);
  });

  it('stored records of its epoch that continue into it are put in front, within the bounds', () => {
    const stored = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => ({ offset: from + i, op: 1000, body: Buffer.from(`m${from + i}`) }));
    const t = new RoomTail();
    t.append(batch(10, 11), BIG, 1000);
    assert.equal(t.seed('e', stored(1, 12), BIG, 1000), 0, 'epoch not known yet');
    t.learn({ epoch: 'e', first: 1, last: 12, records: [], recovered: true });
    assert.equal(t.seed('other', stored(1, 9), BIG, 1000), 0, 'another epoch');
    assert.equal(t.seed('e', stored(1, 8), BIG, 1000), 0, 'a gap before the tail');
    assert.ok(t.seed('e', stored(3, 12), BIG, 5) > 0);
    assert.deepEqual(offsets(t), [7, 8, 9, 10, 11], 'newest first while the record bound allows');
    assert.deepEqual(
      t.slice(7).map((r) => r.body.toString()),
      ['m7', 'm8', 'm9', 'm10', 'm11'],
    );
    t.append(batch(12), BIG, 1000);
    assert.deepEqual(offsets(t, 2), [11, 12]);
  });

  it('evicts the oldest past the byte and the record bound; then it is no longer complete', () => {
    const t = new RoomTail();
    t.append(batch({ epoch: 'e', first: 1 }, 1, 2, 3, 4, 5), BIG, 3);
    assert.deepEqual([offsets(t), t.complete], [[3, 4, 5], false]);
    const cost = encodeFrame(1000, Buffer.from('m6'), 1, 6).length + FRAME_OVERHEAD;
    t.append(batch(6), 2 * cost, 1000);
    assert.deepEqual(offsets(t), [5, 6]);
    assert.equal(t.bytes, 2 * cost);
  });
});

describe('room tails', () => {
  it('stay within the shared budget: the least recently fed room goes first', () => {
    const frame = encodeFrame(1000, Buffer.from('m1'), 1, 1).length + FRAME_OVERHEAD;
    const tails = new RoomTails<object>(4 * frame + 2 * TAIL_OVERHEAD, 3 * frame, 1000);
    const a = {};
    const b = {};
    tails.append(a, batch(1, 2));
    tails.append(b, batch(1, 2));
    tails.append(a, batch(3));
    assert.equal(tails.bytes, 3 * frame + TAIL_OVERHEAD);
    assert.equal(tails.get(b), undefined, 'b was fed least recently');
    assert.deepEqual(offsets(tails.get(a)!), [1, 2, 3]);
    tails.append(a, batch(4, 5));
    assert.deepEqual(offsets(tails.get(a)!), [3, 4, 5], 'one room holds at most roomBytes');
    assert.equal(tails.bytes, 3 * frame + TAIL_OVERHEAD);
    tails.drop(a);
    assert.deepEqual([tails.bytes, tails.size], [0, 0]);
  });

  it('a budget of 0 keeps nothing', () => {
    const tails = new RoomTails<object>(0, 1000, 1000);
    const a = {};
    tails.append(a, batch(1));
    assert.equal(tails.get(a), undefined);
  });
});

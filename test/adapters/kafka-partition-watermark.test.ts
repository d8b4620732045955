// PartitionWatermark: what one Kafka partition may commit when handlers finish out of order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PartitionWatermark } from '../../src/adapters/kafka/partition-watermark.js';

describe('PartitionWatermark', () => {
  it('moves only past records whose every predecessor finished', () => {
    const w = new PartitionWatermark<string>();
    for (const o of [10n, 11n, 12n, 13n]) assert.equal(w.add(o, `c${o}`), true);
    assert.equal(w.finish(12n), null, '10 and 11 still running');
    assert.equal(w.finish(11n), null, '10 still running');
    assert.equal(w.finish(10n), 'c12', '10, 11 and 12 done: commit up to 12');
    assert.equal(w.size, 1);
    assert.equal(w.finish(13n), 'c13');
    assert.equal(w.size, 0);
  });

  it('follows offsets with gaps (compacted or transactional topics)', () => {
    const w = new PartitionWatermark<string>();
    w.add(5n, 'c5');
    w.add(9n, 'c9');
    assert.equal(w.finish(9n), null);
    assert.equal(w.finish(5n), 'c9');
  });

  it('refuses a record received before (fetched again after a rebalance), and ignores unknown offsets', () => {
    const w = new PartitionWatermark<string>();
    w.add(1n, 'c1');
    w.add(2n, 'c2');
    assert.equal(w.add(1n, 'again'), false);
    assert.equal(w.add(2n, 'again'), false);
    assert.equal(w.finish(7n), null);
    assert.equal(w.finish(1n), 'c1');
    assert.equal(w.add(3n, 'c3'), true);
  });

  it('keeps working past its compaction point', () => {
    const w = new PartitionWatermark<number>();
    for (let i = 0; i < 5000; i++) w.add(BigInt(i), i);
    let last: number | null = null;
    for (let i = 0; i < 5000; i++) last = w.finish(BigInt(i)) ?? last;
    assert.equal(last, 4999);
    assert.equal(w.size, 0);
  });
});

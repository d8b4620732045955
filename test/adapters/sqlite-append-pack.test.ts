// The SQLite thread's append packing (src/adapters/sqlite/append-pack.ts): what the thread
// unpacks is exactly what was appended, whatever the ids, bodies, mids and positions hold.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { packAppend, unpackAppend } from '../../src/adapters/sqlite/append-pack.js';
import type { AppendBatch } from '../../src/ports/index.js';

const record = fc.record({
  offset: fc.integer({ min: 1, max: 2 ** 32 }),
  id: fc.string({ unit: 'binary', maxLength: 40 }),
  op: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  body: fc.uint8Array({ maxLength: 300 }),
  mid: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
  time: fc.integer({ min: 0, max: 2 ** 45 }),
  progress: fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: null }),
});
const batches = fc.array(fc.record({ room: fc.string({ minLength: 1 }), epoch: fc.string(), records: fc.array(record, { maxLength: 20 }) }), {
  maxLength: 8,
});

const plain = (bs: AppendBatch[]) => bs.map((b) => ({ ...b, records: b.records.map((r) => ({ ...r, body: [...r.body] })) }));

describe('append packing for the SQLite thread', () => {
  test('unpack(pack(x)) is x, after a structured clone with the buffer transferred', () => {
    fc.assert(
      fc.property(batches, (bs) => {
        const packed = packAppend(bs);
        const moved = structuredClone(packed, { transfer: [packed.buffer] });
        assert.equal(packed.buffer.byteLength, 0, 'the buffer was transferred, not copied');
        assert.deepEqual(plain(unpackAppend(moved)), plain(bs));
      }),
      { numRuns: 300 },
    );
  });

  test('a body that is a view into a larger buffer travels as its own bytes only', () => {
    const slab = new Uint8Array(1 << 16).fill(7);
    const body = slab.subarray(100, 103);
    body.set([1, 2, 3]);
    const packed = packAppend([{ room: 'live://1', epoch: 'e', records: [{ offset: 1, id: 'a', op: 9, body, mid: 5n, time: 1, progress: 0 }] }]);
    assert.equal(packed.buffer.byteLength, 48 + 3);
    const [b] = unpackAppend(packed);
    assert.deepEqual([...b.records[0].body], [1, 2, 3]);
    assert.equal(b.records[0].progress, 0);
  });
});

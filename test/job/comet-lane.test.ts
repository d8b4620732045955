import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CometLane, newLaneCounters } from '../../src/job/comet-lane.js';
import { FakeComet, cometInstance, withTimeout, type CometCallRecord } from './fakes.js';
import { pushProto, roomBatchProto } from '../../src/job/push-frame.js';

function run(lane: CometLane, key: string | null, room: string, n: number): Promise<Error | null> {
  return new Promise((resolve) =>
    lane.submit(
      key,
      (c) => c.broadcastRoom(room, pushProto(1000, Buffer.from(String(n)))),
      (err) => resolve(err),
    ),
  );
}

test('calls with one order key run one after another, in order', async () => {
  // Random delays would reorder completions if calls for a room overlapped.
  const comet = new FakeComet('c1', { delay: () => Math.random() * 3 });
  const lane = new CometLane(cometInstance('c1'), comet, 32);
  const all: Promise<Error | null>[] = [];
  for (let i = 0; i < 200; i++) all.push(run(lane, `room${i % 4}`, `room${i % 4}`, i));
  const results = await withTimeout(Promise.all(all), 10_000, 'lane calls');
  assert.ok(results.every((r) => r === null));
  assert.equal(comet.overlappingRoomCalls, 0);
  assert.ok(comet.maxInFlight > 1, 'different rooms run concurrently');
  for (let r = 0; r < 4; r++) {
    const seen = comet.calls
      .filter((c) => c.kind === 'room' && c.room === `room${r}`)
      .map((c) => Number(Buffer.from(c.proto.body.subarray(16)).toString()));
    assert.deepEqual(
      seen,
      Array.from({ length: 50 }, (_, j) => j * 4 + r),
    );
  }
  await lane.close();
  assert.ok(comet.closed);
});

test('at most routineSize calls in flight; unkeyed calls start in submission order', async () => {
  const comet = new FakeComet('c1', { delay: 1 });
  const lane = new CometLane(cometInstance('c1'), comet, 3);
  const started: number[] = [];
  const all: Promise<void>[] = [];
  for (let i = 0; i < 20; i++) {
    all.push(
      new Promise((resolve, reject) =>
        lane.submit(
          null,
          (c) => {
            started.push(i);
            return c.pushMsg([`k${i}`], 1000, pushProto(1000, Buffer.from('x')));
          },
          (err) => (err ? reject(err) : resolve()),
        ),
      ),
    );
  }
  await withTimeout(Promise.all(all), 10_000, 'lane calls');
  assert.equal(comet.maxInFlight, 3);
  assert.deepEqual(
    started,
    Array.from({ length: 20 }, (_, i) => i),
  );
  await lane.close();
});

test('close() skips queued calls and awaits running ones; a call failing as its comet leaves is skipped', async () => {
  const comet = new FakeComet('c1', { delay: 5, fail: (_c, i) => (i === 0 ? new Error('boom') : null) });
  const counters = newLaneCounters();
  const lane = new CometLane(cometInstance('c1'), comet, 1, () => {}, counters);
  const first = new Promise<[Error | null, boolean]>((resolve) =>
    lane.submit(
      'r',
      (c) => c.broadcastRoom('r', pushProto(1, Buffer.alloc(0))),
      (err, skipped) => resolve([err, skipped === true]),
    ),
  );
  const queued = new Promise<[Error | null, boolean]>((resolve) =>
    lane.submit(
      'r',
      (c) => c.broadcastRoom('r', pushProto(1, Buffer.alloc(0))),
      (err, skipped) => resolve([err, skipped === true]),
    ),
  );
  const closed = lane.close();
  assert.equal(comet.closed, false, 'client stays open while a call runs');
  assert.deepEqual(await queued, [null, true]);
  assert.deepEqual(await first, [null, true], 'failed after close: nobody left to retry for');
  assert.equal(await closed, 1);
  assert.ok(comet.closed);
  assert.equal(comet.attempts, 1, 'the skipped call never reached the comet');
  assert.equal(counters.droppedRemoved, 2);
});

/** Submits a one-message room batch; resolves with the call's error (null on success). */
function runBatch(lane: CometLane, room: string, body: string): Promise<Error | null> {
  return new Promise((resolve) => lane.submitRoomBatch(room, roomBatchProto([1000], [Buffer.from(body)], 16 + body.length), (err) => resolve(err)));
}

/** The message bodies of a room call's op-9 proto, in order. */
function bodies(proto: { body: Uint8Array }): string[] {
  const b = Buffer.from(proto.body);
  const out: string[] = [];
  for (let off = 0; off < b.length;) {
    const len = b.readUInt32BE(off);
    out.push(b.subarray(off + 16, off + len).toString());
    off += len;
  }
  return out;
}

test('room batches queued behind a running call go out as one call, in order', async () => {
  const comet = new FakeComet('c1', { delay: 20 });
  const counters = newLaneCounters();
  const lane = new CometLane(cometInstance('c1'), comet, 8, () => {}, counters);
  const done = [runBatch(lane, 'r', 'a'), runBatch(lane, 'r', 'b'), runBatch(lane, 'other', 'x'), runBatch(lane, 'r', 'c'), runBatch(lane, 'r', 'd')];
  assert.deepEqual(await withTimeout(Promise.all(done), 5000, 'batches'), [null, null, null, null, null]);
  const r = comet.calls.filter((c) => c.kind === 'room' && c.room === 'r').map((c) => bodies(c.proto));
  assert.deepEqual(r, [['a'], ['b', 'c', 'd']], 'b, c and d waited behind a and were merged');
  assert.deepEqual(
    comet.calls.filter((c) => c.kind === 'room' && c.room === 'other').map((c) => bodies(c.proto)),
    [['x']],
  );
  assert.equal(counters.mergedBatches, 2);
  assert.equal(comet.overlappingRoomCalls, 0);
  await lane.close();
});

test('a merge stops at 64 KiB; a failed merged call is retried in order and still delivered once', async () => {
  const comet = new FakeComet('c1', { delay: 10, fail: (_c, i) => (i === 1 ? new Error('down') : null) });
  const counters = newLaneCounters();
  const lane = new CometLane(cometInstance('c1'), comet, 8, () => {}, counters, { retryDelay: 1 });
  const big = 'x'.repeat(40 * 1024);
  const done = [runBatch(lane, 'r', 'a'), runBatch(lane, 'r', 'b'), runBatch(lane, 'r', 'c'), runBatch(lane, 'r', big), runBatch(lane, 'r', big)];
  const errs = await withTimeout(Promise.all(done), 5000, 'batches');
  assert.deepEqual(errs, [null, null, null, null, null]);
  assert.deepEqual(
    comet.failed.map((c) => (c.kind === 'room' ? bodies(c.proto).map((b) => b.length) : [])),
    [[1, 1, 40 * 1024]],
    'b, c and the first big batch went as one call (the second would pass 64 KiB)',
  );
  const got = comet.calls.flatMap((c) => (c.kind === 'room' ? bodies(c.proto) : []));
  assert.deepEqual(got, ['a', 'b', 'c', big, big], 'each once, in order');
  assert.ok(comet.calls.every((c) => c.kind !== 'room' || c.proto.body.length <= 64 * 1024 + 16 * 3));
  assert.equal(counters.retries, 1);
  await lane.close();
});

test('a merge never passes the lane policy mergeMaxBytes', async () => {
  const comet = new FakeComet('c1', { delay: 5 });
  const lane = new CometLane(cometInstance('c1'), comet, 8, () => {}, newLaneCounters(), { mergeMaxBytes: 100 });
  const body = 'y'.repeat(30); // 46 bytes per frame: two fit in 100, three do not
  const done = [1, 2, 3, 4, 5, 6].map(() => runBatch(lane, 'r', body));
  assert.deepEqual(await withTimeout(Promise.all(done), 5000, 'batches'), [null, null, null, null, null, null]);
  assert.deepEqual(
    comet.calls.map((c) => c.proto.body.length),
    [46, 92, 92, 46],
  );
  await lane.close();
});

/** A room call's batch numbers, with the bodies they name (checked against the call's body). */
function numbered(c: CometCallRecord): { lane: string; seqs: number[]; bodies: string[] } {
  assert.ok(c.kind === 'room' && c.parts !== undefined, 'a room call names its batches');
  const { lane, seqs, lens } = c.parts;
  assert.equal(
    lens.reduce((a, b) => a + b, 0),
    c.proto.body.length,
  );
  const out: string[] = [];
  let off = 0;
  for (const len of lens) {
    out.push(...bodies({ body: c.proto.body.subarray(off, off + len) }));
    off += len;
  }
  return { lane, seqs: [...seqs], bodies: out };
}

test('room batches are numbered once: a failed merged call retried with other boundaries names the same batches by the same numbers', async () => {
  let lane: CometLane | undefined;
  const late: Promise<Error | null>[] = [];
  const comet = new FakeComet('c1', {
    delay: 5,
    // The merged call [b, c] fails; d and e arrive meanwhile, so the retry is [b, c, d, e].
    fail: (c) => {
      if (c.kind !== 'room' || bodies(c.proto).join() !== 'b,c') return null;
      late.push(runBatch(lane!, 'r', 'd'), runBatch(lane!, 'r', 'e'));
      return new Error('deadline exceeded');
    },
  });
  lane = new CometLane(cometInstance('c1'), comet, 8, () => {}, newLaneCounters(), { retryDelay: 1 });
  const other = new CometLane(cometInstance('c1'), new FakeComet('c1'), 8);
  const first = [runBatch(lane, 'r', 'a'), runBatch(lane, 'r', 'b'), runBatch(lane, 'q', 'x'), runBatch(lane, 'r', 'c')];
  assert.deepEqual(await withTimeout(Promise.all(first), 5000, 'batches'), [null, null, null, null]);
  assert.deepEqual(await withTimeout(Promise.all(late), 5000, 'late batches'), [null, null]);

  const started = comet.started.map(numbered);
  assert.deepEqual(
    started.map((c) => c.bodies),
    [['a'], ['x'], ['b', 'c'], ['b', 'c', 'd', 'e']],
  );
  assert.ok(/^[0-9a-f]{16}$/.test(lane.id));
  assert.notEqual(lane.id, other.id, 'each lane its own id');
  assert.ok(started.every((c) => c.lane === lane.id));
  const seqOf = new Map<string, number>();
  for (const c of started)
    c.bodies.forEach((b, i) => {
      const had = seqOf.get(b);
      if (had === undefined) seqOf.set(b, c.seqs[i]);
      else assert.equal(c.seqs[i], had, `batch ${b} keeps its number in the retry`);
    });
  const r = ['a', 'b', 'c', 'd', 'e'].map((b) => seqOf.get(b)!);
  assert.ok(
    r.every((s, i) => i === 0 || s > r[i - 1]),
    `numbers grow within the room: ${r.join(',')}`,
  );
  assert.equal(new Set(seqOf.values()).size, 6, 'no two batches share a number');
  await lane.close();
  await other.close();
});

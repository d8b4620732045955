import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CometLane } from '../../src/job/comet-lane.js';
import { FakeComet, cometInstance, withTimeout } from './fakes.js';
import { pushProto, roomBatchProto } from '../../src/job/push-frame.js';

function run(lane: CometLane, key: string | null, room: string, n: number): Promise<Error | null> {
  return new Promise((resolve) =>
    lane.submit(key, (c) => c.broadcastRoom(room, pushProto(1000, Buffer.from(String(n)))), (err) => resolve(err)),
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
    assert.deepEqual(seen, Array.from({ length: 50 }, (_, j) => j * 4 + r));
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
  assert.deepEqual(started, Array.from({ length: 20 }, (_, i) => i));
  await lane.close();
});

test('a failing call reports its error; close() skips queued calls and awaits running ones', async () => {
  const comet = new FakeComet('c1', { delay: 5, fail: (_c, i) => (i === 0 ? new Error('boom') : null) });
  const lane = new CometLane(cometInstance('c1'), comet, 1);
  const first = run(lane, 'r', 'r', 0);
  const skipped: boolean[] = [];
  const queued = new Promise<void>((resolve) =>
    lane.submit('r', (c) => c.broadcastRoom('r', pushProto(1, Buffer.alloc(0))), (err, wasSkipped) => {
      assert.equal(err, null);
      skipped.push(wasSkipped === true);
      resolve();
    }),
  );
  const closed = lane.close();
  assert.equal(comet.closed, false, 'client stays open while a call runs');
  assert.equal((await first)?.message, 'boom');
  await queued;
  assert.equal(await closed, 1);
  assert.deepEqual(skipped, [true]);
  assert.ok(comet.closed);
  assert.equal(comet.attempts, 1, 'the skipped call never reached the comet');
});

/** Submits a one-message room batch; resolves with the call's error (null on success). */
function runBatch(lane: CometLane, room: string, body: string): Promise<Error | null> {
  return new Promise((resolve) => lane.submitRoomBatch(room, roomBatchProto([1000], [Buffer.from(body)], 16 + body.length), (err) => resolve(err)));
}

/** The message bodies of a room call's op-9 proto, in order. */
function bodies(proto: { body: Uint8Array }): string[] {
  const b = Buffer.from(proto.body);
  const out: string[] = [];
  for (let off = 0; off < b.length; ) {
    const len = b.readUInt32BE(off);
    out.push(b.subarray(off + 16, off + len).toString());
    off += len;
  }
  return out;
}

test('room batches queued behind a running call go out as one call, in order', async () => {
  const comet = new FakeComet('c1', { delay: 20 });
  const counters = { mergedBatches: 0 };
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

test('a failed merged call fails every batch in it; a merge stops at 64 KiB', async () => {
  const comet = new FakeComet('c1', { delay: 10, fail: (_c, i) => (i === 1 ? new Error('down') : null) });
  const lane = new CometLane(cometInstance('c1'), comet, 8);
  const big = 'x'.repeat(40 * 1024);
  const done = [runBatch(lane, 'r', 'a'), runBatch(lane, 'r', 'b'), runBatch(lane, 'r', 'c'), runBatch(lane, 'r', big), runBatch(lane, 'r', big)];
  const errs = await withTimeout(Promise.all(done), 5000, 'batches');
  assert.equal(errs[0], null);
  assert.equal(errs[1]?.message, 'down');
  assert.equal(errs[2]?.message, 'down', 'c went in the same call as b');
  assert.equal(errs[3]?.message, 'down', 'the first big batch still fits with b and c');
  assert.equal(errs[4], null, 'the second big batch would pass 64 KiB: its own call');
  await lane.close();
});

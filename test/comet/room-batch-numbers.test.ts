// Numbered room batches (docs/internal-protocol.md#room-batch-numbers): a call whose first
// batches the room had already writes only the others; a call without usable numbers is
// written whole, as goim's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RoomBatchParts } from '../../src/ports/index.js';
import { eventually } from '../support/eventually.js';
import type { GoimTestClient } from '../support/goim-client.js';
import { innerFrame, rawProto, startComet, type Harness } from './harness.js';

/** The parts of a numbered call: `frames` with their numbers. */
function numbers(lane: string, seqs: number[], frames: Buffer[]): RoomBatchParts {
  return { lane, seqs, lens: frames.map((f) => f.length) };
}

/** The TCP bytes a client got from `from` on, up to and including the frame with body `last`. */
async function bytesUntil(c: GoimTestClient, from: number, last: string): Promise<Buffer> {
  await c.nextWhere((f) => f.body.toString() === last);
  return c.rawBytes().subarray(from);
}

describe('numbered room batches', () => {
  let h: Harness;
  before(async () => {
    h = await startComet();
  });
  after(() => h.stop());

  it('a call whose first batches were written already writes only the rest; a lane is remembered per room', async () => {
    const room = 'live://numbered';
    const c = await h.client('tcp', { room_id: room });
    const [a, b, d, e, end] = ['a', 'bb', 'ddd', 'eeee', 'end'].map((s) => innerFrame(1000, s));
    const at = c.rawBytes().length;
    const repeated0 = h.comet.counters().roomBatchesRepeated ?? 0;
    h.comet.broadcastRoom(room, rawProto(a, b), numbers('lane1', [3, 7], [a, b]));
    // The retry of that call, merged with the next batch: a and b were written.
    h.comet.broadcastRoom(room, rawProto(a, b, d), numbers('lane1', [3, 7, 9], [a, b, d]));
    // Only repeats: nothing to write.
    h.comet.broadcastRoom(room, rawProto(b, d), numbers('lane1', [7, 9], [b, d]));
    // Another lane numbers on its own.
    h.comet.broadcastRoom(room, rawProto(e), numbers('lane2', [1], [e]));
    h.comet.broadcastRoom(room, rawProto(end));
    assert.deepEqual(await bytesUntil(c, at, 'end'), Buffer.concat([a, b, d, e, end]));
    assert.equal((h.comet.counters().roomBatchesRepeated ?? 0) - repeated0, 4);
  });

  it('numbers that do not fit the body, or could not be read, are ignored: the call is written whole', async () => {
    const room = 'live://unnumbered';
    const c = await h.client('tcp', { room_id: room });
    const [a, b, end] = ['a', 'b', 'end'].map((s) => innerFrame(1000, s));
    const at = c.rawBytes().length;
    const unnumbered0 = h.comet.counters().roomCallsUnnumbered ?? 0;
    h.comet.broadcastRoom(room, rawProto(a), numbers('lane1', [5], [a]));
    // Lengths that do not add up to the body: written whole (a again).
    h.comet.broadcastRoom(room, rawProto(a, b), { lane: 'lane1', seqs: [5, 6], lens: [a.length, b.length + 1] });
    // Numbers not increasing.
    h.comet.broadcastRoom(room, rawProto(a, b), { lane: 'lane1', seqs: [5, 5], lens: [a.length, b.length] });
    // Unreadable metadata.
    h.comet.broadcastRoom(room, rawProto(b), null);
    h.comet.broadcastRoom(room, rawProto(end));
    assert.deepEqual(await bytesUntil(c, at, 'end'), Buffer.concat([a, a, b, a, b, b, end]));
    assert.equal((h.comet.counters().roomCallsUnnumbered ?? 0) - unnumbered0, 3);
  });

  it('batches to skip that end inside a frame are not cut: the call is written whole', async () => {
    const room = 'live://split';
    const c = await h.client('tcp', { room_id: room });
    const [a, b, end] = ['aaaa', 'bbbb', 'end'].map((s) => innerFrame(1000, s));
    const at = c.rawBytes().length;
    const unnumbered0 = h.comet.counters().roomCallsUnnumbered ?? 0;
    h.comet.broadcastRoom(room, rawProto(a), numbers('lane1', [5], [a]));
    // Lengths that add up but put the cut two bytes into b: a cut there would leave the
    // client half a frame.
    h.comet.broadcastRoom(room, rawProto(a, b), { lane: 'lane1', seqs: [5, 6], lens: [a.length + 2, b.length - 2] });
    h.comet.broadcastRoom(room, rawProto(end));
    assert.deepEqual(await bytesUntil(c, at, 'end'), Buffer.concat([a, a, b, end]));
    assert.equal((h.comet.counters().roomCallsUnnumbered ?? 0) - unnumbered0, 1);
  });

  it('a room forgets the lane it heard from least recently past four, and everything when it empties', async () => {
    const room = 'live://lanes';
    const c = await h.client('tcp', { room_id: room });
    const x = innerFrame(1000, 'x');
    const end = innerFrame(1000, 'end');
    const at = c.rawBytes().length;
    for (const lane of ['l1', 'l2', 'l3', 'l4', 'l1', 'l5']) h.comet.broadcastRoom(room, rawProto(x), numbers(lane, [1], [x]));
    // l1's repeat (not written) made it more recent than l2, so l5 pushed l2 out: l1 still
    // knows 1, l2 writes its 1 again.
    h.comet.broadcastRoom(room, rawProto(x), numbers('l1', [1], [x]));
    h.comet.broadcastRoom(room, rawProto(x), numbers('l2', [1], [x]));
    h.comet.broadcastRoom(room, rawProto(end));
    assert.deepEqual(await bytesUntil(c, at, 'end'), Buffer.concat([x, x, x, x, x, x, end]));

    // The room goes with its last member, and what it knew with it.
    c.close();
    await eventually(() => !h.comet.rooms().includes(room), 'the room to go');
    const again = await h.client('tcp', { room_id: room });
    const at2 = again.rawBytes().length;
    h.comet.broadcastRoom(room, rawProto(x), numbers('l1', [1], [x]));
    h.comet.broadcastRoom(room, rawProto(end));
    assert.deepEqual(await bytesUntil(again, at2, 'end'), Buffer.concat([x, end]));
  });
});

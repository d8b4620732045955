// A room call the comet wrote but answered after its deadline is retried by the job's lane
// (merged with the batches queued meanwhile): over real gRPC, to a real comet, its client
// gets every message once (docs/internal-protocol.md#room-batch-numbers).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GrpcCometClient } from '../../src/adapters/grpc/comet-client.js';
import { serveComet } from '../../src/adapters/grpc/comet-server.js';
import { CometLane, newLaneCounters } from '../../src/job/comet-lane.js';
import { roomBatchProto } from '../../src/job/push-frame.js';
import type { CometOps } from '../../src/ports/index.js';
import { startComet } from '../comet/harness.js';
import { cometInstance, withTimeout } from './fakes.js';

test('a retried room call the comet had written reaches the client once, over gRPC', async () => {
  const h = await startComet();
  // The comet's first BroadcastRoom answer is held until the next call comes: the job's
  // deadline passes first, and the lane retries a call the comet had written.
  let first = true;
  const held: { release?: () => void } = {};
  const target: CometOps = {
    pushMsg: (keys, op, proto, inbox) => h.comet.pushMsg(keys, op, proto, inbox),
    broadcast: (op, proto, speed) => h.comet.broadcast(op, proto, speed),
    rooms: () => h.comet.rooms(),
    broadcastRoom(room, proto, parts) {
      h.comet.broadcastRoom(room, proto, parts);
      if (first) {
        first = false;
        return new Promise<void>((resolve) => (held.release = resolve));
      }
      held.release?.();
    },
  };
  const server = await serveComet(target, '127.0.0.1:0');
  const counters = newLaneCounters();
  const lane = new CometLane(cometInstance('c1'), new GrpcCometClient(`127.0.0.1:${server.port}`, { timeoutMs: 1000 }), 4, () => {}, counters, {
    retryDelay: 1,
  });
  try {
    const room = 'live://retried';
    const client = await h.client('tcp', { room_id: room });
    const send = (body: string): Promise<Error | null> =>
      new Promise((resolve) => lane.submitRoomBatch(room, roomBatchProto([1000], [Buffer.from(body)], 16 + body.length), (err) => resolve(err)));
    // a goes out alone and times out; b and c wait behind it and go with its retry.
    const done = [send('a'), send('b'), send('c')];
    assert.deepEqual(await withTimeout(Promise.all(done), 20_000, 'room batches'), [null, null, null]);
    assert.deepEqual(await withTimeout(send('end'), 20_000, 'last batch'), null);
    const got: string[] = [];
    while (got.at(-1) !== 'end') got.push((await client.next()).body.toString());
    assert.deepEqual(got, ['a', 'b', 'c', 'end'], 'each message once, in order');
    assert.equal(counters.retries, 1, 'the first call timed out and was retried');
    assert.equal(h.comet.counters().roomBatchesRepeated, 1, 'the comet skipped a in the retry');
  } finally {
    held.release?.();
    await lane.close();
    await server.close();
    await h.stop();
  }
});

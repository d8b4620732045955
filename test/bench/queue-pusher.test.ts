// The fan-out benchmark's pushers without a server: the room PushMsg published straight into
// the queue is the one logic publishes for the same push API call, and the rate pacing
// (shared by the HTTP and queue pushers) tallies answers and bounds the pushes in flight.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { paceAtRate } from '../../bench/load/pusher.js';
import { benchRoomPushMsg, publishAtRate } from '../../bench/load/queue-pusher.js';
import { parseStamp, stampBody } from '../../bench/load/stamp.js';
import { BENCH_OP, BENCH_ROOM } from '../../bench/servers/bench-room.js';
import { MemoryRegistry } from '../../src/adapters/memory/registry.js';
import { MemorySessionStore } from '../../src/adapters/memory/session-store.js';
import { partitionOf } from '../../src/adapters/nats/partition.js';
import { silentLogger } from '../../src/log.js';
import { Logic } from '../../src/logic/logic.js';
import { encodePushMsg } from '../../src/rpc/push-msg.js';
import { logicConfig, RecordingQueue, testConfig } from '../logic/fixtures.js';

describe('queue pusher', () => {
  it("publishes the PushMsg logic's pushRoom publishes (same bytes, same partition)", async () => {
    const queue = new RecordingQueue();
    const logic = new Logic({
      ...logicConfig(testConfig()),
      store: new MemorySessionStore(),
      queue,
      registry: new MemoryRegistry(),
      log: silentLogger,
    });
    const body = Buffer.from(stampBody(1760000000000.123, 64));
    await logic.pushRoom(BENCH_OP, BENCH_ROOM.type, BENCH_ROOM.id, body);
    await logic.close();
    // Every message has its own id and accept time; the rest must match to the byte.
    const ours = { ...benchRoomPushMsg(body), id: queue.published[0].id, time: queue.published[0].time };
    assert.equal(queue.published.length, 1);
    assert.match(benchRoomPushMsg(body).id ?? '', /^[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(ours, queue.published[0]);
    assert.equal(ours.room, BENCH_ROOM.key, 'the room the benchmark clients join');
    assert.deepEqual(encodePushMsg(ours), encodePushMsg(queue.published[0]));
    assert.equal(partitionOf(ours, 8), partitionOf(queue.published[0], 8));
  });

  it('publishes rate × duration stamped room pushes and tallies the refused ones', async () => {
    const published: Uint8Array[] = [];
    let calls = 0;
    const queue = {
      publish: async (msg: ReturnType<typeof benchRoomPushMsg>) => {
        if (++calls % 10 === 0) throw new Error('stream not ready');
        published.push(msg.msg);
      },
    };
    const tally = await publishAtRate(queue, 1000, 50, 23).done;
    assert.equal(tally.sent, 50);
    assert.equal(tally.accepted, 45);
    assert.equal(tally.failed, 5);
    assert.deepEqual(tally.errors, Array(5).fill('stream not ready'));
    for (const b of published) assert.ok(Number.isFinite(parseStamp(b, 0, b.length)), 'every body carries its send stamp');
  });
});

describe('rate pacing', () => {
  it('keeps at most maxInFlight pushes unanswered, sends the rest in order, and waits for every answer', async () => {
    let inFlight = 0;
    let most = 0;
    const stamps: number[] = [];
    const tally = await paceAtRate(
      2000,
      100,
      23,
      (body, done) => {
        inFlight++;
        most = Math.max(most, inFlight);
        stamps.push(parseStamp(Buffer.from(body), 0, body.length));
        // answered a few turns later, the odd ones refused
        const n = stamps.length;
        setTimeout(() => {
          inFlight--;
          done(n % 2 === 1 ? `refused ${n}` : null);
        }, 5);
      },
      3,
    ).done;
    assert.equal(tally.sent, 200);
    assert.equal(stamps.length, 200, 'every push was sent');
    assert.equal(inFlight, 0, 'done waited for every answer');
    assert.ok(most <= 3, `at most 3 in flight, saw ${most}`);
    assert.equal(tally.accepted + tally.failed, 200);
    assert.equal(tally.failed, 100);
    assert.equal(tally.errors.length, 5, 'the first few reasons only');
    assert.deepEqual(
      stamps,
      [...stamps].sort((a, b) => a - b),
      'sent in the order they were due',
    );
  });
});

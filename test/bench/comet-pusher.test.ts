// The fan-out benchmark's comet pusher over real gRPC: every call carries `batch` stamped
// messages of the bench room, packed as tsim's job packs a room batch, to every comet; the
// reply of each call is timed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CometPusher } from '../../bench/load/comet-pusher.js';
import { parseStamp } from '../../bench/load/stamp.js';
import { BENCH_OP, BENCH_ROOM } from '../../bench/servers/bench-room.js';
import { serveComet } from '../../src/adapters/grpc/comet-server.js';
import { roomBatchProto } from '../../src/job/push-frame.js';
import type { CometOps, Proto } from '../../src/ports/index.js';
import { HEADER_LEN } from '../../src/protocol/frame.js';

/** A comet that records its BroadcastRoom calls. */
function recordingComet(): CometOps & { calls: Array<{ room: string; proto: Proto }> } {
  const calls: Array<{ room: string; proto: Proto }> = [];
  return {
    calls,
    pushMsg() {},
    broadcast() {},
    broadcastRoom(room, proto) {
      calls.push({ room, proto });
    },
    rooms: () => [],
  };
}

describe('comet pusher', () => {
  it('sends rate ÷ batch calls of batch job-packed messages to every comet and times their replies', async () => {
    const comets = [recordingComet(), recordingComet()];
    const servers = await Promise.all(comets.map((c) => serveComet(c, '127.0.0.1:0')));
    const pusher = new CometPusher(servers.map((s) => `grpc://127.0.0.1:${s.port}`));
    try {
      // 400 messages/s for 100 ms in batches of 4: 10 calls.
      const t = await pusher.push(400, 100, 30, 4).done;
      assert.deepEqual([t.sent, t.accepted, t.failed], [10, 10, 0]);
      assert.equal(t.reply.count, 20, 'one reply time per call per comet');
      for (const comet of comets) {
        assert.equal(comet.calls.length, 10);
        for (const { room, proto } of comet.calls) {
          assert.equal(room, BENCH_ROOM.key);
          const body = Buffer.from(proto.body);
          const msg = body.subarray(HEADER_LEN, body.readUInt32BE(0));
          assert.equal(msg.length, 30);
          assert.ok(Number.isFinite(parseStamp(msg, 0, msg.length)), 'stamped');
          const same = roomBatchProto([BENCH_OP, BENCH_OP, BENCH_OP, BENCH_OP], [msg, msg, msg, msg], 4 * (HEADER_LEN + 30));
          assert.deepEqual({ ...proto, body }, { ...same, body: Buffer.from(same.body) }, "the job's room batch of the four");
        }
      }
    } finally {
      pusher.close();
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});

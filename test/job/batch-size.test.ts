// Room batches never outgrow the largest push (push.maxBytes + its frame header): a batch of
// several big pushes would exceed what a connection may queue, and every comet would drop it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryPushQueue } from '../../src/adapters/memory/push-queue.js';
import { buildConfig } from '../../src/config/load.js';
import { pushMaxBytes, sendQueueSplit, PUSH_FRAME_OVERHEAD } from '../../src/config/push-limits.js';
import { Job } from '../../src/job/job.js';
import { RoomBatcher } from '../../src/job/room-batcher.js';
import { silentLogger } from '../../src/log.js';
import { PushType, type Proto } from '../../src/ports/index.js';
import { splitFrames } from '../../src/protocol/frame.js';
import { FakeComet, FakeRegistry, cometInstance, jobSettings, testConfig } from './fakes.js';
import { eventually } from '../support/eventually.js';

test('RoomBatcher: a message that would pass maxBytes seals the batch held so far', async () => {
  const sent: Proto[] = [];
  const b = new RoomBatcher('live://1', 20, 3_600_000, (_r, proto, _n, done) => (sent.push(proto), done(null)), false, 1000);
  const ps = [
    b.offer(1000, Buffer.alloc(600)),
    b.offer(1000, Buffer.alloc(600)),
    b.offer(1000, Buffer.alloc(100)),
    b.offer(1000, Buffer.alloc(2000)),
  ];
  b.flush();
  await Promise.all(ps);
  assert.deepEqual(
    sent.map((p) => splitFrames(Buffer.from(p.body)).map((f) => f.body.length)),
    [[600], [600, 100], [2000]],
    'a lone message bigger than maxBytes still goes, alone',
  );
});

test('three pushes of push.maxBytes in a row are three batches, none above push.maxBytes + 16', async () => {
  const config = testConfig({ room: { batch: 20, signal: '20ms' } });
  const max = pushMaxBytes(config);
  assert.equal(max, 256 * 1024);
  const comet = new FakeComet('c1');
  const registry = new FakeRegistry();
  await registry.register(cometInstance('c1'));
  const queue = new MemoryPushQueue();
  const job = new Job({ ...jobSettings(config), queue, registry, dial: () => comet, log: silentLogger });
  await job.start();
  try {
    const msg = (i: number) => ({
      type: PushType.ROOM,
      operation: 1000,
      speed: 0,
      server: '',
      room: 'live://big',
      keys: [],
      msg: Buffer.alloc(max, i),
    });
    for (let i = 0; i < 3; i++) await queue.publish(msg(i));
    await eventually(() => queue.size === 0, 'all three delivered');
    const calls = comet.calls.filter((c) => c.kind === 'room');
    assert.deepEqual(
      calls.map((c) => splitFrames(Buffer.from(c.proto.body)).map((f) => f.body[0])),
      [[0], [1], [2]],
    );
    assert.ok(calls.every((c) => c.proto.body.length <= max + 16));
  } finally {
    await job.stop();
  }
});

test('push.maxBytes unset follows a small protocol.sendQueueBytes; set too big it stops start-up naming both keys', () => {
  const small = buildConfig({ protocol: { sendQueueBytes: 4096 } });
  const split = sendQueueSplit(small.protocol);
  assert.equal(pushMaxBytes(small), split.pushBytes - PUSH_FRAME_OVERHEAD);
  assert.equal(pushMaxBytes(buildConfig({})), 256 * 1024);
  assert.equal(sendQueueSplit(buildConfig({}).protocol).pushBytes, 1_015_600, 'the push share of the default 1 MiB queue');
  assert.equal(pushMaxBytes(buildConfig({ push: { maxBytes: 1_015_558 } })), 1_015_558, 'the largest that fits by default');
  assert.throws(
    () => buildConfig({ push: { maxBytes: 1 << 20 } }, 'tsim.toml'),
    (err: Error) => {
      assert.equal(err.name, 'ConfigError');
      assert.match(err.message, /invalid configuration in tsim\.toml/);
      assert.match(err.message, /push\.maxBytes: 1048576 does not fit/);
      assert.match(err.message, /protocol\.sendQueueBytes \(1048576\)/);
      assert.match(err.message, /at most 1015558/);
      return true;
    },
  );
  assert.throws(() => buildConfig({ push: { maxBytes: 8192 }, protocol: { sendQueueBytes: 8192 } }), /push\.maxBytes: 8192 does not fit/);
});

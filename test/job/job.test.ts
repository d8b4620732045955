import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryPushQueue } from '../../src/adapters/memory/push-queue.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { Clock } from '../../src/lib/clock.js';
import { Job } from '../../src/job/job.js';
import { silentLogger } from '../../src/log.js';
import { AppId, PushType, type CometDialer, type PushMsg } from '../../src/ports/index.js';
import { splitFrames } from '../../src/protocol/frame.js';
import { FakeComet, FakeRegistry, cometInstance, hex, jobSettings, testConfig, unhex, withTimeout, type CometCallRecord } from './fakes.js';
import { eventually } from '../support/eventually.js';
import { ManualClock } from '../support/manual-clock.js';

interface Harness {
  job: Job;
  registry: FakeRegistry;
  queue: MemoryPushQueue;
  comets: Map<string, FakeComet>;
  dialled: string[];
}

async function startJob(comets: FakeComet[], config: ConfigInput = {}, zones: Record<string, string> = {}, clock?: Clock): Promise<Harness> {
  const registry = new FakeRegistry();
  const byName = new Map(comets.map((c) => [c.name, c]));
  for (const c of comets) await registry.register(cometInstance(c.name, zones[c.name] ?? ''));
  const dialled: string[] = [];
  const dial: CometDialer = (ins) => {
    const c = byName.get(ins.hostname);
    if (!c) throw new Error(`no fake comet ${ins.hostname}`);
    dialled.push(ins.hostname);
    return c;
  };
  const queue = new MemoryPushQueue();
  const job = new Job({ ...jobSettings(testConfig(config)), queue, registry, dial, log: silentLogger, ...(clock ? { clock } : {}) });
  await job.start();
  return { job, registry, queue, comets: byName, dialled };
}

const push = (server: string, keys: string[], msg: string, operation = 1000): PushMsg => ({
  type: PushType.PUSH,
  operation,
  speed: 0,
  server,
  room: '',
  keys,
  msg: Buffer.from(msg),
});

const room = (roomKey: string, msg: string, operation = 1000): PushMsg => ({
  type: PushType.ROOM,
  operation,
  speed: 0,
  server: '',
  room: roomKey,
  keys: [],
  msg: Buffer.from(msg),
});

const broadcast = (msg: string, speed: number, operation = 1000): PushMsg => ({
  type: PushType.BROADCAST,
  operation,
  speed,
  server: '',
  room: '',
  keys: [],
  msg: Buffer.from(msg),
});

const roomBodies = (calls: CometCallRecord[], roomKey?: string): string[] =>
  calls.flatMap((c) =>
    c.kind === 'room' && (roomKey === undefined || c.room === roomKey) ? splitFrames(Buffer.from(c.proto.body)).map((f) => f.body.toString()) : [],
  );

const HELLO_FRAME = '00 00 00 15 00 10 00 01 00 00 03 e8 00 00 00 00 68 65 6c 6c 6f';

test('PUSH goes to the named comet only, as an op-9 proto around the single-push vector frame', async () => {
  const c1 = new FakeComet('comet01');
  const c2 = new FakeComet('comet02');
  const h = await startJob([c1, c2]);
  try {
    await h.job.handle(push('comet01', ['k1', 'k2'], 'hello'));
    assert.equal(c1.calls.length, 1);
    assert.equal(c2.calls.length, 0);
    const call = c1.calls[0];
    assert.equal(call.kind, 'push');
    if (call.kind !== 'push') return;
    assert.deepEqual(call.keys, ['k1', 'k2']);
    assert.equal(call.op, 1000);
    assert.deepEqual({ ver: call.proto.ver, op: call.proto.op, seq: call.proto.seq }, { ver: 1, op: 9, seq: 0 });
    assert.equal(hex(call.proto.body), hex(unhex(HELLO_FRAME)));
  } finally {
    await h.job.stop();
  }
});

test('PUSH to a comet not in the table is dropped and counted', async () => {
  const c1 = new FakeComet('comet01');
  const h = await startJob([c1]);
  try {
    await h.job.handle(push('comet09', ['k1'], 'hello'));
    assert.equal(c1.attempts, 0);
    assert.equal(h.job.stats().pushUnknownServer, 1);
  } finally {
    await h.job.stop();
  }
});

test('BROADCAST reaches every comet with speed divided by the comet count', async () => {
  const comets = [new FakeComet('c1'), new FakeComet('c2'), new FakeComet('c3')];
  const h = await startJob(comets);
  try {
    await h.job.handle(broadcast('hello', 100));
    for (const c of comets) {
      assert.equal(c.calls.length, 1);
      const call = c.calls[0];
      assert.equal(call.kind, 'broadcast');
      if (call.kind !== 'broadcast') return;
      assert.equal(call.speed, 33);
      assert.equal(call.op, 1000);
      assert.equal(call.proto.op, 9);
      assert.equal(hex(call.proto.body), hex(unhex(HELLO_FRAME)));
    }
    await h.job.handle(broadcast('x', 2));
    assert.deepEqual(
      comets.map((c) => (c.calls[1].kind === 'broadcast' ? c.calls[1].speed : -1)),
      [0, 0, 0],
      'speed below the comet count means unthrottled',
    );
  } finally {
    await h.job.stop();
  }
});

test('BROADCAST and room batches with no comet resolve and are counted (goim divides by zero)', async () => {
  const h = await startJob([], { job: { cometWait: '10ms' }, room: { batch: 1 } });
  try {
    assert.deepEqual(h.job.comets(), []);
    await h.job.handle(broadcast('hello', 100));
    await h.job.handle(room('live://1', 'x'));
    await h.job.stop();
    const s = h.job.stats();
    assert.equal(s.broadcastNoComet, 1);
    assert.equal(s.roomNoComet, 1);
  } finally {
    await h.job.stop();
  }
});

test('two room messages are merged into one batch exactly as the room-batch vector, sent to every comet', async () => {
  const comets = [new FakeComet('c1'), new FakeComet('c2')];
  const h = await startJob(comets, { room: { batch: 2, signal: '1h' } });
  try {
    await Promise.all([h.job.handle(room('live://1000', '{"test":1}')), h.job.handle(room('live://1000', '{"test":2}'))]);
    for (const c of comets) {
      assert.equal(c.calls.length, 1);
      const call = c.calls[0];
      assert.equal(call.kind, 'room');
      if (call.kind !== 'room') return;
      assert.equal(call.room, 'live://1000');
      assert.deepEqual({ ver: call.proto.ver, op: call.proto.op, seq: call.proto.seq }, { ver: 1, op: 9, seq: 0 });
      assert.equal(
        hex(call.proto.body),
        hex(
          unhex(
            '00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 31 7d ' +
              '00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 32 7d',
          ),
        ),
      );
    }
  } finally {
    await h.job.stop();
  }
});

test('a room batch is sent at `batch` messages; stop() sends what is still held', async () => {
  const c1 = new FakeComet('c1');
  const h = await startJob([c1], { room: { batch: 3, signal: '1h' } });
  const first = [1, 2, 3].map((i) => h.job.handle(room('live://1', `m${i}`)));
  await withTimeout(Promise.all(first), 5000, 'full batch');
  assert.deepEqual(roomBodies(c1.calls), ['m1', 'm2', 'm3']);
  let held = false;
  const fourth = h.job.handle(room('live://1', 'm4')).then(() => (held = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(held, false, 'one message waits for companions');
  await h.job.stop();
  await fourth;
  assert.equal(c1.calls.length, 2);
  assert.deepEqual(roomBodies(c1.calls), ['m1', 'm2', 'm3', 'm4']);
  await assert.rejects(h.job.handle(room('live://1', 'late')), /stopped/);
});

test("a held room message is sent once the first one waited `signal` (on the job's clock)", async () => {
  const c1 = new FakeComet('c1');
  const clock = new ManualClock();
  const h = await startJob([c1], { room: { batch: 20, signal: '1s' } }, {}, clock);
  try {
    const sent = Promise.all([h.job.handle(room('live://1', 'a')), h.job.handle(room('live://1', 'b'))]);
    await eventually(() => h.job.load().heldMessages === 2, 'both messages held');
    clock.advance(999);
    assert.equal(c1.calls.length, 0, 'still inside the window');
    clock.advance(1);
    await withTimeout(sent, 5000, 'signal flush');
    assert.equal(c1.calls.length, 1);
    assert.deepEqual(roomBodies(c1.calls), ['a', 'b']);
  } finally {
    await h.job.stop();
  }
});

test('an idle room batcher is removed after `idle` and re-created by the next message', async () => {
  const c1 = new FakeComet('c1');
  const clock = new ManualClock();
  const h = await startJob([c1], { room: { batch: 1, idle: '1m' } }, {}, clock);
  try {
    await h.job.handle(room('live://1', 'a'));
    assert.deepEqual(h.job.rooms(), ['live://1']);
    clock.advance(59_000);
    assert.deepEqual(h.job.rooms(), ['live://1'], 'not idle long enough yet');
    clock.advance(31_000); // the sweep runs every half of `idle`
    assert.deepEqual(h.job.rooms(), [], 'idle removal');
    await h.job.handle(room('live://1', 'b'));
    assert.deepEqual(h.job.rooms(), ['live://1']);
    assert.deepEqual(roomBodies(c1.calls), ['a', 'b']);
  } finally {
    await h.job.stop();
  }
});

test('room batches reach each slow comet one at a time, in order', async () => {
  const comets = [new FakeComet('c1', { delay: () => Math.random() * 4 }), new FakeComet('c2', { delay: () => Math.random() * 4 })];
  const h = await startJob(comets, { room: { batch: 3, signal: '5ms' } });
  try {
    const all: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) all.push(h.job.handle(room(`live://${i % 3}`, String(i))));
    await withTimeout(Promise.all(all), 10_000, 'room messages');
    for (const c of comets) {
      assert.equal(c.overlappingRoomCalls, 0);
      for (let r = 0; r < 3; r++) {
        assert.deepEqual(
          roomBodies(c.calls, `live://${r}`).map(Number),
          Array.from({ length: 100 }, (_, j) => j * 3 + r),
        );
      }
    }
  } finally {
    await h.job.stop();
  }
});

test('a failing comet does not fail what another comet accepted; a push only it could take goes back to the queue', async () => {
  const ok = new FakeComet('ok');
  const bad = new FakeComet('bad', { fail: () => new Error('connection refused'), failRooms: () => new Error('connection refused') });
  const h = await startJob([ok, bad], { room: { batch: 1 }, job: { cometRetryDelay: '1ms', cometRetryMaxDelay: '5ms' } });
  try {
    await h.job.handle(room('live://1', 'a'));
    await h.job.handle(broadcast('b', 0));
    await assert.rejects(h.job.handle(push('bad', ['k'], 'c')), /pushMsg not delivered: comet bad down and no comet took it .*connection refused/);
    assert.deepEqual(
      ok.calls.map((c) => c.kind),
      ['room', 'broadcast'],
    );
    assert.equal(h.job.load().cometsDown, 1);
    assert.equal(h.job.load().cometHeldCalls, 2, 'the room batch and the broadcast wait for bad; the push is not held');
    assert.equal(bad.failed.length, 3, 'job.cometFailures calls, then it is down and probed instead');
  } finally {
    await h.job.stop();
  }
});

test('comets are added and removed through the registry; an update without comets is ignored', async () => {
  const c1 = new FakeComet('c1');
  const c2 = new FakeComet('c2');
  const h = await startJob([c1, c2]);
  try {
    await h.registry.deregister(AppId.Comet, 'c2');
    assert.deepEqual(h.job.comets(), ['c1']);
    await eventually(() => c2.closed, 'removed comet closed');
    await h.job.handle(broadcast('one', 0));
    assert.equal(c1.calls.length, 1);
    assert.equal(c2.calls.length, 0);

    await h.registry.register(cometInstance('c2'));
    assert.deepEqual(h.job.comets().sort(), ['c1', 'c2']);
    await h.job.handle(broadcast('two', 0));
    assert.equal(c1.calls.length, 2);
    assert.equal(c2.calls.length, 1);
    assert.deepEqual(h.dialled, ['c1', 'c2', 'c2'], 'known comets keep their client');

    await h.registry.deregister(AppId.Comet, 'c1');
    await h.registry.deregister(AppId.Comet, 'c2');
    assert.deepEqual(h.job.comets(), ['c2'], 'an empty list is ignored, as in goim');
  } finally {
    await h.job.stop();
  }
  assert.ok(c2.closed, 'stop closes the clients');
  assert.equal(h.registry.watching, 0, 'stop ends the watch');
});

test('only comets of the job zone are used; a list without one is ignored', async () => {
  const a = new FakeComet('a');
  const b = new FakeComet('b');
  const h = await startJob([a, b], { env: { zone: 'sh001' } }, { a: 'sh001', b: 'sh002' });
  try {
    assert.deepEqual(h.job.comets(), ['a']);
    await h.registry.deregister(AppId.Comet, 'a');
    assert.deepEqual(h.job.comets(), ['a'], 'b alone is in another zone: update ignored');
    await h.job.handle(broadcast('x', 0));
    assert.equal(b.attempts, 0);
  } finally {
    await h.job.stop();
  }
});

test('a comet removed while calls wait for it: those calls are skipped and acknowledged', async () => {
  const slow = new FakeComet('slow', { delay: 20 });
  const other = new FakeComet('other');
  const h = await startJob([slow, other], { job: { routineSize: 1 } });
  try {
    const first = h.job.handle(push('slow', ['k'], 'a'));
    const queued = h.job.handle(push('slow', ['k'], 'b'));
    await h.registry.deregister(AppId.Comet, 'slow');
    await withTimeout(Promise.all([first, queued]), 5000, 'pushes settle');
    assert.equal(slow.attempts, 1, 'the queued push never reached the removed comet');
    await eventually(() => slow.closed, 'client closed once its call settled');
  } finally {
    await h.job.stop();
  }
});

test('job.maxPending bounds the messages in flight; waiting messages keep their order', async () => {
  const c1 = new FakeComet('c1', { delay: () => Math.random() * 3 });
  const h = await startJob([c1], { job: { maxPending: 2 } });
  try {
    const all: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) all.push(h.job.handle(push('c1', ['k'], String(i))));
    await withTimeout(Promise.all(all), 10_000, 'pushes');
    assert.ok(c1.maxInFlight <= 2);
    assert.equal(c1.calls.length, 50);
    const order = c1.started.map((c) => (c.kind === 'push' ? Number(Buffer.from(c.proto.body.subarray(16)).toString()) : -1));
    assert.deepEqual(
      order,
      Array.from({ length: 50 }, (_, i) => i),
      'pushes to a comet start in the order handled',
    );
  } finally {
    await h.job.stop();
  }
});

test('a comet whose address changed is dialled again; an offline-flagged comet still receives', async () => {
  const c1 = new FakeComet('c1');
  const h = await startJob([c1]);
  try {
    await h.registry.register({ ...cometInstance('c1', '', ['grpc://10.0.0.1:3109']), metadata: { weight: '10', offline: 'true' } });
    assert.deepEqual(h.dialled, ['c1', 'c1']);
    assert.deepEqual(h.job.comets(), ['c1']);
    await h.job.handle(push('c1', ['k'], 'x'));
    assert.equal(c1.calls.length, 1);
  } finally {
    await h.job.stop();
  }
});

// Job fed by the embedded queue, end to end up to the comet clients.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryPushQueue } from '../../src/adapters/memory/push-queue.js';
import { Job } from '../../src/job/job.js';
import { silentLogger } from '../../src/log.js';
import { PushType, type PushMsg } from '../../src/ports/index.js';
import { splitFrames } from '../../src/protocol/frame.js';
import { FakeComet, FakeRegistry, cometInstance, jobSettings, testConfig } from './fakes.js';
import { eventually } from '../support/eventually.js';

async function wire(comets: FakeComet[], config: Parameters<typeof testConfig>[0], queue: MemoryPushQueue): Promise<Job> {
  const registry = new FakeRegistry();
  for (const c of comets) await registry.register(cometInstance(c.name));
  const byName = new Map(comets.map((c) => [c.name, c]));
  const job = new Job({ ...jobSettings(testConfig(config)), queue, registry, dial: (i) => byName.get(i.hostname)!, log: silentLogger });
  await job.start();
  return job;
}

const roomMsg = (roomKey: string, body: string): PushMsg => ({
  type: PushType.ROOM,
  operation: 1000,
  speed: 0,
  server: '',
  room: roomKey,
  keys: [],
  msg: Buffer.from(body),
});

/** Room → message bodies in the order one comet received them. */
function received(c: FakeComet): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const call of c.calls) {
    if (call.kind !== 'room') continue;
    let list = out.get(call.room);
    if (!list) out.set(call.room, (list = []));
    for (const f of splitFrames(Buffer.from(call.proto.body))) list.push(f.body.toString());
  }
  return out;
}

test('10,000 messages over 50 rooms: each comet gets every message once, in room order', async () => {
  const ROOMS = 50;
  const MESSAGES = 10_000;
  const comets = ['c1', 'c2', 'c3'].map((n) => new FakeComet(n, { delay: () => Math.random() * 2 }));
  const queue = new MemoryPushQueue({ inflight: 1024 });
  const job = await wire(comets, { room: { batch: 20, signal: '20ms' } }, queue);
  const frames = (c: FakeComet) => c.calls.reduce((n, call) => n + (call.kind === 'room' ? splitFrames(Buffer.from(call.proto.body)).length : 0), 0);
  try {
    const published: Promise<void>[] = [];
    for (let i = 0; i < MESSAGES; i++) published.push(queue.publish(roomMsg(`test://${i % ROOMS}`, String(i))));
    await Promise.all(published);
    await eventually(() => queue.size === 0, 'queue acknowledged everything', 30_000);
  } finally {
    await job.stop();
  }
  for (const c of comets) {
    assert.equal(frames(c), MESSAGES, `${c.name} got each message once`);
    assert.equal(c.overlappingRoomCalls, 0, `${c.name}: one call per room at a time`);
    // A call may carry several batches (merged behind a busy room); each batch holds at most 20.
    assert.ok(job.stats().roomBatches >= MESSAGES / 20, 'room.batch bounds every batch');
    const byRoom = received(c);
    assert.equal(byRoom.size, ROOMS);
    for (let r = 0; r < ROOMS; r++) {
      const want = Array.from({ length: MESSAGES / ROOMS }, (_, j) => String(j * ROOMS + r));
      assert.deepEqual(byRoom.get(`test://${r}`), want, `${c.name} test://${r} in order`);
    }
  }
});

test('a call a comet failed is retried for that comet only: the queue does not redeliver it to the others', async () => {
  const ok = new FakeComet('ok');
  const flaky = new FakeComet('flaky', { fail: (_call, i) => (i < 2 ? new Error('unavailable') : null) });
  const queue = new MemoryPushQueue({ retryDelay: 5 });
  const job = await wire([ok, flaky], { room: { batch: 1 }, job: { cometRetryDelay: '5ms' } }, queue);
  try {
    await queue.publish(roomMsg('live://1', 'hello'));
    await eventually(() => queue.size === 0, 'message acknowledged');
    assert.equal(flaky.failed.length, 2);
    assert.deepEqual(received(flaky).get('live://1'), ['hello']);
    assert.deepEqual(received(ok).get('live://1'), ['hello'], 'the healthy comet got it once');
    assert.equal(queue.queueStats().redeliveries, 0);
    assert.equal(job.stats().cometRetries, 2);
  } finally {
    await job.stop();
  }
});

test('stop() delivers the held room batches before the comets are closed', async () => {
  const c1 = new FakeComet('c1', { delay: 2 });
  const queue = new MemoryPushQueue();
  const job = await wire([c1], { room: { batch: 20, signal: '1h' } }, queue);
  for (let i = 0; i < 5; i++) await queue.publish(roomMsg('live://1', String(i)));
  await eventually(() => job.stats().roomMessages === 5, 'messages handed to the job');
  assert.equal(c1.attempts, 0, 'the batch is still held');
  await job.stop();
  assert.deepEqual(received(c1).get('live://1'), ['0', '1', '2', '3', '4']);
  assert.ok(c1.closed);
  assert.equal(queue.size, 0);
});

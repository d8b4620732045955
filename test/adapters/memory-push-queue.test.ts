// MemoryPushQueue against the PushQueue contract (test/contracts/push-queue.contract.ts), then
// what only it has: a capacity, a cap on handlers running at once, and a close that delivers
// the accepted backlog (nothing else would keep it) within a drain timeout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryPushQueue, QueueFullError } from '../../src/adapters/memory/push-queue.js';
import { memoryQueueOptions } from '../../src/embedded.js';
import { PushType, type PushMsg } from '../../src/ports/index.js';
import { testConfig, withTimeout } from '../job/fakes.js';
import { eventually } from '../support/eventually.js';
import { pushQueueContract } from '../contracts/push-queue.contract.js';

pushQueueContract('MemoryPushQueue', async () => {
  const queue = new MemoryPushQueue({ retryDelay: 1, retryMaxDelay: 4 });
  return { subject: queue, dispose: () => queue.close() };
});

const msg = (n: number): PushMsg => ({
  type: PushType.ROOM,
  operation: 1000,
  speed: 0,
  server: '',
  room: 'live://1',
  keys: [],
  msg: Buffer.from(String(n)),
});
const num = (m: PushMsg) => Number(Buffer.from(m.msg).toString());

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('delivers in publish order, at most `inflight` handlers at once', async () => {
  const q = new MemoryPushQueue({ inflight: 4 });
  const called: number[] = [];
  const open: ReturnType<typeof deferred>[] = [];
  await q.consume((m) => {
    called.push(num(m));
    const d = deferred();
    open.push(d);
    return d.promise;
  });
  await Promise.all(Array.from({ length: 10 }, (_, i) => q.publish(msg(i))));
  await eventually(() => called.length === 4, 'first handlers');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(called, [0, 1, 2, 3], 'no fifth handler while four run');
  // Completing out of order frees slots; later messages are still *called* in order.
  open[2].resolve();
  open[0].resolve();
  await eventually(() => called.length === 6, 'two more handlers');
  for (let i = 0; i < 10; i++) {
    await eventually(() => open.length > i, `handler ${i}`);
    open[i].resolve();
  }
  await eventually(() => q.size === 0, 'all acknowledged');
  assert.deepEqual(called, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await q.close();
});

test('size counts the messages accepted and not yet acknowledged', async () => {
  const q = new MemoryPushQueue();
  for (let i = 0; i < 3; i++) await q.publish(msg(i));
  assert.equal(q.size, 3);
  const got: number[] = [];
  await q.consume(async (m) => {
    got.push(num(m));
  });
  await eventually(() => q.size === 0, 'drained');
  assert.deepEqual(got, [0, 1, 2]);
  await q.close();
});

test('publish rejects with "queue full" past capacity, and accepts again once acknowledged', async () => {
  const q = new MemoryPushQueue({ capacity: 2 });
  await q.publish(msg(0));
  await q.publish(msg(1));
  await assert.rejects(q.publish(msg(2)), (e: Error) => e instanceof QueueFullError && /push queue full/.test(e.message));
  await q.consume(async () => {});
  await eventually(() => q.size === 0, 'acknowledged');
  await q.publish(msg(3));
  await q.close();
});

test('close() delivers what was accepted, then rejects later publishes', async () => {
  const q = new MemoryPushQueue({ inflight: 1 });
  const running = deferred();
  const called: number[] = [];
  await q.consume((m) => {
    called.push(num(m));
    return num(m) === 0 ? running.promise : Promise.resolve();
  });
  await q.publish(msg(0));
  await q.publish(msg(1));
  await eventually(() => called.length === 1, 'first handler');
  let closed = false;
  const closing = q.close().then(() => (closed = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(closed, false, 'close waits for the running handler');
  await assert.rejects(q.publish(msg(2)), /closed/);
  running.resolve();
  await withTimeout(closing, 5000, 'close');
  assert.deepEqual(called, [0, 1], 'the accepted backlog is delivered before close resolves');
  assert.equal(q.size, 0);
});

test('close() drops what is still undelivered after the drain timeout', async () => {
  const q = new MemoryPushQueue({ inflight: 1, drainTimeout: 30 });
  const running = deferred();
  const called: number[] = [];
  await q.consume((m) => {
    called.push(num(m));
    return running.promise;
  });
  await q.publish(msg(0));
  await q.publish(msg(1));
  await eventually(() => called.length === 1, 'first handler');
  const closing = q.close();
  setTimeout(() => running.resolve(), 100);
  await withTimeout(closing, 5000, 'close');
  assert.deepEqual(called, [0], 'nothing handed out after the drain timeout');
  assert.equal(q.size, 0);
});

test('the embedded wiring takes the job section', async () => {
  const q = new MemoryPushQueue(memoryQueueOptions(testConfig({ job: { queueSize: 1 } })));
  await q.publish(msg(0));
  await assert.rejects(q.publish(msg(1)), QueueFullError);
  await q.close();
});

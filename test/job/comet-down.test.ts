// A comet whose calls fail: its calls are retried and held by its own lane, never handed back
// to the queue while another comet took the message (the queue would send it to every comet
// again), and room order per comet holds throughout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryPushQueue } from '../../src/adapters/memory/push-queue.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { Job } from '../../src/job/job.js';
import { silentLogger } from '../../src/log.js';
import { AppId, PushType, type PushMsg } from '../../src/ports/index.js';
import { splitFrames } from '../../src/protocol/frame.js';
import { FakeComet, FakeRegistry, cometInstance, jobSettings, testConfig, type CometCallRecord } from './fakes.js';
import { eventually } from '../support/eventually.js';

/** Retries and probes within milliseconds, so the tests see every state quickly. */
const FAST: ConfigInput = { job: { cometRetryDelay: '2ms', cometRetryMaxDelay: '10ms' } };

function merge(a: ConfigInput, b: ConfigInput): ConfigInput {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = { ...((a as Record<string, object>)[k] ?? {}), ...v };
  return out;
}

async function wire(
  comets: FakeComet[],
  config: ConfigInput,
  queue: MemoryPushQueue,
): Promise<{ job: Job; registry: FakeRegistry; dials: Map<string, number> }> {
  const registry = new FakeRegistry();
  for (const c of comets) await registry.register(cometInstance(c.name));
  const byName = new Map(comets.map((c) => [c.name, c]));
  const dials = new Map<string, number>();
  const dial = (i: { hostname: string }): FakeComet => {
    dials.set(i.hostname, (dials.get(i.hostname) ?? 0) + 1);
    return byName.get(i.hostname)!;
  };
  const job = new Job({ ...jobSettings(testConfig(merge(FAST, config))), queue, registry, dial, log: silentLogger });
  await job.start();
  return { job, registry, dials };
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

const pushMsg = (server: string, body: string): PushMsg => ({
  type: PushType.PUSH,
  operation: 1000,
  speed: 0,
  server,
  room: '',
  keys: ['k'],
  msg: Buffer.from(body),
});

/** Message bodies of the accepted calls, per room (key pushes under ''). */
function received(calls: CometCallRecord[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const call of calls) {
    const room = call.kind === 'room' ? call.room : '';
    let list = out.get(room);
    if (!list) out.set(room, (list = []));
    for (const f of splitFrames(Buffer.from(call.proto.body))) list.push(f.body.toString());
  }
  return out;
}

/** A comet that can be switched off (every call and probe fails) and on again. */
function switchable(name: string, opts: { delay?: number } = {}): { comet: FakeComet; set(alive: boolean): void } {
  let alive = true;
  const refused = () => (alive ? null : Object.assign(new Error(`comet ${name} (127.0.0.1:1): connect ECONNREFUSED`), { code: 14 }));
  const comet = new FakeComet(name, { ...opts, fail: refused, failRooms: refused });
  return { comet, set: (a) => (alive = a) };
}

test('a comet that stops answering is marked down: the other gets every message once, the queue redelivers nothing; the down one gets them all in order when back', async () => {
  const ok = new FakeComet('ok');
  const dead = switchable('dead');
  dead.set(false);
  const queue = new MemoryPushQueue({ retryDelay: 5 });
  const { job } = await wire([ok, dead.comet], { room: { batch: 1 } }, queue);
  const ROOMS = 4;
  const N = 200;
  const want = new Map(Array.from({ length: ROOMS }, (_, r) => [`live://${r}`, Array.from({ length: N / ROOMS }, (_, j) => String(j * ROOMS + r))]));
  try {
    for (let i = 0; i < N; i++) await queue.publish(roomMsg(`live://${i % ROOMS}`, String(i)));
    await eventually(() => queue.size === 0, 'every message acknowledged');
    assert.deepEqual(received(ok.calls), want, 'the healthy comet: each message once, in room order');
    assert.equal(queue.queueStats().redeliveries, 0, 'nothing went back to the queue');
    assert.equal(job.load().cometsDown, 1);
    assert.equal(job.load().cometHeldCalls, N, 'every batch is held for the down comet');
    assert.ok(dead.comet.attempts <= 32 + 3, `the down comet stopped receiving calls (${dead.comet.attempts} made for ${N} batches)`);
    assert.ok(dead.comet.probes >= 1, 'it is probed instead');

    dead.set(true);
    await eventually(() => job.load().cometsDown === 0 && job.load().cometHeldCalls === 0, 'the comet answers again and gets what was held');
    assert.deepEqual(received(dead.comet.calls), want, 'the comet that was down: each message once, in room order');
    assert.equal(job.stats().roomBatchesMerged > 0, true, 'held batches of a room went out merged');
  } finally {
    await job.stop();
  }
});

test('with every comet down nothing is held: messages go back to the queue and are delivered once a comet answers', async () => {
  const only = switchable('only');
  only.set(false);
  const queue = new MemoryPushQueue({ retryDelay: 2, retryMaxDelay: 20 });
  const { job } = await wire([only.comet], { room: { batch: 1 } }, queue);
  try {
    for (let i = 0; i < 5; i++) await queue.publish(roomMsg('live://1', `r${i}`));
    await queue.publish(pushMsg('only', 'p'));
    await eventually(() => queue.queueStats().redeliveries >= 6 && job.load().cometsDown === 1, 'messages back in the queue, the comet down');
    assert.equal(job.load().cometHeldCalls, 0, 'nothing is held when no comet took the message');
    assert.equal(only.comet.calls.length, 0);

    only.set(true);
    await eventually(() => queue.size === 0, 'every message delivered');
    const got = received(only.comet.calls);
    assert.deepEqual([...(got.get('live://1') ?? [])].sort(), ['r0', 'r1', 'r2', 'r3', 'r4'], 'each room message once');
    assert.deepEqual(got.get(''), ['p'], 'the key push once');
  } finally {
    await job.stop();
  }
});

test('a down comet that registers again (restarted) is probed at once, not at the back-off', async () => {
  const ok = new FakeComet('ok');
  const dead = switchable('dead');
  dead.set(false);
  const queue = new MemoryPushQueue({ retryDelay: 5 });
  // Down after two failures a second apart; the next probe is then 2 s away, and longer after each.
  const { job, registry, dials } = await wire(
    [ok, dead.comet],
    { room: { batch: 1 }, job: { cometRetryDelay: '1s', cometRetryMaxDelay: '60s' } },
    queue,
  );
  try {
    await queue.publish(roomMsg('live://1', 'a'));
    await eventually(() => job.load().cometsDown === 1, 'marked down');
    const probes = dead.comet.probes;
    // A renewal of an unrelated comet does not probe the down one.
    await registry.register({ ...cometInstance('ok'), latestTimestamp: 1 });
    assert.equal(dead.comet.probes, probes);
    dead.set(true);
    await registry.register({ ...cometInstance('dead'), latestTimestamp: 2 });
    await eventually(() => job.load().cometsDown === 0 && job.load().cometHeldCalls === 0, 'probed at the registration and sent what was held', 1500);
    assert.deepEqual(received(dead.comet.calls).get('live://1'), ['a']);
    // On a client dialled afresh: an old gRPC channel would wait out its reconnect back-off first.
    assert.deepEqual([dials.get('dead'), dials.get('ok')], [2, 1]);
  } finally {
    await job.stop();
  }
});

test('a down comet that leaves the registry: the calls held for it are dropped and counted', async () => {
  const ok = new FakeComet('ok');
  const dead = switchable('dead');
  dead.set(false);
  const queue = new MemoryPushQueue({ retryDelay: 5 });
  const { job, registry } = await wire([ok, dead.comet], { room: { batch: 1 } }, queue);
  try {
    for (let i = 0; i < 20; i++) await queue.publish(roomMsg('live://1', String(i)));
    await eventually(() => queue.size === 0 && job.load().cometHeldCalls === 20, 'messages acknowledged, held for the down comet');
    await registry.deregister(AppId.Comet, 'dead');
    await eventually(() => dead.comet.closed, 'its client closed');
    assert.equal(job.stats().cometDroppedRemoved, 20);
    assert.equal(job.load().cometHeldCalls, 0);
    assert.equal(received(ok.calls).get('live://1')?.length, 20);
  } finally {
    await job.stop();
  }
});

test('job.cometBacklogBytes bounds what is held for a down comet; the rest is dropped and counted', async () => {
  const ok = new FakeComet('ok');
  const dead = switchable('dead');
  dead.set(false);
  const queue = new MemoryPushQueue({ retryDelay: 5 });
  // Each held call costs 256 bytes plus its batch (16-byte header + 2-digit body): 10 fit in 2,800.
  const { job } = await wire([ok, dead.comet], { room: { batch: 1 }, job: { cometBacklogBytes: 2800 } }, queue);
  try {
    for (let i = 10; i < 40; i++) await queue.publish(roomMsg('live://1', String(i)));
    await eventually(() => queue.size === 0, 'every message acknowledged (the healthy comet took them)');
    assert.equal(job.load().cometHeldCalls, 10);
    assert.equal(job.stats().cometDroppedBacklogFull, 20);
    assert.equal(received(ok.calls).get('live://1')?.length, 30);
    dead.set(true);
    await eventually(() => job.load().cometHeldCalls === 0 && job.load().cometsDown === 0, 'held calls delivered');
    const got = received(dead.comet.calls).get('live://1')!;
    assert.equal(got.length, 10);
    assert.deepEqual(got, [...got].sort(), 'in order');
  } finally {
    await job.stop();
  }
});

test('a call the comet keeps refusing while it answers others is dropped and counted; its room goes on', async () => {
  const ok = new FakeComet('ok');
  const picky = new FakeComet('picky', {
    fail: (call) => (call.kind === 'room' && Buffer.from(call.proto.body).includes('poison') ? new Error('rpc broadcast  room arg error') : null),
  });
  const queue = new MemoryPushQueue({ retryDelay: 5 });
  const { job } = await wire([ok, picky], { room: { batch: 1 } }, queue);
  try {
    for (const body of ['a', 'poison', 'b']) await queue.publish(roomMsg('live://1', body));
    await eventually(() => queue.size === 0 && job.stats().cometDroppedRefused === 1 && job.load().cometHeldCalls === 0, 'the refused call dropped');
    await eventually(() => received(picky.calls).get('live://1')?.length === 2, 'the room continues');
    assert.deepEqual(received(picky.calls).get('live://1'), ['a', 'b']);
    assert.deepEqual(received(ok.calls).get('live://1'), ['a', 'poison', 'b']);
    assert.equal(queue.queueStats().redeliveries, 0);
  } finally {
    await job.stop();
  }
});

test('through bursts of failures each comet gets every room message once, in room order', async () => {
  const ok = new FakeComet('ok');
  // Four calls in a row fail every 50 calls: the comet goes down, is probed, comes back.
  const flaky = new FakeComet('flaky', { fail: (_c, i) => (i % 50 < 4 ? Object.assign(new Error('unavailable'), { code: 14 }) : null) });
  const queue = new MemoryPushQueue({ retryDelay: 5, inflight: 256 });
  const { job } = await wire([ok, flaky], { room: { batch: 3, signal: '2ms' } }, queue);
  const ROOMS = 3;
  const N = 900;
  try {
    const published: Promise<void>[] = [];
    for (let i = 0; i < N; i++) published.push(queue.publish(roomMsg(`live://${i % ROOMS}`, String(i))));
    await Promise.all(published);
    await eventually(() => queue.size === 0 && job.load().cometHeldCalls === 0, 'everything delivered', 30_000);
    const want = new Map(
      Array.from({ length: ROOMS }, (_, r) => [`live://${r}`, Array.from({ length: N / ROOMS }, (_, j) => String(j * ROOMS + r))]),
    );
    assert.deepEqual(received(ok.calls), want);
    assert.deepEqual(received(flaky.calls), want);
    assert.ok(flaky.failed.length >= 4, 'failures happened');
    assert.equal(queue.queueStats().redeliveries, 0);
    assert.equal(job.stats().cometDroppedRefused, 0);
    assert.equal(flaky.overlappingRoomCalls, 0);
  } finally {
    await job.stop();
  }
});

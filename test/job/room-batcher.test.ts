import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitFrames } from '../../src/protocol/frame.js';
import type { Proto } from '../../src/ports/index.js';
import { RoomBatcher } from '../../src/job/room-batcher.js';
import { RoomTable } from '../../src/job/room-table.js';
import { ManualClock } from '../support/manual-clock.js';

interface Sent {
  room: string;
  proto: Proto;
  done: (err: Error | null) => void;
}

function recorder(autoAck = true): {
  sent: Sent[];
  send: (room: string, proto: Proto, done: (err: Error | null) => void) => void;
  sendCounted: (room: string, proto: Proto, count: number, done: (err: Error | null) => void) => void;
} {
  const sent: Sent[] = [];
  const send = (room: string, proto: Proto, done: (err: Error | null) => void) => {
    sent.push({ room, proto, done });
    if (autoAck) queueMicrotask(() => done(null));
  };
  return { sent, send, sendCounted: (room, proto, _count, done) => send(room, proto, done) };
}

const bodies = (p: Proto) => splitFrames(Buffer.from(p.body)).map((f) => f.body.toString());

test('flushes when `batch` messages are held', async () => {
  const r = recorder();
  const b = new RoomBatcher('live://1', 3, 3_600_000, r.sendCounted);
  const ps = [b.offer(1000, Buffer.from('a')), b.offer(1000, Buffer.from('b'))];
  assert.equal(r.sent.length, 0);
  ps.push(b.offer(1000, Buffer.from('c')));
  assert.equal(r.sent.length, 1);
  assert.deepEqual(bodies(r.sent[0].proto), ['a', 'b', 'c']);
  await Promise.all(ps);
  assert.ok(b.idle);
});

test('flushes once the first held message waited `signal`', async () => {
  const r = recorder();
  const clock = new ManualClock();
  const b = new RoomBatcher('live://1', 20, 20, r.sendCounted, false, Infinity, clock);
  const p1 = b.offer(1000, Buffer.from('a'));
  clock.advance(10);
  const p2 = b.offer(1001, Buffer.from('b'));
  clock.advance(9);
  assert.equal(r.sent.length, 0, 'the first message has waited 19 ms');
  clock.advance(1);
  await Promise.all([p1, p2]);
  assert.equal(r.sent.length, 1);
  assert.deepEqual(
    splitFrames(Buffer.from(r.sent[0].proto.body)).map((f) => [f.op, f.body.toString()]),
    [
      [1000, 'a'],
      [1001, 'b'],
    ],
  );
});

test('adaptive: a message reaching a quiet room goes out at once, its followers are batched', async () => {
  const r = recorder();
  const b = new RoomBatcher('live://1', 20, 3_600_000, r.sendCounted, true);
  const first = b.offer(1000, Buffer.from('a'));
  assert.equal(r.sent.length, 1, 'the first message of a quiet room is not held');
  assert.deepEqual(bodies(r.sent[0].proto), ['a']);
  await first;
  // Within `signal` of that send the room counts as busy: messages wait for companions.
  const rest = [b.offer(1000, Buffer.from('b')), b.offer(1000, Buffer.from('c'))];
  assert.equal(r.sent.length, 1);
  b.flush();
  assert.deepEqual(bodies(r.sent[1].proto), ['b', 'c']);
  await Promise.all(rest);
});

test('adaptive: the room is quiet again once `signal` passed since its last batch', async () => {
  const r = recorder();
  const clock = new ManualClock();
  const b = new RoomBatcher('live://1', 20, 30, r.sendCounted, true, Infinity, clock);
  await b.offer(1000, Buffer.from('a'));
  const held = b.offer(1000, Buffer.from('b'));
  assert.equal(r.sent.length, 1, 'b waits: the room sent within signal');
  clock.advance(30);
  await held;
  assert.equal(r.sent.length, 2);
  clock.advance(30); // signal since b's batch
  void b.offer(1000, Buffer.from('c'));
  assert.equal(r.sent.length, 3, 'c goes out at once');
  assert.deepEqual(bodies(r.sent[2].proto), ['c']);
});

test('adaptive: a message 1 ms short of `signal` after the last batch still waits', () => {
  const r = recorder();
  const clock = new ManualClock();
  const b = new RoomBatcher('live://1', 20, 30, r.sendCounted, true, Infinity, clock);
  void b.offer(1000, Buffer.from('a'));
  assert.equal(r.sent.length, 1);
  clock.advance(29);
  void b.offer(1000, Buffer.from('b'));
  assert.equal(r.sent.length, 1, 'b waits for companions');
  clock.advance(29);
  assert.equal(r.sent.length, 1);
  clock.advance(1);
  assert.deepEqual(bodies(r.sent[1].proto), ['b'], 'sent once it waited signal');
  assert.equal(clock.timers, 0);
});

test('not adaptive: the first message waits for companions (goim)', () => {
  const r = recorder();
  const b = new RoomBatcher('live://1', 20, 3_600_000, r.sendCounted, false);
  void b.offer(1000, Buffer.from('a'));
  assert.equal(r.sent.length, 0);
  b.flush();
  assert.equal(r.sent.length, 1);
});

test('a batch failure rejects every message of that batch only', async () => {
  const r = recorder(false);
  const b = new RoomBatcher('live://1', 2, 3_600_000, r.sendCounted);
  const batch1 = [b.offer(1, Buffer.from('a')), b.offer(1, Buffer.from('b'))];
  const batch2 = [b.offer(1, Buffer.from('c')), b.offer(1, Buffer.from('d'))];
  assert.equal(r.sent.length, 2);
  assert.equal(b.idle, false, 'in-flight batches keep the batcher busy');
  r.sent[0].done(new Error('comet down'));
  r.sent[1].done(null);
  for (const p of batch1) await assert.rejects(p, /comet down/);
  await Promise.all(batch2);
  assert.ok(b.idle);
});

test('room table: idle batchers are swept, busy ones kept, a new message re-creates one', async () => {
  const r = recorder(false);
  const t = new RoomTable(20, 3_600_000, 1000, 512, r.send);
  const p = t.offer('a', 1, Buffer.from('x'));
  t.get('b');
  const later = performance.now() + 5000;
  assert.equal(t.sweep(later), 1, 'only the empty batcher goes');
  assert.deepEqual(t.keys(), ['a']);
  t.flushAll();
  assert.equal(t.sweep(later), 0, 'a batch in flight keeps its batcher');
  r.sent[0].done(null);
  await p;
  assert.equal(t.sweep(performance.now()), 0, 'not idle long enough yet');
  assert.equal(t.sweep(performance.now() + 1000), 1);
  assert.equal(t.size, 0);
  const p2 = t.offer('a', 1, Buffer.from('y'));
  assert.deepEqual(t.keys(), ['a']);
  t.flushAll();
  assert.equal(r.sent.length, 2);
  r.sent[1].done(null);
  await p2;
  t.stop();
});

test('room table: idle 0 means one minute, as in goim', () => {
  const r = recorder();
  const t = new RoomTable(20, 1000, 0, 512, r.send);
  t.get('a');
  assert.equal(t.sweep(performance.now() + 59_000), 0);
  assert.equal(t.sweep(performance.now() + 61_000), 1);
});

test('room table: reaching maxHeld sends every held batch at once', async () => {
  const r = recorder();
  const t = new RoomTable(20, 3_600_000, 1000, 4, r.send);
  const ps = [t.offer('a', 1, Buffer.from('a1')), t.offer('b', 1, Buffer.from('b1')), t.offer('a', 1, Buffer.from('a2'))];
  assert.equal(r.sent.length, 0);
  assert.equal(t.heldMessages, 3);
  ps.push(t.offer('c', 1, Buffer.from('c1')));
  assert.equal(t.heldMessages, 0);
  assert.deepEqual(
    r.sent.map((s) => [s.room, bodies(s.proto)]),
    [
      ['a', ['a1', 'a2']],
      ['b', ['b1']],
      ['c', ['c1']],
    ],
  );
  await Promise.all(ps);
  t.stop();
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemorySettle } from '../../src/lib/memory-settle.js';
import { silentLogger } from '../../src/log.js';
import { ManualClock } from '../support/manual-clock.js';

function subject(after: number, quietMs: number, rss: { v: number }) {
  const clock = new ManualClock();
  const collected: number[] = [];
  const s = new MemorySettle({
    after,
    quietMs,
    clock,
    log: silentLogger,
    name: 'test',
    random: () => 0,
    rss: () => rss.v,
    collect: () => {
      collected.push(clock.now());
      rss.v = 100;
    },
  });
  s.start();
  return { s, clock, collected };
}

test('settles once after a burst, only when the burst has been over for quietMs', () => {
  const rss = { v: 100 };
  const { s, clock, collected } = subject(1000, 5000, rss);
  // A burst: 500 a second for 3 s.
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 500; j++) s.count();
    rss.v += 100;
    clock.advance(1000);
  }
  clock.advance(4000);
  assert.deepEqual(collected, [], 'not before the burst has been quiet for 5 s');
  clock.advance(1000);
  assert.equal(collected.length, 1);
  assert.equal(s.counts.settles, 1);
  assert.equal(s.counts.freedBytes, 300);
  clock.advance(60_000);
  assert.equal(collected.length, 1, 'once per burst');
});

test('after a burst, reconnects at up to a tenth of its busiest second count as quiet', () => {
  const rss = { v: 100 };
  const { s, clock, collected } = subject(1000, 5000, rss);
  // A 5,000-connect storm at 1,000/s, then 11/s for a minute (a large server's ordinary churn).
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < 1000; j++) s.count();
    clock.advance(1000);
  }
  rss.v = 300;
  for (let i = 0; i < 60; i++) {
    for (let j = 0; j < 11; j++) s.count();
    clock.advance(1000);
  }
  assert.equal(collected.length, 1);
  // 101/s is more than a tenth of 1,000/s: the storm is not over.
  const busy = subject(1000, 5000, { v: 100 });
  for (let j = 0; j < 1000; j++) busy.s.count();
  busy.clock.advance(1000);
  for (let i = 0; i < 60; i++) {
    for (let j = 0; j < 101; j++) busy.s.count();
    busy.clock.advance(1000);
  }
  assert.equal(busy.collected.length, 0);
});

test('without a burst, events above 1% of `after` per second are never quiet', () => {
  const rss = { v: 100 };
  const { s, clock, collected } = subject(1000, 5000, rss);
  rss.v = 1000;
  for (let i = 0; i < 120; i++) {
    for (let j = 0; j < 11; j++) s.count();
    clock.advance(1000);
  }
  assert.equal(collected.length, 0);
});

test('fewer events than `after`, or RSS grown by less than a quarter, settle nothing', () => {
  const rss = { v: 100 };
  const { s, clock, collected } = subject(1000, 2000, rss);
  for (let j = 0; j < 999; j++) s.count();
  rss.v = 1000;
  clock.advance(10_000);
  assert.equal(collected.length, 0, 'below after');
  s.count();
  rss.v = 124;
  clock.advance(3000);
  assert.equal(collected.length, 0, 'RSS 24% above the last settle');
  // The count started over: a later burst with real growth settles.
  for (let j = 0; j < 1000; j++) s.count();
  rss.v = 200;
  clock.advance(1000);
  clock.advance(3000);
  assert.equal(collected.length, 1);
});

test('each process waits between quietMs and three times it, at random', () => {
  for (const [r, due] of [
    [0, 5000],
    [0.5, 10_000],
    [0.999, 15_000],
  ] as const) {
    const clock = new ManualClock();
    let rss = 100;
    const s = new MemorySettle({
      after: 10,
      quietMs: 5000,
      clock,
      log: silentLogger,
      name: 'test',
      random: () => r,
      rss: () => rss,
      collect: () => (rss = 100),
    });
    s.start();
    for (let j = 0; j < 10; j++) s.count();
    rss = 200;
    clock.advance(1000); // the busy tick
    clock.advance(due - 1000);
    assert.equal(s.counts.settles, 0, `random ${r}: not before ${due} ms of quiet`);
    clock.advance(1000);
    assert.equal(s.counts.settles, 1, `random ${r}: by ${due} ms of quiet + one tick`);
  }
});

test('after = 0 never starts a timer', () => {
  const clock = new ManualClock();
  const s = new MemorySettle({ after: 0, quietMs: 1000, clock, log: silentLogger, name: 'test', collect: () => assert.fail('collected') });
  s.start();
  assert.equal(clock.timers, 0);
  s.stop();
});

test('the real collection runs and leaves no gc on the global scope nor in later contexts', async () => {
  const clock = new ManualClock();
  let rss = 100;
  const s = new MemorySettle({ after: 1, quietMs: 1000, clock, log: silentLogger, name: 'test', random: () => 0, rss: () => rss, growth: 0 });
  s.start();
  s.count();
  rss = 200;
  clock.advance(3000);
  assert.equal(s.counts.settles, 1);
  assert.ok(s.counts.pauseMs > 0);
  assert.equal((globalThis as { gc?: unknown }).gc, undefined);
  const { runInNewContext } = await import('node:vm');
  assert.equal(runInNewContext('typeof gc'), 'undefined');
  s.stop();
  assert.equal(clock.timers, 0);
});

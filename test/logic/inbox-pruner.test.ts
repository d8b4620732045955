// The inbox pruner (src/logic/inbox-pruner.ts) on a real engine (SQLite on its thread) and the
// memory engine: it runs every pruneEvery on the clock, removes what the rule says and logs
// it, never runs twice at once, logs a failure and goes on, and stop() waits for its run.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { MemoryInboxStore } from '../../src/adapters/memory/inbox-store.js';
import { SqliteThreadInboxStore } from '../../src/adapters/sqlite/inbox-thread.js';
import type { Logger } from '../../src/log.js';
import { InboxPruner } from '../../src/logic/inbox-pruner.js';
import type { InboxPruneRule } from '../../src/ports/index.js';
import { ManualClock } from '../support/manual-clock.js';

const DAY = 86_400_000;
const NOW = 1_767_225_600_000;
const RULE: InboxPruneRule = { keep: 2, maxAgeMs: 7 * DAY, dropAcked: true, deviceTtlMs: 30 * DAY };

/** A logger whose lines the test reads. */
function recordingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

const item = (n: number, time = NOW) => ({ id: `m${n}`, op: 1000, body: Buffer.from(`b${n}`), time });

test('every pruneEvery it applies the rule to the SQLite inbox and logs what it removed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tsim-inbox-pruner-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = await SqliteThreadInboxStore.open({ dataDir: dir });
  t.after(() => store.close());
  for (let n = 1; n <= 5; n++) await store.append([1n, 2n], item(n));
  await store.append([3n], item(6, NOW - 8 * DAY)); // older than maxAge
  await store.ack(2n, 'phone', 5, NOW);
  let calls = 0;
  const prune = store.prune.bind(store);
  store.prune = (rule, nowMs) => {
    calls++;
    return prune(rule, nowMs);
  };
  const clock = new ManualClock();
  const { log, lines } = recordingLogger();
  const pruner = new InboxPruner({ store, rule: RULE, every: 60_000, log, clock, now: () => NOW });
  pruner.start();
  clock.advance(59_999);
  assert.equal(calls, 0, 'not due yet');
  clock.advance(1);
  assert.equal(calls, 1, 'due: a run started');
  await pruner.run(); // the run going, not a second one
  assert.equal(calls, 1);
  assert.deepEqual(await store.state(1n), { first: 4, last: 5 }, 'keep 2');
  assert.deepEqual(await store.state(2n), { first: 6, last: 5 }, 'all acknowledged by its one device');
  assert.deepEqual(await store.state(3n), { first: 2, last: 1 }, 'too old');
  assert.deepEqual(
    lines.map((l) => [l.msg, l.removed]),
    [['inbox: retention removed messages', 3 + 5 + 1]],
  );
  await pruner.stop();
  assert.equal(clock.timers, 0, 'no timer left');
});

test('the first run removes what the rule says; later runs find nothing and log at debug only', async () => {
  const store = new MemoryInboxStore();
  for (let n = 1; n <= 4; n++) await store.append([1n], item(n));
  const clock = new ManualClock();
  const { log, lines } = recordingLogger();
  const pruner = new InboxPruner({ store, rule: RULE, every: 1000, log, clock, now: () => NOW });
  pruner.start();
  clock.advance(1000);
  await pruner.run();
  assert.deepEqual(
    lines.map((l) => [l.msg, l.removed]),
    [['inbox: retention removed messages', 2]],
  );
  clock.advance(1000);
  await pruner.run();
  assert.equal(lines.length, 1);
  await pruner.stop();
});

test('a run still going when the next is due makes that one skip; stop waits for it', async () => {
  const store = new MemoryInboxStore();
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const prune = store.prune.bind(store);
  store.prune = async (rule, nowMs) => {
    calls++;
    await gate;
    return prune(rule, nowMs);
  };
  await store.append([1n], item(1));
  await store.append([1n], item(2));
  await store.append([1n], item(3));
  const clock = new ManualClock();
  const pruner = new InboxPruner({ store, rule: { ...RULE, keep: 1 }, every: 1000, log: recordingLogger().log, clock, now: () => NOW });
  pruner.start();
  clock.advance(1000);
  clock.advance(1000);
  clock.advance(1000);
  void pruner.run();
  assert.equal(calls, 1, 'one run at a time');
  let stopped = false;
  const stopping = pruner.stop().then(() => (stopped = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(stopped, false, 'stop waits for the run');
  release();
  await stopping;
  assert.deepEqual(await store.state(1n), { first: 3, last: 3 });
  clock.advance(10_000);
  assert.equal(calls, 1, 'nothing runs after stop');
});

test('a failed run is logged and counted, and the next run prunes', async () => {
  const store = new MemoryInboxStore();
  for (let n = 1; n <= 3; n++) await store.append([1n], item(n));
  const clock = new ManualClock();
  const { log, lines } = recordingLogger();
  const pruner = new InboxPruner({ store, rule: RULE, every: 1000, log, clock, now: () => NOW });
  pruner.start();
  store.failing = new Error('storage down');
  clock.advance(1000);
  await pruner.run();
  assert.equal(pruner.failures, 1);
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, l.err]),
    [[40, 'inbox: retention failed', 'storage down']],
  );
  store.failing = null;
  clock.advance(1000);
  await pruner.run();
  assert.deepEqual(await store.state(1n), { first: 2, last: 3 });
  await pruner.stop();
});

test('pruneEvery 0 schedules nothing', async () => {
  const clock = new ManualClock();
  const pruner = new InboxPruner({ store: new MemoryInboxStore(), rule: RULE, every: 0, log: recordingLogger().log, clock });
  pruner.start();
  assert.equal(clock.timers, 0);
  await pruner.stop();
});

// The job's room history (docs/history.md#offsets-and-epochs): offsets in the inner frames'
// seq and in the store, the op-18 announcement a room opened with nothing stored in its epoch
// starts with, acknowledgement after storage, redelivery, outages, overflow, a failed open,
// the u32 wrap and retention — driven through Job.handle with recording comets, the
// in-memory HistoryStore and a manual clock for the store's retry back-off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryHistoryStore } from '../../src/adapters/memory/history-store.js';
import { MemoryPushQueue } from '../../src/adapters/memory/push-queue.js';
import { jobHistorySettings } from '../../src/config/job-settings.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { Job } from '../../src/job/job.js';
import { silentLogger } from '../../src/log.js';
import { PushType, type AppendBatch, type CometDialer, type HistoryStore, type PushMsg, type RoomOpen } from '../../src/ports/index.js';
import { splitFrames, type Frame } from '../../src/protocol/frame.js';
import { eventually } from '../support/eventually.js';
import { ManualClock } from '../support/manual-clock.js';
import { FakeComet, FakeRegistry, cometInstance, hex, jobSettings, testConfig, unhex, withTimeout } from './fakes.js';

/** A MemoryHistoryStore that counts calls and can hold appends until released. */
class SpyStore extends MemoryHistoryStore {
  readonly calls: string[] = [];
  readonly appended: AppendBatch[][] = [];
  private gate: Promise<void> | null = null;
  private release: (() => void) | null = null;

  holdAppends(): void {
    this.gate = new Promise((r) => (this.release = r));
  }

  releaseAppends(): void {
    this.release?.();
    this.gate = null;
  }

  override async open(room: string, recent: number): Promise<RoomOpen> {
    this.calls.push('open');
    return super.open(room, recent);
  }

  override async append(batches: AppendBatch[]): Promise<void> {
    this.calls.push('append');
    if (this.gate) await this.gate;
    await super.append(batches);
    this.appended.push(batches);
  }

  override async newEpoch(room: string, epoch: string, start: number) {
    this.calls.push('newEpoch');
    return super.newEpoch(room, epoch, start);
  }

  override async prune(...args: Parameters<HistoryStore['prune']>): Promise<number> {
    this.calls.push('prune');
    return super.prune(...args);
  }
}

const HISTORY: ConfigInput = { roomTypes: { live: { history: true } } };

function startJob(comet: FakeComet, store: HistoryStore, config: ConfigInput = HISTORY, clock = new ManualClock()): Promise<Job> {
  return startJobWith([comet], store, config, clock);
}

async function startJobWith(comets: FakeComet[], store: HistoryStore, config: ConfigInput, clock: ManualClock): Promise<Job> {
  const registry = new FakeRegistry();
  for (const c of comets) await registry.register(cometInstance(c.name));
  const dial: CometDialer = (ins) => comets.find((c) => c.name === ins.hostname)!;
  const cfg = testConfig(config);
  const job = new Job({
    ...jobSettings(cfg),
    history: jobHistorySettings(cfg),
    historyStore: store,
    queue: new MemoryPushQueue(),
    registry,
    dial,
    log: silentLogger,
    clock,
  });
  await job.start();
  return job;
}

const roomMsg = (room: string, body: string, id?: string): PushMsg => ({
  type: PushType.ROOM,
  operation: 1000,
  speed: 0,
  server: '',
  room,
  keys: [],
  msg: Buffer.from(body),
  ...(id !== undefined ? { id } : {}),
});

/** Every inner frame the comet accepted for `room`, in order; seq read as the u32 it is. */
function allFrames(c: FakeComet, room: string): Frame[] {
  return c.calls.flatMap((call) =>
    call.kind === 'room' && call.room === room ? splitFrames(Buffer.from(call.proto.body)).map((f) => ({ ...f, seq: f.seq >>> 0 })) : [],
  );
}

/** An op-18 frame with seq 0: the job announcing a room's epoch in its stream. */
const isRoomState = (f: Frame) => f.op === 18 && f.seq === 0;

/**
 * The frames of `room` without the announcement a room opened with nothing stored in its epoch
 * starts with (its leading op-18 frame); an op 18 anywhere else in the stream is kept.
 */
function frames(c: FakeComet, room: string): Frame[] {
  const all = allFrames(c, room);
  return all.length > 0 && isRoomState(all[0]) ? all.slice(1) : all;
}

const seqs = (c: FakeComet, room: string) => frames(c, room).map((f) => [f.op, f.seq, f.body.toString()]);

type RoomState = { room: string; epoch: string; first: number };
const roomState = (f: Frame) => JSON.parse(f.body.toString()) as RoomState;

/** Resolves on the next macrotask turn: lets settled store calls run their continuations. */
const turn = () => new Promise((r) => setImmediate(r));

test('offsets are contiguous per room and in queue order, in the frames seq and in the store; other rooms keep seq 0', async () => {
  const c = new FakeComet('c1');
  const store = new SpyStore();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 4, signal: '1h' } });
  try {
    // 7 messages for each live room: with the op-18 announcement each starts with, 8 frames, two
    // full batches of 4. chat://1 (no history, no announcement) gets 8: m2, m5, …, m20 and m21.
    const acks: Promise<void>[] = [];
    for (let i = 0; i < 21; i++) acks.push(job.handle(roomMsg(['live://1', 'live://2', 'chat://1'][i % 3], `m${i}`, `id${i}`)));
    acks.push(job.handle(roomMsg('chat://1', 'm21', 'id21')));
    await withTimeout(Promise.all(acks), 5000, 'acks');
    for (const [r, first] of [
      ['live://1', 0],
      ['live://2', 1],
    ] as const) {
      const all = allFrames(c, r);
      assert.deepEqual(
        all.map((f) => [f.op, f.seq]).filter(([op]) => op === 18),
        [[18, 0]],
        `${r}: one op-18 frame`,
      );
      assert.ok(isRoomState(all[0]), `${r}: its stream starts with the announcement`);
      assert.deepEqual(roomState(all[0]), { room: r, epoch: (await store.state(r))!.epoch, first: 1 }, `${r}: its epoch, from offset 1`);
      const want = Array.from({ length: 7 }, (_, k) => [1000, k + 1, `m${first + 3 * k}`]);
      assert.deepEqual(seqs(c, r), want, `${r} frames`);
      const stored = await store.after(r, 0, 100);
      assert.deepEqual(
        stored.map((x) => [x.op, x.offset, Buffer.from(x.body).toString(), x.id]),
        want.map(([op, off, body]) => [op, off, body, `id${String(body).slice(1)}`]),
        `${r} stored`,
      );
    }
    assert.deepEqual(
      allFrames(c, 'chat://1').map((f) => [f.op, f.seq]),
      Array.from({ length: 8 }, () => [1000, 0]),
      'a room type without history gets seq 0 and no announcement',
    );
    assert.equal(await store.state('chat://1'), null, 'nothing stored for it');
    const s = job.stats();
    assert.equal(s.historyRecordsWritten, 14);
    assert.ok(s.historyWriteBatches >= 1 && s.historyWriteBatches <= 14);
    assert.equal(job.load().historyBacklog, 0);
  } finally {
    await job.stop();
  }
});

test('without a history-enabled room type: no store call, and the room batch bytes are goim vector bytes', async () => {
  const c = new FakeComet('c1');
  const store = new SpyStore();
  const job = await startJob(c, store, { roomTypes: { live: { send: true } }, room: { batch: 2, signal: '1h' } });
  try {
    await Promise.all([job.handle(roomMsg('live://1000', '{"test":1}', 'a')), job.handle(roomMsg('live://1000', '{"test":2}', 'b'))]);
    assert.deepEqual(store.calls, []);
    const call = c.calls[0];
    assert.equal(call.kind, 'room');
    if (call.kind !== 'room') return;
    assert.equal(
      hex(call.proto.body),
      hex(
        unhex(
          '00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 31 7d ' +
            '00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 32 7d',
        ),
      ),
    );
  } finally {
    await job.stop();
  }
  assert.deepEqual(store.calls, [], 'not even at stop');
});

test("a history room batch differs from goim bytes only in the seq fields (after a new room's op-18 announcement)", async () => {
  const c = new FakeComet('c1');
  const store = new MemoryHistoryStore();
  // batch 3: the new room's op-18 announcement and the two messages.
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 3, signal: '1h' } });
  try {
    await Promise.all([job.handle(roomMsg('live://1000', '{"test":1}')), job.handle(roomMsg('live://1000', '{"test":2}'))]);
    assert.equal(c.calls.length, 1, 'one batch');
    const call = c.calls[0];
    assert.equal(call.kind, 'room');
    if (call.kind !== 'room') return;
    assert.deepEqual({ ver: call.proto.ver, op: call.proto.op, seq: call.proto.seq }, { ver: 1, op: 9, seq: 0 });
    const body = Buffer.from(call.proto.body);
    const announce = body.readInt32BE(0); // packLen of the leading frame
    const [lead] = splitFrames(body.subarray(0, announce));
    assert.deepEqual(
      { ver: lead.ver, op: lead.op, seq: lead.seq, state: roomState(lead) },
      { ver: 1, op: 18, seq: 0, state: { room: 'live://1000', epoch: (await store.state('live://1000'))!.epoch, first: 1 } },
      'the announcement leads the batch',
    );
    assert.equal(
      hex(body.subarray(announce)),
      hex(
        unhex(
          '00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 01 7b 22 74 65 73 74 22 3a 31 7d ' +
            '00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 02 7b 22 74 65 73 74 22 3a 32 7d',
        ),
      ),
    );
  } finally {
    await job.stop();
  }
});

test('a room key with NUL (no store can hold it) is not numbered: seq 0, no store call', async () => {
  const c = new FakeComet('c1');
  const store = new SpyStore();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1, signal: '1h' } });
  try {
    await job.handle(roomMsg('live://a\0b', 'x', 'n1'));
    assert.deepEqual(store.calls, []);
    assert.deepEqual(
      allFrames(c, 'live://a\0b').map((f) => [f.op, f.seq]),
      [[1000, 0]],
    );
  } finally {
    await job.stop();
  }
});

test('the acknowledgement waits for the store; fan-out does not', async () => {
  const c = new FakeComet('c1');
  const store = new SpyStore();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 } });
  try {
    await job.handle(roomMsg('live://1', 'first')); // the room is open
    store.holdAppends();
    let acked = false;
    const ack = job.handle(roomMsg('live://1', 'second')).then(() => (acked = true));
    await eventually(() => frames(c, 'live://1').length === 2, 'second delivered');
    assert.deepEqual(seqs(c, 'live://1').at(-1), [1000, 2, 'second'], 'delivered with its offset while the store holds');
    await turn();
    assert.equal(acked, false, 'not acknowledged before it is stored');
    assert.equal(job.load().historyBacklog, 1);
    store.releaseAppends();
    await withTimeout(ack, 5000, 'ack after store');
    assert.deepEqual(
      (await store.after('live://1', 0, 10)).map((r) => r.offset),
      [1, 2],
    );
  } finally {
    await job.stop();
  }
});

/** A SpyStore running its calls one after another, in order, as the SQLite thread does; `failNext` appends fail. */
class SerialSpyStore extends SpyStore {
  readonly serial = true;
  failNext = 0;
  /** Append calls made (each runs once those before it have ended). */
  made = 0;
  /** Each append / newEpoch call as made: its method and how many calls were unfinished then. */
  readonly made_: string[] = [];
  private running = 0;
  private chain: Promise<unknown> = Promise.resolve();

  private serially<T>(method: string, run: () => Promise<T>): Promise<T> {
    this.made_.push(`${method}:${this.running}`);
    this.running++;
    const p = this.chain.then(run);
    this.chain = p.catch(() => {});
    void this.chain.then(() => this.running--);
    return p;
  }

  override append(batches: AppendBatch[]): Promise<void> {
    this.made++;
    const fail = this.failNext > 0;
    if (fail) this.failNext--;
    return this.serially('append', () => (fail ? Promise.reject(new Error('disk I/O error')) : super.append(batches)));
  }

  override newEpoch(room: string, epoch: string, start: number) {
    return this.serially('newEpoch', () => super.newEpoch(room, epoch, start));
  }
}

test('a serial store gets a second append behind the first; a failed first puts both back in order', async () => {
  const c = new FakeComet('c1');
  const store = new SerialSpyStore();
  const clock = new ManualClock();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 }, history: { writeBatch: 2 } }, clock);
  const appendCalls = (): number => store.made;
  try {
    await job.handle(roomMsg('live://1', 'm0'));
    store.holdAppends();
    const acks = [job.handle(roomMsg('live://1', 'm1'))];
    await eventually(() => appendCalls() === 2, 'first held append');
    for (let i = 2; i <= 6; i++) acks.push(job.handle(roomMsg(i % 2 ? 'live://1' : 'live://2', `m${i}`)));
    await eventually(() => appendCalls() === 3, 'a second append waits behind the first');
    await turn();
    assert.equal(appendCalls(), 3, 'never more than two');
    store.releaseAppends();
    await withTimeout(Promise.all(acks), 5000, 'acks');
    // Now the first of two fails: the one behind it continues its room, fails too, and both go back in order.
    store.failNext = 1;
    store.holdAppends();
    const more: Promise<void>[] = [];
    for (let i = 7; i <= 10; i++) more.push(job.handle(roomMsg('live://1', `m${i}`)));
    await eventually(() => job.stats().historyWriteFailures >= 1, 'the first append failed');
    store.releaseAppends();
    // The back-off (100 ms, then 200) runs on the manual clock: well below writeWait, so nothing is released.
    await eventually(() => {
      if (job.load().historyBacklog > 0) clock.advance(100);
      return job.load().historyBacklog === 0;
    }, 'everything written after the retry');
    await withTimeout(Promise.all(more), 5000, 'acks after the retry');
    const stored = await store.after('live://1', 0, 100);
    assert.deepEqual(
      stored.map((r) => `${r.offset}:${Buffer.from(r.body).toString()}`),
      ['1:m0', '2:m1', '3:m3', '4:m5', '5:m7', '6:m8', '7:m9', '8:m10'],
    );
    assert.deepEqual(
      (await store.after('live://2', 0, 100)).map((r) => r.offset),
      [1, 2, 3],
    );
    assert.equal(job.stats().historyRecordsWritten, 11);
    assert.ok(job.stats().historyWriteFailures >= 1);
    assert.equal(job.load().historyBacklog, 0);
  } finally {
    await job.stop();
  }
});

test('a serial store: an epoch start is never written alongside another call', async () => {
  const c = new FakeComet('c1');
  const store = new SerialSpyStore();
  await store.newEpoch('live://1', 'big', 2 ** 32 - 2); // the wrap comes after two messages
  store.made_.length = 0;
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 } });
  try {
    store.holdAppends();
    const acks = ['a', 'b', 'c', 'd', 'e'].map((m) => job.handle(roomMsg('live://1', m)));
    await eventually(() => allFrames(c, 'live://1').filter((f) => f.op === 1000).length === 5, 'all delivered');
    store.releaseAppends();
    await withTimeout(Promise.all(acks), 5000, 'acks');
    assert.ok(store.made_.includes('newEpoch:0'), store.made_.join(' '));
    for (let i = 0; i < store.made_.length; i++) {
      if (store.made_[i].startsWith('newEpoch')) assert.equal(store.made_[i], 'newEpoch:0', `made while another ran: ${store.made_.join(' ')}`);
      if (i > 0 && store.made_[i - 1].startsWith('newEpoch'))
        assert.ok(store.made_[i].endsWith(':0'), `made alongside the epoch start: ${store.made_.join(' ')}`);
    }
    assert.ok(
      store.made_.some((m) => m === 'append:1'),
      `two appends overlapped: ${store.made_.join(' ')}`,
    );
    assert.deepEqual(
      (await store.after('live://1', 0, 10)).map((r) => Buffer.from(r.body).toString()),
      ['c', 'd', 'e'],
    );
  } finally {
    store.releaseAppends();
    await job.stop();
  }
});

test('writeLinger: a small append waits for companions up to the linger; 64 records, a release or a stop start it at once', async () => {
  const c = new FakeComet('c1');
  const store = new SpyStore();
  const clock = new ManualClock();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 }, history: { writeLinger: '20ms' } }, clock);
  const appends = (): number[] => store.appended.map((call) => call.reduce((n, b) => n + b.records.length, 0));
  try {
    const first = [job.handle(roomMsg('live://1', 'a')), job.handle(roomMsg('live://2', 'b'))];
    await eventually(() => frames(c, 'live://1').length + frames(c, 'live://2').length === 2, 'delivered at once');
    clock.advance(19);
    await turn();
    assert.deepEqual(appends(), [], 'nothing written before the linger');
    clock.advance(1);
    await withTimeout(Promise.all(first), 5000, 'acks after the linger');
    assert.deepEqual(appends(), [2], 'both records in one append');
    // 64 queued records do not wait.
    const burst = Array.from({ length: 64 }, (_, i) => job.handle(roomMsg('live://1', `x${i}`)));
    await withTimeout(Promise.all(burst), 5000, 'a full append without the clock moving');
    assert.deepEqual(appends(), [2, 64]);
    // What lingers when the job stops is written before it stops.
    const last = job.handle(roomMsg('live://1', 'last'));
    await eventually(() => frames(c, 'live://1').length === 66, 'last delivered');
    await job.stop();
    await withTimeout(last, 5000, 'ack of the lingering record at stop');
    assert.deepEqual(appends(), [2, 64, 1]);
  } finally {
    await job.stop();
  }
});

test('writes are batched: one append in flight, the next batch collected meanwhile, at most writeBatch records each', async () => {
  const c = new FakeComet('c1');
  const store = new SpyStore();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 }, history: { writeBatch: 3 } });
  try {
    await job.handle(roomMsg('live://1', 'm0'));
    store.holdAppends();
    const acks = [job.handle(roomMsg('live://1', 'm1'))];
    await eventually(() => store.calls.filter((x) => x === 'append').length === 2, 'second append in flight');
    for (let i = 2; i <= 8; i++) acks.push(job.handle(roomMsg(i % 2 ? 'live://1' : 'live://2', `m${i}`)));
    await eventually(() => frames(c, 'live://1').length + frames(c, 'live://2').length === 9, 'all delivered');
    assert.equal(store.calls.filter((x) => x === 'append').length, 2, 'one call in flight at a time');
    store.releaseAppends();
    await withTimeout(Promise.all(acks), 5000, 'acks');
    const sizes = store.appended.map((call) => call.reduce((n, b) => n + b.records.length, 0));
    assert.deepEqual(sizes, [1, 1, 3, 3, 1], 'the 7 held records went in batches of writeBatch');
    assert.equal(job.stats().historyWriteBatches, 5);
  } finally {
    await job.stop();
  }
});

test('a room remembers the ids of its newest history.recentIds messages, the oldest forgotten first', async () => {
  const c1 = new FakeComet('c1');
  const job = await startJob(c1, new SpyStore(), { ...HISTORY, room: { batch: 1 }, history: { recentIds: 3 } });
  try {
    for (const id of ['a', 'b', 'c', 'd', 'b', 'e', 'c', 'a']) await job.handle(roomMsg('live://1', id, id));
    // b and c redelivered within the last three keep their offsets; a, forgotten, is numbered again.
    assert.deepEqual(
      seqs(c1, 'live://1').map(([, seq, body]) => `${body}${seq}`),
      ['a1', 'b2', 'c3', 'd4', 'b2', 'e5', 'c3', 'a6'],
    );
  } finally {
    await job.stop();
  }
});

test('a redelivered message keeps its offset and is not stored twice (same job, and a new owner after a restart)', async () => {
  const c1 = new FakeComet('c1');
  const store = new SpyStore();
  const job1 = await startJob(c1, store, { ...HISTORY, room: { batch: 1 } });
  try {
    for (const id of ['a', 'b', 'c']) await job1.handle(roomMsg('live://1', id, id));
    await job1.handle(roomMsg('live://1', 'b', 'b')); // e.g. redelivered after a failed fan-out
    assert.deepEqual(
      seqs(c1, 'live://1').map(([, seq, body]) => `${body}${seq}`),
      ['a1', 'b2', 'c3', 'b2'],
    );
  } finally {
    await job1.stop();
  }
  const c2 = new FakeComet('c2');
  const job2 = await startJob(c2, store, { ...HISTORY, room: { batch: 1 } });
  try {
    for (const id of ['b', 'c', 'd']) await job2.handle(roomMsg('live://1', id, id));
    assert.deepEqual(
      allFrames(c2, 'live://1').map((f) => `${f.body.toString()}${f.seq}`),
      ['b2', 'c3', 'd4'],
    );
    const stored = await store.after('live://1', 0, 10);
    assert.deepEqual(
      stored.map((r) => `${r.id}${r.offset}`),
      ['a1', 'b2', 'c3', 'd4'],
    );
    assert.equal(job2.stats().historyRecordsWritten, 1, 'the new owner stored only d');
  } finally {
    await job2.stop();
  }
});

test('a room reopened by a new job with records in its epoch gets no op-18 announcement at open', async () => {
  const store = new MemoryHistoryStore();
  const c1 = new FakeComet('c1');
  const job1 = await startJob(c1, store, { ...HISTORY, room: { batch: 1 } });
  try {
    await job1.handle(roomMsg('live://1', 'a', 'a'));
    assert.deepEqual(
      allFrames(c1, 'live://1').map((f) => [f.op, f.seq]),
      [
        [18, 0],
        [1000, 1],
      ],
      'the new room announced its epoch',
    );
  } finally {
    await job1.stop();
  }
  const epoch = (await store.state('live://1'))!.epoch;
  const c2 = new FakeComet('c2');
  const job2 = await startJob(c2, store, { ...HISTORY, room: { batch: 1 } });
  try {
    await job2.handle(roomMsg('live://1', 'b', 'b'));
    assert.deepEqual(
      allFrames(c2, 'live://1').map((f) => [f.op, f.seq, f.body.toString()]),
      [[1000, 2, 'b']],
      'a joiner learns the epoch from the stored records: nothing announced',
    );
    assert.deepEqual(job2.historyPosition('live://1'), { epoch, last: 2, status: 'open' });
    assert.equal(job2.stats().historyEpochs, 0);
  } finally {
    await job2.stop();
  }
});

test('a message without id gets a random one; its record carries the sender, time and progress', async () => {
  const c = new FakeComet('c1');
  const store = new MemoryHistoryStore();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 } });
  try {
    await job.handle({ ...roomMsg('live://1', 'x'), sender: 42n, time: 1_767_225_600_000, progress: 73_500 });
    await job.handle(roomMsg('live://1', 'y'));
    const [a, b] = await store.after('live://1', 0, 10);
    assert.ok(a.id.length >= 16 && b.id.length >= 16 && a.id !== b.id);
    assert.deepEqual([a.mid, a.time, a.progress], [42n, 1_767_225_600_000, 73_500]);
    assert.deepEqual([b.mid, b.progress], [0n, null]);
  } finally {
    await job.stop();
  }
});

test('store outage within the buffer: delivery goes on with offsets, acks wait, everything is stored after recovery in the same epoch', async () => {
  const c = new FakeComet('c1');
  const store = new MemoryHistoryStore();
  const clock = new ManualClock();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 } }, clock);
  try {
    await job.handle(roomMsg('live://1', 'm1'));
    const epoch = (await store.state('live://1'))!.epoch;
    store.failing = new Error('store down');
    let acked = 0;
    const acks = [2, 3, 4, 5].map((i) => job.handle(roomMsg('live://1', `m${i}`)).then(() => acked++));
    await eventually(() => frames(c, 'live://1').length === 5, 'all delivered');
    assert.deepEqual(
      seqs(c, 'live://1').map(([, seq]) => seq),
      [1, 2, 3, 4, 5],
    );
    await eventually(() => job.stats().historyWriteFailures >= 1, 'a failed append');
    clock.advance(100); // the first retry fails too
    await eventually(() => job.stats().historyWriteFailures >= 2, 'a second failed append');
    assert.equal(acked, 0, 'nothing acknowledged while the store is down');
    assert.equal(job.load().historyBacklog, 4);
    store.failing = null;
    clock.advance(200);
    await withTimeout(Promise.all(acks), 5000, 'acks after recovery');
    const st = (await store.state('live://1'))!;
    assert.equal(st.epoch, epoch, 'same epoch: nothing was lost');
    assert.deepEqual(
      (await store.after('live://1', 0, 10)).map((r) => Buffer.from(r.body).toString()),
      ['m1', 'm2', 'm3', 'm4', 'm5'],
    );
    assert.equal(job.stats().historyRecordsDropped, 0);
    assert.equal(job.stats().historyEpochs, 0);
  } finally {
    await job.stop();
  }
});

test('overflow after overflow in one outage: one epoch start is written for the room, not one per drop', async () => {
  const c = new FakeComet('c1');
  const store = new SpyStore();
  const clock = new ManualClock();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 }, history: { writeBuffer: 2, writeBatch: 1 } }, clock);
  try {
    await job.handle(roomMsg('live://1', 'm1'));
    store.failing = new Error('store down');
    const acks: Promise<void>[] = [];
    for (let i = 2; i <= 40; i++) acks.push(job.handle(roomMsg('live://1', `m${i}`)));
    await eventually(() => allFrames(c, 'live://1').filter((f) => !isRoomState(f)).length === 40, 'every message delivered');
    const announced = allFrames(c, 'live://1').filter(isRoomState).map(roomState);
    assert.ok(announced.length > 3, `several new epochs announced (${announced.length})`);
    store.failing = null;
    clock.advance(10_000);
    await withTimeout(Promise.all(acks), 5000, 'every message acknowledged');
    const last = announced.at(-1)!;
    await eventually(
      async () => (await store.state('live://1'))?.epoch === last.epoch && job.load().historyBacklog === 0,
      'the store reached the last epoch',
    );
    const starts = store.calls.filter((m) => m === 'newEpoch').length;
    assert.ok(starts <= 2, `epoch starts written: ${starts} for ${announced.length - 1} new epochs`);
    const st = (await store.state('live://1'))!;
    assert.deepEqual([st.epoch, st.epochStart], [last.epoch, last.first], 'the store is in the epoch announced last');
  } finally {
    await job.stop();
  }
});

test('buffer overflow: oldest records dropped and acknowledged, op 18 announces a new epoch in the stream, persisted after recovery; offsets go on', async () => {
  const c = new FakeComet('c1');
  const store = new SpyStore();
  const clock = new ManualClock();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 }, history: { writeBuffer: 3, writeBatch: 1 } }, clock);
  try {
    await job.handle(roomMsg('live://1', 'm1'));
    await job.handle(roomMsg('live://2', 'other1'));
    const epoch1 = (await store.state('live://1'))!.epoch;
    store.failing = new Error('store down');
    const m2 = job.handle(roomMsg('live://1', 'm2')); // in flight, fails
    const dropped = [3, 4, 5].map((i) => job.handle(roomMsg('live://1', `m${i}`)));
    // m2 in flight + m3, m4 held = 3; m5 makes 4 > writeBuffer: m3..m5 (the room's held epoch-1 records) go.
    await withTimeout(Promise.all(dropped), 5000, 'dropped records acknowledged');
    assert.equal(job.stats().historyRecordsDropped, 3);
    assert.equal(job.stats().historyEpochs, 1);
    const m6 = job.handle(roomMsg('live://1', 'm6'));
    await eventually(() => allFrames(c, 'live://1').length === 8, 'm6 delivered');
    const stream = allFrames(c, 'live://1');
    const announced = stream.filter(isRoomState);
    assert.equal(announced.length, 2, 'the epoch the room opened in, then the new one');
    assert.deepEqual(roomState(announced[0]), { room: 'live://1', epoch: epoch1, first: 1 });
    const state = roomState(announced[1]);
    assert.equal(state.room, 'live://1');
    assert.equal(state.first, 6);
    assert.notEqual(state.epoch, epoch1);
    assert.deepEqual(
      stream.map((f) => [f.op, f.seq, f.op === 18 ? '' : f.body.toString()]),
      [
        [18, 0, ''],
        [1000, 1, 'm1'],
        [1000, 2, 'm2'],
        [1000, 3, 'm3'],
        [1000, 4, 'm4'],
        [1000, 5, 'm5'],
        [18, 0, ''],
        [1000, 6, 'm6'],
      ],
    );
    assert.equal(store.calls.includes('newEpoch'), false, 'not persisted while the store is down');
    store.failing = null;
    clock.advance(10_000);
    await withTimeout(Promise.all([m2, m6]), 5000, 'acks after recovery');
    const st = (await store.state('live://1'))!;
    assert.deepEqual([st.epoch, st.epochStart, st.last], [state.epoch, 6, 6]);
    assert.deepEqual(
      (await store.after('live://1', 0, 10)).map((r) => `${Buffer.from(r.body).toString()}@${r.offset}`),
      ['m1@1', 'm2@2', 'm6@6'],
    );
    assert.equal((await store.state('live://2'))!.last, 1, 'the other room is untouched');
    await job.handle(roomMsg('live://1', 'm7'));
    assert.deepEqual(allFrames(c, 'live://1').at(-1)!.seq, 7, 'offsets go on in the new epoch');
  } finally {
    await job.stop();
  }
});

test('store down at open: the room goes out with seq 0, then opens with a new epoch announced in its stream', async () => {
  const c = new FakeComet('c1');
  const store = new SpyStore();
  const clock = new ManualClock();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 } }, clock);
  try {
    store.failing = new Error('store down');
    await withTimeout(Promise.all([job.handle(roomMsg('live://1', 'a')), job.handle(roomMsg('live://1', 'b'))]), 5000, 'delivered unrecorded');
    assert.deepEqual(
      allFrames(c, 'live://1').map((f) => [f.op, f.seq, f.body.toString()]),
      [
        [1000, 0, 'a'],
        [1000, 0, 'b'],
      ],
    );
    assert.equal(job.stats().historyOpenFailures, 1);
    await job.handle(roomMsg('live://1', 'c')); // still down: not held
    store.failing = null;
    clock.advance(100); // the open is retried
    await eventually(() => job.historyPosition('live://1')?.status === 'open', 'room open');
    await job.handle(roomMsg('live://1', 'd'));
    const stream = allFrames(c, 'live://1');
    assert.deepEqual(
      stream.map((f) => [f.op, f.seq]),
      [
        [1000, 0],
        [1000, 0],
        [1000, 0],
        [18, 0],
        [1000, 1],
      ],
    );
    const announced = JSON.parse(stream[3].body.toString()) as { epoch: string; first: number };
    assert.equal(announced.first, 1);
    const st = (await store.state('live://1'))!;
    assert.equal(st.epoch, announced.epoch, 'the announced epoch was persisted before the record');
    assert.deepEqual(
      (await store.after('live://1', 0, 10)).map((r) => Buffer.from(r.body).toString()),
      ['d'],
    );
    assert.equal(job.stats().historyEpochs, 1);
  } finally {
    await job.stop();
  }
});

test('offsets are u32 on the wire: after 2^32 - 1 a room starts a new epoch at offset 1', async () => {
  const c = new FakeComet('c1');
  const store = new MemoryHistoryStore();
  await store.newEpoch('live://1', 'big', 2 ** 32 - 2); // last = 2^32 - 3
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 } });
  try {
    for (const m of ['a', 'b', 'c', 'd']) await job.handle(roomMsg('live://1', m));
    const stream = allFrames(c, 'live://1');
    assert.deepEqual(
      stream.map((f) => [f.op, f.seq]),
      [
        [18, 0], // nothing stored in 'big' yet: announced at open
        [1000, 2 ** 32 - 2],
        [1000, 2 ** 32 - 1],
        [18, 0],
        [1000, 1],
        [1000, 2],
      ],
    );
    assert.deepEqual(roomState(stream[0]), { room: 'live://1', epoch: 'big', first: 2 ** 32 - 2 });
    const call = c.calls[2]; // batch 1: the announcement, a, then b
    assert.ok(call.kind === 'room');
    assert.equal(hex(call.proto.body.subarray(12, 16)), 'ff ff ff ff', 'the top offset as four bytes');
    const announced = roomState(stream[3]);
    assert.equal(announced.first, 1);
    const st = (await store.state('live://1'))!;
    assert.deepEqual([st.epoch, st.epochStart, st.last], [announced.epoch, 1, 2]);
    assert.deepEqual(
      (await store.after('live://1', 0, 10)).map((r) => Buffer.from(r.body).toString()),
      ['c', 'd'],
    );
  } finally {
    await job.stop();
  }
});

test("retention runs every history.pruneEvery on the job's clock with each history room type's rule", async () => {
  const c = new FakeComet('c1');
  const store = new SpyStore();
  const clock = new ManualClock();
  const job = await startJob(
    c,
    store,
    { roomTypes: { live: { history: true, keep: 2 }, vod: { history: true, keep: 3 } }, room: { batch: 1 } },
    clock,
  );
  try {
    for (let i = 0; i < 5; i++) {
      await job.handle(roomMsg('live://1', `l${i}`));
      await job.handle(roomMsg('vod://1', `v${i}`));
    }
    clock.advance(59_999);
    assert.equal(store.calls.includes('prune'), false);
    clock.advance(1);
    await eventually(async () => (await store.after('live://1', 0, 10)).length === 2, 'live pruned to keep');
    assert.deepEqual(
      (await store.after('vod://1', 0, 10)).map((r) => r.offset),
      [3, 4, 5],
    );
    assert.deepEqual(
      (await store.after('live://1', 0, 10)).map((r) => r.offset),
      [4, 5],
    );
  } finally {
    await job.stop();
  }
});

test('stop while the store is down: unwritten messages are not acknowledged (the queue redelivers them)', async () => {
  const c = new FakeComet('c1');
  const store = new MemoryHistoryStore();
  const clock = new ManualClock();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 } }, clock);
  await job.handle(roomMsg('live://1', 'm1'));
  store.failing = new Error('store down');
  const pending = job.handle(roomMsg('live://1', 'm2'));
  await eventually(() => job.stats().historyWriteFailures >= 1, 'a failed append');
  await withTimeout(job.stop(), 5000, 'stop');
  await assert.rejects(pending, /not stored/);
});

test('an open the store does not answer holds the room for history.writeWait only; a retried open holds nothing', async () => {
  const c = new FakeComet('c1');
  let opens = 0;
  const store = new (class extends MemoryHistoryStore {
    override open(room: string, recent: number): Promise<RoomOpen> {
      return opens++ < 2 ? new Promise<RoomOpen>(() => {}) : super.open(room, recent);
    }
  })();
  const clock = new ManualClock();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 } }, clock);
  try {
    let acked = false;
    const ack = job.handle(roomMsg('live://1', 'held')).then(() => (acked = true));
    await turn();
    assert.equal(acked, false);
    assert.equal(allFrames(c, 'live://1').length, 0, 'held while the room opens');
    clock.advance(1_999);
    await turn();
    assert.equal(allFrames(c, 'live://1').length, 0);
    clock.advance(1);
    await withTimeout(ack, 5000, 'delivered at writeWait, the open still unanswered');
    assert.deepEqual(
      allFrames(c, 'live://1').map((f) => [f.op, f.seq, f.body.toString()]),
      [[1000, 0, 'held']],
    );
    assert.equal(job.stats().historyOpenFailures, 1);
    clock.advance(8_000); // the open call times out at 10 s: the same failure, not counted again
    await turn();
    assert.equal(job.stats().historyOpenFailures, 1);
    clock.advance(100); // the retry, which hangs too
    assert.equal(opens, 2);
    await withTimeout(job.handle(roomMsg('live://1', 'during the retry')), 5000, 'not held by a retried open');
    clock.advance(10_000);
    await eventually(() => job.stats().historyOpenFailures === 2, 'the retry timed out');
    clock.advance(200);
    await eventually(() => job.historyPosition('live://1')?.status === 'open', 'reopened');
    await job.handle(roomMsg('live://1', 'next'));
    assert.deepEqual(
      allFrames(c, 'live://1').map((f) => [f.op, f.seq]),
      [
        [1000, 0],
        [1000, 0],
        [18, 0],
        [1000, 1],
      ],
    );
  } finally {
    await job.stop();
  }
});

test('store down past history.writeWait: messages keep flowing past job.maxPending, a new epoch is announced, and everything is stored in order once the store returns', async () => {
  const c = new FakeComet('c1');
  const store = new SpyStore();
  const clock = new ManualClock();
  const job = await startJob(c, store, { ...HISTORY, job: { maxPending: 4 }, room: { batch: 1 }, history: { writeWait: '2s' } }, clock);
  try {
    await job.handle(roomMsg('live://1', 'm1'));
    await job.handle(roomMsg('live://2', 'other1'));
    const epoch1 = (await store.state('live://1'))!.epoch;
    store.failing = new Error('store down');
    let acked = 0;
    const acks: Promise<unknown>[] = [];
    for (let i = 2; i <= 21; i++) acks.push(job.handle(roomMsg('live://1', `m${i}`)).then(() => acked++));
    // The window fills: four messages delivered and held unacknowledged, the rest wait for a slot.
    await eventually(() => frames(c, 'live://1').length === 5 && job.stats().historyWriteFailures >= 1, 'the window is full');
    clock.advance(1999);
    await turn();
    assert.equal(frames(c, 'live://1').length, 5, 'nothing more delivered before writeWait');
    assert.equal(acked, 0, 'nothing acknowledged before writeWait');
    assert.equal(job.load().pending, 4);
    clock.advance(1);
    await withTimeout(Promise.all(acks), 5000, 'every message acknowledged while the store is down');
    assert.ok(allFrames(c, 'live://1').filter((f) => f.op === 1000).length > 4 + 1, 'more messages delivered than job.maxPending');
    // A room whose first message comes in release mode: delivered in its stored epoch, then a new one.
    await withTimeout(job.handle(roomMsg('live://2', 'other2')), 5000, 'released at once');
    const s = job.stats();
    assert.deepEqual([s.historyReleases, s.historyRecordsReleased, s.historyEpochs, s.historyRecordsDropped], [1, 21, 2, 0]);
    assert.equal(job.load().historyBacklog, 21, 'every released record is still held to be written');

    const stream = allFrames(c, 'live://1');
    const announced = stream.filter(isRoomState).map(roomState);
    assert.equal(announced.length, 2, 'the epoch the room opened in, then one new epoch');
    assert.deepEqual(announced[0], { room: 'live://1', epoch: epoch1, first: 1 });
    const epoch2 = announced[1].epoch;
    assert.notEqual(epoch2, epoch1);
    assert.deepEqual(
      stream.map((f) => (f.op === 18 ? `18:${roomState(f).first}` : `${f.body.toString()}@${f.seq}`)),
      ['18:1', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', '18:6', ...Array.from({ length: 16 }, (_, k) => `m${k + 6}@${k + 6}`)],
      'the records held when writeWait passed keep the old epoch; the new epoch starts right after them',
    );
    await eventually(() => allFrames(c, 'live://2').length === 4, "live://2's new epoch announced");
    const other = allFrames(c, 'live://2');
    assert.deepEqual(
      other.map((f) => (f.op === 18 ? `18:${roomState(f).first}` : `${f.body.toString()}@${f.seq}`)),
      ['18:1', 'other1@1', 'other2@2', '18:3'],
    );
    assert.equal(store.calls.includes('newEpoch'), false, 'not persisted while the store is down');

    store.failing = null;
    clock.advance(5000); // the retry
    await eventually(() => job.load().historyBacklog === 0, 'the backlog written');
    const st = (await store.state('live://1'))!;
    assert.deepEqual([st.epoch, st.epochStart, st.last], [epoch2, 6, 21]);
    assert.deepEqual(
      (await store.after('live://1', 0, 100)).map((r) => `${Buffer.from(r.body).toString()}@${r.offset}`),
      Array.from({ length: 21 }, (_, k) => `m${k + 1}@${k + 1}`),
      'every record stored, offsets contiguous across the epochs',
    );
    const st2 = (await store.state('live://2'))!;
    assert.deepEqual([st2.epoch, st2.epochStart, st2.last], [roomState(other[3]).epoch, 3, 2]);
    assert.deepEqual(
      (await store.after('live://2', 0, 10)).map((r) => r.offset),
      [1, 2],
    );
    assert.equal(job.stats().historyRecordsWritten, 2 + 21);
    await job.handle(roomMsg('live://1', 'm22'));
    assert.equal((await store.state('live://1'))!.last, 22, 'stored in the new epoch before the acknowledgement');
  } finally {
    await job.stop();
  }
});

test('a store call that never answers: records are released at history.writeWait, not at the 10 s call limit; release ends at the first success', async () => {
  const c = new FakeComet('c1');
  const store = new SpyStore();
  const clock = new ManualClock();
  const job = await startJob(c, store, { ...HISTORY, job: { maxPending: 2 }, room: { batch: 1 }, history: { writeWait: '500ms' } }, clock);
  try {
    await job.handle(roomMsg('live://1', 'm1'));
    store.holdAppends();
    let acked = 0;
    const acks = [2, 3, 4, 5, 6].map((i) => job.handle(roomMsg('live://1', `m${i}`)).then(() => acked++));
    await eventually(() => frames(c, 'live://1').length === 3, 'the window is full');
    clock.advance(499);
    await turn();
    assert.equal(acked, 0);
    clock.advance(1);
    await withTimeout(Promise.all(acks), 5000, 'released at writeWait');
    assert.equal(job.stats().historyWriteFailures, 0, 'the append has not even timed out');
    assert.equal(job.stats().historyReleases, 1);
    assert.deepEqual(
      allFrames(c, 'live://1').map((f) => [f.op, f.seq]),
      [
        [18, 0],
        [1000, 1],
        [1000, 2],
        [1000, 3],
        [18, 0],
        [1000, 4],
        [1000, 5],
        [1000, 6],
      ],
    );
    const epoch2 = roomState(allFrames(c, 'live://1')[4]).epoch;

    // The hanging append answers: release mode ends, the rest is written, later records wait for storage again.
    store.releaseAppends();
    await eventually(() => job.load().historyBacklog === 0, 'the backlog written');
    store.holdAppends();
    let laterAcked = false;
    const later = job.handle(roomMsg('live://1', 'm7')).then(() => (laterAcked = true));
    await eventually(() => frames(c, 'live://1').length === 8, 'm7 delivered');
    clock.advance(499);
    await turn();
    assert.equal(laterAcked, false, 'acknowledged only once stored again');
    assert.equal(job.stats().historyRecordsReleased, 5);
    store.releaseAppends();
    await withTimeout(later, 5000, 'stored');
    const st = (await store.state('live://1'))!;
    assert.deepEqual([st.epoch, st.epochStart, st.last], [epoch2, 4, 7]);
    assert.deepEqual(
      (await store.after('live://1', 0, 10)).map((r) => r.offset),
      [1, 2, 3, 4, 5, 6, 7],
    );
    assert.deepEqual([job.stats().historyReleases, job.stats().historyEpochs], [1, 1]);
  } finally {
    await job.stop();
  }
});

test('stop in release mode: released messages stay acknowledged, stop resolves; records added while stopping are not released', async () => {
  const c = new FakeComet('c1');
  const store = new SpyStore();
  const clock = new ManualClock();
  const job = await startJob(c, store, { ...HISTORY, room: { batch: 1 }, history: { writeWait: '500ms' } }, clock);
  await job.handle(roomMsg('live://1', 'm1'));
  store.failing = new Error('store down');
  const released = job.handle(roomMsg('live://1', 'm2'));
  await eventually(() => job.stats().historyWriteFailures >= 1, 'a failed append');
  clock.advance(500);
  await withTimeout(released, 5000, 'released');
  assert.equal(job.stats().historyReleases, 1);
  const stopped = job.stop();
  const late = job.handle(roomMsg('live://1', 'm3'));
  await assert.rejects(withTimeout(late, 5000, 'late'), /not stored/, 'not released: the queue gives it to the next owner');
  await withTimeout(stopped, 5000, 'stop');
  assert.equal(job.stats().historyRecordsReleased, 1);
  assert.equal(store.calls.includes('newEpoch'), false);
  assert.deepEqual(
    (await ((store.failing = null), store.after('live://1', 0, 10))).map((r) => r.offset),
    [1],
    'the released record was lost with the job (the documented cost)',
  );
});

test('history.writeWait: default 2 s, at least 100 ms, passed to the job', () => {
  assert.equal(jobHistorySettings(testConfig(HISTORY))!.writeWait, 2000);
  assert.equal(jobHistorySettings(testConfig({ ...HISTORY, history: { writeWait: '100ms' } }))!.writeWait, 100);
  assert.throws(() => testConfig({ ...HISTORY, history: { writeWait: '99ms' } }), /writeWait/);
});

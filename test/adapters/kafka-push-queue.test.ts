// KafkaPushQueue against the PushQueue contract (test/contracts/push-queue.contract.ts), then
// what only Kafka has: goim's record keys and values both ways, partitions shared by a
// consumer group, commits only of what was handled. Run against librdkafka's mock cluster
// (test/support/kafka-mock.ts), not a real broker.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Consumer, Producer } from '@platformatic/kafka';
import { silentLogger } from '../../src/log.js';
import { PushType, type PushMsg } from '../../src/ports/index.js';
import { KafkaPushQueue, type KafkaPushQueueOptions } from '../../src/adapters/kafka/push-queue.js';
import { partitionOfKey } from '../../src/adapters/nats/partition.js';
import { RANGE_PROTOCOL, rangeAssigner } from '../../src/adapters/kafka/range-assigner.js';
import { buildConfig } from '../../src/config/load.js';
import { kafkaPushQueue } from '../../src/distributed/kafka.js';
import { pushQueueContract } from '../contracts/push-queue.contract.js';
import { eventually } from '../support/eventually.js';
import { KafkaMock, kafkaMockGate } from '../support/kafka-mock.js';
import { uniqueName } from '../support/services.js';

const skip = kafkaMockGate();
const mock = skip === false ? await KafkaMock.start(3) : null;
after(() => mock?.stop());

function options(topic: string, over: Partial<KafkaPushQueueOptions> = {}): KafkaPushQueueOptions {
  return {
    brokers: mock!.brokers,
    topic,
    group: uniqueName('group-'),
    initialOffset: 'oldest',
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 500,
    requestTimeoutMs: 5000,
    retries: 10,
    maxInFlight: 1024,
    fetchMaxBytes: 1 << 20,
    retryDelayMs: 20,
    retryMaxDelayMs: 200,
    log: silentLogger,
    ...over,
  };
}

pushQueueContract(
  'KafkaPushQueue (librdkafka mock cluster)',
  async () => {
    const queue = new KafkaPushQueue(options(await mock!.uniqueTopic(4)));
    return { subject: queue, dispose: () => queue.close() };
  },
  { skip },
);

const utf8 = new TextEncoder();
const text = (m: PushMsg): string => new TextDecoder().decode(m.msg);

function roomMsg(room: string, body: string): PushMsg {
  return { type: PushType.ROOM, operation: 1000, speed: 0, server: '', room, keys: [], msg: utf8.encode(body) };
}

describe('KafkaPushQueue (librdkafka mock cluster)', { skip }, () => {
  const queues: KafkaPushQueue[] = [];
  const clients: { close(force?: boolean): Promise<void> }[] = [];
  after(async () => {
    await Promise.all(queues.map((q) => q.close().catch(() => {})));
    await Promise.all(clients.map((c) => c.close(true).catch(() => {})));
  });
  function queue(o: KafkaPushQueueOptions): KafkaPushQueue {
    const q = new KafkaPushQueue(o);
    queues.push(q);
    return q;
  }

  // goim.logic.PushMsg values as goim's logic writes them (docs/goim-test-vectors.md, "Protobuf encodings")
  const goimRecords = [
    {
      key: 'live://1000',
      value: '08 01 10 e8 07 2a 0b 6c 69 76 65 3a 2f 2f 31 30 30 30 3a 0a 7b 22 74 65 73 74 22 3a 31 7d',
      msg: { type: PushType.ROOM, operation: 1000, speed: 0, server: '', room: 'live://1000', keys: [], msg: utf8.encode('{"test":1}') },
    },
    {
      key: 'k1',
      value: '10 e8 07 22 07 63 6f 6d 65 74 30 31 32 02 6b 31 32 02 6b 32 3a 05 68 65 6c 6c 6f',
      msg: { type: PushType.PUSH, operation: 1000, speed: 0, server: 'comet01', room: '', keys: ['k1', 'k2'], msg: utf8.encode('hello') },
    },
    {
      key: '1000',
      value: '08 02 10 e8 07 18 64 3a 02 68 69',
      msg: { type: PushType.BROADCAST, operation: 1000, speed: 100, server: '', room: '', keys: [], msg: utf8.encode('hi') },
    },
  ];
  const hex = (s: string): Buffer => Buffer.from(s.replaceAll(' ', ''), 'hex');
  const norm = (m: PushMsg) => ({ ...m, msg: Buffer.from(m.msg).toString('hex') });

  test("records written as goim's logic writes them (key, value bytes, partition) are handled", async () => {
    const topic = await mock!.uniqueTopic(4);
    const q = queue(options(topic));
    const got: PushMsg[] = [];
    await q.consume(async (m) => void got.push(m));
    const producer = new Producer({ clientId: 'goim-logic', bootstrapBrokers: mock!.brokers, acks: -1 });
    clients.push(producer);
    await producer.send({
      messages: goimRecords.map((r) => ({ topic, key: Buffer.from(r.key), value: hex(r.value), partition: partitionOfKey(r.key, 4) })),
    });
    await eventually(() => got.length === 3, 'the three goim records handled');
    const byType = (a: PushMsg, b: PushMsg) => a.type - b.type;
    assert.deepEqual(
      got.sort(byType).map(norm),
      goimRecords
        .map((r) => r.msg)
        .sort(byType)
        .map(norm),
    );
  });

  test("what tsim publishes is what goim's logic writes: the same keys, value bytes and partitions", async () => {
    const topic = await mock!.uniqueTopic(4);
    const q = queue(options(topic));
    // the first record's partition is not 0: a partition chosen before the topic's partition count is known would show
    for (const r of [goimRecords[1], goimRecords[0], goimRecords[2]]) await q.publish(r.msg);
    const consumer = new Consumer({ clientId: 'goim-job', groupId: uniqueName('goim-job-'), bootstrapBrokers: mock!.brokers });
    clients.push(consumer);
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 200 });
    const records = new Map<string, { value: string; partition: number }>();
    stream.on('data', (r) => records.set(r.key.toString(), { value: r.value.toString('hex'), partition: r.partition }));
    await eventually(() => records.size === 3, 'three records');
    for (const r of goimRecords) {
      assert.deepEqual(records.get(r.key), { value: hex(r.value).toString('hex'), partition: partitionOfKey(r.key, 4) }, `the record keyed ${r.key}`);
    }
  });

  test('two jobs of one group share the partitions; each record is handled once, rooms in order', async () => {
    const topic = await mock!.uniqueTopic(4);
    const group = uniqueName('group-');
    const a = queue(options(topic, { group }));
    const b = queue(options(topic, { group }));
    const handled: { job: string; room: string; n: number }[] = [];
    await a.consume(async (m) => void handled.push({ job: 'a', room: m.room, n: Number(text(m)) }));
    await b.consume(async (m) => void handled.push({ job: 'b', room: m.room, n: Number(text(m)) }));
    await eventually(
      () => a.ownedPartitions().length > 0 && b.ownedPartitions().length > 0 && a.ownedPartitions().length + b.ownedPartitions().length === 4,
      'both jobs hold partitions',
    );
    assert.deepEqual([...a.ownedPartitions(), ...b.ownedPartitions()].sort(), [0, 1, 2, 3]);
    // goim's strategy, "range": each job a run of consecutive partitions.
    assert.deepEqual([a.ownedPartitions(), b.ownedPartitions()].sort(), [
      [0, 1],
      [2, 3],
    ]);
    const rooms = Array.from({ length: 8 }, (_, i) => `live://${i}`);
    const sends: Promise<void>[] = [];
    for (let n = 0; n < 20; n++) for (const room of rooms) sends.push(a.publish(roomMsg(room, String(n))));
    await Promise.all(sends);
    await eventually(() => handled.length >= 160, 'every record');
    for (const room of rooms) {
      const of = handled.filter((h) => h.room === room);
      assert.deepEqual(
        of.map((h) => h.n),
        Array.from({ length: 20 }, (_, i) => i),
        `${room} in order, once each`,
      );
      assert.equal(new Set(of.map((h) => h.job)).size, 1, `${room} handled by one job`);
    }
    assert.equal(new Set(handled.map((h) => h.job)).size, 2, 'both jobs handled records');
  });

  test('abort() refuses a publish not sent yet and makes no producer for it', async () => {
    const topic = await mock!.uniqueTopic(1);
    const q = new KafkaPushQueue(options(topic));
    const pending = q.publish(roomMsg('live://abort', 'x'));
    await q.abort();
    await assert.rejects(pending, /aborted/);
    await assert.rejects(q.publish(roomMsg('live://abort', 'y')), /closed/);
    assert.equal((q as unknown as { producer: unknown }).producer, null, 'no producer left open');
  });

  test('at most maxInFlight records are held uncommitted; fetching goes on once they are', async () => {
    const q = queue(options(await mock!.uniqueTopic(1), { maxInFlight: 5 }));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const calls: number[] = [];
    await q.consume((m) => {
      calls.push(Number(text(m)));
      return gate;
    });
    for (let n = 0; n < 20; n++) await q.publish(roomMsg('live://bound', String(n)));
    await eventually(() => calls.length === 5, 'five records handed over');
    // the producer acknowledged all twenty, so several fetches had the time to bring them in
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(calls.length, 5, 'no sixth record while five are held');
    release();
    await eventually(() => calls.length === 20, 'the rest once the five were committed');
    assert.deepEqual(
      calls,
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  test('publishes of one turn larger together than one produce request go out in several, in order', async () => {
    const q = queue(options(await mock!.uniqueTopic(1)));
    const got: PushMsg[] = [];
    await q.consume(async (m) => void got.push(m));
    const big = (n: number): PushMsg => ({ ...roomMsg('live://big', ''), msg: new Uint8Array(300 * 1024).fill(n) });
    await Promise.all([0, 1, 2, 3].map((n) => q.publish(big(n))));
    await eventually(() => got.length === 4, 'the four records');
    assert.deepEqual(
      got.map((m) => [m.msg.length, m.msg[0], m.msg[m.msg.length - 1]]),
      [0, 1, 2, 3].map((n) => [300 * 1024, n, n]),
    );
  });

  test('offsets are committed only past handled records: a new job of the group gets the unhandled ones', async () => {
    const topic = await mock!.uniqueTopic(1);
    const group = uniqueName('group-');
    const first = queue(options(topic, { group }));
    const seen: number[] = [];
    // 0..4 handled; 5 never settles (the job is stuck on it); 6..9 handled after it
    await first.consume((m) => {
      const n = Number(text(m));
      seen.push(n);
      return n === 5 ? new Promise<void>(() => {}) : Promise.resolve();
    });
    for (let n = 0; n < 10; n++) await first.publish(roomMsg('live://c', String(n)));
    await eventually(() => seen.length === 10, 'all ten seen');
    const admin = new Consumer({ clientId: 'check', groupId: group, bootstrapBrokers: mock!.brokers });
    clients.push(admin);
    await eventually(
      async () => (await admin.listCommittedOffsets({ topics: [{ topic, partitions: [0] }] })).get(topic)?.[0] === 5n,
      'offset 5 committed',
    );
    // the stuck job is gone without committing more (as if killed); the next one starts at 5
    const second = queue(options(topic, { group }));
    const again: number[] = [];
    await first.abort();
    await second.consume(async (m) => void again.push(Number(text(m))));
    await eventually(() => again.length >= 5, 'records from 5 on');
    assert.deepEqual(again.slice(0, 5), [5, 6, 7, 8, 9]);
  });
});

describe("the range assignor (goim's jobs' strategy)", () => {
  const metadata = (counts: Record<string, number>) =>
    ({ topics: new Map(Object.entries(counts).map(([t, n]) => [t, { partitionsCount: n }])) }) as unknown as Parameters<typeof rangeAssigner>[3];
  const members = (...ids: string[]) => new Map(ids.map((id) => [id, {}])) as unknown as Parameters<typeof rangeAssigner>[1];
  const plain = (r: ReturnType<typeof rangeAssigner>) => r.map((m) => [m.memberId, [...m.assignments.values()].map((a) => [a.topic, a.partitions])]);

  test('members sorted by id take consecutive runs, the first ones one more', () => {
    assert.deepEqual(plain(rangeAssigner('b', members('b', 'a'), new Set(['t']), metadata({ t: 5 }))), [
      ['a', [['t', [0, 1, 2]]]],
      ['b', [['t', [3, 4]]]],
    ]);
    assert.deepEqual(plain(rangeAssigner('a', members('c', 'a', 'b'), new Set(['t']), metadata({ t: 2 }))), [
      ['a', [['t', [0]]]],
      ['b', [['t', [1]]]],
      ['c', []],
    ]);
    assert.equal(RANGE_PROTOCOL.name, 'range');
  });
});

describe('a Kafka role at start', () => {
  test('refuses a push.maxBytes that no default Kafka record holds, naming the key', () => {
    const big = buildConfig({ queue: { engine: 'kafka' }, protocol: { sendQueueBytes: 4 << 20 }, push: { maxBytes: 2_000_000 } });
    assert.throws(() => kafkaPushQueue(big, silentLogger), /push.maxBytes 2000000 is too large for Kafka/);
    const fine = kafkaPushQueue(buildConfig({ queue: { engine: 'kafka' } }), silentLogger);
    assert.ok(fine instanceof KafkaPushQueue);
    void fine.abort();
  });
});

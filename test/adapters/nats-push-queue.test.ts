// NatsPushQueue against the PushQueue contract (test/contracts/push-queue.contract.ts), then
// what only JetStream has: partitions, leases and hand-overs between jobs, acks on the server,
// redelivery after a job dies, outages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { silentLogger, type Logger } from '../../src/log.js';
import { PushType, type LeaseStore, type PushHandler, type PushMsg } from '../../src/ports/index.js';
import { LocalLeaseStore } from '../../src/adapters/memory/lease-store.js';
import { NatsPushQueue, type NatsPushQueueOptions } from '../../src/adapters/nats/push-queue.js';
import { partitionDurable, partitionSubject } from '../../src/adapters/nats/topology.js';
import { partitionOf } from '../../src/adapters/nats/partition.js';
import { OutageProxy, serviceGate, serviceUrl, uniqueName } from '../support/services.js';
import { eventually } from '../support/eventually.js';
import { pushQueueContract } from '../contracts/push-queue.contract.js';

const skip = await serviceGate('nats');

/** A stream, subject and consumers of its own for one test (`id` from uniqueName). */
function ownTopology(id: string, over: Partial<NatsPushQueueOptions> = {}): Omit<NatsPushQueueOptions, 'log'> {
  return {
    url: serviceUrl('nats'),
    stream: `TSIMTEST_${id}`,
    subject: `tsimtest.${id}`,
    durable: 'job',
    retention: 'workqueue',
    maxAgeMs: 60_000,
    ackWaitMs: 2000,
    partitions: 4,
    maxAckPending: 64,
    leaseTtlMs: 600,
    publishTimeoutMs: 2000,
    retryDelayMs: 50,
    retryMaxDelayMs: 200,
    ...over,
  };
}

async function deleteStream(stream: string): Promise<void> {
  const nc = await connect({ servers: serviceUrl('nats') });
  try {
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {});
  } finally {
    await nc.close();
  }
}

pushQueueContract(
  'NatsPushQueue (real NATS JetStream)',
  async () => {
    const opts = ownTopology(uniqueName(''));
    const queue = new NatsPushQueue({ ...opts, leases: new LocalLeaseStore(), log: silentLogger });
    const dispose = async (): Promise<void> => {
      await queue.close();
      await deleteStream(opts.stream);
    };
    await within(queue.ready(), 10_000, 'the stream and its consumers').catch(async (e: unknown) => {
      await dispose();
      throw e;
    });
    return { subject: queue, dispose };
  },
  { skip },
);

const utf8 = new TextEncoder();

function roomMsg(room: string, body: string): PushMsg {
  return { type: PushType.ROOM, operation: 1000, speed: 0, server: '', room, keys: [], msg: utf8.encode(body) };
}

const text = (m: PushMsg): string => new TextDecoder().decode(m.msg);

/** A logger keeping the messages of what it logs at warn and above. */
function warnings(): { log: Logger; messages: string[] } {
  const messages: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) });
  return { log, messages };
}

/** A logger keeping the messages of what it logs at info and above. */
function logged(): { log: Logger; messages: string[] } {
  const messages: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) });
  return { log, messages };
}

/** Rejects if `p` does not settle within `ms` (a generous bound, not a timing assertion). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

describe('NatsPushQueue (real NATS JetStream)', { skip }, () => {
  let admin: NatsConnection;
  let jsm: JetStreamManager;
  const streams: string[] = [];
  const queues: NatsPushQueue[] = [];

  before(async () => {
    admin = await connect({ servers: serviceUrl('nats') });
    jsm = await jetstreamManager(admin);
    // streams of runs killed before their cleanup (older than an hour: no live run owns them)
    for await (const info of jsm.streams.list()) {
      if (info.config.name.startsWith('TSIMTEST_') && Date.now() - Date.parse(info.created) > 3_600_000) {
        await jsm.streams.delete(info.config.name).catch(() => {});
      }
    }
  });

  after(async () => {
    await Promise.all(queues.map((q) => q.close().catch(() => {})));
    for (const s of streams) await jsm.streams.delete(s).catch(() => {});
    await admin?.close();
  });

  /** A topology unique to the calling test; every queue made by the returned factory shares it. */
  function topology(over: Partial<NatsPushQueueOptions> = {}) {
    const base = ownTopology(uniqueName(''), over);
    streams.push(base.stream);
    const leases: LeaseStore = over.leases ?? new LocalLeaseStore();
    return {
      base,
      queue(extra: Partial<NatsPushQueueOptions> = {}): NatsPushQueue {
        const q = new NatsPushQueue({ ...base, leases, log: silentLogger, ...extra });
        queues.push(q);
        return q;
      },
    };
  }

  /** Publishes once the queue has its stream (the first publish right after start may race it). */
  async function publishWhenReady(q: NatsPushQueue, m: PushMsg): Promise<void> {
    await eventually(async () => {
      try {
        await q.publish(m);
        return true;
      } catch (e) {
        if (!/not connected|not ready/.test((e as Error).message)) throw e;
        return false;
      }
    }, 'the queue to accept a publish');
  }

  test('publish lands on <subject>.<partition>; acked only after the handler resolves', async () => {
    const t = topology();
    const q = t.queue();
    let release!: () => void;
    const handled = new Promise<void>((r) => (release = r));
    let calls = 0;
    await q.consume(() => {
      calls++;
      return handled;
    });
    const m = roomMsg('live://1000', 'x');
    const p = partitionOf(m, t.base.partitions);
    await publishWhenReady(q, m);
    assert.equal((await jsm.streams.info(t.base.stream, { subjects_filter: '>' })).state.subjects?.[partitionSubject(t.base, p)], 1);
    await eventually(() => calls === 1, 'the handler call');
    const durable = partitionDurable(t.base, p);
    assert.equal((await jsm.consumers.info(t.base.stream, durable)).num_ack_pending, 1);
    release();
    await eventually(async () => (await jsm.consumers.info(t.base.stream, durable)).num_ack_pending === 0, 'the ack');
    await eventually(async () => (await jsm.streams.info(t.base.stream)).state.messages === 0, 'the workqueue to drop the acked message');
    assert.equal(calls, 1);
  });

  test('two jobs split the partitions; nothing lost or duplicated; per-room order kept', async () => {
    const t = topology({ partitions: 8 });
    const a = t.queue();
    const b = t.queue();
    const got = new Map<string, { job: string; room: string; n: number }[]>();
    const record =
      (job: string): PushHandler =>
      async (m) => {
        const [room, n] = text(m).split('#');
        const list = got.get(room) ?? [];
        list.push({ job, room, n: Number(n) });
        got.set(room, list);
        // uneven handler latency must not reorder calls
        if (Number(n) % 3 === 0) await new Promise((r) => setImmediate(r));
      };
    await a.consume(record('a'));
    await b.consume(record('b'));
    await eventually(() => a.ownedPartitions().length === 4 && b.ownedPartitions().length === 4, 'an even split');
    assert.deepEqual(
      [...a.ownedPartitions(), ...b.ownedPartitions()].sort((x, y) => x - y),
      [0, 1, 2, 3, 4, 5, 6, 7],
    );

    const rooms = Array.from({ length: 24 }, (_, i) => `live://${i}`);
    const perRoom = 25;
    const sends: Promise<void>[] = [];
    for (let n = 0; n < perRoom; n++) {
      for (const room of rooms) sends.push((n % 2 ? a : b).publish(roomMsg(room, `${room}#${n}`)));
      await Promise.all(sends.splice(0)); // publish order per room = n
    }
    await eventually(() => [...got.values()].reduce((s, l) => s + l.length, 0) >= rooms.length * perRoom, 'every message');
    const jobs = new Set<string>();
    for (const room of rooms) {
      const list = got.get(room) ?? [];
      assert.deepEqual(
        list.map((x) => x.n),
        Array.from({ length: perRoom }, (_, i) => i),
        `${room}: in order, once each`,
      );
      assert.equal(new Set(list.map((x) => x.job)).size, 1, `${room} read by one job`);
      jobs.add(list[0].job);
    }
    assert.deepEqual([...jobs].sort(), ['a', 'b']);
  });

  test('a hand-over never has two jobs pulling one partition, and keeps room order', async () => {
    // A short lease against the 1 s batch requests: a job handing over must keep its lease
    // until its last request ended, or the next job would pull alongside it.
    const t = topology({ partitions: 4, leaseTtlMs: 300 });
    const a = t.queue();
    const b = t.queue();
    const got = new Map<string, number[]>();
    const record: PushHandler = async (m) => {
      const [room, n] = text(m).split('#');
      got.set(room, [...(got.get(room) ?? []), Number(n)]);
    };
    await a.consume(record);
    await eventually(() => a.ownedPartitions().length === 4, 'the first job to take every partition');
    const durables = Array.from({ length: 4 }, (_, p) => partitionDurable(t.base, p));
    const openRequests = () => Promise.all(durables.map(async (d) => (await jsm.consumers.info(t.base.stream, d)).num_waiting));
    await eventually(async () => (await openRequests()).every((n) => n === 1), 'a pull request on every partition');

    // rooms covering every partition, published to all through the hand-over
    const rooms: string[] = [];
    for (let i = 0; rooms.length < 4 || new Set(rooms.map((r) => partitionOf(roomMsg(r, ''), 4))).size < 4; i++) rooms.push(`live://h${i}`);
    let n = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await Promise.all(rooms.map((room) => a.publish(roomMsg(room, `${room}#${n}`))));
        n++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    let most = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) most = Math.max(most, ...(await openRequests()));
    })();

    try {
      await b.consume(record);
      await eventually(() => a.ownedPartitions().length === 2 && b.ownedPartitions().length === 2, 'an even split');
      await eventually(async () => (await openRequests()).every((x) => x === 1), 'each partition pulled by its new holder');
    } finally {
      watching = false;
      publishing = false;
      await Promise.all([watcher, publisher]);
    }
    assert.equal(most, 1, 'at most one pull request open on a partition at any time');
    await eventually(() => [...got.values()].reduce((s, l) => s + l.length, 0) >= rooms.length * n, 'every message');
    for (const room of rooms) {
      assert.deepEqual(
        got.get(room),
        Array.from({ length: n }, (_, i) => i),
        `${room}: every message once, in order`,
      );
    }
  });

  test('a job cut off from the lease store keeps pulling; a job taking the lapsed lease waits for it', async () => {
    const t = topology({ partitions: 1, leaseTtlMs: 300 });
    const shared = new LocalLeaseStore();
    let unreachable = false;
    const down = () => Promise.reject(new Error('lease store unreachable'));
    const flaky: LeaseStore = {
      acquire: (name, owner, ttl) => (unreachable ? down() : shared.acquire(name, owner, ttl)),
      release: (name, owner) => (unreachable ? down() : shared.release(name, owner)),
      heartbeat: (group, owner, ttl) => (unreachable ? down() : shared.heartbeat(group, owner, ttl)),
      leave: (group, owner) => (unreachable ? down() : shared.leave(group, owner)),
    };
    // after the outage the partition belongs to b (members sorted: job-1, job-2)
    const a = t.queue({ leases: flaky, owner: 'job-2' });
    const b = t.queue({ leases: shared, owner: 'job-1' });
    const got: string[] = [];
    const byJob = { a: 0, b: 0 };
    const record =
      (job: 'a' | 'b'): PushHandler =>
      async (m) => {
        got.push(text(m));
        byJob[job]++;
      };
    await a.consume(record('a'));
    await eventually(() => a.ownedPartitions().length === 1, 'the first job to take the partition');
    const durable = partitionDurable(t.base, 0);
    const openRequests = async () => (await jsm.consumers.info(t.base.stream, durable)).num_waiting;
    await eventually(async () => (await openRequests()) === 1, 'its pull request');

    let n = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await a.publish(roomMsg('live://cut', String(n++)));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    let most = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) most = Math.max(most, await openRequests());
    })();

    try {
      unreachable = true;
      await b.consume(record('b'));
      await eventually(() => b.ownedPartitions().length === 1, 'the second job to take the lapsed lease');
      // pushes go on through the first job, and the second one does not pull alongside it
      const before = byJob.a;
      await eventually(() => byJob.a >= before + 5, 'the first job to go on delivering');
      assert.equal(byJob.b, 0, 'the second job waits while the first one pulls');

      unreachable = false; // the first job learns it lost the lease and stops; the second starts
      await eventually(() => byJob.b >= 5, 'the second job to deliver', 20_000);
    } finally {
      watching = false;
      publishing = false;
      await Promise.all([watcher, publisher]);
    }
    await eventually(() => got.length >= n, 'every message', 20_000);
    assert.equal(most, 1, 'at most one pull request open at any time');
    assert.deepEqual(
      got,
      Array.from({ length: n }, (_, i) => String(i)),
      'every message once, in order',
    );
  });

  test('a job dying with unacked messages: the next job gets them without waiting for ack_wait, in order', async () => {
    // ack_wait far beyond the test's bounds: only restarting the consumer brings them back
    const t = topology({ partitions: 2, ackWaitMs: 600_000, leaseTtlMs: 500 });
    const dying = t.queue();
    const held: string[] = [];
    await dying.consume((m) => {
      held.push(text(m));
      return new Promise<void>(() => {}); // never settles: the job dies holding them
    });
    const room = 'live://failover';
    await publishWhenReady(dying, roomMsg(room, '0'));
    for (let i = 1; i < 10; i++) await dying.publish(roomMsg(room, String(i)));
    await eventually(() => held.length === 10, 'the dying job to receive everything');
    await dying.abort();

    const heir = t.queue();
    const got: string[] = [];
    await heir.consume(async (m) => void got.push(text(m)));
    await publishWhenReady(heir, roomMsg(room, '10'));
    await eventually(() => got.length >= 11, 'the messages of the dead job', 20_000);
    assert.deepEqual(got, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    const p = partitionOf(roomMsg(room, ''), 2);
    await eventually(async () => (await jsm.consumers.info(t.base.stream, partitionDurable(t.base, p))).num_ack_pending === 0, 'all acked');
    assert.equal(heir.queueStats().redeliveries, 10, 'the restarted messages count as redeliveries');
  });

  test('a job that lost its lease while still handling messages is waited for, not redelivered behind', async () => {
    const t = topology({ partitions: 1, ackWaitMs: 600_000, leaseTtlMs: 300 });
    const shared = new LocalLeaseStore();
    let stalled = false;
    const never = new Promise<never>(() => {});
    // the first job's lease renewals stop being answered: its lease lapses while it lives on
    const stalling: LeaseStore = {
      acquire: (name, owner, ttl) => (stalled ? never : shared.acquire(name, owner, ttl)),
      release: (name, owner) => (stalled ? never : shared.release(name, owner)),
      heartbeat: (group, owner, ttl) => (stalled ? never : shared.heartbeat(group, owner, ttl)),
      leave: (group, owner) => (stalled ? never : shared.leave(group, owner)),
    };
    const a = t.queue({ leases: stalling, owner: 'job-2' });
    const heirLog = logged();
    const b = t.queue({ leases: shared, owner: 'job-1', log: heirLog.log });
    const byA: string[] = [];
    const byB: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    try {
      await a.consume((m) => {
        byA.push(text(m));
        return gate;
      });
      await eventually(() => a.ownedPartitions().length === 1, 'the first job to take the partition');
      await publishWhenReady(a, roomMsg('live://held', '0'));
      for (let i = 1; i < 5; i++) await a.publish(roomMsg('live://held', String(i)));
      await eventually(() => byA.length === 5, 'the first job to hold five messages');

      stalled = true;
      await b.consume(async (m) => void byB.push(text(m)));
      await eventually(() => b.ownedPartitions().length === 1, 'the second job to take the lapsed lease');
      await eventually(
        () => heirLog.messages.includes('nats: unacked messages held by a job still running; waiting for it to settle them'),
        'the second job to find the first one alive',
      );
      for (let i = 5; i < 10; i++) await b.publish(roomMsg('live://held', String(i)));
      assert.deepEqual(byB, [], 'nothing newer is pulled while the older messages are held');

      release(); // the first job delivers and acknowledges what it held; the second goes on
      await eventually(() => byB.length === 5, 'the second job to deliver the rest', 20_000);
      assert.deepEqual(byA, ['0', '1', '2', '3', '4']);
      assert.deepEqual(byB, ['5', '6', '7', '8', '9'], 'every message once, in order');
      assert.equal(heirLog.messages.includes('nats: unacked messages of a holder that is gone; restarting the consumer to get them now'), false);
    } finally {
      // its lease store never answers: close() (the suite's cleanup) would wait for it
      await a.abort();
    }
  });

  test('a message held longer than ack_wait is reported in progress, not redelivered', async () => {
    const t = topology({ partitions: 1, ackWaitMs: 400 });
    const q = t.queue();
    const calls: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await q.consume((m) => {
      calls.push(text(m));
      return gate;
    });
    await publishWhenReady(q, roomMsg('live://slow', 'slow'));
    await eventually(() => calls.length === 1, 'the handler call');
    const durable = partitionDurable(t.base, 0);
    // five ack_waits pass while the handler holds it: the passing time is what is tested here
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal((await jsm.consumers.info(t.base.stream, durable)).num_redelivered, 0);
    release();
    await eventually(async () => (await jsm.consumers.info(t.base.stream, durable)).num_ack_pending === 0, 'the ack');
    assert.deepEqual(calls, ['slow']);
    assert.equal(q.queueStats().redeliveries, 0);
  });

  test("a message nak'ed for a later retry does not hold up or restart the partition after a reconnect", async () => {
    const proxy = await OutageProxy.start('nats');
    try {
      // the retry comes long after this test; ack_wait even later
      const t = topology({ url: proxy.url('nats'), partitions: 1, ackWaitMs: 600_000, retryDelayMs: 300_000, retryMaxDelayMs: 300_000 });
      const log = logged();
      const q = t.queue({ log: log.log });
      const got: string[] = [];
      await q.consume(async (m) => {
        got.push(text(m));
        if (text(m) === 'fails') throw new Error('comet unavailable');
      });
      await publishWhenReady(q, roomMsg('live://n', 'fails'));
      await eventually(() => got.length === 1, 'the failing message');
      const durable = partitionDurable(t.base, 0);
      await eventually(async () => (await jsm.consumers.info(t.base.stream, durable)).num_ack_pending === 1, 'the nak to reach the server');

      await proxy.cut(); // the reader checks the partition before pulling again
      await eventually(() => log.messages.includes('nats: disconnected; reconnecting'), 'the queue to notice the outage');
      await proxy.restore();
      await eventually(() => log.messages.includes('nats: reconnected'), 'the queue to reconnect', 20_000);
      await publishWhenReady(q, roomMsg('live://n', 'after'));
      await eventually(() => got.includes('after'), 'the message published after the reconnect', 20_000);
      assert.deepEqual(got, ['fails', 'after'], "the nak'ed message waits for its retry delay");
      assert.equal(q.queueStats().redeliveries, 0);
      assert.equal(log.messages.includes('nats: unacked messages of a holder that is gone; restarting the consumer to get them now'), false);
      assert.equal(log.messages.includes('nats: unacked messages on the partition; waiting for their redelivery'), false);
    } finally {
      await proxy.close();
    }
  });

  test('a partition consumer deleted under a running job is created again and delivery goes on', async () => {
    const t = topology({ partitions: 1 });
    const q = t.queue();
    const got: string[] = [];
    await q.consume(async (m) => void got.push(text(m)));
    await publishWhenReady(q, roomMsg('live://d', 'before'));
    await eventually(() => got.length === 1, 'the first message');
    await jsm.consumers.delete(t.base.stream, partitionDurable(t.base, 0));
    await q.publish(roomMsg('live://d', 'after'));
    await eventually(() => got.length === 2, 'the message published after the delete', 20_000);
    assert.deepEqual(got, ['before', 'after']);
  });

  test('close() lets handlers in flight finish and acks them', async () => {
    const t = topology();
    const q = t.queue();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    await q.consume(() => {
      calls++;
      return gate;
    });
    const m = roomMsg('live://close', 'c');
    await publishWhenReady(q, m);
    await eventually(() => calls === 1, 'the handler call');
    let closed = false;
    const closing = q.close().then(() => (closed = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(closed, false, 'close waits for the handler');
    release();
    await closing;
    const durable = partitionDurable(t.base, partitionOf(m, t.base.partitions));
    assert.equal((await jsm.consumers.info(t.base.stream, durable)).num_ack_pending, 0);
    assert.equal((await jsm.streams.info(t.base.stream)).state.messages, 0);
  });

  test('an undecodable record is dropped, the rest still flows', async () => {
    const t = topology({ partitions: 1 });
    const q = t.queue();
    const got: string[] = [];
    await q.consume(async (m) => void got.push(text(m)));
    await publishWhenReady(q, roomMsg('r', 'before'));
    const js = (await import('@nats-io/jetstream')).jetstream(admin);
    await js.publish(partitionSubject(t.base, 0), Uint8Array.of(0x08, 0x07)); // type 7: unknown
    await q.publish(roomMsg('r', 'after'));
    await eventually(() => got.length === 2, 'both valid messages');
    assert.deepEqual(got, ['before', 'after']);
  });

  test('a normal start consumes without a "not ready" warning; an unreachable NATS gets one', async () => {
    const t = topology();
    const ok = warnings();
    const q = t.queue({ log: ok.log });
    await q.consume(async () => {});
    assert.ok(q.ownedPartitions().length > 0, 'partitions taken during consume()');
    assert.deepEqual(ok.messages, []);

    const down = warnings();
    const lost = t.queue({ url: 'nats://127.0.0.1:1', log: down.log });
    await within(
      lost.consume(async () => {}),
      5000,
      'consume with NATS unreachable',
    );
    assert.ok(down.messages.includes('nats: not ready yet; consuming starts once it is'), down.messages.join('; '));
    await within(lost.close(), 5000, 'close');
  });

  test('publish with NATS unreachable rejects fast with a clear error', async () => {
    const t = topology();
    const q = t.queue({ url: 'nats://127.0.0.1:1' });
    await assert.rejects(within(q.publish(roomMsg('r', 'x')), 3000, 'publish'), /nats nats:\/\/127\.0\.0\.1:1: publish failed: not connected/);
    await within(q.close(), 5000, 'close');
  });

  test('a NATS outage: publish fails fast, then both sides resume by themselves', async () => {
    const proxy = await OutageProxy.start('nats');
    try {
      const t = topology({ url: proxy.url('nats') });
      const q = t.queue();
      const got: string[] = [];
      await q.consume(async (m) => void got.push(text(m)));
      await publishWhenReady(q, roomMsg('r', 'before'));
      await eventually(() => got.length === 1, 'the first message');
      await proxy.cut();
      await eventually(async () => {
        try {
          await within(q.publish(roomMsg('r', 'during')), 5000, 'publish during the outage');
          return false;
        } catch (e) {
          return /not connected/.test((e as Error).message);
        }
      }, 'publish to fail fast');
      await proxy.restore();
      await publishWhenReady(q, roomMsg('r', 'after'));
      await eventually(() => got.includes('after'), 'the message published after the outage', 20_000);
      assert.equal(got[0], 'before');
    } finally {
      await proxy.close();
    }
  });
});

const redisSkip = await serviceGate('redis');

describe('NatsPushQueue jobs coordinated through Redis leases', { skip: skip || redisSkip }, () => {
  test('three jobs on their own Redis connections split the partitions and keep room order; a leaving job hands over', async () => {
    const admin = await connect({ servers: serviceUrl('nats') });
    const jsm = await jetstreamManager(admin);
    const id = uniqueName('');
    const prefix = `tsimtest:queue:${id}:`;
    const opts = ownTopology(id, { partitions: 6 });
    const { createRedis, closeRedis } = await import('../../src/adapters/redis/connection.js');
    const { RedisLeaseStore } = await import('../../src/adapters/redis/lease-store.js');
    const jobs: NatsPushQueue[] = [];
    const got = new Map<string, Array<{ job: number; n: number }>>();
    try {
      for (let j = 0; j < 3; j++) {
        const leases = new RedisLeaseStore(createRedis(serviceUrl('redis')), { prefix, ownsClient: true });
        const q = new NatsPushQueue({ ...opts, leases, ownsLeases: true, log: silentLogger });
        jobs.push(q);
        await q.consume(async (m) => {
          const [room, n] = text(m).split('#');
          const list = got.get(room) ?? [];
          list.push({ job: j, n: Number(n) });
          got.set(room, list);
        });
      }
      await eventually(() => jobs.every((q) => q.ownedPartitions().length === 2), 'two partitions each');

      const rooms = Array.from({ length: 12 }, (_, i) => `chat://${i}`);
      const publishRound = async (from: number, to: number): Promise<void> => {
        for (let n = from; n < to; n++) await Promise.all(rooms.map((room) => jobs[0].publish(roomMsg(room, `${room}#${n}`))));
      };
      await publishRound(0, 10);
      // job 2 leaves mid-stream: its partitions move to the others, nothing lost, order kept
      const leaving = jobs[2].close();
      await publishRound(10, 20);
      await leaving;
      await eventually(() => jobs.slice(0, 2).every((q) => q.ownedPartitions().length === 3), 'the survivors to take over');
      await publishRound(20, 30);
      await eventually(() => [...got.values()].reduce((s, l) => s + l.length, 0) >= rooms.length * 30, 'every message', 20_000);
      for (const room of rooms) {
        assert.deepEqual(
          (got.get(room) ?? []).map((x) => x.n),
          Array.from({ length: 30 }, (_, i) => i),
          `${room}: every message once, in order`,
        );
      }
    } finally {
      await Promise.all(jobs.map((q) => q.close()));
      await jsm.streams.delete(opts.stream).catch(() => {});
      await admin.close();
      const raw = createRedis(serviceUrl('redis'));
      const keys = await raw.keys(`${prefix}*`).catch(() => [] as string[]);
      if (keys.length > 0) await raw.del(...keys);
      await closeRedis(raw);
    }
  });
});

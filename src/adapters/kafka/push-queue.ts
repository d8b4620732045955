// PushQueue on Kafka, with goim's wire contract: one topic (goim-push-topic), one record per
// push whose value is the goim.logic.PushMsg protobuf and whose key is what goim's logic
// uses (PUSH: first key, ROOM: room key, BROADCAST: decimal operation — recordKey), placed
// in a partition by goim's partitioner (FNV-1a of the key, partition.ts), so a goim logic
// can feed a tsim job and the other way round, and one room stays in one partition.
//
// Publish: the pushes of one event-loop turn go out as one produce request, acks=all, and a
// publish resolves once the brokers acknowledged it (the client retries as goim's producer
// does, up to `retries` times).
//
// Consume: the jobs form one consumer group (goim-push-group-job); the group gives each
// partition to one job, so one room's records reach that job in order, and the handler is
// called in that order. Handlers overlap (bounded by maxInFlight records received and not
// committed: past it the fetching pauses), so they finish out of order; the committed offset
// of a partition moves only past records whose every predecessor has finished
// (PartitionWatermark). goim commits before handling and loses what a crash interrupts;
// here a job that dies leaves its uncommitted records to the job that gets the partition
// (at-least-once: some may be handled twice). A handler that fails gets its record again
// after a back-off, from memory, while later records go on. When a rebalance takes a
// partition away, its records still being handled finish but nothing more of it is
// committed or retried: the new owner starts at the committed offset.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Consumer, Producer, type Message, type MessagesStream } from '@platformatic/kafka';
import type { Logger } from '../../log.js';
import { asBuffer } from '../../lib/bytes.js';
import type { PushHandler, PushMsg, PushQueue } from '../../ports/index.js';
import { decodePushMsg, encodePushMsg } from '../../rpc/push-msg.js';
import { partitionOfKey, recordKey } from '../nats/partition.js';
import { PartitionWatermark } from './partition-watermark.js';
import { RANGE_PROTOCOL, rangeAssigner } from './range-assigner.js';

export interface KafkaPushQueueOptions {
  /** host:port of the bootstrap brokers. */
  brokers: string[];
  topic: string;
  /** Consumer group of the jobs. */
  group: string;
  /** Where a group with no committed offset starts: goim's "newest", or "oldest". */
  initialOffset: 'newest' | 'oldest';
  /** A job whose heartbeats stop this long leaves the group; its partitions go to the others. */
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** How long one request to a broker may take before it fails (and is retried). */
  requestTimeoutMs: number;
  /** Produce retries (goim: 10). */
  retries: number;
  /** Records one job holds received and not committed. */
  maxInFlight: number;
  /** Bytes one fetch may bring (also per partition). */
  fetchMaxBytes: number;
  retryDelayMs: number;
  retryMaxDelayMs: number;
  /** Client id shown by the brokers (default tsim-<host>). */
  clientId?: string;
  log: Logger;
}

type ConsumedMessage = Message<Buffer, Buffer, Buffer, Buffer>;

interface Pending {
  msgs: { key: Buffer; keyText: string; value: Buffer }[];
  settle: { resolve: () => void; reject: (e: Error) => void }[];
  bytes: number;
}

/** Bytes of keys and values sent in one produce request at most (a larger single record goes alone). */
const BATCH_BYTES = 512 * 1024;

export class KafkaPushQueue implements PushQueue {
  private readonly o: KafkaPushQueueOptions;
  private readonly log: Logger;
  readonly owner: string;
  private producer: Producer<Buffer, Buffer, Buffer, Buffer> | null = null;
  private consumer: Consumer<Buffer, Buffer, Buffer, Buffer> | null = null;
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | null = null;
  private handler: PushHandler | null = null;
  private closed = false;
  /** Publishes of the current event-loop turn, sent together. */
  private pending: Pending | null = null;
  private readonly sending = new Set<Promise<void>>();
  /** Partition → its watermark, for the partitions this job holds. */
  private readonly partitions = new Map<number, PartitionWatermark<ConsumedMessage>>();
  /** Handler calls running now. */
  private readonly running = new Set<Promise<void>>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly commits = new Set<Promise<void>>();
  private paused = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private redelivered = 0;
  private lag = 0;
  private partitionsKnown = 0;
  private partitionsReadAt = 0;

  constructor(opts: KafkaPushQueueOptions) {
    this.o = opts;
    this.log = opts.log;
    this.owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  }

  private clientId(): string {
    return this.o.clientId ?? `tsim-${hostname()}`;
  }

  private getProducer(): Producer<Buffer, Buffer, Buffer, Buffer> {
    if (this.closed && this.producer === null) throw new Error('kafka queue: closed');
    if (!this.producer) {
      this.producer = new Producer({
        clientId: this.clientId(),
        bootstrapBrokers: this.o.brokers,
        acks: -1, // all in-sync replicas (goim: RequiredAcks = WaitForAll)
        retries: this.o.retries,
        timeout: this.o.requestTimeoutMs,
      });
      // failures reach the publishes; an 'error' event nobody listens to would end the process
      this.producer.on('error', (e: unknown) => this.log.warn({ err: errorText(e) }, 'kafka: producer error'));
    }
    return this.producer;
  }

  /**
   * The topic's partition count, read before the first send and again after a minute (a
   * topic given more partitions): the record's partition is chosen here, by goim's rule, and
   * the client's partitioner would run before the client has read the topic's metadata.
   */
  private async partitionCount(producer: Producer<Buffer, Buffer, Buffer, Buffer>): Promise<number> {
    if (this.partitionsKnown > 0 && Date.now() - this.partitionsReadAt < 60_000) return this.partitionsKnown;
    const metadata = await producer.metadata({ topics: [this.o.topic] });
    const count = metadata.topics.get(this.o.topic)?.partitionsCount ?? 0;
    if (count < 1) throw new Error(`topic ${this.o.topic} has no partitions`);
    this.partitionsKnown = count;
    this.partitionsReadAt = Date.now();
    return count;
  }

  /** Resolves once the brokers acknowledged the record (acks=all). */
  publish(msg: PushMsg): Promise<void> {
    if (this.closed) return Promise.reject(new Error('kafka queue: closed'));
    let value: Buffer;
    try {
      value = asBuffer(encodePushMsg(msg));
    } catch (e) {
      return Promise.reject(e);
    }
    const keyText = recordKey(msg);
    const key = Buffer.from(keyText, 'utf8');
    return new Promise<void>((resolve, reject) => {
      // one produce request stays well under the brokers' default 1 MB message.max.bytes
      if (this.pending && this.pending.bytes + value.length + key.length > BATCH_BYTES) this.flush();
      if (!this.pending) {
        const batch: Pending = { msgs: [], settle: [], bytes: 0 };
        this.pending = batch;
        setImmediate(() => {
          if (this.pending === batch) this.flush();
        });
      }
      this.pending.msgs.push({ key, keyText, value });
      this.pending.settle.push({ resolve, reject });
      this.pending.bytes += value.length + key.length;
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = null;
    if (!batch) return;
    const topic = this.o.topic;
    let producer: Producer<Buffer, Buffer, Buffer, Buffer>;
    try {
      producer = this.getProducer();
    } catch (e) {
      batch.settle.forEach((s) => s.reject(e as Error));
      return;
    }
    const sent = this.partitionCount(producer)
      .then((count) =>
        producer.send({ messages: batch.msgs.map((m) => ({ topic, key: m.key, value: m.value, partition: partitionOfKey(m.keyText, count) })) }),
      )
      .then(
        () => batch.settle.forEach((s) => s.resolve()),
        (e: unknown) => {
          const err = new Error(`kafka ${this.o.brokers.join(',')}: publish failed: ${errorText(e)}`);
          batch.settle.forEach((s) => s.reject(err));
        },
      )
      .finally(() => this.sending.delete(sent));
    this.sending.add(sent);
  }

  /** Joins the group and delivers its records to `handler`; resolves once the consumer stream is set up. */
  async consume(handler: PushHandler): Promise<void> {
    if (this.closed) throw new Error('kafka queue: closed');
    if (this.handler) throw new Error('kafka queue: consume() called twice');
    this.handler = handler;
    // The first attempt is awaited (a wrong address shows at start); later ones run in the background.
    try {
      await this.startConsumer();
    } catch (e) {
      this.log.warn({ kafka: this.o.brokers.join(','), err: errorText(e) }, 'kafka: cannot join the consumer group; retrying');
      this.restartSoon(0);
    }
  }

  /** Joins the group with a new consumer and starts its stream. */
  private async startConsumer(): Promise<void> {
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      clientId: this.clientId(),
      groupId: this.o.group,
      bootstrapBrokers: this.o.brokers,
      timeout: this.o.requestTimeoutMs,
      sessionTimeout: this.o.sessionTimeoutMs,
      heartbeatInterval: this.o.heartbeatIntervalMs,
      rebalanceTimeout: this.o.sessionTimeoutMs,
      // goim's jobs announce "range": a group mixing them with tsim's must share a strategy
      protocols: [RANGE_PROTOCOL],
      partitionAssigner: rangeAssigner,
    });
    this.consumer = consumer;
    // an 'error' event nobody listens to would end the process
    consumer.on('error', (e: unknown) => this.failed(consumer, e));
    consumer.on('consumer:group:join', (p) => this.assigned(p.assignments?.find((a) => a.topic === this.o.topic)?.partitions ?? []));
    consumer.on('consumer:lag', (lag) => {
      let sum = 0;
      const held = new Set(this.ownedPartitions());
      (lag.get(this.o.topic) ?? []).forEach((n, p) => {
        if (held.has(p) && n > 0n) sum += Number(n);
      });
      this.lag = sum;
    });
    consumer.on('consumer:lag:error', () => {});
    let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>;
    try {
      stream = await consumer.consume({
        topics: [this.o.topic],
        mode: 'committed',
        fallbackMode: this.o.initialOffset === 'oldest' ? 'earliest' : 'latest',
        autocommit: false,
        maxWaitTime: 500,
        // What one fetch may bring, paused or not: about maxInFlight records of the largest push, not the client's 50 MB.
        maxBytes: this.o.fetchMaxBytes,
        maxBytesPerPartition: this.o.fetchMaxBytes,
        highWaterMark: Math.max(1, Math.min(1024, this.o.maxInFlight)),
      });
    } catch (e) {
      if (this.consumer === consumer) this.consumer = null;
      await consumer.close(true).catch(() => {});
      throw e;
    }
    if (this.closed || this.consumer !== consumer) {
      await consumer.close(true).catch(() => {});
      return;
    }
    this.stream = stream;
    this.paused = false;
    // A stream replaced after a failure must not feed the new generation's watermarks.
    stream.on('data', (m) => {
      if (this.stream === stream) this.received(m);
    });
    stream.on('error', (e) => this.failed(consumer, e));
    consumer.startLagMonitoring({ topics: [this.o.topic] }, 5000);
  }

  /**
   * The consumer or its stream failed (the group could not be joined again, a broker went
   * away for longer than the client retries): drop it and everything it held uncommitted, and
   * join again after a back-off; the group hands out the partitions again from their
   * committed offsets.
   */
  private failed(consumer: Consumer<Buffer, Buffer, Buffer, Buffer>, e: unknown): void {
    if (this.closed || this.consumer !== consumer) return;
    this.log.error({ kafka: this.o.brokers.join(','), err: errorText(e) }, 'kafka: consumer failed; joining the group again');
    for (const w of this.partitions.values()) w.revoked = true;
    this.partitions.clear();
    this.consumer = null;
    this.stream = null;
    consumer.stopLagMonitoring();
    void consumer.close(true).catch(() => {});
    this.restartSoon(0);
  }

  private restartSoon(attempt: number): void {
    if (this.closed) return;
    const delay = Math.min(this.o.retryDelayMs * 2 ** attempt, this.o.retryMaxDelayMs);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.closed) return;
      this.startConsumer().catch((e: unknown) => {
        this.log.warn({ kafka: this.o.brokers.join(','), err: errorText(e) }, 'kafka: cannot join the consumer group; retrying');
        this.restartSoon(attempt + 1);
      });
    }, delay);
  }

  /** A new generation's assignment: partitions no longer held are dropped (nothing of them is committed from here). */
  private assigned(partitions: number[]): void {
    const now = new Set(partitions);
    for (const [p, w] of this.partitions) {
      if (!now.has(p)) {
        w.revoked = true;
        this.partitions.delete(p);
      }
    }
    this.log.info({ topic: this.o.topic, partitions }, 'kafka: partitions assigned');
    // the client resumes its streams after a rebalance: keep the in-flight bound
    if (this.paused && this.inFlight() >= this.o.maxInFlight) this.stream?.pause();
    this.resumeIfRoom();
  }

  private held(partition: number): boolean {
    const assignment = this.consumer?.assignments?.find((a) => a.topic === this.o.topic);
    return assignment?.partitions.includes(partition) ?? false;
  }

  private received(m: ConsumedMessage): void {
    if (this.closed || m.topic !== this.o.topic || !this.held(m.partition)) return;
    let w = this.partitions.get(m.partition);
    if (!w) {
      w = new PartitionWatermark<ConsumedMessage>();
      this.partitions.set(m.partition, w);
    }
    if (!w.add(m.offset, m)) return; // fetched again after a rebalance; already here
    if (this.inFlight() >= this.o.maxInFlight && this.stream && !this.paused) {
      this.paused = true;
      this.stream.pause();
    }
    let msg: PushMsg;
    try {
      msg = decodePushMsg(m.value);
    } catch (e) {
      // A record no job can read: skip it (goim's job logs and goes on too).
      this.log.error({ partition: m.partition, offset: String(m.offset), err: errorText(e) }, 'kafka: undecodable record skipped');
      this.finished(w, m);
      return;
    }
    this.attempt(w, m, msg, 0);
  }

  private attempt(w: PartitionWatermark<ConsumedMessage>, m: ConsumedMessage, msg: PushMsg, failures: number): void {
    const handler = this.handler;
    if (!handler || w.revoked || this.closed) return;
    let call: Promise<void>;
    try {
      call = handler(msg);
    } catch (e) {
      call = Promise.reject(e);
    }
    const run: Promise<void> = call.then(
      () => this.finished(w, m),
      (e: unknown) => {
        if (w.revoked || this.closed) return; // the next owner (or the next start) handles it
        this.redelivered++;
        const delay = Math.min(this.o.retryDelayMs * 2 ** failures, this.o.retryMaxDelayMs);
        this.log.warn({ partition: m.partition, offset: String(m.offset), err: errorText(e), retryIn: delay }, 'kafka: handler failed; retrying');
        const timer = setTimeout(() => {
          this.retryTimers.delete(timer);
          this.attempt(w, m, msg, failures + 1);
        }, delay);
        this.retryTimers.add(timer);
      },
    );
    this.running.add(run);
    void run.finally(() => {
      this.running.delete(run);
      this.resumeIfRoom(); // a call of a partition given up frees room too
    });
  }

  private finished(w: PartitionWatermark<ConsumedMessage>, m: ConsumedMessage): void {
    const upTo = w.finish(m.offset);
    if (upTo && !w.revoked) {
      const committing: Promise<void> = (upTo.commit() ?? Promise.resolve())
        .catch((e: unknown) => this.log.warn({ partition: upTo.partition, offset: String(upTo.offset), err: errorText(e) }, 'kafka: commit failed'))
        .finally(() => this.commits.delete(committing));
      this.commits.add(committing);
    }
    this.resumeIfRoom();
  }

  /** Records received and not settled: of the partitions held, and handler calls still running for partitions given up. */
  private inFlight(): number {
    let n = 0;
    for (const w of this.partitions.values()) n += w.size;
    return Math.max(n, this.running.size);
  }

  private resumeIfRoom(): void {
    if (this.paused && !this.closed && this.inFlight() < this.o.maxInFlight) {
      this.paused = false;
      this.stream?.resume();
    }
  }

  /** Partitions this job holds now (tests). */
  ownedPartitions(): number[] {
    return (this.consumer?.assignments?.find((a) => a.topic === this.o.topic)?.partitions ?? []).slice().sort((a, b) => a - b);
  }

  /** depth: records of this job's partitions not consumed yet (lag, sampled every 5 s); redeliveries: handler retries. */
  queueStats(): { depth: number; redeliveries: number } {
    return { depth: this.lag, redeliveries: this.redelivered };
  }

  /**
   * Stops fetching, waits for the handler calls running now, commits what they finished and
   * leaves the group (its partitions go to the other jobs at once). Records waiting for a
   * retry are not committed: the next owner gets them.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.stream?.pause();
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    this.flush();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    while (this.commits.size > 0) await Promise.allSettled([...this.commits]);
    await Promise.allSettled([...this.sending]);
    const consumer = this.consumer;
    this.consumer = null;
    this.stream = null;
    if (consumer) {
      consumer.stopLagMonitoring();
      await consumer.close(true).catch((e: unknown) => this.log.warn({ err: errorText(e) }, 'kafka: consumer close failed'));
    }
    const producer = this.producer;
    this.producer = null;
    await producer?.close().catch((e: unknown) => this.log.warn({ err: errorText(e) }, 'kafka: producer close failed'));
  }

  /**
   * Stops at once as a crash would, as far as offsets go: nothing more is committed, handler
   * calls running now are not waited for; the group gets the partitions back (tests).
   */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A publish not sent yet is refused, as a crash would lose it (and no producer is made for it).
    const batch = this.pending;
    this.pending = null;
    batch?.settle.forEach((s) => s.reject(new Error('kafka queue: aborted')));
    if (this.restartTimer) clearTimeout(this.restartTimer);
    for (const w of this.partitions.values()) w.revoked = true;
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    const consumer = this.consumer;
    this.consumer = null;
    this.stream = null;
    consumer?.stopLagMonitoring();
    await consumer?.close(true).catch(() => {});
    const producer = this.producer;
    this.producer = null;
    await producer?.close(true).catch(() => {});
  }
}

/** The message of an error, with the first inner error of an aggregate (the client's MultipleErrors). */
function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const inner = (e as Error & { errors?: unknown[] }).errors;
  const first = Array.isArray(inner) && inner[0] instanceof Error ? `: ${inner[0].message}` : '';
  return `${e.message}${first}`;
}

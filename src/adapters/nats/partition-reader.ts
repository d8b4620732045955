// Reads one partition's durable consumer and hands each message to the job's handler in
// stream order (handlers may overlap; their *calls* are in order), at most max_ack_pending
// at a time. A resolved handler acks, a rejected one naks with a growing delay, so the
// message comes back (at-least-once). Only the job holding the partition's lease runs one,
// and it pulls only while the lease is known to be valid (see `pullUntil`).
//
// Order hinges on two rules:
// - Only one pull request of the partition is open at a time, job-wide. The server spreads
//   messages over all open requests of a consumer, so two readers pulling together would
//   split (and reorder) a room.
// - A message the server delivered but nobody handled (a pull request cut while messages
//   were on the wire, a lost connection, a crashed previous holder) comes back only after
//   ack_wait, behind anything pulled meanwhile. So before pulling again after such a loss
//   (and before the first pull), the reader waits until no other request is open and no
//   message is unacknowledged.
//
// Unacknowledged messages at that point belong to a holder that is gone (crashed, or lost
// them on the wire) or to one still settling them (it lost its lease while handling). Every
// reader that may hold messages of its partition answers requests on the partition's holder
// subject (holderSubject); the server answers "no responders" at once when nobody does, so
// a crashed job is told apart from a live one in a round trip. Held by nobody: with
// workqueue retention the partition's consumer is restarted (restartConsumer) and its
// unacknowledged messages come again at once, in stream order. Held by a live reader, or no
// clear answer, or limits retention: wait until they are acknowledged or ack_wait brought
// them back (docs/deployment.md, failures).
//
// In-progress acks: a message held longer than a quarter of ack_wait (a room batch waiting,
// a slow comet) is reported in progress (+WPI) every quarter of ack_wait, so a short ack_wait
// never redelivers a message the job is still working on.
import { Empty, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../../log.js';
import type { PushHandler, PushMsg } from '../../ports/index.js';
import { decodePushMsg } from '../../rpc/push-msg.js';
import { ensureConsumer, holderSubject, isConsumerNotFound, partitionDurable, restartConsumer, type Topology } from './topology.js';

export interface PartitionReaderOptions {
  js: JetStreamClient;
  /** The connection of `js` (holder subject: answering and asking). */
  nc: NatsConnection;
  topology: Topology;
  partition: number;
  handler: PushHandler;
  retryDelayMs: number;
  retryMaxDelayMs: number;
  /** How long one batch request waits for messages; also bounds how long stop() takes. */
  fetchExpiresMs: number;
  /** Until when (performance.now() ms) the lease lets this reader pull; Infinity: no limit. */
  pullUntil: number;
  /** A new batch is requested only with at least this much of `pullUntil` left. */
  minPullWindowMs: number;
  /** How often to look again while another job still has a pull request open here. */
  recheckMs: number;
  /** Sends what is buffered (acks, unsubscribes) and resolves once the server has it. */
  flush(): Promise<void>;
  /** The connection is up now (a flush would not wait for a reconnect). */
  linkUp(): boolean;
  log: Logger;
  /** Shared by the readers of one queue (metrics). */
  counters?: ReaderCounters;
}

/** What the readers of one queue saw, for metrics. */
export interface ReaderCounters {
  /** Messages received again (delivery count > 1, or brought back by a consumer restart). */
  redelivered: number;
  /** Per partition: messages the server had not delivered yet, as of the last delivery. */
  pending: number[];
}

/**
 * Idle heartbeat of a batch request, ms (nats.js's smallest). nats.js notices a request the
 * server ended without a final status (seen with nats-server 2.9) only by two missed
 * heartbeats: its default (expires / 2) stalled the partition for 5 s, this for ~1 s.
 */
const FETCH_HEARTBEAT_MS = 500;

/**
 * A batch request still open this long after its expiry was ended by the server without a
 * status (the server keeps none past its expiry; the margin lets messages sent just before
 * it arrive): it is ended here rather than after two missed heartbeats.
 */
const FETCH_OVERDUE_MS = 200;

function isHeartbeatsMissed(e: unknown): boolean {
  return e instanceof Error && e.message === 'heartbeats missed';
}

/** The server said nobody subscribes to the subject asked. */
function isNoResponders(e: unknown): boolean {
  const f = (e as { isNoResponders?: unknown } | null)?.isNoResponders;
  return typeof f === 'function' && f.call(e) === true;
}

/** Who holds unacknowledged messages of a partition: nobody, a live reader, or no clear answer. */
type Holder = 'gone' | 'alive' | 'unknown';

/** Runs fn, ignoring a throw (ack/nak on a connection that is gone: the server redelivers). */
function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // nothing to do: unacked messages come back after ack_wait
  }
}

export class PartitionReader {
  readonly partition: number;
  /** Settles once reading stopped and every handler called has settled. */
  readonly done: Promise<void>;
  private readonly o: PartitionReaderOptions;
  private readonly max: number;
  private consumer: Consumer | null = null;
  /** The batch request being read (cut short on abort, lease end, or lost connection). */
  private batch: ConsumerMessages | null = null;
  /** The open batch was stopped from this side: messages on the wire to it are lost. */
  private batchCut = false;
  private cutTimer: NodeJS.Timeout | null = null;
  private pullUntil: number;
  /** Check the consumer (no other request open, nothing unacked) before the next pull. */
  private mustCheck = true;
  private stopping = false;
  private aborted = false;
  private inflight = 0;
  /** Wakes whatever the reader is waiting for (a handler settling, a pause, the lease). */
  private wakers: Array<() => void> = [];
  /** Answers holder probes while this reader may hold messages (see hold()). */
  private holderSub: Subscription | null = null;
  /** Messages handed to the handler since the last progress tick, and those held longer. */
  private fresh = new Set<JsMsg>();
  private aged = new Set<JsMsg>();
  /**
   * Stream sequences this reader nak'ed (with a delay) and has not received again: still
   * unacknowledged on the server, but neither lost nor held by anyone.
   */
  private readonly delayed = new Set<number>();
  private readonly progressTimer: NodeJS.Timeout;
  /** Delivered, counting redeliveries. */
  delivered = 0;

  constructor(opts: PartitionReaderOptions) {
    this.o = opts;
    this.partition = opts.partition;
    this.max = opts.topology.maxAckPending;
    this.pullUntil = opts.pullUntil;
    this.progressTimer = setInterval(() => this.progress(), Math.max(50, Math.trunc(opts.topology.ackWaitMs / 4)));
    this.progressTimer.unref();
    this.done = this.run();
  }

  /**
   * Asks for no more messages; the batch being read ends by itself (full, or after
   * fetchExpiresMs — or cut when the lease runs out first) and what it brings is still
   * handed over, in order.
   */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.wakeAll();
      this.cutOffLater();
    }
    return this.done;
  }

  /** Stops at once: messages already received are neither handled nor settled (a crash). */
  abort(): void {
    this.aborted = true;
    clearInterval(this.progressTimer);
    this.fresh.clear();
    this.aged.clear();
    this.unhold();
    this.cut();
    void this.stop();
  }

  /**
   * Ends the open batch request now (the lease is gone, or so is the connection). Messages
   * already on the wire to it are lost to this reader; the server redelivers them after
   * ack_wait, so the next pull (if any) first waits for them.
   */
  cut(): void {
    const batch = this.batch;
    if (!batch || this.batchCut) return;
    this.batchCut = true;
    this.mustCheck = true;
    batch.stop();
  }

  /** The connection dropped: its pull request died with it, and what was on the wire. */
  connectionLost(): void {
    this.mustCheck = true;
    this.cut();
  }

  /** The lease was renewed (or the lease store is unreachable: Infinity). */
  setPullUntil(until: number): void {
    this.pullUntil = until;
    this.armCut();
    this.wakeAll();
  }

  /**
   * Unacknowledged messages of this partition's consumer, as the server counts them now, but
   * for those this reader nak'ed and waits to get again.
   */
  async pendingAcks(): Promise<number> {
    if (!this.consumer) return 0;
    return Math.max(0, (await this.consumer.info(false)).num_ack_pending - this.delayed.size);
  }

  /**
   * The server ends a batch request within fetchExpiresMs; one still open well after that
   * will not end by itself (the connection is down), so cut it.
   */
  private cutOffLater(): void {
    const batch = this.batch;
    if (!batch) return;
    const timer = setTimeout(() => batch === this.batch && this.cut(), this.o.fetchExpiresMs + 1000);
    void batch.closed().finally(() => clearTimeout(timer));
  }

  /** Cuts the open batch when the lease's pulling time runs out (unless renewed before). */
  private armCut(): void {
    if (this.cutTimer) clearTimeout(this.cutTimer);
    this.cutTimer = null;
    if (!this.batch || this.pullUntil === Infinity) return;
    const left = this.pullUntil - performance.now();
    if (left <= 0) this.cut();
    else this.cutTimer = setTimeout(() => this.cut(), left);
  }

  private async run(): Promise<void> {
    let backoff = 250;
    while (!this.stopping) {
      try {
        if (!(await this.leaseAllows())) break;
        if (this.mustCheck) {
          if (!(await this.catchUp())) break;
          this.mustCheck = false;
          this.hold();
        }
        await this.pullBatch(await this.getConsumer());
        backoff = 250;
      } catch (e) {
        this.mustCheck = true;
        if (this.stopping) break;
        if (isHeartbeatsMissed(e) && this.o.linkUp()) {
          // A request the server ended without saying so: pull again now (after the check).
          this.o.log.debug({ partition: this.partition }, 'nats: pull request ended silently; pulling again');
          continue;
        }
        this.consumer = null;
        let failure = e;
        if (isConsumerNotFound(e) && this.o.linkUp()) {
          // deleted by a restart that did not finish (its job died in between), or by hand
          try {
            await ensureConsumer(await this.o.js.jetstreamManager(false), this.o.topology, this.partition, this.o.log);
            continue;
          } catch (e2) {
            failure = e2;
          }
        }
        // while disconnected the queue has said so already
        const level = this.o.linkUp() ? 'warn' : 'debug';
        this.o.log[level]({ partition: this.partition, err: (failure as Error).message }, 'nats: partition reader failed; retrying');
        await this.sleepFully(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    while (this.inflight > 0) await this.next();
    clearInterval(this.progressTimer);
    // everything this reader received is settled: a job taking the partition need not wait for it
    await this.unholdSettled();
  }

  private async getConsumer(): Promise<Consumer> {
    return (
      this.consumer ?? (this.consumer = await this.o.js.consumers.get(this.o.topology.stream, partitionDurable(this.o.topology, this.partition)))
    );
  }

  /** Answers holder probes from now on: this reader is about to receive messages of its partition. */
  private hold(): void {
    if (this.holderSub || this.aborted) return;
    try {
      this.holderSub = this.o.nc.subscribe(holderSubject(this.o.topology, this.partition), {
        callback: (err, msg) => {
          if (!err) quietly(() => msg.respond(Empty));
        },
      });
    } catch {
      // the connection is closed: nobody can ask it either
    }
  }

  /**
   * Answers no more once the server has the acks of what this reader settled: a job probing
   * in between would find nobody and restart the consumer over messages acked a moment later.
   */
  private async unholdSettled(): Promise<void> {
    if (!this.holderSub) return;
    try {
      await this.flushed();
    } catch {
      // not connected: its acks may be lost, so the messages come back after ack_wait anyway
    }
    if (this.inflight === 0 && !this.batch) this.unhold();
  }

  /** Answers no more: this reader holds nothing of its partition. */
  private unhold(): void {
    const sub = this.holderSub;
    this.holderSub = null;
    if (sub) quietly(() => sub.unsubscribe());
  }

  /**
   * Whether a reader (of any job) may still hold messages of this partition. "gone" only on
   * the server's own answer that nobody subscribes to the holder subject.
   */
  private async probeHolder(): Promise<Holder> {
    if (!this.o.linkUp()) return 'unknown';
    try {
      await this.o.nc.request(holderSubject(this.o.topology, this.partition), Empty, { timeout: Math.max(200, Math.min(1000, this.o.recheckMs)) });
      return 'alive';
    } catch (e) {
      return isNoResponders(e) ? 'gone' : 'unknown';
    }
  }

  /** In-progress acks for the messages held since before the last tick (see the top of this file). */
  private progress(): void {
    for (const m of this.aged) quietly(() => m.working());
    if (this.fresh.size === 0) return;
    for (const m of this.fresh) this.aged.add(m);
    this.fresh.clear();
  }

  /** Waits until the lease leaves room for a batch; false when stopping. */
  private async leaseAllows(): Promise<boolean> {
    for (;;) {
      if (this.stopping) return false;
      const left = this.pullUntil - performance.now();
      if (left >= this.o.minPullWindowMs) return true;
      // Past its end, the lease may have been someone else's meanwhile: look before pulling.
      if (left <= 0) {
        this.mustCheck = true;
        // settled everything and pulls no more: a job taking the partition need not wait for this one
        if (this.inflight === 0 && !this.batch) await this.unholdSettled();
      }
      await this.sleep(Math.max(10, left > 0 ? left : this.o.recheckMs));
    }
  }

  /**
   * Before pulling: settle our own handlers, make sure the server has their acks, then wait
   * while another request is open on the consumer (another job still pulling: a holder that
   * kept reading through a lease-store outage, or a stalled one). Messages left
   * unacknowledged are restarted at once when their holder is gone (workqueue retention);
   * otherwise the reader waits until they are acknowledged, or for their redelivery
   * (ack_wait), so they come before newer ones. False when stopping.
   */
  private async catchUp(): Promise<boolean> {
    while (this.inflight > 0) await this.next();
    await this.flushed();
    // nothing of this reader is held now: its own probe must not find it
    this.unhold();
    let consumer = await this.getConsumer();
    let ackGrace = 5; // acks just flushed may still be in the server's queue
    // A holder that just unsubscribed had its acks flushed, but the server may not have applied
    // them yet: "gone" is believed only when it holds after another grace.
    let goneOnce = false;
    let waitedRedelivery = false;
    /** When the unacknowledged messages are due again (0: not waiting for them). */
    let redeliveryAt = 0;
    let told = false;
    // Quiet twice in a row: a job pulling without pause shows no request only in the instant
    // between one batch request and the next.
    let quiet = 0;
    for (;;) {
      if (this.stopping) return false;
      const info = await consumer.info(false);
      if (info.num_waiting > 0) {
        if (!told)
          this.o.log.warn(
            { partition: this.partition, waiting: info.num_waiting },
            'nats: another job still pulls this partition; waiting for it to stop',
          );
        told = true;
        quiet = 0;
        await this.sleep(this.o.recheckMs);
        continue;
      }
      // nak'ed messages wait for their retry delay: not lost, nothing to wait for or restart
      const unsettled = info.num_ack_pending - this.delayed.size;
      if (unsettled > 0 && !waitedRedelivery) {
        quiet = 0;
        if (ackGrace-- > 0) {
          await this.sleep(40);
          continue;
        }
        const holder = await this.probeHolder();
        if (this.stopping) return false;
        const { ackWaitMs, retention } = this.o.topology;
        if (holder === 'gone' && !goneOnce) {
          goneOnce = true;
          ackGrace = 5;
          continue;
        }
        if (holder !== 'gone') goneOnce = false;
        if (holder === 'gone' && retention === 'workqueue' && this.pullUntil <= performance.now()) {
          // restart only under a valid lease; a renewal comes within recheckMs
          await this.sleep(this.o.recheckMs);
          continue;
        }
        if (holder === 'gone' && retention === 'workqueue') {
          this.o.log.info(
            { partition: this.partition, pending: unsettled },
            'nats: unacked messages of a holder that is gone; restarting the consumer to get them now',
          );
          await restartConsumer(await this.o.js.jetstreamManager(false), this.o.topology, this.partition, this.o.log);
          if (this.o.counters) this.o.counters.redelivered += info.num_ack_pending;
          this.delayed.clear(); // they come again now, with the rest
          this.consumer = null;
          consumer = await this.getConsumer();
          continue;
        }
        const now = performance.now();
        if (redeliveryAt === 0) {
          const waitMs = ackWaitMs + Math.max(100, Math.trunc(ackWaitMs / 10));
          redeliveryAt = now + waitMs;
          this.o.log.info(
            { partition: this.partition, pending: unsettled, holder, waitMs },
            holder === 'alive'
              ? 'nats: unacked messages held by a job still running; waiting for it to settle them'
              : 'nats: unacked messages on the partition; waiting for their redelivery',
          );
        }
        if (now >= redeliveryAt) {
          waitedRedelivery = true;
          continue;
        }
        // look again soon: the holder may settle them, or turn out gone
        await this.sleep(Math.min(this.o.recheckMs, redeliveryAt - now));
        continue;
      }
      if (++quiet >= 2) return true;
      await this.sleep(Math.min(this.o.recheckMs, 100));
    }
  }

  /**
   * One batch request, read to its end. Pull in batches rather than with a standing
   * consume(): a batch request ends by itself (full, or expired), so stopping cleanly only
   * means not asking for the next one, and nothing on the wire is lost.
   */
  private async pullBatch(consumer: Consumer): Promise<void> {
    while (this.inflight >= this.max && !this.stopping) await this.next();
    if (this.stopping || this.pullUntil - performance.now() < this.o.minPullWindowMs) return;
    if (this.pullUntil === Infinity && (await consumer.info(false)).num_waiting > 0) {
      // Pulling on through a lease-store outage, and another job has started here (it took
      // the lapsed lease): leave the partition to it (this job learns it lost the lease once
      // the store answers again).
      this.mustCheck = true;
      return;
    }
    const batch = await consumer.fetch({
      max_messages: this.max - this.inflight,
      expires: this.o.fetchExpiresMs,
      idle_heartbeat: FETCH_HEARTBEAT_MS,
    });
    this.batch = batch;
    this.batchCut = false;
    if (!this.o.linkUp()) this.connectionLost(); // dropped meanwhile
    this.armCut();
    if (this.stopping) this.cutOffLater();
    const overdue = setTimeout(() => {
      if (batch !== this.batch) return;
      this.o.log.debug({ partition: this.partition }, 'nats: pull request past its expiry; ending it');
      this.cut();
    }, this.o.fetchExpiresMs + FETCH_OVERDUE_MS);
    try {
      for await (const m of batch) {
        if (this.aborted) continue;
        while (this.inflight >= this.max) await this.next();
        this.deliver(m);
      }
    } finally {
      clearTimeout(overdue);
      this.batch = null;
      if (this.cutTimer) clearTimeout(this.cutTimer);
      this.cutTimer = null;
    }
  }

  private deliver(m: JsMsg): void {
    this.delivered++;
    if (this.delayed.size > 0 && m.redelivered) this.delayed.delete(m.seq);
    const counters = this.o.counters;
    if (counters) {
      const info = m.info;
      if (info.deliveryCount > 1) counters.redelivered++;
      counters.pending[this.partition] = info.pending;
    }
    let msg: PushMsg;
    try {
      msg = decodePushMsg(m.data);
    } catch (e) {
      // goim logs and skips records it cannot decode; never redeliver them
      this.o.log.error({ partition: this.partition, seq: m.seq, err: (e as Error).message }, 'nats: undecodable message dropped');
      quietly(() => m.term());
      return;
    }
    this.inflight++;
    this.fresh.add(m);
    let p: Promise<void>;
    try {
      p = this.o.handler(msg);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      () => {
        quietly(() => m.ack());
        this.settled(m);
      },
      (e: unknown) => {
        const delay = Math.min(this.o.retryMaxDelayMs, this.o.retryDelayMs * 2 ** Math.min(20, m.info.deliveryCount - 1));
        this.o.log.debug({ partition: this.partition, seq: m.seq, delay, err: (e as Error)?.message }, 'nats: handler failed; redelivering later');
        quietly(() => m.nak(delay));
        this.delayed.add(m.seq);
        this.settled(m);
      },
    );
  }

  /** A handler settled and its message was acked or nak'ed. */
  private settled(m: JsMsg): void {
    if (!this.fresh.delete(m)) this.aged.delete(m);
    this.inflight--;
    if (this.wakers.length > 0) this.wakeAll();
  }

  /** The server has everything sent so far (acks, unsubscribes); throws when it cannot tell. */
  private async flushed(): Promise<void> {
    if (!this.o.linkUp()) throw new Error('not connected');
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('flush timeout')), this.o.fetchExpiresMs + 1000)));
    try {
      await Promise.race([this.o.flush(), bound]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves at the next wake-up (a handler settled, the lease changed, stop). */
  private next(): Promise<void> {
    return new Promise<void>((r) => this.wakers.push(r));
  }

  /** Resolves after `ms`, or at the next wake-up. Callers re-check their condition. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        const i = this.wakers.indexOf(done);
        if (i >= 0) this.wakers.splice(i, 1);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.push(done);
    });
  }

  /** Resolves after `ms`, or once stopping. */
  private async sleepFully(ms: number): Promise<void> {
    const until = performance.now() + ms;
    while (!this.stopping && performance.now() < until) await this.sleep(until - performance.now());
  }

  private wakeAll(): void {
    const w = this.wakers;
    this.wakers = [];
    for (const f of w) f();
  }
}

// Reads one partition's durable consumer and hands each message to the job's handler in
// stream order (handlers may overlap; their *calls* are in order), at most max_ack_pending
// at a time. A resolved handler acks, a rejected one naks with a growing delay, so the
// message comes back (at-least-once). Only the job holding the partition's lease runs one.
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../../log.js';
import type { PushHandler, PushMsg } from '../../ports/index.js';
import { decodePushMsg } from '../../rpc/push-msg.js';
import { partitionDurable, type Topology } from './topology.js';

export interface PartitionReaderOptions {
  js: JetStreamClient;
  topology: Topology;
  partition: number;
  handler: PushHandler;
  retryDelayMs: number;
  retryMaxDelayMs: number;
  /** How long one batch request waits for messages; also bounds how long stop() takes. */
  fetchExpiresMs: number;
  log: Logger;
}

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
  /** The batch request being read (cut short on abort, or when it outlives its expiry). */
  private batch: ConsumerMessages | null = null;
  private stopping = false;
  private aborted = false;
  private inflight = 0;
  private wake: (() => void) | null = null;
  private cancelPause: (() => void) | null = null;
  /** Delivered, counting redeliveries. */
  delivered = 0;

  constructor(opts: PartitionReaderOptions) {
    this.o = opts;
    this.partition = opts.partition;
    this.max = opts.topology.maxAckPending;
    this.done = this.run();
  }

  /**
   * Asks for no more messages; the batch being read ends by itself (full, or after
   * fetchExpiresMs) and all of it is still handed over, in order.
   */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.cancelPause?.();
      this.cutOffLater();
    }
    return this.done;
  }

  /**
   * The server ends a batch request within fetchExpiresMs; one still open well after that
   * will not end by itself (the connection is down), so cut it — what it would have
   * delivered is redelivered after ack_wait.
   */
  private cutOffLater(): void {
    const batch = this.batch;
    if (!batch) return;
    const timer = setTimeout(() => batch.stop(), this.o.fetchExpiresMs + 1000);
    void batch.closed().finally(() => clearTimeout(timer));
  }

  /** Stops at once: messages already received are neither handled nor settled (a crash). */
  abort(): void {
    this.aborted = true;
    this.batch?.stop();
    void this.stop();
  }

  /** Unacknowledged messages of this partition's consumer, as the server counts them now. */
  async pendingAcks(): Promise<number> {
    if (!this.consumer) return 0;
    return (await this.consumer.info(false)).num_ack_pending;
  }

  private async run(): Promise<void> {
    let backoff = 250;
    let first = true;
    while (!this.stopping) {
      try {
        await this.read(first);
        backoff = 250;
      } catch (e) {
        if (!this.stopping) {
          this.o.log.warn({ partition: this.partition, err: (e as Error).message }, 'nats: partition reader failed; retrying');
        }
      }
      first = false;
      if (this.stopping) break;
      await this.pause(backoff);
      backoff = Math.min(backoff * 2, 5000);
    }
    while (this.inflight > 0) await new Promise<void>((r) => (this.wake = r));
  }

  private async read(first: boolean): Promise<void> {
    const { js, topology } = this.o;
    const consumer = await js.consumers.get(topology.stream, partitionDurable(topology, this.partition));
    this.consumer = consumer;
    if (first) {
      // Messages the previous holder received but never settled (it crashed, or lost its
      // connection while handing over) come back only after ack_wait. Pulling before that
      // would put newer messages ahead of them, so wait them out. (A clean hand-over leaves
      // nothing pending, so the next holder starts at once.)
      const pending = (await consumer.info(true)).num_ack_pending;
      if (pending > 0) {
        const waitMs = topology.ackWaitMs + Math.max(100, Math.trunc(topology.ackWaitMs / 10));
        this.o.log.info({ partition: this.partition, pending, waitMs }, 'nats: partition taken over with unacked messages; waiting for their redelivery');
        await this.pause(waitMs);
      }
    }
    // Pull in batches rather than with a standing consume(): a batch request ends by itself
    // (full, or expired), and stopping only means not asking for the next one. Stopping a
    // standing subscription could drop messages already on the wire to it, which would then
    // wait ack_wait for redelivery and come back behind newer ones.
    while (!this.stopping) {
      while (this.inflight >= this.max) await new Promise<void>((r) => (this.wake = r));
      const batch = await consumer.fetch({ max_messages: this.max - this.inflight, expires: this.o.fetchExpiresMs });
      this.batch = batch;
      if (this.stopping) this.cutOffLater();
      for await (const m of batch) {
        if (this.aborted) continue;
        while (this.inflight >= this.max) await new Promise<void>((r) => (this.wake = r));
        this.deliver(m);
      }
      this.batch = null;
    }
  }

  private deliver(m: JsMsg): void {
    this.delivered++;
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
    let p: Promise<void>;
    try {
      p = this.o.handler(msg);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      () => quietly(() => m.ack()),
      (e: unknown) => {
        const delay = Math.min(this.o.retryMaxDelayMs, this.o.retryDelayMs * 2 ** Math.min(20, m.info.deliveryCount - 1));
        this.o.log.debug({ partition: this.partition, seq: m.seq, delay, err: (e as Error)?.message }, 'nats: handler failed; redelivering later');
        quietly(() => m.nak(delay));
      },
    ).finally(() => {
      this.inflight--;
      const w = this.wake;
      this.wake = null;
      w?.();
    });
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.cancelPause = done;
    }).finally(() => (this.cancelPause = null));
  }
}

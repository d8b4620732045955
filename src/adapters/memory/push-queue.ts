// The embedded PushQueue: logic → job inside one process. Bounded (a full queue makes
// publish fail, which the push API reports as an error instead of growing the heap),
// delivered in publish order with up to `inflight` handlers running, and at-least-once: a
// rejected handler gets its message again after a back-off that doubles per attempt.
import { Fifo } from '../../lib/fifo.js';
import type { Logger } from '../../log.js';
import type { PushHandler, PushMsg, PushQueue } from '../../ports/index.js';

export interface MemoryPushQueueOptions {
  /** Messages accepted and not yet acknowledged (queued, waiting to retry, or in flight). */
  capacity?: number;
  /** Handlers running at once. */
  inflight?: number;
  /** On close, how long accepted messages may take to be delivered before they are dropped, ms. */
  drainTimeout?: number;
  /** First redelivery wait, ms. */
  retryDelay?: number;
  /** Longest redelivery wait, ms. */
  retryMaxDelay?: number;
  log?: Logger;
}

export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

interface Entry {
  msg: PushMsg;
  attempts: number;
}

const DONE = Promise.resolve();

export class MemoryPushQueue implements PushQueue {
  private readonly capacity: number;
  private readonly inflightLimit: number;
  private readonly retryDelay: number;
  private readonly retryMaxDelay: number;
  private readonly log: Logger | undefined;
  private readonly drainTimeout: number;
  /** Set by close(): publish refuses, delivery of what was accepted goes on until drained. */
  private draining = false;
  private drainWaiters: (() => void)[] = [];
  private readonly ready = new Fifo<Entry>();
  private readonly retrying = new Set<NodeJS.Timeout>();
  private handler: PushHandler | null = null;
  private inflight = 0;
  /** Unacknowledged messages: ready + retrying + in flight. */
  private unacked = 0;
  private closed = false;
  private pumpScheduled = false;
  private idleWaiters: (() => void)[] = [];
  /** Messages handed to the handler again after it failed (metrics). */
  private redelivered = 0;

  constructor(opts: MemoryPushQueueOptions = {}) {
    this.capacity = opts.capacity ?? 100_000;
    this.inflightLimit = opts.inflight ?? 1024;
    this.retryDelay = opts.retryDelay ?? 50;
    this.retryMaxDelay = opts.retryMaxDelay ?? 5000;
    this.log = opts.log;
    this.drainTimeout = opts.drainTimeout ?? 10_000;
  }

  /** Messages accepted and not yet acknowledged. */
  get size(): number {
    return this.unacked;
  }

  /** depth: messages not yet acknowledged; redeliveries: retries scheduled after a failed handler. */
  queueStats(): { depth: number; redeliveries: number } {
    return { depth: this.unacked, redeliveries: this.redelivered };
  }

  publish(msg: PushMsg): Promise<void> {
    if (this.closed || this.draining) return Promise.reject(new Error('push queue closed'));
    if (this.unacked >= this.capacity) {
      return Promise.reject(new QueueFullError(`push queue full: ${this.unacked} messages not yet delivered (capacity ${this.capacity})`));
    }
    this.unacked++;
    this.ready.push({ msg, attempts: 0 });
    this.schedulePump();
    return DONE;
  }

  consume(handler: PushHandler): Promise<void> {
    if (this.closed) return Promise.reject(new Error('push queue closed'));
    if (this.handler) return Promise.reject(new Error('push queue already has a consumer'));
    this.handler = handler;
    this.schedulePump();
    return DONE;
  }

  /**
   * Refuses new messages, delivers those already accepted (the push API answered them: they
   * must not be lost on a clean shutdown) for up to `drainTimeout`, then stops and waits for
   * handlers in flight. Only what is still undelivered after the timeout is dropped, loudly.
   */
  async close(): Promise<void> {
    if (!this.closed && !this.draining && this.handler && this.unacked > 0) {
      this.draining = true;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.drainWaiters.push(resolve);
        timer = setTimeout(resolve, this.drainTimeout);
      });
      clearTimeout(timer);
    }
    if (!this.closed) {
      this.closed = true;
      const dropped = this.ready.length + this.retrying.size;
      for (const t of this.retrying) clearTimeout(t);
      this.retrying.clear();
      this.ready.drain();
      this.unacked -= dropped;
      if (dropped > 0) this.log?.warn({ dropped }, 'push queue closed with undelivered messages');
    }
    if (this.inflight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private schedulePump(): void {
    if (this.pumpScheduled || !this.handler) return;
    this.pumpScheduled = true;
    queueMicrotask(this.pump);
  }

  /** Hands out messages in queue order; the handler is *called* in that order. */
  private readonly pump = (): void => {
    this.pumpScheduled = false;
    const handler = this.handler;
    if (this.closed || !handler) return;
    while (this.inflight < this.inflightLimit && this.ready.length > 0) {
      const entry = this.ready.shift()!;
      entry.attempts++;
      this.inflight++;
      let p: Promise<void>;
      try {
        p = handler(entry.msg);
      } catch (e) {
        p = Promise.reject(e);
      }
      p.then(
        () => this.settled(),
        (err: unknown) => this.failed(entry, err),
      );
    }
  };

  private settled(): void {
    this.inflight--;
    this.unacked--;
    if (this.draining && this.unacked === 0) {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w();
    }
    if (this.closed) {
      if (this.inflight === 0) this.wakeIdle();
    } else {
      this.schedulePump();
    }
  }

  private failed(entry: Entry, err: unknown): void {
    if (this.closed) {
      this.log?.warn({ err: String(err) }, 'push queue closed: failed message not redelivered');
      this.settled();
      return;
    }
    this.inflight--;
    this.redelivered++;
    const delay = Math.min(this.retryMaxDelay, this.retryDelay * 2 ** Math.min(entry.attempts - 1, 30));
    this.log?.debug({ attempts: entry.attempts, delay, err: String(err) }, 'push queue: redelivering later');
    const timer = setTimeout(() => {
      this.retrying.delete(timer);
      this.ready.push(entry);
      this.schedulePump();
    }, delay);
    this.retrying.add(timer);
    this.schedulePump();
  }

  private wakeIdle(): void {
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }
}

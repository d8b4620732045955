// JetStream publishes without a request object per message. A JetStream publish is a core
// NATS publish to the stream's subject with a reply subject, answered by the stream with a
// PubAck once it stored the message. Here every message's reply subject lies under one
// inbox subscription, and its promise settles from the PubAck that arrives there — what
// nats.go's PublishAsync does. nats.js's js.publish() makes a request per message instead,
// whose bookkeeping (a timer promise, a header object, two async frames, and an Error with
// its stack trace built on every *successful* reply) cost more than the rest of a push.
//
// Messages published during one event-loop turn are sent together, in call order, at the
// end of the turn (setImmediate): the client writes everything published within one
// synchronous run as one socket write, so the pushes of all HTTP requests read in one turn
// cost one write here and one read and one write of PubAcks at the server, not one each.
//
// Guarantees are the same as js.publish(): a promise resolves only on a PubAck naming a
// stream; an error reply, a "no responders" status (no stream takes the subject), the
// timeout or a lost connection reject it.
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

interface PubAck {
  stream?: string;
  seq?: number;
  error?: { code?: number; err_code?: number; description?: string };
}

/** One message waiting for its PubAck. */
class Waiting {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (e: Error) => void;

  /** performance.now() when sent. */
  sent = 0;

  constructor(
    readonly subject: string,
    readonly data: Uint8Array,
  ) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

export class AckedPublisher {
  private readonly prefix: string;
  private readonly sub: Subscription;
  /** By reply id, in sending order (a Map keeps insertion order): the oldest come first. */
  private readonly pending = new Map<number, Waiting>();
  private lastId = 0;
  /** Published during this turn, sent by sendOutbox. */
  private outbox: Waiting[] = [];
  private sweeper: NodeJS.Timeout | null = null;
  private idle: Array<() => void> = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
    /** Prefixes error messages ("nats <url>"). */
    private readonly where: string,
  ) {
    this.prefix = createInbox();
    // Survives reconnects: the client subscribes again on every new connection.
    this.sub = nc.subscribe(`${this.prefix}.*`, { callback: (err, m) => (err ? this.failAll(err.message) : this.onReply(m)) });
  }

  /** Sends `data` to `subject` at the end of this turn; resolves once the stream stored it. */
  publish(subject: string, data: Uint8Array): Promise<void> {
    const w = new Waiting(subject, data);
    this.outbox.push(w);
    if (this.outbox.length === 1) setImmediate(this.sendOutbox);
    return w.promise;
  }

  /** Sends what was published since the last run (one synchronous run: one socket write). */
  readonly sendOutbox = (): void => {
    const batch = this.outbox;
    if (batch.length === 0) return;
    this.outbox = [];
    const now = performance.now();
    for (const w of batch) {
      const id = ++this.lastId;
      try {
        this.nc.publish(w.subject, w.data, { reply: `${this.prefix}.${id}` });
      } catch (e) {
        w.reject(this.error(w.subject, (e as Error).message));
        continue;
      }
      w.sent = now;
      this.pending.set(id, w);
    }
    if (this.pending.size > 0) this.sweeper ??= setInterval(this.expire, Math.max(20, Math.trunc(this.timeoutMs / 4)));
  };

  /**
   * Rejects every message still waiting: the connection that would carry their PubAcks is
   * gone (the stream may or may not have stored them; the caller was never told it did).
   */
  failAll(reason: string): void {
    const all = [...this.outbox, ...this.pending.values()];
    this.outbox = [];
    this.pending.clear();
    this.settled();
    for (const w of all) w.reject(this.error(w.subject, reason));
  }

  /** Sends the outbox now and resolves once nothing waits for a PubAck (the timeout bounds the wait). */
  async whenIdle(): Promise<void> {
    this.sendOutbox();
    if (this.pending.size === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /** Stops listening; what still waits is rejected. */
  close(): void {
    this.failAll('closed');
    this.sub.unsubscribe();
  }

  private onReply(m: Msg): void {
    const id = Number(m.subject.slice(this.prefix.length + 1));
    const w = this.pending.get(id);
    if (!w) return; // timed out or failed already
    this.pending.delete(id);
    if (this.pending.size === 0) this.settled();
    if (m.data.length === 0) {
      // the server's status for a publish nobody took: no stream holds the subject
      const why = m.headers?.code === 503 ? 'no stream takes this subject (no responders)' : `empty reply (status ${m.headers?.code ?? 'none'})`;
      w.reject(this.error(w.subject, why));
      return;
    }
    let ack: PubAck;
    try {
      ack = m.json<PubAck>();
    } catch (e) {
      w.reject(this.error(w.subject, `unreadable acknowledgement: ${(e as Error).message}`));
      return;
    }
    if (ack.error) w.reject(this.error(w.subject, `${ack.error.description ?? 'error'} (${ack.error.err_code ?? ack.error.code ?? '?'})`));
    else if (!ack.stream) w.reject(this.error(w.subject, 'invalid acknowledgement'));
    else w.resolve();
  }

  /** Rejects what waited longer than the timeout (checked a few times per timeout). */
  private readonly expire = (): void => {
    const limit = performance.now() - this.timeoutMs;
    for (const [id, w] of this.pending) {
      if (w.sent > limit) break;
      this.pending.delete(id);
      w.reject(this.error(w.subject, 'timeout'));
    }
    if (this.pending.size === 0) this.settled();
  };

  private settled(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    const idle = this.idle;
    this.idle = [];
    for (const f of idle) f();
  }

  private error(subject: string, reason: string): Error {
    return new Error(`${this.where}: publish to ${subject} failed: ${reason}`);
  }
}

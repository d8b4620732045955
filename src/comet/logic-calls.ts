// Backpressure on a comet's session calls to logic (docs/operations.md#connect-storms): at
// most `limits.logicCalls` Connect, Disconnect and routing-refresh calls in flight from one
// comet process; the rest wait in two bounded queues, handshakes first in turn with the
// background calls. An overloaded logic then sees a steady number of calls instead of a pile
// growing past their deadlines, and a handshake whose connection closed (client gone,
// handshake deadline passed) leaves its queue without ever reaching logic.
import type { Clock } from '../lib/clock.js';
import { Fifo } from '../lib/fifo.js';
import type { Logger } from '../log.js';
import type { Connection } from './connection.js';
import { Limit, type LimitLog } from './limit-log.js';

/** The `limits` settings of the calls; 0 = unbounded. */
export interface LogicCallLimits {
  /** limits.logicCalls: calls in flight at once. */
  logicCalls: number;
  /** limits.connectQueue: handshakes waiting for a slot. */
  connectQueue: number;
  /** limits.disconnectQueue: Disconnect calls and routing refreshes waiting for a slot. */
  disconnectQueue: number;
}

/** Counters since start (metrics). */
export interface LogicCallCounts {
  /** Calls that had to wait for a slot, by kind. */
  waited: { connect: number; disconnect: number; refresh: number };
  /** Calls never made, by kind and reason: queue full, or (handshakes, refreshes) their connection closed while waiting. */
  shed: { connect_queue_full: number; connect_gone: number; disconnect_queue_full: number; refresh_queue_full: number; refresh_gone: number };
}

type Kind = 'connect' | 'disconnect' | 'refresh';

interface Waiting {
  kind: Kind;
  start: () => Promise<unknown>;
  /** The connection whose close takes it out of its queue (connect, refresh). */
  c: Connection | undefined;
  /** Left its queue (its connection closed); skipped when reached. */
  gone: boolean;
}

const LOG_EVERY_MS = 10_000;

const noCall = (): Promise<unknown> => Promise.resolve();

/** Drops the gone entries of a queue once they outnumber the live ones (clients churning while logic is stalled). */
function compact(queue: Fifo<Waiting>, live: number): void {
  if (queue.length < 1024 || queue.length < 2 * live) return;
  for (const w of queue.drain()) if (!w.gone) queue.push(w);
}

export class LogicCalls {
  private inFlight = 0;
  private readonly connects = new Fifo<Waiting>();
  private readonly background = new Fifo<Waiting>();
  /** Live (not gone) entries of each queue: the bounds apply to these. */
  private connectsWaiting = 0;
  private backgroundWaiting = 0;
  /** The waiting entry of each connection (at most one: a connect while authing, a refresh once open). */
  private readonly byConnection = new Map<Connection, Waiting>();
  /** Alternates the queues when both hold calls, so neither starves. */
  private connectNext = true;
  /** Resolved whenever nothing is in flight or waiting in the background queue (settle()). */
  private idleWaiters: Array<() => void> = [];
  private waitedUnlogged = 0;
  private lastWaitLog = -Infinity;
  readonly counts: LogicCallCounts = {
    waited: { connect: 0, disconnect: 0, refresh: 0 },
    shed: { connect_queue_full: 0, connect_gone: 0, disconnect_queue_full: 0, refresh_queue_full: 0, refresh_gone: 0 },
  };

  constructor(
    private readonly limits: LogicCallLimits,
    private readonly limitLog: LimitLog,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {}

  /** Calls in flight now, and waiting per queue (metrics). */
  gauges(): { inFlight: number; connectsWaiting: number; backgroundWaiting: number } {
    return { inFlight: this.inFlight, connectsWaiting: this.connectsWaiting, backgroundWaiting: this.backgroundWaiting };
  }

  /** A handshake's Connect call: started now or queued; false when the queue is full (the caller closes the connection). */
  connect(c: Connection, start: () => Promise<unknown>): boolean {
    if (this.hasSlot() && this.connectsWaiting === 0) return this.run(start);
    if (this.full(this.connectsWaiting, this.limits.connectQueue)) {
      this.counts.shed.connect_queue_full++;
      this.limitLog.hit(Limit.ConnectQueue, { remote: c.remote, waiting: this.connectsWaiting, inFlight: this.inFlight });
      return false;
    }
    this.enqueue({ kind: 'connect', start, c, gone: false });
    return true;
  }

  /** A closed connection's Disconnect call; false when it was dropped (queue full: its routing lapses with redis.expire). */
  disconnect(key: string, start: () => Promise<unknown>): boolean {
    if (this.hasSlot() && this.backgroundWaiting === 0) return this.run(start);
    if (this.full(this.backgroundWaiting, this.limits.disconnectQueue)) {
      this.counts.shed.disconnect_queue_full++;
      this.limitLog.hit(Limit.DisconnectQueue, { key, waiting: this.backgroundWaiting, inFlight: this.inFlight });
      return false;
    }
    this.enqueue({ kind: 'disconnect', start, c: undefined, gone: false });
    return true;
  }

  /** A routing refresh; false when the queue is full (the caller tries again later). */
  refresh(c: Connection, start: () => Promise<unknown>): boolean {
    if (this.hasSlot() && this.backgroundWaiting === 0) return this.run(start);
    if (this.full(this.backgroundWaiting, this.limits.disconnectQueue)) {
      this.counts.shed.refresh_queue_full++;
      return false;
    }
    this.enqueue({ kind: 'refresh', start, c, gone: false });
    return true;
  }

  /** The connection closed: a call of it still waiting is never made. */
  forget(c: Connection): void {
    const w = this.byConnection.get(c);
    if (w === undefined) return;
    this.byConnection.delete(c);
    // The entry stays in its queue until reached: it lets go of the connection now.
    w.gone = true;
    w.c = undefined;
    w.start = noCall;
    if (w.kind === 'connect') {
      this.connectsWaiting--;
      this.counts.shed.connect_gone++;
      compact(this.connects, this.connectsWaiting);
    } else {
      this.backgroundWaiting--;
      this.counts.shed.refresh_gone++;
      compact(this.background, this.backgroundWaiting);
      this.maybeIdle();
    }
  }

  /** Resolves once no call is in flight and no background call waits, or after `ms`. */
  async settle(ms: number): Promise<void> {
    if (this.idle()) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
    ]);
    clearTimeout(timer);
  }

  private hasSlot(): boolean {
    return this.limits.logicCalls === 0 || this.inFlight < this.limits.logicCalls;
  }

  private full(waiting: number, bound: number): boolean {
    return bound > 0 && waiting >= bound;
  }

  private enqueue(w: Waiting): void {
    if (w.kind === 'connect') {
      this.connects.push(w);
      this.connectsWaiting++;
    } else {
      this.background.push(w);
      this.backgroundWaiting++;
    }
    if (w.c !== undefined) this.byConnection.set(w.c, w);
    this.counts.waited[w.kind]++;
    this.noteWait();
  }

  /** Starts a call; its slot frees when it settles, whatever the outcome (the caller handles that). */
  private run(start: () => Promise<unknown>): true {
    this.inFlight++;
    let p: Promise<unknown>;
    try {
      p = start();
    } catch {
      p = Promise.resolve();
    }
    const done = (): void => {
      this.inFlight--;
      this.pump();
    };
    // The callers handle their call's outcome: a rejection here is a bug in that handling,
    // worth a line rather than silence.
    p.then(done, (err: unknown) => {
      this.log.error({ err }, 'comet: a session call to logic failed after its answer was handled');
      done();
    });
    return true;
  }

  private pump(): void {
    while (this.hasSlot()) {
      const w = this.next();
      if (w === undefined) break;
      if (w.c !== undefined) this.byConnection.delete(w.c);
      this.run(w.start);
    }
    this.maybeIdle();
  }

  /** The next live entry, taking the queues in turn. */
  private next(): Waiting | undefined {
    for (;;) {
      const fromConnects = this.connectsWaiting > 0 && (this.connectNext || this.backgroundWaiting === 0);
      if (!fromConnects && this.backgroundWaiting === 0) {
        // Only gone entries are left: drop them so they hold no memory.
        if (this.connects.length > 0) this.connects.drain();
        if (this.background.length > 0) this.background.drain();
        return undefined;
      }
      const w = (fromConnects ? this.connects : this.background).shift();
      if (w === undefined) return undefined;
      if (w.gone) continue;
      if (fromConnects) this.connectsWaiting--;
      else this.backgroundWaiting--;
      this.connectNext = !fromConnects;
      return w;
    }
  }

  private idle(): boolean {
    return this.inFlight === 0 && this.backgroundWaiting === 0;
  }

  private maybeIdle(): void {
    if (this.idleWaiters.length === 0 || !this.idle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** One info line per 10 s while calls wait for a slot, not one per call. */
  private noteWait(): void {
    this.waitedUnlogged++;
    const t = this.clock.now();
    if (t - this.lastWaitLog < LOG_EVERY_MS) return;
    this.lastWaitLog = t;
    this.log.info(
      {
        waited: this.waitedUnlogged,
        inFlight: this.inFlight,
        connectsWaiting: this.connectsWaiting,
        backgroundWaiting: this.backgroundWaiting,
        logicCalls: this.limits.logicCalls,
      },
      'comet: calls to logic waiting for a slot (limits.logicCalls)',
    );
    this.waitedUnlogged = 0;
  }
}

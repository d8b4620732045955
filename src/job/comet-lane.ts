// The calls job makes to one comet. Calls start in submission order with at most
// `routineSize` in flight (goim: routineSize worker routines per comet); calls that share an
// order key (a room) run strictly one after another, so a room's batch N+1 never reaches a
// comet before that comet accepted batch N, however slow the transport.
//
// Room batches waiting behind a room's running call are merged into one call when they
// start: a comet busy writing batch N (or a slow link) receives N+1…N+k as one proto whose
// body is their frames in order — bigger batches exactly when the comet is the bottleneck,
// so it makes one gRPC call and one socket write per member for all of them. A merge never
// grows past `mergeMaxBytes` (at most the largest push, docs/configuration.md [push]).
//
// Failures are this lane's business, not the other comets' (docs/deployment.md, when a
// part fails): a failed call is retried here, after a growing delay, still in its room's
// order; the message it carries is not handed back to the queue, which would send it again
// to every comet. After `failures` failed calls in a row the comet is down: every call still
// waiting for it is parked — the caller is told at once (CometDownError with a ParkedCall)
// and decides whether the lane keeps it — new calls are parked as they come, and the comet
// is probed (Rooms) after the same growing delay. The first call or probe it answers brings
// it back up, and the calls kept for it go out in order. Kept calls are bounded by
// `backlogBytes`; they are dropped (and counted) when the comet leaves the registry
// (close()). A single call the comet keeps refusing while it answers others (calls or
// probes) is dropped after `failures` such refusals, so it cannot block its room for good.
//
// A failed call may have been written all the same (its answer came after the deadline), so
// every room batch gets a number when it is submitted — one counter for the lane, so numbers
// grow within each room — and each BroadcastRoom call names its batches (the lane's random
// id, then number and body length per batch): a comet skips the batches of a retried call it
// wrote already, however the retry was merged (docs/internal-protocol.md#room-batch-numbers).
import { randomBytes } from 'node:crypto';
import { ROOM_BATCH_PARTS_MAX, type CometService, type Instance, type Proto } from '../ports/index.js';
import { Fifo } from '../lib/fifo.js';

/** One call on the comet client; resolves when the comet accepted it. */
export type CometCall = (client: CometService) => Promise<void>;

/** A call the lane holds while its comet is down; the caller decides its fate once. */
export interface ParkedCall {
  /** Deliver it once the comet answers again (dropped and counted if the comet leaves first). */
  keep(): void;
  /** Forget it (the message goes back to the queue instead). */
  drop(): void;
}

/**
 * Completion of one call, reported once:
 * - `(null)`: the comet accepted it;
 * - `(null, true)`: skipped, the comet left (close()) before the call was made;
 * - `(CometDownError, false, parked)`: the comet is down; the lane holds the call until the
 *   caller keeps or drops it;
 * - `(CometDownError, false, undefined)`: the comet is down and its backlog is full: not held;
 * - `(other error)`: the comet refused this call `failures` times while answering others.
 */
export type CallDone = (err: Error | null, skipped?: boolean, parked?: ParkedCall) => void;

/** The comet is marked down: the call was not delivered (yet). */
export class CometDownError extends Error {
  override name = 'CometDownError';
  constructor(
    readonly comet: string,
    /** Whether the lane holds the call (a ParkedCall came with it). */
    readonly held: boolean,
    cause: Error | null,
  ) {
    super(`comet ${comet} is down${held ? '' : ' and its backlog is full'}${cause ? `: ${cause.message}` : ''}`);
  }
}

/** Shared by a job's lanes, for metrics. */
export interface LaneCounters {
  /** Room batches that went out inside one call with the batches before them. */
  mergedBatches: number;
  /** Failed calls the lanes will try again. */
  retries: number;
  /** Calls a comet never got: it left the registry (or the job stopped) while they were held or queued. */
  droppedRemoved: number;
  /** Calls not held for a down comet because its backlog was full. */
  droppedBacklogFull: number;
  /** Calls a comet refused `failures` times while it answered others. */
  droppedRefused: number;
}

export function newLaneCounters(): LaneCounters {
  return { mergedBatches: 0, retries: 0, droppedRemoved: 0, droppedBacklogFull: 0, droppedRefused: 0 };
}

/** How a lane treats failures (config job.comet*), and how far it merges. */
export interface LanePolicy {
  /** Failed calls in a row that mark the comet down (job.cometFailures). */
  failures: number;
  /** First retry / probe delay, ms; doubles per failure (job.cometRetryDelay). */
  retryDelay: number;
  /** Longest retry / probe delay, ms (job.cometRetryMaxDelay). */
  retryMaxDelay: number;
  /** Bytes of calls held while the comet is down (job.cometBacklogBytes). */
  backlogBytes: number;
  /** Most body bytes of a merged room call. */
  mergeMaxBytes: number;
}

/** Most room batches merged into one call. */
const MERGE_MAX_BATCHES = ROOM_BATCH_PARTS_MAX;
/** Most body bytes of a merged call unless the policy says less. */
export const MERGE_MAX_BYTES = 64 * 1024;
/** Dropped calls left in the queues before they are compacted. */
const COMPACT_AFTER = 1024;
/** What a held call costs besides its message bytes (task, closure, proto), for the backlog bound. */
const HELD_CALL_OVERHEAD = 256;

const DEFAULT_LANE_POLICY: Readonly<LanePolicy> = {
  failures: 3,
  retryDelay: 100,
  retryMaxDelay: 5000,
  backlogBytes: 16 << 20,
  mergeMaxBytes: MERGE_MAX_BYTES,
};

/** Task states. */
const WAITING = 0; // its caller waits for the outcome
const PARKED = 1; // the caller was told the comet is down and has not decided yet
const KEPT = 2; // the caller moved on; the lane delivers it when the comet is back
const DROPPED = 3; // skipped when reached
const DONE = 4;
type TaskState = typeof WAITING | typeof PARKED | typeof KEPT | typeof DROPPED | typeof DONE;

interface Task {
  key: string | null;
  call: CometCall;
  done: CallDone;
  /** A room batch (key = the room) that may merge with the batches queued behind it. */
  batch: Proto | null;
  /** A room batch's number (0 for other calls). */
  seq: number;
  /** What holding it costs (backlog bound). */
  bytes: number;
  state: TaskState;
  /** Failures while the comet answered other calls (or probes) in between: refusals. */
  strikes: number;
  /** The lane's `answers` at this task's submission or last failure. */
  seen: number;
  /** A merged call: the room batches it carries, in order (null for a plain call). */
  parts: Task[] | null;
}

const NO_DONE: CallDone = () => {};

export class CometLane {
  private running = 0;
  private readonly ready = new Fifo<Task>();
  /** Calls that failed and were tried again: each heads its chain, so they go first. */
  private front: Task[] = [];
  /** Failed calls waiting for the retry delay. */
  private retry: Task[] = [];
  /** Parked calls that reached the head of their chain while the comet is up again. */
  private readonly awaiting = new Set<Task>();
  /** Order key → tasks waiting behind the key's ready or running task (null: none waiting). */
  private readonly chains = new Map<string, Task[] | null>();
  private closing: Promise<void> | null = null;
  private wakeClose: (() => void) | null = null;
  private readonly policy: LanePolicy;
  /** Failed calls in a row. */
  private failures = 0;
  /** Calls and probes the comet answered, ever (tells a refused call from a dead comet). */
  private answers = 0;
  /** The next retry or probe delay, ms. */
  private delay: number;
  private down = false;
  /** Why the comet was marked down (named in what callers are told). */
  private downCause: Error | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  /** Dropped calls still sitting in a queue (skipped when reached; compacted past a bound). */
  private deadQueued = 0;
  /** Parked and kept calls still in the lane. */
  private held = 0;
  private heldBytes = 0;
  /**
   * Completions to report once the lane's state is consistent again (see flush()): a task
   * whose comet accepted it (the common case, without a closure), or any other report.
   */
  private readonly outbox: (Task | (() => void))[] = [];
  private flushing = false;
  /** Names this lane's room batch numbers to the comet: random, so a new lane never reuses an old one's. */
  readonly id = randomBytes(8).toString('hex');
  /**
   * The last room batch's number. Starts from the clock, so that a lane whose random id
   * repeated an earlier lane's (a cloned VM's random state) still numbers above it.
   */
  private batches = Date.now() * 1000;

  constructor(
    readonly instance: Instance,
    private client: CometService,
    private readonly routineSize: number,
    /** Called when the comet is marked down (with the last error) and when it is back (null). */
    private readonly onHealth: (lane: CometLane, err: Error | null) => void = () => {},
    /** Shared by a job's lanes. */
    private readonly counters: LaneCounters = newLaneCounters(),
    policy: Partial<LanePolicy> = {},
    /**
     * Called when a call is dropped because the comet keeps refusing it ('refused') or its
     * backlog is full ('backlog_full'); the counters have it already, this is for the log.
     */
    private readonly onDrop: (lane: CometLane, reason: 'refused' | 'backlog_full', err: Error | null) => void = () => {},
  ) {
    this.policy = { ...DEFAULT_LANE_POLICY, ...policy };
    this.delay = this.policy.retryDelay;
  }

  get hostname(): string {
    return this.instance.hostname;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  /** Whether the comet is marked down (its calls held, probed until it answers). */
  get isDown(): boolean {
    return this.down;
  }

  /** Calls held while the comet is (or was) down and not delivered yet. */
  get heldCalls(): number {
    return this.held;
  }

  /**
   * Queues `call`; `done` runs once it settled (see CallDone). `key` null: no order
   * constraint beyond starting in submission order. `bytes`: the message bytes the call
   * carries (what holding it costs). After close() the call is skipped (the comet is gone).
   */
  submit(key: string | null, call: CometCall, done: CallDone, bytes = 0): void {
    this.enqueue({
      key,
      call,
      done,
      batch: null,
      seq: 0,
      bytes: bytes + HELD_CALL_OVERHEAD,
      state: WAITING,
      strikes: 0,
      seen: this.answers,
      parts: null,
    });
    this.flush();
  }

  /** Sends a room batch (BroadcastRoom) in the room's order; may merge with later batches. */
  submitRoomBatch(room: string, proto: Proto, done: CallDone): void {
    const seq = ++this.batches;
    const parts = { lane: this.id, seqs: [seq], lens: [proto.body.length] };
    const task: Task = {
      key: room,
      call: (c) => c.broadcastRoom(room, proto, parts),
      done,
      batch: proto,
      seq,
      bytes: proto.body.length + HELD_CALL_OVERHEAD,
      state: WAITING,
      strikes: 0,
      seen: this.answers,
      parts: null,
    };
    this.enqueue(task);
    this.flush();
  }

  private enqueue(task: Task): void {
    if (this.closing) {
      this.counters.droppedRemoved++;
      task.state = DONE;
      task.done(null, true);
      return;
    }
    if (this.down && this.heldBytes + task.bytes > this.policy.backlogBytes) {
      this.refuseToHold(task, this.downCause);
      return;
    }
    const { key } = task;
    let queued = false;
    if (key !== null) {
      if (this.chains.has(key)) {
        const chain = this.chains.get(key);
        if (chain) chain.push(task);
        else this.chains.set(key, [task]);
        queued = true;
      } else this.chains.set(key, null);
    }
    if (!queued) this.ready.push(task);
    if (this.down) this.park(task, this.downCause);
    else this.pump();
  }

  private pump(): void {
    if (this.down || this.closing) return;
    while (this.running < this.routineSize) {
      const task = this.front.length > 0 ? this.front.shift()! : this.ready.shift();
      if (task === undefined) return;
      if (task.state === DROPPED) {
        this.deadQueued--;
        this.release(task.key);
      } else if (task.state === PARKED) this.awaiting.add(task);
      else this.start(task);
    }
  }

  private start(first: Task): void {
    const task = first.batch !== null && first.parts === null ? this.merge(first) : first;
    this.running++;
    let p: Promise<void>;
    try {
      p = task.call(this.client);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      () => this.finish(task, null),
      (e: unknown) => this.finish(task, e instanceof Error ? e : new Error(String(e))),
    );
  }

  private finish(task: Task, err: Error | null): void {
    this.running--;
    if (err === null) this.succeeded(task);
    else this.failed(task, err);
    if (this.closing) {
      if (this.running === 0) this.wakeClose?.();
    } else this.pump();
    this.flush();
  }

  private succeeded(task: Task): void {
    this.answers++;
    this.failures = 0;
    this.delay = this.policy.retryDelay;
    const parts = task.parts;
    if (parts === null) this.delivered(task);
    else {
      this.counters.mergedBatches += parts.length - 1;
      for (const t of parts) this.delivered(t);
    }
    this.release(task.key);
    if (this.down && !this.closing) this.up(); // it answers: no need to wait for a probe
  }

  private delivered(t: Task): void {
    if (t.state === WAITING) this.outbox.push(t);
    else if (t.state === KEPT) this.unhold(t);
    t.state = DONE;
  }

  private failed(task: Task, err: Error): void {
    const parts = task.parts ?? [task];
    if (this.closing) {
      // The comet left while the call ran: nobody to retry for.
      for (const t of parts) this.removed(t);
      return;
    }
    this.failures++;
    this.counters.retries++;
    for (const t of parts) {
      // A failure after the comet answered something else counts against the call itself.
      if (this.answers > t.seen) t.strikes++;
      t.seen = this.answers;
    }
    // Back in order: the first heads its chain again, the others wait right behind it.
    if (parts.length > 1) {
      const chain = this.chains.get(task.key!);
      const rest = parts.slice(1);
      if (chain) chain.unshift(...rest);
      else this.chains.set(task.key!, rest);
    }
    const head = parts[0];
    if (head.strikes >= this.policy.failures) {
      // The comet answers, but never this call: drop it rather than block its room for good.
      this.failures = 0;
      this.counters.droppedRefused++;
      if (head.state === WAITING) this.outbox.push(() => head.done(err));
      else if (head.state === KEPT) this.unhold(head);
      head.state = DROPPED;
      this.onDrop(this, 'refused', err);
      this.release(head.key);
      if (this.down) for (const t of parts) if (t.state === WAITING) this.park(t, err);
      return;
    }
    if (this.down) {
      this.front.push(head);
      for (const t of parts) if (t.state === WAITING) this.park(t, err);
      return;
    }
    if (this.failures >= this.policy.failures) {
      this.front.push(head);
      this.goDown(err);
      return;
    }
    this.retry.push(head);
    this.retryTimer ??= setTimeout(this.onRetry, this.nextDelay());
  }

  private readonly onRetry = (): void => {
    this.retryTimer = null;
    if (this.down || this.closing) return;
    this.front.push(...this.retry);
    this.retry = [];
    this.pump();
    this.flush();
  };

  private nextDelay(): number {
    const d = this.delay;
    this.delay = Math.min(d * 2, this.policy.retryMaxDelay);
    return d;
  }

  /** Marks the comet down: every call still waited for is parked; probing starts. */
  private goDown(err: Error): void {
    this.down = true;
    this.downCause = err;
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.front.push(...this.retry);
    this.retry = [];
    const waiting = (t: Task): void => {
      if (t.state === WAITING) this.park(t, err);
    };
    this.front.forEach(waiting);
    this.ready.forEach(waiting);
    for (const chain of this.chains.values()) if (chain) chain.forEach(waiting);
    this.onHealth(this, err);
    this.scheduleProbe();
  }

  private up(): void {
    this.down = false;
    this.downCause = null;
    this.failures = 0;
    this.delay = this.policy.retryDelay;
    if (this.probeTimer !== null) {
      clearTimeout(this.probeTimer);
      this.probeTimer = null;
    }
    this.onHealth(this, null);
  }

  /**
   * The comet registered again (it restarted): probe it now, not at the back-off's next turn,
   * which after a few failures is seconds away (job.cometRetryMaxDelay), on a new client when
   * `redial` gives one (a gRPC channel that lost its peer waits out its own reconnect back-off,
   * up to 3 s, before it tries again).
   */
  poke(redial?: () => CometService): void {
    if (!this.down || this.closing) return;
    if (redial !== undefined) {
      const old = this.client;
      try {
        this.client = redial();
        if (this.client !== old) old.close().catch(() => {});
      } catch {
        // Keep the old client: its own reconnects still get there.
      }
    }
    if (this.probeTimer !== null) {
      clearTimeout(this.probeTimer);
      this.probeTimer = null;
    }
    this.probe();
  }

  private scheduleProbe(): void {
    if (this.probeTimer !== null || this.closing) return;
    this.probeTimer = setTimeout(this.probe, this.nextDelay());
  }

  private readonly probe = (): void => {
    this.probeTimer = null;
    if (!this.down || this.closing) return;
    let p: Promise<unknown>;
    try {
      p = this.client.rooms();
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      () => {
        this.answers++;
        if (!this.down || this.closing) return;
        this.up();
        this.pump();
        this.flush();
      },
      () => {
        if (this.down) this.scheduleProbe();
      },
    );
  };

  /** Tells the caller the comet is down and holds the call (or drops it when the backlog is full). */
  private park(t: Task, cause: Error | null): void {
    if (this.heldBytes + t.bytes > this.policy.backlogBytes) {
      this.refuseToHold(t, cause, true);
      return;
    }
    t.state = PARKED;
    this.held++;
    this.heldBytes += t.bytes;
    const parked: ParkedCall = { keep: () => this.keep(t), drop: () => this.dropParked(t) };
    const err = new CometDownError(this.hostname, true, cause);
    this.outbox.push(() => t.done(err, false, parked));
  }

  /** `queued`: t sits in a queue (it is then skipped when reached). */
  private refuseToHold(t: Task, cause: Error | null, queued = false): void {
    this.counters.droppedBacklogFull++;
    this.onDrop(this, 'backlog_full', cause);
    t.state = DROPPED;
    if (queued) this.deadQueued++;
    const err = new CometDownError(this.hostname, false, cause);
    this.outbox.push(() => t.done(err));
  }

  private keep(t: Task): void {
    if (t.state !== PARKED) return;
    if (this.closing) {
      this.removed(t);
      return;
    }
    t.state = KEPT;
    if (this.awaiting.delete(t)) {
      this.front.push(t);
      this.pump();
      this.flush();
    }
  }

  private dropParked(t: Task): void {
    if (t.state !== PARKED) return;
    this.unhold(t);
    t.state = DROPPED;
    if (this.awaiting.delete(t)) {
      this.release(t.key);
      this.pump();
      this.flush();
    } else if (!this.closing && ++this.deadQueued > COMPACT_AFTER) this.compact();
  }

  /**
   * Removes dropped calls from the queues. While a comet is down nothing is reached, so the
   * calls of messages that went back to the queue would otherwise pile up until it returns.
   */
  private compact(): void {
    const chainHead = (t: Task): Task | undefined => {
      // t (dropped) headed its chain: the first live call behind it takes its place.
      const chain = this.chains.get(t.key!);
      while (chain && chain.length > 0) {
        const next = chain.shift()!;
        if (next.state !== DROPPED) return next;
      }
      this.chains.delete(t.key!);
      return undefined;
    };
    const live = (list: Iterable<Task>, keep: (t: Task) => void): void => {
      for (const t of list) {
        if (t.state !== DROPPED) keep(t);
        else if (t.key !== null) {
          const next = chainHead(t);
          if (next) this.ready.push(next);
        }
      }
    };
    const front: Task[] = [];
    live(this.front, (t) => front.push(t));
    this.front = front;
    const ready = this.ready.drain();
    live(ready, (t) => this.ready.push(t));
    for (const [key, chain] of this.chains)
      if (chain)
        this.chains.set(
          key,
          chain.filter((t) => t.state !== DROPPED),
        );
    this.deadQueued = 0;
  }

  private unhold(t: Task): void {
    this.held--;
    this.heldBytes -= t.bytes;
  }

  /** A call the comet never gets because it left: its caller is told it was skipped. */
  private removed(t: Task): void {
    if (t.state === WAITING) {
      this.counters.droppedRemoved++;
      this.outbox.push(() => t.done(null, true));
    } else if (t.state === KEPT || t.state === PARKED) {
      this.counters.droppedRemoved++;
      this.unhold(t);
    }
    t.state = DROPPED;
  }

  /** The key's running (or skipped) task is over: the next one in its chain becomes ready. */
  private release(key: string | null): void {
    if (key === null) return;
    const chain = this.chains.get(key);
    const next = chain?.shift();
    if (next) this.ready.push(next);
    else this.chains.delete(key);
  }

  /** `first` and the room batches right behind it in its chain, as one call (within the limits). */
  private merge(first: Task): Task {
    const chain = this.chains.get(first.key!);
    if (!chain || chain.length === 0) return first;
    const fb = first.batch!;
    const parts = [first];
    let bytes = fb.body.length;
    while (parts.length < MERGE_MAX_BATCHES && chain.length > 0) {
      const t = chain[0];
      const b = t.batch;
      if (b === null || (t.state !== WAITING && t.state !== KEPT)) break;
      if (b.ver !== fb.ver || b.op !== fb.op || bytes + b.body.length > this.policy.mergeMaxBytes) break;
      parts.push(chain.shift()!);
      bytes += b.body.length;
    }
    if (parts.length === 1) return first;
    const room = first.key!;
    const proto: Proto = {
      ...fb,
      body: Buffer.concat(
        parts.map((t) => t.batch!.body),
        bytes,
      ),
    };
    const numbers = { lane: this.id, seqs: parts.map((t) => t.seq), lens: parts.map((t) => t.batch!.body.length) };
    return {
      key: room,
      call: (c) => c.broadcastRoom(room, proto, numbers),
      done: NO_DONE,
      batch: proto,
      seq: 0,
      bytes: 0,
      state: WAITING,
      strikes: 0,
      seen: 0,
      parts,
    };
  }

  /** Reports completions queued while the lane changed state; reentrant calls append to the same run. */
  private flush(): void {
    if (this.flushing || this.outbox.length === 0) return;
    this.flushing = true;
    try {
      for (let i = 0; i < this.outbox.length; i++) {
        const o = this.outbox[i];
        if (typeof o === 'function') o();
        else o.done(null);
      }
    } finally {
      this.outbox.length = 0;
      this.flushing = false;
    }
  }

  /**
   * Stops using the comet: calls not started yet, and calls held for it, are dropped
   * (skipped — nobody is left on that comet to deliver to), calls in flight are awaited,
   * then the client is closed. Resolves to the number of calls dropped.
   */
  close(): Promise<number> {
    if (this.closing) return this.closing.then(() => 0);
    for (const t of [this.retryTimer, this.probeTimer]) if (t !== null) clearTimeout(t);
    this.retryTimer = this.probeTimer = null;
    const left: Task[] = [...this.front, ...this.retry, ...this.ready.drain(), ...this.awaiting];
    for (const chain of this.chains.values()) if (chain) left.push(...chain);
    this.front = [];
    this.retry = [];
    this.awaiting.clear();
    this.chains.clear();
    this.closing = (this.running === 0 ? Promise.resolve() : new Promise<void>((r) => (this.wakeClose = r))).then(() =>
      this.client.close().catch(() => {}),
    );
    const before = this.counters.droppedRemoved;
    // A parked call is counted when its caller keeps it (keep() after closing drops it).
    for (const t of left) if (t.state !== PARKED) this.removed(t);
    const dropped = this.counters.droppedRemoved - before;
    this.flush();
    return this.closing.then(() => dropped);
  }
}

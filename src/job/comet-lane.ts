// The calls job makes to one comet. Calls start in submission order with at most
// `routineSize` in flight (goim: routineSize worker routines per comet); calls that share an
// order key (a room) run strictly one after another, so a room's batch N+1 never reaches a
// comet before that comet accepted batch N, however slow the transport.
//
// Room batches waiting behind a room's running call are merged into one call when they
// start: a comet busy writing batch N (or a slow link) receives N+1…N+k as one proto whose
// body is their frames in order — bigger batches exactly when the comet is the bottleneck,
// so it makes one gRPC call and one socket write per member for all of them.
import type { CometClient, Instance, Proto } from '../ports/index.js';
import { Fifo } from './fifo.js';

/** One call on the comet client; resolves when the comet accepted it. */
export type CometCall = (client: CometClient) => Promise<void>;

/** Completion of one call: null on success. `skipped` when the comet left before the call was made. */
export type CallDone = (err: Error | null, skipped?: boolean) => void;

interface Task {
  key: string | null;
  call: CometCall;
  done: CallDone;
  /** A room batch (key = the room) that may merge with the batches queued behind it. */
  batch: Proto | null;
}

export interface LaneCounters {
  mergedBatches: number;
}

/** Most room batches merged into one call, and most body bytes of a merged call. */
const MERGE_MAX_BATCHES = 16;
const MERGE_MAX_BYTES = 64 * 1024;

export class CometLane {
  private running = 0;
  private readonly ready = new Fifo<Task>();
  /** Order key → tasks waiting behind the key's ready or running task (null: none waiting). */
  private readonly chains = new Map<string, Task[] | null>();
  private closing: Promise<void> | null = null;
  private wakeClose: (() => void) | null = null;
  /** Whether the last call failed; changes are reported, single failures are not logged. */
  private failing = false;

  constructor(
    readonly instance: Instance,
    readonly client: CometClient,
    private readonly routineSize: number,
    /** Called when calls start failing (with the error) and when they succeed again (null). */
    private readonly onHealth: (lane: CometLane, err: Error | null) => void = () => {},
    /** Shared by a job's lanes: room batches that went out inside another's call. */
    private readonly counters: LaneCounters = { mergedBatches: 0 },
  ) {}

  get hostname(): string {
    return this.instance.hostname;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  /**
   * Queues `call`; `done` runs once it settled. `key` null: no order constraint beyond
   * starting in submission order. After close() the call is skipped (the comet is gone).
   */
  submit(key: string | null, call: CometCall, done: CallDone): void {
    this.enqueue({ key, call, done, batch: null });
  }

  /** Sends a room batch (BroadcastRoom) in the room's order; may merge with later batches. */
  submitRoomBatch(room: string, proto: Proto, done: CallDone): void {
    this.enqueue({ key: room, call: (c) => c.broadcastRoom(room, proto), done, batch: proto });
  }

  private enqueue(task: Task): void {
    const { key, done } = task;
    if (this.closing) {
      done(null, true);
      return;
    }
    if (key !== null) {
      if (this.chains.has(key)) {
        const chain = this.chains.get(key);
        if (chain) chain.push(task);
        else this.chains.set(key, [task]);
        return;
      }
      this.chains.set(key, null);
    }
    this.ready.push(task);
    this.pump();
  }

  private pump(): void {
    while (this.running < this.routineSize && this.ready.length > 0) this.start(this.ready.shift()!);
  }

  private start(task: Task): void {
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
    if (task.key !== null) {
      const chain = this.chains.get(task.key);
      const next = chain?.shift();
      if (next) this.ready.push(next.batch !== null && chain!.length > 0 ? this.merge(next, chain!) : next);
      else this.chains.delete(task.key);
    }
    if ((err !== null) !== this.failing) {
      this.failing = err !== null;
      this.onHealth(this, err);
    }
    if (!this.closing) this.pump();
    task.done(err);
    if (this.closing && this.running === 0) this.wakeClose?.();
  }

  /** `first` and the room batches right behind it in `chain`, as one call (within the limits). */
  private merge(first: Task, chain: Task[]): Task {
    const parts = [first];
    let bytes = first.batch!.body.length;
    while (parts.length < MERGE_MAX_BATCHES && chain.length > 0) {
      const b = chain[0].batch;
      if (b === null || b.ver !== first.batch!.ver || b.op !== first.batch!.op || bytes + b.body.length > MERGE_MAX_BYTES) break;
      parts.push(chain.shift()!);
      bytes += b.body.length;
    }
    if (parts.length === 1) return first;
    this.counters.mergedBatches += parts.length - 1;
    const room = first.key!;
    const proto: Proto = { ...first.batch!, body: Buffer.concat(parts.map((t) => t.batch!.body), bytes) };
    return {
      key: room,
      call: (c) => c.broadcastRoom(room, proto),
      done: (err, skipped) => {
        for (const t of parts) t.done(err, skipped);
      },
      batch: proto,
    };
  }

  /**
   * Stops using the comet: calls not started yet are skipped (resolved — nobody is left on
   * that comet to deliver to), calls in flight are awaited, then the client is closed.
   * Resolves to the number of skipped calls.
   */
  close(): Promise<number> {
    if (this.closing) return this.closing.then(() => 0);
    const skipped: Task[] = this.ready.drain();
    for (const chain of this.chains.values()) if (chain) skipped.push(...chain);
    this.chains.clear();
    this.closing = (this.running === 0 ? Promise.resolve() : new Promise<void>((r) => (this.wakeClose = r))).then(
      () => this.client.close().catch(() => {}),
    );
    for (const t of skipped) t.done(null, true);
    return this.closing.then(() => skipped.length);
  }
}

// Stores a job's history records behind fan-out (docs/history.md#offsets-and-epochs).
//
// Group commit: records queue up in the order they were numbered; one append call is in
// flight at a time with up to `writeBatch` records, and the next batch collects meanwhile.
// A record's promise resolves once it is stored (the queue message may then be acknowledged),
// once it was released (below), or once it was dropped (it was delivered live; nothing more
// can be done for it).
//
// Release: unacknowledged messages hold the job's queue window, so a store that does not
// answer would stop live delivery once the window is full. When the oldest held record has
// waited `writeWait` (a timer on the clock: a hanging call only fails after 10 s), the writer
// releases every held record — its promise resolves, the record stays queued to be written
// when the store answers — and keeps releasing new records at once until a store call
// succeeds. Each room and epoch with released records gets `onLost` once per episode, so the
// room starts a new epoch: should the job die before the released records are written, the
// next owner numbers on from the store's last offset in the old epoch, and clients holding
// offsets of the new epoch (never stored) are told "not recovered" instead of receiving other
// messages under those offsets. An epoch whose start is still queued here needs no new one
// for that reason (it was never stored, so no next owner can number in it).
//
// Outage: a failed call is retried with a back-off (the same records, in the same order, so a
// room's records stay contiguous). Up to `writeBuffer` records are held meanwhile; past it
// the oldest are dropped, and with them every later held record of the same room and epoch
// (they could not continue that epoch without a gap). `onLost` is told of each room whose
// current epoch lost records, so it starts a new epoch; the new epoch is persisted here, in
// queue order, before that room's next records.
//
// Stop: a writer that is stopping releases nothing more and gives up at its next failure (or
// at once when waiting to retry): every held record not released rejects, so its queue
// message is redelivered to the next owner; released records are lost from the history.
import type { Clock, ClockTimer } from '../lib/clock.js';
import type { Logger } from '../log.js';
import type { AppendBatch, HistoryRecord, HistoryStore } from '../ports/index.js';

/** First wait after a failed store call; doubles per failure up to RETRY_MAX_MS. */
const RETRY_MS = 100;
const RETRY_MAX_MS = 5000;
/** An append of at least this many records starts at once; a smaller one waits up to writeLinger. */
const LINGER_RECORDS = 64;
/** Longest a store call may take before it counts as failed (its effect, if it lands later, is idempotent). */
const STORE_CALL_TIMEOUT_MS = 10_000;

export interface HistoryWriterOptions {
  store: HistoryStore;
  /** Most records per append call. */
  writeBatch: number;
  /** Most records held unwritten over all rooms. */
  writeBuffer: number;
  /** Longest a held record waits for the store before the writer releases it (and every other held record), ms. */
  writeWait: number;
  /** Longest the oldest queued record waits for LINGER_RECORDS companions before an append starts anyway, ms; 0 = none. */
  writeLinger?: number;
  clock: Clock;
  log: Logger;
  /** Records of `room`'s epoch `epoch` were dropped or released: the room needs a new epoch if that is still its current one. */
  onLost: (room: string, epoch: string) => void;
}

/** Counters since start (metrics). */
export interface HistoryWriterStats {
  recordsWritten: number;
  writeBatches: number;
  /** Failed append / newEpoch calls (each retried). */
  writeFailures: number;
  recordsDropped: number;
  /** Records resolved before they were stored (the store had not answered within writeWait); still written when it answers. */
  recordsReleased: number;
  /** Times the writer started releasing records (one per storage outage or stall). */
  releases: number;
}

interface RecordEntry {
  kind: 'record';
  room: string;
  epoch: string;
  record: HistoryRecord;
  resolve: () => void;
  reject: (err: Error) => void;
  /** When it was added (clock ms). */
  at: number;
  inFlight: boolean;
  dropped: boolean;
  /** Its promise has settled: stored, dropped, released, or rejected at stop. */
  settled: boolean;
  /** Resolved before it was stored; still to be written. */
  released: boolean;
}

interface EpochEntry {
  kind: 'epoch';
  room: string;
  epoch: string;
  start: number;
  /** Its store call is running (or succeeded). */
  inFlight: boolean;
  /** Not to be written: a later epoch of the room replaced it before any of its records was stored. */
  superseded: boolean;
}

type Entry = RecordEntry | EpochEntry;

/** Runs `call` with a time bound on `clock`. */
export function boundedCall<T>(clock: Clock, what: string, call: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new Error(`${what}: no answer within ${STORE_CALL_TIMEOUT_MS} ms`)), STORE_CALL_TIMEOUT_MS);
    let p: Promise<T>;
    try {
      p = call();
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (v) => {
        clock.clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clock.clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export class HistoryWriter {
  private readonly store: HistoryStore;
  private readonly writeBatch: number;
  private readonly writeBuffer: number;
  private readonly writeWait: number;
  private readonly writeLinger: number;
  /** Starts the small append that writeLinger held back. */
  private lingerTimer: ClockTimer | null = null;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly onLost: (room: string, epoch: string) => void;
  /** Everything not yet written, in order; dropped records stay marked until passed. */
  private queue: Entry[] = [];
  private head = 0;
  /** Held records per room (queued or in flight), oldest first. */
  private readonly byRoom = new Map<string, RecordEntry[]>();
  /** Epoch starts queued per room: until written, a reopened room would read the old epoch. */
  private readonly epochsPending = new Map<string, number>();
  /** Records held and not dropped (queued + in flight). */
  private held = 0;
  /** Store calls running: at most one, or two on a store that runs its calls in order (HistoryStore.serial). */
  private calls = 0;
  private readonly pipeline: number;
  /** Entries of calls that failed, in the order sent, put back once no call runs. */
  private failedEntries: Entry[] = [];
  private failure: Error | null = null;
  /** An epoch start is being written: nothing goes alongside it. */
  private epochInFlight = false;
  private retryTimer: ClockTimer | null = null;
  private retryDelay = RETRY_MS;
  private stopping = false;
  /** Held records added outside release mode, oldest first; settled ones are passed over (and let go) as the head reaches them. */
  private waiting: (RecordEntry | undefined)[] = [];
  private waitHead = 0;
  /** Fires when the oldest waiting record may have waited writeWait. */
  private waitTimer: ClockTimer | null = null;
  /** Release mode: from writeWait passing to the next successful store call. */
  private releasing = false;
  /** `${room}\n${epoch}` of the records released in this episode (onLost told once each). */
  private readonly releasedEpochs = new Set<string>();
  /** Rooms with released records, and how many, in this episode (logged at its end). */
  private readonly episodeRooms = new Set<string>();
  private episodeRecords = 0;
  /** `${room}\n${epoch}` of epoch starts queued and not yet written. */
  private readonly unwrittenEpochs = new Set<string>();
  /** Each room's newest queued epoch start, until written or superseded. */
  private readonly lastEpoch = new Map<string, EpochEntry>();
  readonly stats: HistoryWriterStats = { recordsWritten: 0, writeBatches: 0, writeFailures: 0, recordsDropped: 0, recordsReleased: 0, releases: 0 };

  constructor(opts: HistoryWriterOptions) {
    this.store = opts.store;
    this.writeBuffer = opts.writeBuffer;
    // A serial store (the SQLite thread) runs the second call right after the first: no idle gap
    // while the event loop gets to the first one's answer. Only two appends overlap: an epoch
    // start goes alone (see startCall).
    this.pipeline = opts.store.serial === true ? 2 : 1;
    // Batches in flight cannot be dropped from, so they must fit the buffer.
    this.writeBatch = Math.max(1, Math.min(opts.writeBatch, Math.floor(opts.writeBuffer / this.pipeline)));
    this.writeWait = opts.writeWait;
    this.writeLinger = opts.writeLinger ?? 0;
    this.clock = opts.clock;
    this.log = opts.log;
    this.onLost = opts.onLost;
  }

  /** Records held unwritten. */
  get backlog(): number {
    return this.held;
  }

  /** Records and epoch starts of `room` not yet written. */
  pendingIn(room: string): number {
    return (this.byRoom.get(room)?.length ?? 0) + (this.epochsPending.get(room) ?? 0);
  }

  /** Queues a record of `room`'s epoch `epoch`; resolves once stored, released or dropped, rejects when the writer gave up at stop. */
  add(room: string, epoch: string, record: HistoryRecord): Promise<void> {
    if (this.stopping && this.retryTimer !== null) return Promise.reject(new Error('history: store unavailable while stopping'));
    return new Promise<void>((resolve, reject) => {
      const e: RecordEntry = {
        kind: 'record',
        room,
        epoch,
        record,
        resolve,
        reject,
        at: this.clock.now(),
        inFlight: false,
        dropped: false,
        settled: false,
        released: false,
      };
      this.queue.push(e);
      let list = this.byRoom.get(room);
      if (list === undefined) this.byRoom.set(room, (list = []));
      list.push(e);
      this.held++;
      if (this.releasing && !this.stopping) {
        // After the queue push: a new epoch this starts is written after this record.
        const lost = this.release(e);
        if (lost) this.onLost(room, epoch);
      } else {
        this.waiting.push(e);
        this.armWait();
      }
      if (this.held > this.writeBuffer) this.overflow();
      this.pump();
    });
  }

  /** Queues the start of `room`'s epoch `epoch` at offset `start`, written before the room's later records. */
  newEpoch(room: string, epoch: string, start: number): void {
    this.supersede(room);
    const e: EpochEntry = { kind: 'epoch', room, epoch, start, inFlight: false, superseded: false };
    this.queue.push(e);
    this.lastEpoch.set(room, e);
    this.epochsPending.set(room, (this.epochsPending.get(room) ?? 0) + 1);
    this.unwrittenEpochs.add(`${room}\n${epoch}`);
    this.pump();
  }

  /**
   * The room's queued epoch start, when none of its records is held any more (all dropped), is
   * not written: nothing stored belongs to it, and a long outage that keeps dropping would
   * otherwise queue one start per drop, each a store call once the store returns.
   */
  private supersede(room: string): void {
    const prev = this.lastEpoch.get(room);
    if (prev === undefined || prev.inFlight || prev.superseded) return;
    if (this.byRoom.get(room)?.some((r) => r.epoch === prev.epoch && !r.dropped)) return;
    prev.superseded = true;
    this.lastEpoch.delete(room);
    this.unwrittenEpochs.delete(`${room}\n${prev.epoch}`);
    this.epochWritten(room);
  }

  /** One fewer epoch start pending for `room`. */
  private epochWritten(room: string): void {
    const n = this.epochsPending.get(room)! - 1;
    if (n === 0) this.epochsPending.delete(room);
    else this.epochsPending.set(room, n);
  }

  /** From now on nothing more is released and a failure gives up instead of retrying (see the header). */
  stop(): void {
    this.stopping = true;
    if (this.lingerTimer !== null) {
      // What lingered is written now: stopping waits for it.
      this.clock.clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
      this.pump();
    }
    if (this.waitTimer !== null) {
      this.clock.clearTimeout(this.waitTimer);
      this.waitTimer = null;
    }
    if (this.retryTimer !== null) {
      this.clock.clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.abandon();
    }
  }

  /** Drops the oldest held records until the buffer fits again; logs the rooms once. */
  private overflow(): void {
    const lost: Array<[room: string, epoch: string]> = [];
    let dropped = 0;
    this.skipDropped(); // while the buffer stays full every add drops: do not rescan the dropped ones
    for (let i = this.head; this.held > this.writeBuffer && i < this.queue.length; i++) {
      const e = this.queue[i];
      if (e.kind !== 'record' || e.dropped || e.inFlight) continue;
      dropped += this.dropGroup(e.room, e.epoch);
      lost.push([e.room, e.epoch]);
    }
    if (lost.length === 0) return;
    this.log.error(
      { rooms: [...new Set(lost.map(([room]) => room))], dropped, writeBuffer: this.writeBuffer },
      'job: history store behind by more than history.writeBuffer records; oldest records dropped, those rooms start a new epoch',
    );
    for (const [room, epoch] of lost) this.onLost(room, epoch);
  }

  /** Drops every held, not in-flight record of `room`'s epoch `epoch` (resolved: they were delivered live). */
  private dropGroup(room: string, epoch: string): number {
    const list = this.byRoom.get(room)!;
    const keep: RecordEntry[] = [];
    let n = 0;
    for (const e of list) {
      if (e.epoch === epoch && !e.inFlight) {
        e.dropped = true;
        this.settle(e);
        n++;
      } else keep.push(e);
    }
    if (keep.length === 0) this.byRoom.delete(room);
    else this.byRoom.set(room, keep);
    this.held -= n;
    this.stats.recordsDropped += n;
    return n;
  }

  private pump(): void {
    while (this.calls < this.pipeline && this.retryTimer === null && this.failure === null && this.startCall());
  }

  /** Starts the next store call; false when there is none to make now. */
  private startCall(): boolean {
    this.skipDropped();
    if (this.head >= this.queue.length) {
      if (this.calls === 0) {
        this.queue = [];
        this.head = 0;
      }
      return false;
    }
    const first = this.queue[this.head];
    // Two appends may overlap: should the first fail (or time out and still land), the second
    // fails too wherever it continues the first's rooms, and a retried record already stored
    // is skipped by its id. An epoch start may not: written behind a failed append it would
    // make that append's retry fail for good (its epoch superseded), and an append written
    // behind a failed epoch start would make the start's retry fail.
    if (this.epochInFlight || (first.kind === 'epoch' && this.calls > 0)) return false;
    if (first.kind === 'epoch') {
      this.head++;
      this.calls++;
      this.epochInFlight = true;
      first.inFlight = true;
      boundedCall(this.clock, 'history newEpoch', () => this.store.newEpoch(first.room, first.epoch, first.start)).then(
        () => {
          this.epochInFlight = false;
          this.unwrittenEpochs.delete(`${first.room}\n${first.epoch}`);
          if (this.lastEpoch.get(first.room) === first) this.lastEpoch.delete(first.room);
          this.epochWritten(first.room);
          this.done([]);
        },
        (err: Error) => {
          this.epochInFlight = false;
          this.failed([first], err);
        },
      );
      return true;
    }
    if (this.lingers(first)) return false;
    const batch: RecordEntry[] = [];
    while (this.head < this.queue.length && batch.length < this.writeBatch) {
      const e = this.queue[this.head];
      if (e.kind === 'epoch') break;
      this.head++;
      if (e.dropped) continue;
      e.inFlight = true;
      batch.push(e);
    }
    if (this.head * 2 >= this.queue.length && this.head >= 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.calls++;
    const appends = groupByRoom(batch);
    boundedCall(this.clock, 'history append', () => this.store.append(appends)).then(
      () => this.done(batch),
      (err: Error) => this.failed(batch, err),
    );
    return true;
  }

  /**
   * Whether the append starting with `first` waits for companions: group commit by time, so a
   * quiet room costs one store call per writeLinger instead of one per record. Not while the
   * writer releases or stops (the store is behind: write at once).
   */
  private lingers(first: RecordEntry): boolean {
    if (this.writeLinger <= 0 || this.releasing || this.stopping) return false;
    if (this.queue.length - this.head >= Math.min(LINGER_RECORDS, this.writeBatch)) return false;
    const wait = first.at + this.writeLinger - this.clock.now();
    if (wait <= 0) return false;
    if (this.lingerTimer === null) {
      this.lingerTimer = this.clock.setTimeout(() => {
        this.lingerTimer = null;
        this.pump();
      }, wait);
      (this.lingerTimer as { unref?: () => void }).unref?.();
    }
    return true;
  }

  private skipDropped(): void {
    while (this.head < this.queue.length) {
      const e = this.queue[this.head];
      if ((e.kind === 'record' && e.dropped) || (e.kind === 'epoch' && e.superseded)) this.head++;
      else break;
    }
  }

  private done(batch: RecordEntry[]): void {
    this.calls--;
    if (this.failure === null) this.retryDelay = RETRY_MS;
    if (this.releasing) this.endRelease();
    if (batch.length > 0) {
      this.stats.writeBatches++;
      this.stats.recordsWritten += batch.length;
      // A batch holds the oldest held records of each of its rooms: they leave the front of the
      // room's list (or, should an earlier call have failed with older ones, wherever they are).
      const perRoom = new Map<string, RecordEntry[]>();
      for (const e of batch) {
        const l = perRoom.get(e.room);
        if (l === undefined) perRoom.set(e.room, [e]);
        else l.push(e);
      }
      for (const [room, stored] of perRoom) {
        const list = this.byRoom.get(room);
        if (list === undefined) continue;
        let keep: RecordEntry[];
        if (stored.every((e, i) => list[i] === e)) keep = list.slice(stored.length);
        else {
          const gone = new Set(stored);
          keep = list.filter((e) => !gone.has(e));
        }
        if (keep.length === 0) this.byRoom.delete(room);
        else this.byRoom.set(room, keep);
      }
      this.held -= batch.length;
      for (const e of batch) {
        e.inFlight = false;
        this.settle(e);
      }
      this.oldestWaiting(); // lets the stored records go
    }
    if (this.failure !== null) {
      if (this.calls === 0) this.retryFailed();
      return;
    }
    this.pump();
  }

  private settle(e: RecordEntry): void {
    if (e.settled) return;
    e.settled = true;
    e.resolve();
  }

  /** Arms the timer for the oldest record waiting for the store (none while releasing or stopping). */
  private armWait(): void {
    if (this.waitTimer !== null || this.releasing || this.stopping) return;
    const oldest = this.oldestWaiting();
    if (oldest === undefined) return;
    this.waitTimer = this.clock.setTimeout(this.waitExpired, Math.max(0, oldest.at + this.writeWait - this.clock.now()));
    (this.waitTimer as { unref?: () => void }).unref?.();
  }

  /** The oldest held record whose promise has not settled; passes over the settled ones for good. */
  private oldestWaiting(): RecordEntry | undefined {
    while (this.waitHead < this.waiting.length && this.waiting[this.waitHead]!.settled) this.waiting[this.waitHead++] = undefined;
    if (this.waitHead >= 1024 && this.waitHead * 2 >= this.waiting.length) {
      this.waiting = this.waiting.slice(this.waitHead);
      this.waitHead = 0;
    }
    return this.waiting[this.waitHead];
  }

  private readonly waitExpired = (): void => {
    this.waitTimer = null;
    if (this.releasing || this.stopping) return;
    const oldest = this.oldestWaiting();
    if (oldest === undefined) return;
    // The timer was set for an older record that has been stored since: wait for this one.
    if (this.clock.now() - oldest.at < this.writeWait) this.armWait();
    else this.startRelease();
  };

  /** writeWait passed with a record unstored: releases every held record, and every record added until a store call succeeds. */
  private startRelease(): void {
    this.releasing = true;
    this.stats.releases++;
    const lost: Array<[room: string, epoch: string]> = [];
    for (let i = this.waitHead; i < this.waiting.length; i++) {
      const e = this.waiting[i]!;
      if (!e.settled && this.release(e)) lost.push([e.room, e.epoch]);
    }
    this.waiting = [];
    this.waitHead = 0;
    this.log.error(
      {
        records: this.episodeRecords,
        rooms: this.episodeRooms.size,
        newEpochs: lost.length,
        sample: [...this.episodeRooms].slice(0, 10),
        writeWaitMs: this.writeWait,
      },
      'job: history store has not stored records for history.writeWait; their messages are acknowledged (delivered live) and the records kept to write when it answers; those rooms start a new epoch',
    );
    for (const [room, epoch] of lost) this.onLost(room, epoch);
  }

  /** Resolves a held record before it is stored; true when its room and epoch need a new epoch (the first of this episode, and stored before). */
  private release(e: RecordEntry): boolean {
    e.released = true;
    this.settle(e);
    this.stats.recordsReleased++;
    this.episodeRecords++;
    this.episodeRooms.add(e.room);
    const key = `${e.room}\n${e.epoch}`;
    if (this.releasedEpochs.has(key) || this.unwrittenEpochs.has(key)) return false;
    this.releasedEpochs.add(key);
    return true;
  }

  /** A store call succeeded: records added from now on wait for storage again. */
  private endRelease(): void {
    this.releasing = false;
    this.log.warn(
      { released: this.episodeRecords, rooms: this.episodeRooms.size, unwritten: this.held },
      'job: history store answers again; records released during the outage are being written',
    );
    this.releasedEpochs.clear();
    this.episodeRooms.clear();
    this.episodeRecords = 0;
  }

  /** A call failed: once no other runs, its entries (and those of any later failed call) go back to the head, tried again after the back-off. */
  private failed(entries: Entry[], err: Error): void {
    this.calls--;
    this.stats.writeFailures++;
    // Still in flight for overflow() until put back: a room's older records must not be dropped
    // while its newer ones are in the other call.
    this.failedEntries.push(...entries);
    this.failure ??= err;
    if (this.calls === 0) this.retryFailed();
  }

  private retryFailed(): void {
    const err = this.failure!;
    for (const e of this.failedEntries) e.inFlight = false;
    this.queue = [...this.failedEntries, ...this.queue.slice(this.head)];
    this.head = 0;
    this.failedEntries = [];
    this.failure = null;
    if (this.stopping) {
      this.log.error({ err: err.message, records: this.held }, 'job: history store failed while stopping; unwritten messages go back to the queue');
      this.abandon();
      return;
    }
    this.log.warn({ err: err.message, records: this.held, retryMs: this.retryDelay }, 'job: history store call failed; retrying');
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      this.pump();
    }, this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
    // The records that were in flight can be dropped now (the retry timer keeps pump() from starting a call meanwhile).
    if (this.held > this.writeBuffer) this.overflow();
  }

  private abandon(): void {
    const err = new Error('history: record not stored (job stopping, store unavailable)');
    let released = 0;
    for (let i = this.head; i < this.queue.length; i++) {
      const e = this.queue[i];
      if (e.kind !== 'record' || e.dropped) continue;
      if (e.released) released++;
      else if (!e.settled) {
        e.settled = true;
        e.reject(err);
      }
    }
    if (released > 0)
      this.log.error(
        { records: released },
        'job: history records released during the store outage were not stored before the job stopped; they are lost from the history',
      );
    this.queue = [];
    this.head = 0;
    this.byRoom.clear();
    this.epochsPending.clear();
    this.unwrittenEpochs.clear();
    this.lastEpoch.clear();
    this.waiting = [];
    this.waitHead = 0;
    this.held = 0;
  }
}

/** One AppendBatch per room and epoch, records in their order. */
function groupByRoom(batch: RecordEntry[]): AppendBatch[] {
  const out = new Map<string, AppendBatch>();
  for (const e of batch) {
    const key = `${e.epoch}\n${e.room}`;
    let b = out.get(key);
    if (b === undefined) out.set(key, (b = { room: e.room, epoch: e.epoch, records: [] }));
    b.records.push(e.record);
  }
  return [...out.values()];
}

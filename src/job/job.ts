// The job role (docs/architecture.md, "Roles"): consumes queued PushMsgs and turns them into comet calls.
//
// Acknowledgement: handle() resolves once every comet it targets accepted the call that
// carries the message (for a room message: the batch holding it), or — for a comet marked
// down — once that comet's lane holds the call for later; it rejects, so the queue
// redelivers (at-least-once, where goim is at-most-once), only when no comet took the message
// and one of them is down. A failed call is retried by its comet's lane, never redelivered to
// the comets that accepted it (dispatch.ts, comet-lane.ts). Since a held room message keeps
// its queue slot, batches are sent early once `room.maxHeld` messages are held (RoomTable).
//
// Size: room batches stay within the largest push (push.maxBytes plus its frame header), so
// one fits what a connection may queue whenever a single push does (docs/configuration.md).
//
// Ordering: a room's batches reach each comet one after another (batch N+1 starts once the
// comet accepted batch N); PUSH and BROADCAST calls to a comet start in the order handled,
// up to `job.routineSize` at once, so a transport that keeps call order (in-process, one
// gRPC channel) keeps it; goim promises neither. A failed message is redelivered later
// and may then arrive after younger ones.
//
// Backpressure: at most `job.maxPending` messages are held unacknowledged; later handle()
// calls wait (in order) for a slot. Each message holds at most one call per comet, so the
// calls queued for one comet are bounded by the same number, and at most `job.routineSize`
// of them run at once.
//
// History (docs/history.md#offsets-and-epochs): room messages of a history-enabled room type
// are numbered by a RoomSequencer (offsets in the inner frames' seq) and stored by a
// HistoryWriter behind fan-out; such a message is acknowledged once the comets accepted it and
// its record is stored — or, when the store has not answered for `history.writeWait`, released
// by the writer (kept to write later, so a storage outage does not hold the queue). Without a history-enabled room type nothing here touches a store.
import { systemClock, type Clock, type ClockTimer } from '../lib/clock.js';
import type { Logger } from '../log.js';
import {
  AppId,
  PushType,
  type CometDialer,
  type HistoryStore,
  type Proto,
  type PruneRule,
  type PushMsg,
  type PushQueue,
  type Registry,
} from '../ports/index.js';
import { HEADER_LEN } from '../protocol/frame.js';
import { Admission } from './admission.js';
import type { BucketCounts } from '../metrics/bucket-counts.js';
import { MERGE_MAX_BYTES } from './comet-lane.js';
import { CometTable } from './comet-table.js';
import { fanOutAsync, fanOutRoomBatch } from './dispatch.js';
import { HistoryWriter } from './history-writer.js';
import { pushProto } from './push-frame.js';
import { RoomSequencer } from './room-sequencer.js';
import { RoomTable } from './room-table.js';
import { RoomRates } from './room-rates.js';
import { roomTypeOf } from '../protocol/room-key.js';

/** The [job] settings the job uses (docs/configuration.md); times in ms. */
export interface JobLimits {
  /** Messages held without the comets' acknowledgement yet; further ones wait. */
  maxPending: number;
  /** Calls one comet may have in flight at once. */
  routineSize: number;
  /** How long start() waits for the first comet list before running with none. */
  cometWait: number;
  /** Failed calls in a row after which a comet is marked down. */
  cometFailures: number;
  /** First wait before a failed call is retried or a down comet probed (doubles per failure). */
  cometRetryDelay: number;
  /** Longest wait between those retries and probes. */
  cometRetryMaxDelay: number;
  /** Bytes of calls held for one down comet. */
  cometBacklogBytes: number;
}

/** The [room] settings: how room messages are batched (docs/configuration.md); times in ms. */
export interface RoomBatching {
  batch: number;
  signal: number;
  adaptive: boolean;
  idle: number;
  maxHeld: number;
}

/** Retention of one history-enabled room type. */
export interface HistoryRetention {
  /** Most records kept per room. */
  keep: number;
  /** Greatest age of a record, ms. */
  maxAge: number;
}

/** The [history] and [roomTypes] settings the job uses (docs/configuration.md); times in ms. */
export interface JobHistorySettings {
  /** Room types (a room key's part before "://") with `history` on, and their retention. */
  types: Record<string, HistoryRetention>;
  /** Most records per append call. */
  writeBatch: number;
  /** Most records held unwritten over all rooms. */
  writeBuffer: number;
  /** Longest a record waits for the store before its message is acknowledged anyway (the record is kept to write). */
  writeWait: number;
  /** Longest a record waits for companions before a small append starts (history.writeLinger); 0 = none. */
  writeLinger?: number;
  /** How often retention runs; 0 = never. */
  pruneEvery: number;
  /** Ids of a room's newest records read at open. */
  recentIds: number;
}

export interface JobOptions {
  job: JobLimits;
  room: RoomBatching;
  /** Room history; used only with a store and at least one history-enabled room type. */
  history?: JobHistorySettings;
  historyStore?: HistoryStore;
  /** Only comets of this zone receive pushes (env.zone); '' = every comet. */
  zone: string;
  /** The largest push message in effect (push.maxBytes resolved); no room batch is bigger. */
  pushMaxBytes: number;
  queue: PushQueue;
  registry: Registry;
  dial: CometDialer;
  log: Logger;
  /** Times room batches (room.signal, room.idle); default the system clock, a manual one in tests. */
  clock?: Clock;
}

/** Counters since start (exported as metrics by the caller). */
export interface JobStats {
  /** PUSH messages sent to their comet. */
  push: number;
  /** PUSH messages dropped: their server is not in the comet table. */
  pushUnknownServer: number;
  broadcast: number;
  /** BROADCAST messages acknowledged without any comet to send to (goim crashes here). */
  broadcastNoComet: number;
  roomMessages: number;
  roomBatches: number;
  /** Room batches a comet received inside one call with earlier ones (it was still busy). */
  roomBatchesMerged: number;
  /** Room batches acknowledged without any comet to send to. */
  roomNoComet: number;
  /** Messages of an unknown type (logged and acknowledged). */
  unknownType: number;
  /** History records stored. */
  historyRecordsWritten: number;
  /** Append calls that stored records. */
  historyWriteBatches: number;
  /** Failed store writes (append, newEpoch), each retried. */
  historyWriteFailures: number;
  /** Failed or timed-out room opens (the room's messages went out without offsets). */
  historyOpenFailures: number;
  /** Records dropped unwritten: history.writeBuffer was full. */
  historyRecordsDropped: number;
  /** Records whose messages were acknowledged before they were stored (the store had not answered within history.writeWait). */
  historyRecordsReleased: number;
  /** Times the writer started releasing records. */
  historyReleases: number;
  /** New epochs started. */
  historyEpochs: number;
  /** Retention runs that failed. */
  historyPruneFailures: number;
  /** Failed comet calls retried by their lane. */
  cometRetries: number;
  /** Calls a comet never got: it left the registry while they were queued or held for it. */
  cometDroppedRemoved: number;
  /** Calls not held for a down comet: its backlog (job.cometBacklogBytes) was full. */
  cometDroppedBacklogFull: number;
  /** Calls a comet refused job.cometFailures times while answering others. */
  cometDroppedRefused: number;
}

/** What the job holds now, read when metrics are scraped. */
export interface JobLoad {
  /** Messages handled and not yet acknowledged (job.maxPending bounds them). */
  pending: number;
  /** Room messages waiting in a batch. */
  heldMessages: number;
  /** Room batchers alive. */
  rooms: number;
  comets: number;
  /** Messages per room batch sent (the live object). */
  batchSizes: Readonly<BucketCounts>;
  /** Comets marked down (calls failing; held and probed). */
  cometsDown: number;
  /** Calls held for comets that were down, not delivered yet. */
  cometHeldCalls: number;
  /** History records numbered and not yet stored, released or not (history.writeBuffer bounds them). */
  historyBacklog: number;
}

type State = 'new' | 'running' | 'stopping' | 'stopped';

const DONE = Promise.resolve();

export class Job {
  private readonly cometWait: number;
  private readonly zone: string;
  private readonly queue: PushQueue;
  private readonly registry: Registry;
  private readonly log: Logger;
  private readonly table: CometTable;
  private readonly roomTable: RoomTable;
  private readonly admission: Admission;
  private readonly roomRates = new RoomRates();
  private readonly counters: JobStats = {
    push: 0,
    pushUnknownServer: 0,
    broadcast: 0,
    broadcastNoComet: 0,
    roomMessages: 0,
    roomBatches: 0,
    roomBatchesMerged: 0, // kept by the comet lanes; stats() reads them
    roomNoComet: 0,
    unknownType: 0,
    historyRecordsWritten: 0, // the history counters are kept by the writer and sequencer; stats() reads them
    historyWriteBatches: 0,
    historyWriteFailures: 0,
    historyOpenFailures: 0,
    historyRecordsDropped: 0,
    historyRecordsReleased: 0,
    historyReleases: 0,
    historyEpochs: 0,
    historyPruneFailures: 0,
    cometRetries: 0, // these four are kept by the comet lanes; stats() reads them
    cometDroppedRemoved: 0,
    cometDroppedBacklogFull: 0,
    cometDroppedRefused: 0,
  };
  private state: State = 'new';
  private consuming = false;
  private unwatch: (() => void) | null = null;
  private stopping: Promise<void> | null = null;
  /** Warn once per stretch without comets, not once per message. */
  private warnedNoComet = false;
  private readonly clock: Clock;
  /** Set when history is on: the room types with history, their numbering and their writer. */
  private readonly history: {
    types: ReadonlySet<string>;
    store: HistoryStore;
    sequencer: RoomSequencer;
    writer: HistoryWriter;
    pruneRules: PruneRule[];
    pruneEvery: number;
  } | null = null;
  private pruneTimer: ClockTimer | null = null;
  private pruning = false;

  constructor(opts: JobOptions) {
    this.queue = opts.queue;
    this.registry = opts.registry;
    this.log = opts.log;
    const { job, room, zone } = opts;
    this.cometWait = job.cometWait;
    this.zone = zone;
    // No batch bigger than the largest push: it would not fit where a single push does.
    const batchBytes = opts.pushMaxBytes + HEADER_LEN;
    this.table = new CometTable(opts.dial, zone, job.routineSize, opts.log, {
      failures: job.cometFailures,
      retryDelay: job.cometRetryDelay,
      retryMaxDelay: job.cometRetryMaxDelay,
      backlogBytes: job.cometBacklogBytes,
      mergeMaxBytes: Math.min(MERGE_MAX_BYTES, batchBytes),
    });
    this.clock = opts.clock ?? systemClock;
    this.roomTable = new RoomTable(room.batch, room.signal, room.idle, room.maxHeld, this.sendRoomBatch, room.adaptive, batchBytes, this.clock);
    this.admission = new Admission(job.maxPending);
    const h = opts.history;
    const store = opts.historyStore;
    if (h && store && Object.keys(h.types).length > 0) {
      let sequencer: RoomSequencer | null = null;
      const writer = new HistoryWriter({
        store,
        writeBatch: h.writeBatch,
        writeBuffer: h.writeBuffer,
        writeWait: h.writeWait,
        writeLinger: h.writeLinger ?? 0,
        clock: this.clock,
        log: opts.log,
        onLost: (r, epoch) => sequencer?.lost(r, epoch),
      });
      sequencer = new RoomSequencer({
        store,
        writer,
        recentIds: h.recentIds,
        idle: this.roomTable.idle,
        openWait: h.writeWait,
        clock: this.clock,
        log: opts.log,
        deliver: this.deliverRoom,
      });
      this.history = {
        types: new Set(Object.keys(h.types)),
        store,
        sequencer,
        writer,
        pruneRules: Object.entries(h.types).map(([type, t]) => ({ prefix: `${type}://`, keep: t.keep, maxAgeMs: t.maxAge })),
        pruneEvery: h.pruneEvery,
      };
    }
  }

  /** Watches the registry for comets (waiting up to job.cometWait for a first list), then consumes. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`job: cannot start when ${this.state}`);
    this.state = 'running';
    let listed!: () => void;
    const firstList = new Promise<boolean>((resolve) => (listed = () => resolve(true)));
    this.unwatch = this.registry.watch(AppId.Comet, (instances) => {
      if (this.state === 'stopped') return;
      this.table.update(instances);
      if (this.table.size > 0) this.warnedNoComet = false;
      listed();
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.cometWait)));
    const gotList = await Promise.race([firstList, timedOut]);
    clearTimeout(timer);
    if (!gotList) this.log.warn({ waitedMs: this.cometWait }, 'job: no comet list from the registry yet; starting without comets');
    if (this.state !== 'running') return;
    this.roomTable.start();
    this.startHistory();
    this.consuming = true;
    await this.queue.consume((msg) => this.handle(msg));
    this.log.info({ comets: this.table.hostnames(), zone: this.zone }, 'job: consuming');
  }

  /**
   * Stops consuming and delivers everything already accepted: held room batches are sent at
   * once (and so is every room message handled from now on), the queue's handlers in flight
   * are awaited, then the comet clients are closed.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.state = 'stopping';
    this.history?.writer.stop();
    this.roomTable.flushAll();
    if (this.consuming) {
      try {
        await this.queue.close();
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'job: closing the queue failed');
      }
    }
    this.roomTable.flushAll();
    await this.admission.whenDrained();
    this.state = 'stopped';
    this.unwatch?.();
    this.unwatch = null;
    this.roomTable.stop();
    this.stopHistory();
    await this.table.close();
    this.log.info(this.stats(), 'job: stopped');
  }

  /** Delivers one message; resolves once the comets accepted it, rejects when one failed. */
  handle(msg: PushMsg): Promise<void> {
    if (this.state === 'stopped') return Promise.reject(new Error('job: stopped'));
    if (this.admission.tryEnter()) return this.admitted(msg);
    return this.admission.enter().then(() => this.admitted(msg));
  }

  /** Host names in the comet table. */
  comets(): string[] {
    return this.table.hostnames();
  }

  /** Room keys with a live batcher. */
  rooms(): string[] {
    return this.roomTable.keys();
  }

  stats(): Readonly<JobStats> {
    const l = this.table.laneCounters;
    const w = this.history?.writer.stats;
    const q = this.history?.sequencer.stats;
    return {
      ...this.counters,
      historyRecordsWritten: w?.recordsWritten ?? 0,
      historyWriteBatches: w?.writeBatches ?? 0,
      historyWriteFailures: w?.writeFailures ?? 0,
      historyRecordsDropped: w?.recordsDropped ?? 0,
      historyRecordsReleased: w?.recordsReleased ?? 0,
      historyReleases: w?.releases ?? 0,
      historyOpenFailures: q?.openFailures ?? 0,
      historyEpochs: q?.epochsStarted ?? 0,
      roomBatchesMerged: l.mergedBatches,
      cometRetries: l.retries,
      cometDroppedRemoved: l.droppedRemoved,
      cometDroppedBacklogFull: l.droppedBacklogFull,
      cometDroppedRefused: l.droppedRefused,
    };
  }

  /** The busiest rooms since the last call, by messages per second (the operations console). */
  busiestRooms(k: number): { room: string; perSecond: number }[] {
    return this.roomRates.take(k);
  }

  load(): JobLoad {
    const health = this.table.health();
    return {
      cometsDown: health.down,
      cometHeldCalls: health.heldCalls,
      pending: this.admission.pending,
      heldMessages: this.roomTable.heldMessages,
      rooms: this.roomTable.size,
      comets: this.table.size,
      batchSizes: this.roomTable.batchSizes,
      historyBacklog: this.history?.writer.backlog ?? 0,
    };
  }

  /** Where a history room's numbering stands (undefined: not numbered by this job now). */
  historyPosition(room: string): { epoch: string; last: number; status: string } | undefined {
    return this.history?.sequencer.position(room);
  }

  private admitted(msg: PushMsg): Promise<void> {
    let p: Promise<void>;
    try {
      p = this.dispatch(msg);
    } catch (e) {
      p = Promise.reject(e);
    }
    return p.finally(this.leave);
  }

  private readonly leave = (): void => this.admission.leave();

  private dispatch(msg: PushMsg): Promise<void> {
    switch (msg.type) {
      case PushType.PUSH:
        return this.push(msg);
      case PushType.ROOM: {
        this.counters.roomMessages++;
        this.roomRates.count(msg.room);
        // A room key no store can hold (NUL: PostgreSQL text refuses it) is not numbered.
        if (this.history !== null && this.history.types.has(roomTypeOf(msg.room)) && !msg.room.includes('\0'))
          return this.history.sequencer.offer(msg);
        return this.deliverRoom(msg.room, msg.operation, msg.msg, 0);
      }
      case PushType.BROADCAST:
        return this.broadcast(msg);
      default:
        this.counters.unknownType++;
        this.log.error({ type: msg.type }, 'job: unknown push type');
        return DONE;
    }
  }

  private push(msg: PushMsg): Promise<void> {
    const lane = this.table.get(msg.server);
    if (!lane) {
      this.counters.pushUnknownServer++;
      this.log.debug({ server: msg.server }, 'job: push for unknown comet dropped');
      return DONE;
    }
    this.counters.push++;
    const proto = pushProto(msg.operation, msg.msg);
    const { keys, operation, inbox } = msg;
    return fanOutAsync([lane], (c) => c.pushMsg(keys, operation, proto, inbox), 'pushMsg', proto.body.length);
  }

  private broadcast(msg: PushMsg): Promise<void> {
    const lanes = this.table.all();
    if (lanes.length === 0) {
      this.counters.broadcastNoComet++;
      this.warnNoComet('broadcast');
      return DONE;
    }
    this.counters.broadcast++;
    const proto = pushProto(msg.operation, msg.msg);
    // Go integer division (truncates toward zero), as goim computes it.
    const speed = Math.trunc(msg.speed / lanes.length);
    const { operation } = msg;
    return fanOutAsync(lanes, (c) => c.broadcast(operation, proto, speed), 'broadcast', proto.body.length);
  }

  /** Adds a room message (seq: its offset, 0 for none) to its room's batch; resolves once the comets accepted the batch. */
  private readonly deliverRoom = (room: string, operation: number, body: Uint8Array, seq: number): Promise<void> => {
    const delivered = this.roomTable.offer(room, operation, body, seq);
    if (this.state === 'stopping') this.roomTable.flushAll();
    return delivered;
  };

  private startHistory(): void {
    const h = this.history;
    if (h === null) return;
    h.sequencer.start();
    if (h.pruneEvery > 0) {
      this.pruneTimer = this.clock.setInterval(() => void this.prune(), h.pruneEvery);
      (this.pruneTimer as { unref?: () => void }).unref?.();
    }
  }

  private stopHistory(): void {
    if (this.pruneTimer) this.clock.clearInterval(this.pruneTimer);
    this.pruneTimer = null;
    this.history?.sequencer.stop();
  }

  /** One retention run (history.pruneEvery); a run still going when the next is due makes that one skip. */
  async prune(): Promise<void> {
    const h = this.history;
    if (h === null || this.pruning) return;
    this.pruning = true;
    try {
      const removed = await h.store.prune(h.pruneRules, Date.now());
      this.log.debug({ removed }, 'job: history retention ran');
    } catch (e) {
      this.counters.historyPruneFailures++;
      this.log.warn({ err: (e as Error).message }, 'job: history retention failed');
    } finally {
      this.pruning = false;
    }
  }

  private readonly sendRoomBatch = (room: string, proto: Proto, done: (err: Error | null) => void): void => {
    this.counters.roomBatches++;
    const lanes = this.table.all();
    if (lanes.length === 0) {
      this.counters.roomNoComet++;
      this.warnNoComet('room batch');
      done(null);
      return;
    }
    fanOutRoomBatch(lanes, room, proto, done);
  };

  private warnNoComet(what: string): void {
    if (this.warnedNoComet) return;
    this.warnedNoComet = true;
    this.log.warn(`job: ${what} acknowledged without delivery: no comet known`);
  }
}

// Room key → RoomBatcher, created on first use.
//
// Idle removal: one shared sweep (every idle/2) removes batchers that held nothing and had
// nothing in flight for `idle`, so a room is dropped between idle and 1.5 × idle after its
// last activity, without any timer per idle room.
//
// Held-message cap: a held message is not acknowledged to the queue until its batch is sent,
// so it occupies one of the queue's in-flight slots for up to `signal`. With many quiet
// rooms that would cap throughput at (queue window / signal); once `maxHeld` messages are
// held over all rooms, every held batch is sent at once instead.
import { systemClock, type Clock, type ClockTimer } from '../lib/clock.js';
import { BATCH_SIZE_BUCKETS, BucketCounts } from '../metrics/bucket-counts.js';
import type { Proto } from '../ports/index.js';
import { RoomBatcher, type SendBatch } from './room-batcher.js';

/** goim replaces an idle of 0 by one minute. */
const DEFAULT_IDLE_MS = 60_000;

/** Sends a sealed batch to the comets; `done` runs once every comet accepted it (or one failed). */
export type SendRoomBatch = (room: string, proto: Proto, done: (err: Error | null) => void) => void;

export class RoomTable {
  private readonly rooms = new Map<string, RoomBatcher>();
  /** Batchers holding at least one message. */
  private readonly holding = new Set<RoomBatcher>();
  private held = 0;
  /** room.idle resolved (0 means one minute). */
  readonly idle: number;
  private sweeper: ClockTimer | null = null;
  private readonly sendBatch: SendBatch;
  /** Messages per batch sent (metrics). */
  readonly batchSizes = new BucketCounts(BATCH_SIZE_BUCKETS);

  constructor(
    private readonly batch: number,
    private readonly signal: number,
    idle: number,
    private readonly maxHeld: number,
    send: SendRoomBatch,
    private readonly adaptive = false,
    /** Most body bytes of one batch (RoomBatcher). */
    private readonly maxBytes = Infinity,
    /** Times the batches' `signal` windows and the idle sweep (default: the system clock). */
    private readonly clock: Clock = systemClock,
  ) {
    this.idle = idle > 0 ? idle : DEFAULT_IDLE_MS;
    this.sendBatch = (room, proto, count, done) => {
      this.held -= count;
      this.batchSizes.observe(count);
      const b = this.rooms.get(room);
      if (b) this.holding.delete(b);
      send(room, proto, done);
    };
  }

  get size(): number {
    return this.rooms.size;
  }

  /** Messages held over all rooms, waiting for their batch to be sent. */
  get heldMessages(): number {
    return this.held;
  }

  keys(): string[] {
    return [...this.rooms.keys()];
  }

  get(room: string): RoomBatcher {
    let b = this.rooms.get(room);
    if (!b) {
      b = new RoomBatcher(room, this.batch, this.signal, this.sendBatch, this.adaptive, this.maxBytes, this.clock);
      this.rooms.set(room, b);
    }
    return b;
  }

  /** Adds a message to its room's batch; resolves once that batch was accepted by every comet. `seq`: its offset (0: none). */
  offer(room: string, operation: number, msg: Uint8Array, seq = 0): Promise<void> {
    const b = this.get(room);
    this.held++;
    const delivered = b.offer(operation, msg, seq);
    if (b.held > 0) this.holding.add(b);
    if (this.held >= this.maxHeld) this.flushAll();
    return delivered;
  }

  /** Starts the idle sweep. */
  start(): void {
    if (this.sweeper) return;
    this.sweeper = this.clock.setInterval(() => this.sweep(), Math.max(1, Math.floor(this.idle / 2)));
    // The sweep alone must not keep a process alive (Node's timers; a manual clock has none).
    (this.sweeper as { unref?: () => void }).unref?.();
  }

  /** Removes batchers idle for at least `idle`; returns how many. */
  sweep(now = this.clock.now()): number {
    let removed = 0;
    for (const [room, b] of this.rooms) {
      if (b.idle && now - b.lastActive >= this.idle) {
        this.rooms.delete(room);
        removed++;
      }
    }
    return removed;
  }

  /** Sends every held message now. */
  flushAll(): void {
    for (const b of this.holding) b.flush();
    this.holding.clear();
  }

  stop(): void {
    if (this.sweeper) this.clock.clearInterval(this.sweeper);
    this.sweeper = null;
  }
}

// Merges one room's messages into op-9 batches (docs/internal-protocol.md#room-batches): a
// batch is sent once it holds `batch` messages or once its first message has waited `signal`.
//
// Size: a batch never grows past `maxBytes` (the largest push's frame, docs/configuration.md
// [push]): a message that would push it over seals the batch held so far and starts the
// next one. Every batch then fits what a connection may queue whenever a single push does;
// a batch of several big pushes would be dropped by every comet as too large for one
// connection. A lone message bigger than that still goes, alone.
//
// Adaptive (room.adaptive): a message reaching a quiet room — nothing sent for at least
// `signal` — goes out at once instead of waiting `signal` for companions; the messages that
// follow it are batched as above. Sparse rooms (chat, notifications) get no added latency,
// busy rooms keep goim's throughput.
//
// goim runs each aggregator as a goroutine fed through a 40-deep channel, which loses
// messages (full channel, stale timer tick, offers to a dying aggregator —
// docs/protocol.md#differs-room-batch-loss).
// Here offer() appends synchronously on the single JS thread, so there is no channel to
// fill and nothing to race: a batcher is only removed (RoomTable) while it holds nothing
// and has nothing in flight, and a removed batcher is never offered to again.
import { systemClock, type Clock, type ClockTimer } from '../lib/clock.js';
import type { Proto } from '../ports/index.js';
import { HEADER_LEN } from '../protocol/frame.js';
import { roomBatchProto } from './push-frame.js';

/**
 * Sends a sealed batch of `count` messages to the comets; `done` runs once every comet
 * accepted it (or one failed).
 */
export type SendBatch = (room: string, proto: Proto, count: number, done: (err: Error | null) => void) => void;

/** One promise shared by all messages of a batch (one allocation per batch, not per message). */
class BatchSettle {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (err: Error) => void;
  constructor() {
    this.promise = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
}

export class RoomBatcher {
  private ops: number[] = [];
  private msgs: Uint8Array[] = [];
  /** Inner frame seqs, created at the first non-zero one (history rooms); null = all 0. */
  private seqs: number[] | null = null;
  private bytes = 0;
  private settle: BatchSettle | null = null;
  /** Armed only while messages are held, so an idle room costs no timer. */
  private timer: ClockTimer | null = null;
  /** Batches sent and not yet accepted by every comet. */
  private inFlight = 0;
  /** Last offer or batch completion (ms of the clock), for idle removal. */
  lastActive: number;
  /** When the last batch was sealed (ms of the clock). */
  private lastFlush = -Infinity;

  constructor(
    readonly room: string,
    private readonly batch: number,
    private readonly signal: number,
    private readonly send: SendBatch,
    private readonly adaptive = false,
    /** Most body bytes of one batch (frames with their headers). */
    private readonly maxBytes = Infinity,
    /** Times the `signal` window and the idle time (default: the system clock). */
    private readonly clock: Clock = systemClock,
  ) {
    this.lastActive = clock.now();
  }

  /** Messages held for the next batch. */
  get held(): number {
    return this.ops.length;
  }

  /** Nothing held and nothing in flight: safe to remove. */
  get idle(): boolean {
    return this.ops.length === 0 && this.inFlight === 0;
  }

  /**
   * Adds a message; resolves once the batch carrying it was accepted by every comet. `seq`:
   * its inner frame's seq (a history room's offset; 0 = goim's).
   */
  offer(operation: number, msg: Uint8Array, seq = 0): Promise<void> {
    const size = HEADER_LEN + msg.length;
    if (this.ops.length > 0 && this.bytes + size > this.maxBytes) this.flush();
    if (seq !== 0 && this.seqs === null) this.seqs = new Array<number>(this.ops.length).fill(0);
    this.seqs?.push(seq);
    this.ops.push(operation);
    this.msgs.push(msg);
    this.bytes += size;
    this.lastActive = this.clock.now();
    const settle = (this.settle ??= new BatchSettle());
    if (this.ops.length >= this.batch) this.flush();
    else if (this.adaptive && this.ops.length === 1 && this.lastActive - this.lastFlush >= this.signal) this.flush();
    else if (this.timer === null) this.timer = this.clock.setTimeout(this.onSignal, this.signal);
    return settle.promise;
  }

  private readonly onSignal = (): void => {
    this.timer = null;
    this.flush();
  };

  /** Sends the held messages now (no-op when none are held). */
  flush(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.ops.length === 0) return;
    this.lastFlush = this.clock.now();
    const proto = roomBatchProto(this.ops, this.msgs, this.bytes, this.seqs);
    const count = this.ops.length;
    const settle = this.settle!;
    this.ops = [];
    this.msgs = [];
    this.seqs = null;
    this.bytes = 0;
    this.settle = null;
    this.inFlight++;
    this.send(this.room, proto, count, (err) => {
      this.inFlight--;
      this.lastActive = this.clock.now();
      if (err) settle.reject(err);
      else settle.resolve();
    });
  }
}

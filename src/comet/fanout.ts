// Pushes from job (goim.comet.Comet, spec §3.10, §1.3): each call encodes its proto once
// (PushBytes) and writes the same Buffer to every recipient. The loops do no awaiting, no
// logging and no allocation per recipient; the Outbound applies the per-socket cap.
import { BucketCounts, LATENCY_BUCKETS } from '../metrics/bucket-counts.js';
import type { Proto } from '../ports/index.js';
import { now } from './clock.js';
import { State, type Connection } from './connection.js';
import type { ConnectionTable } from './connection-table.js';
import { PushBytes } from './frame-bytes.js';
import type { Outbound } from './outbound.js';

/** Step of a throttled broadcast: small enough to look smooth, large enough to be cheap. */
const BROADCAST_STEP_MS = 100;

/** A number per push kind: keys (PushMsg), room (BroadcastRoom), broadcast (Broadcast). */
export interface PushCounts {
  keys: number;
  room: number;
  broadcast: number;
}
export type PushKind = keyof PushCounts;

const zeroCounts = (): PushCounts => ({ keys: 0, room: 0, broadcast: 0 });

export class Fanout {
  /** Timers of throttled broadcasts still walking (cleared by stop()). */
  private readonly walks = new Set<NodeJS.Timeout>();
  /** Push calls received (metrics). */
  readonly received = zeroCounts();
  /** Socket writes made, and writes skipped over the send cap, per kind (from Outbound deltas). */
  readonly delivered = zeroCounts();
  readonly dropped = zeroCounts();
  /** Seconds from a push call to the end of its loop (immediate pushes only). */
  readonly latency: Record<PushKind, BucketCounts> = {
    keys: new BucketCounts(LATENCY_BUCKETS),
    room: new BucketCounts(LATENCY_BUCKETS),
    broadcast: new BucketCounts(LATENCY_BUCKETS),
  };

  constructor(
    private readonly table: ConnectionTable,
    private readonly out: Outbound,
  ) {}

  /** Push to keys: connections watching `protoOp`; missing keys are skipped. */
  pushMsg(keys: string[], protoOp: number, proto: Proto): void {
    this.received.keys++;
    if (!Array.isArray(keys) || keys.length === 0 || !proto) throw new Error('rpc pushmsg arg error');
    const t0 = now();
    const w0 = this.out.pushesWritten;
    const d0 = this.out.pushesDropped;
    const bytes = new PushBytes(proto);
    const byKey = this.table.byKey;
    for (let i = 0; i < keys.length; i++) {
      const c = byKey.get(keys[i]);
      // A full connection does not stop the others (goim Defect §8.1 #4).
      if (c !== undefined && c.accepts.has(protoOp)) this.out.push(c, c.isWs ? bytes.ws() : bytes.tcp());
    }
    this.account('keys', w0, d0, t0);
  }

  /** Push to a room's members, whatever they watch. */
  broadcastRoom(roomId: string, proto: Proto): void {
    this.received.room++;
    if (!proto || typeof roomId !== 'string' || roomId === '') throw new Error('rpc broadcast  room arg error');
    const room = this.table.rooms.get(roomId);
    if (room === undefined) return;
    const t0 = now();
    const w0 = this.out.pushesWritten;
    const d0 = this.out.pushesDropped;
    const bytes = new PushBytes(proto);
    const members = room.members;
    // Backwards: a member closed as slow is swap-removed without hiding another.
    for (let i = members.length - 1; i >= 0; i--) {
      const c = members[i];
      this.out.push(c, c.isWs ? bytes.ws() : bytes.tcp());
    }
    this.account('room', w0, d0, t0);
  }

  /**
   * Push to every connection watching `protoOp`. speed > 0 spreads the walk at about that
   * many connections per second over timer steps; otherwise all at once.
   */
  broadcast(protoOp: number, proto: Proto, speed: number): void {
    this.received.broadcast++;
    if (!proto) throw new Error('rpc broadcast arg error');
    const t0 = now();
    const bytes = new PushBytes(proto);
    if (!(speed > 0)) {
      const w0 = this.out.pushesWritten;
      const d0 = this.out.pushesDropped;
      const all = this.table.all;
      for (let i = all.length - 1; i >= 0; i--) this.deliver(all[i], protoOp, bytes);
      this.account('broadcast', w0, d0, t0);
      return;
    }
    // A snapshot keeps the walk exact while connections come and go; closed ones are skipped.
    const targets = this.table.all.slice();
    let next = 0;
    let credit = 0;
    let last = now();
    const step = (): void => {
      const t = now();
      credit += ((t - last) * speed) / 1000;
      last = t;
      const end = Math.min(targets.length, next + Math.floor(credit));
      credit -= end - next;
      const w0 = this.out.pushesWritten;
      const d0 = this.out.pushesDropped;
      for (; next < end; next++) this.deliver(targets[next], protoOp, bytes);
      this.account('broadcast', w0, d0, -1);
      if (next >= targets.length) {
        this.walks.delete(timer);
        clearInterval(timer);
      }
    };
    const timer = setInterval(step, BROADCAST_STEP_MS);
    this.walks.add(timer);
    credit = Math.max(1, (speed * BROADCAST_STEP_MS) / 1000); // the first step leaves now
    step();
  }

  /** Adds what one loop wrote and dropped (Outbound counter deltas) and, when t0 >= 0, its duration. */
  private account(kind: PushKind, written0: number, dropped0: number, t0: number): void {
    this.delivered[kind] += this.out.pushesWritten - written0;
    this.dropped[kind] += this.out.pushesDropped - dropped0;
    if (t0 >= 0) this.latency[kind].observe((now() - t0) / 1000);
  }

  private deliver(c: Connection, protoOp: number, bytes: PushBytes): void {
    if (c.state === State.Open && c.accepts.has(protoOp)) this.out.push(c, c.isWs ? bytes.ws() : bytes.tcp());
  }

  /** Stops throttled broadcasts still in progress. */
  stop(): void {
    for (const t of this.walks) clearInterval(t);
    this.walks.clear();
  }
}

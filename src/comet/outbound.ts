// Everything comet writes to a client socket goes through here (docs/architecture.md#the-hot-path-comet):
// - a byte cap per socket: Node buffers whatever the kernel has not taken yet
//   (socket.writableLength); past the cap a push is dropped or the connection is closed as
//   slow (protocol.slowPolicy), so a client that stops reading cannot grow the heap;
//   a socket with nothing queued may take one push into the part kept for replies (the
//   client keeps up, and the kernel takes such a write at once), but never more than the
//   whole cap: protocol.sendQueueBytes stays the most one connection holds. A push bigger
//   than that is refused by logic (push.maxBytes, checked against sendQueueBytes at start)
//   and never built by job; one that still arrives (a logic or job configured for bigger
//   pushes than this comet) is counted apart (docs/configuration.md, [push]);
// - one syscall per socket per event-loop turn: the first write of a turn is only held
//   (Writable.pending) and one setImmediate hands it to the socket with a plain write();
//   a second write in the same turn corks the socket behind the held one, and the same
//   setImmediate uncorks it, so every batch of the turn leaves in one writev. Holding
//   instead of corking keeps the common case (one batch per socket per turn) off Node's
//   cork/uncork buffering: one write per socket, as the raw-net baseline does;
// - the writes wait one loop turn more (an immediate that schedules the flush), so that a gRPC
//   BroadcastRoom is answered before its batch is written: grpc-js sends a reply's trailers
//   (what ends the call) from Node's http2 write of the turn after the reply, and a flush in
//   the first turn put the whole fan-out (~150 ms at 10,000 members) ahead of them. The
//   job's backpressure does not need that wait (docs/architecture.md#the-hot-path-comet).
import type { Socket } from 'node:net';

/** The part of a connection the writer needs. */
export interface Writable {
  readonly socket: Socket;
  /** The first write of this turn, not handed to the socket yet (null when none). */
  pending: Buffer | null;
  /** True while the socket is corked by this writer (a second write in this turn). */
  corked: boolean;
  /** False once closed: writes are ignored. */
  readonly open: boolean;
  close(reason: string, level?: 'debug' | 'info' | 'warn'): void;
}

export interface OutboundOptions {
  /** protocol.sendQueueBytes: the most bytes one socket may hold unsent. */
  capBytes: number;
  /**
   * Part of the cap only replies may use, so that a client slowed by pushes still gets its
   * heartbeat replies (pushes stop at capBytes − replyReserve).
   */
  replyReserve: number;
  slowPolicy: 'drop' | 'disconnect';
}

export class Outbound {
  /** Pushes skipped because the socket was over its cap (slowPolicy "drop"). */
  pushesDropped = 0;
  /** Connections closed because they did not read fast enough. */
  slowDisconnects = 0;
  /** Pushes written (queued) to a socket. */
  pushesWritten = 0;
  /** Write calls made on sockets: one per socket per turn with output (a write or a writev). */
  socketWrites = 0;
  /** Pushes that did not fit a socket with nothing queued: bigger than the whole cap. */
  pushesTooLarge = 0;

  private readonly pushCap: number;
  private readonly replyCap: number;
  private readonly dropPushes: boolean;
  /** Sockets written in this turn: each holds a pending write or is corked. */
  private dirty: Writable[] = [];
  private flushScheduled = false;

  constructor(opts: OutboundOptions) {
    this.replyCap = opts.capBytes;
    this.pushCap = opts.capBytes - opts.replyReserve;
    this.dropPushes = opts.slowPolicy === 'drop';
  }

  /** Writes one push; applies the slow policy when the socket is over its cap. Never throws. */
  push(c: Writable, bytes: Buffer): void {
    if (!c.open || bytes.length === 0) return;
    if (!this.fits(c, bytes.length)) {
      if (unsent(c) === 0) this.pushesTooLarge++;
      if (this.dropPushes) this.pushesDropped++;
      else this.closeSlow(c);
      return;
    }
    this.pushesWritten++;
    this.write(c, bytes);
  }

  /** Whether push() would write `bytes` bytes now rather than apply the slow policy. */
  fits(c: Writable, bytes: number): boolean {
    const queued = unsent(c);
    return queued + bytes <= this.pushCap || (queued === 0 && bytes <= this.replyCap);
  }

  /** Bytes of pushes the socket takes now, one after another, before the slow policy applies. */
  pushSpace(c: Writable): number {
    return Math.max(0, this.pushCap - unsent(c));
  }

  /** Writes a reply; a client that leaves even its replies unread is closed as slow. */
  reply(c: Writable, bytes: Buffer): void {
    if (!c.open || bytes.length === 0) return;
    if (unsent(c) + bytes.length > this.replyCap) {
      this.closeSlow(c);
      return;
    }
    this.write(c, bytes);
  }

  private closeSlow(c: Writable): void {
    this.slowDisconnects++;
    c.close(`slow reader: ${unsent(c)} bytes unsent`, 'warn');
  }

  private write(c: Writable, bytes: Buffer): void {
    if (c.corked) {
      c.socket.write(bytes);
      return;
    }
    const held = c.pending;
    if (held === null) {
      c.pending = bytes;
      this.dirty.push(c);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushNextTurn);
      }
      return;
    }
    // A second write this turn: both go into one writev at the flush.
    c.pending = null;
    c.corked = true;
    c.socket.cork();
    c.socket.write(held);
    c.socket.write(bytes);
  }

  private readonly flushNextTurn = (): void => {
    setImmediate(this.flush);
  };

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const list = this.dirty;
    this.dirty = [];
    this.socketWrites += list.length;
    for (let i = 0; i < list.length; i++) {
      const c = list[i];
      const held = c.pending;
      if (held !== null) {
        c.pending = null;
        // Closed meanwhile: destroyed, or ended by close(…, flush) after writing what it held.
        if (c.open) c.socket.write(held);
      } else if (c.corked) {
        c.corked = false;
        c.socket.uncork();
      }
    }
  };
}

/** Bytes a socket holds unsent: Node's buffer plus this turn's pending write. */
export function unsent(c: Writable): number {
  return c.pending === null ? c.socket.writableLength : c.socket.writableLength + c.pending.length;
}

// Everything comet writes to a client socket goes through here (DESIGN §3):
// - a byte cap per socket: Node buffers whatever the kernel has not taken yet
//   (socket.writableLength); past the cap a push is dropped or the connection is closed as
//   slow (protocol.slowPolicy), so a client that stops reading cannot grow the heap;
// - one syscall per socket per event-loop turn: the first write of a turn corks the socket,
//   and one setImmediate uncorks every socket corked in that turn.
import type { Socket } from 'node:net';

/** The part of a connection the writer needs. */
export interface Writable {
  readonly socket: Socket;
  /** True while the socket is corked by this writer. */
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

  private readonly pushCap: number;
  private readonly replyCap: number;
  private readonly dropPushes: boolean;
  private corkedList: Writable[] = [];
  private flushScheduled = false;

  constructor(opts: OutboundOptions) {
    this.replyCap = opts.capBytes;
    this.pushCap = opts.capBytes - opts.replyReserve;
    this.dropPushes = opts.slowPolicy === 'drop';
  }

  /** Writes one push; applies the slow policy when the socket is over its cap. Never throws. */
  push(c: Writable, bytes: Buffer): void {
    if (!c.open || bytes.length === 0) return;
    if (c.socket.writableLength + bytes.length > this.pushCap) {
      if (this.dropPushes) this.pushesDropped++;
      else this.closeSlow(c);
      return;
    }
    this.pushesWritten++;
    this.write(c, bytes);
  }

  /** Writes a reply; a client that leaves even its replies unread is closed as slow. */
  reply(c: Writable, bytes: Buffer): void {
    if (!c.open || bytes.length === 0) return;
    if (c.socket.writableLength + bytes.length > this.replyCap) {
      this.closeSlow(c);
      return;
    }
    this.write(c, bytes);
  }

  private closeSlow(c: Writable): void {
    this.slowDisconnects++;
    c.close(`slow reader: ${c.socket.writableLength} bytes unsent`, 'warn');
  }

  private write(c: Writable, bytes: Buffer): void {
    if (!c.corked) {
      c.corked = true;
      c.socket.cork();
      this.corkedList.push(c);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flush);
      }
    }
    c.socket.write(bytes);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const list = this.corkedList;
    this.corkedList = [];
    for (let i = 0; i < list.length; i++) {
      const c = list[i];
      c.corked = false;
      c.socket.uncork();
    }
  };
}

// One client connection (TCP or WebSocket) and its per-connection protocol state
// (docs/protocol.md, Connection lifecycle). Transport servers feed it frames;
// client-protocol.ts decides what they mean; this file holds the state and keeps replies in
// request order.
import type { Socket } from 'node:net';
import type { BucketState } from '../lib/token-bucket.js';
import type { HistoryAsk } from '../ports/index.js';
import type { Frame } from '../protocol/frame.js';
import type { Outbound, Writable } from './outbound.js';
import type { InboxStream } from './inbox-delivery.js';
import type { ReplayHold } from './replay.js';
import type { Room, RoomMember, Seat } from './room.js';

export const State = {
  /** Waiting for the auth frame (WebSocket: also for the upgrade). */
  Handshake: 0,
  /** Auth frame received, Logic.Connect in flight. */
  Authing: 1,
  /** Authenticated and registered. */
  Open: 2,
  Closed: 3,
} as const;
export type State = (typeof State)[keyof typeof State];

export type LogLevel = 'debug' | 'info' | 'warn';

/** Told once when a connection closes, whatever the cause. */
export type CloseHandler = (c: Connection, reason: string, level: LogLevel) => void;

/** A reply that has to wait for an earlier frame's reply (undefined bytes = not ready yet). */
interface ReplySlot {
  bytes: Buffer | null | undefined;
  /** Runs when the slot's turn comes (after every earlier reply is written). */
  after?: () => void;
}

/** Accepts before auth: shared, never changed (see accepts.ts). */
const NO_OPS: ReadonlySet<number> = new Set();

export class Connection implements Writable, RoomMember {
  state: State = State.Handshake;
  mid = 0n;
  key = '';
  /** Ops watched by key pushes and broadcasts (docs/protocol.md, accepts). */
  accepts: ReadonlySet<number> = NO_OPS;
  /** The only room op 12 may join, when the auth mode fixed it; null = any (goim). */
  grantedRoom: string | null = null;
  /** The only ops op 14 may add, when the auth mode fixed them; null = any (goim). */
  grantedAccepts: ReadonlySet<number> | null = null;
  /** Rooms op 19 may join besides grantedRoom, when the auth mode listed them (docs/security.md#claims); null = no list. */
  allowedRooms: ReadonlySet<string> | null = null;
  room: Room | null = null;
  roomIndex = -1;
  /** Every room of a connection that joined extra rooms (op 19); null = goim's one room. */
  seats: Map<string, Seat> | null = null;
  /** Position in the comet's connection list (swap-remove). */
  tableIndex = -1;
  /** Handshake deadline until auth, then heartbeat deadline (performance.now() ms). */
  deadline: number;
  /** Heartbeat timeout from logic (ms). */
  heartbeatMs = 0;
  /** When the routing in logic is refreshed next (performance.now() ms). */
  refreshAt = Infinity;
  refreshing = false;
  pending: Buffer | null = null;
  corked = false;
  /** WebSocket Cookie header ('' on TCP). */
  cookie = '';
  /** Frames that arrived while Logic.Connect was in flight; handled after registration. */
  early: Frame[] | null = null;
  /** Upstream frame-rate token bucket (limits.upstreamFramesPerSecond), made at the first frame. */
  frameBucket: BucketState | undefined = undefined;
  /** Opted in to room history (docs/history.md#opting-in): the token's request; null = goim's bytes. */
  history: HistoryAsk | null = null;
  /** While a join's history is read: the live room batches held back for it (replay.ts). */
  replay: ReplayHold | null = null;
  /** Live bytes held for this connection's replays, its seats' included (bounded as one, replay.ts). */
  replayHeld = 0;
  /** Opted in to the durable inbox (docs/protocol.md#durable-inbox): where its stream stands; null = goim's bytes. */
  inbox: InboxStream | null = null;

  /** When the socket was accepted, ms since the epoch (the console shows it). */
  readonly since = Date.now();

  private replies: ReplySlot[] | null = null;

  constructor(
    readonly socket: Socket,
    readonly isWs: boolean,
    /** Client address without port (IPv4-mapped IPv6 shown as IPv4). */
    readonly ip: string,
    /** ip:port, for logs. */
    readonly remote: string,
    deadline: number,
    private readonly out: Outbound,
    private readonly onClose: CloseHandler,
  ) {
    this.deadline = deadline;
  }

  get open(): boolean {
    return this.state !== State.Closed;
  }

  /** Frames read whose reply is not written yet (goim's client ring). */
  get unanswered(): number {
    return this.replies === null ? 0 : this.replies.length;
  }

  /** Writes a reply now, or queues it behind a reply that is still waiting. */
  reply(bytes: Buffer | null): void {
    if (this.replies === null) {
      if (bytes !== null) this.out.reply(this, bytes);
    } else {
      this.replies.push({ bytes });
    }
  }

  /** Reserves the next reply position for a frame that waits on logic. */
  holdReply(): ReplySlot {
    const slot: ReplySlot = { bytes: undefined };
    (this.replies ??= []).push(slot);
    return slot;
  }

  /** Runs `fn` once every reply queued so far is written: now when none waits. */
  afterReplies(fn: () => void): void {
    if (this.replies === null) fn();
    else this.replies.push({ bytes: null, after: fn });
  }

  /** Fills a held position (null = nothing to write) and writes every reply now due. */
  releaseReply(slot: ReplySlot, bytes: Buffer | null): void {
    slot.bytes = bytes;
    const q = this.replies;
    if (q === null) return;
    let n = 0;
    while (n < q.length && q[n].bytes !== undefined) {
      const b = q[n].bytes;
      if (b) this.out.reply(this, b);
      q[n].after?.();
      n++;
    }
    if (n === q.length) this.replies = null;
    else if (n > 0) q.splice(0, n);
  }

  /**
   * Closes the socket (no goodbye frame, as goim) and unregisters; idempotent. `flush` (at
   * shutdown) lets what is already written reach the client first: end() instead of destroy().
   */
  close(reason: string, level: LogLevel = 'debug', flush = false): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.early = null;
    this.replies = null;
    this.replay = null;
    if (flush) {
      // This turn's write is still held by Outbound: it goes before the FIN.
      if (this.pending !== null) this.socket.write(this.pending);
      this.pending = null;
      this.socket.end();
    } else this.socket.destroy();
    this.onClose(this, reason, level);
  }
}

/** Remote address without port; Node reports IPv4 clients of a dual-stack listener as ::ffff:a.b.c.d. */
export function clientIp(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

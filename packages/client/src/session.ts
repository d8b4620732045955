// The goim client protocol, independent of the transport (docs/protocol.md): auth, heartbeats,
// replies, pushes, reconnects. TsimClient (WebSocket) and TcpClient (raw TCP) only supply
// a way to open one connection ("link").

import { MAX_CLIENT_BODY, Op, type ClientFrame, eachFrame, encodeFrame, onlineCount, roomMessage, text as utf8Text, utf8 } from './codec.js';
import { Listeners, type Listener } from './events.js';
import type { Link, LinkEvents } from './link.js';
import { type ClientEvents, type CloseEvent, PushMessage } from './messages.js';
import { type Backoff, type WeightedNodes, backoffDelay, resolveBackoff } from './nodes.js';
import { type HistoryAsk, type HistoryOptions, badHistoryAsk } from './room-history.js';
import { RoomHistories } from './room-histories.js';
import { Inbox, type InboxOptions } from './inbox.js';
import { type Token, type TokenValue, stringifyToken } from './token.js';

export interface ReconnectOptions extends Partial<Backoff> {
  /** Consecutive failed attempts before giving up (default: never give up). */
  maxAttempts?: number;
}

export interface SessionOptions {
  token: Token;
  /** Heartbeat interval. Default: what `nodes` advertises, else 30 s (goim's JavaScript client). */
  heartbeatMs?: number;
  /** Unanswered heartbeats after which the connection counts as dead and is replaced (default 2). */
  missedHeartbeats?: number;
  /** Time allowed between sending op 7 and receiving op 8 (default 10 s). */
  authTimeoutMs?: number;
  /** Reconnect with back-off (default true). Explicit values win over what `nodes` advertises. */
  reconnect?: boolean | ReconnectOptions;
  /** `/goim/nodes/weighted` data: supplies addresses, heartbeat and back-off when not given here. */
  nodes?: WeightedNodes;
  /** Connect right after construction (default true); otherwise call connect(). */
  autoConnect?: boolean;
  /** Largest body send() accepts; goim closes the connection above 4096 bytes. */
  maxBody?: number;
  /**
   * Opt in to room history (docs/history.md, needs an object token): in every room the client is
   * in, messages carry their offset, joins replay the last `last` messages, and reconnects
   * recover what was missed. `true` = `{ last: 20 }`.
   */
  history?: boolean | HistoryOptions;
  /** How long sendDanmaku() keeps trying (across reconnects) before answering code -1 (default 10 s). */
  sendTimeoutMs?: number;
  /**
   * With `history`: how long messages wait behind a gap in a room's offsets for the missing ones
   * (the server redelivers after a failure, possibly after later messages) before they are
   * delivered past it and `notRecovered` reports the gap (default 5 s).
   */
  gapWaitMs?: number;
  /**
   * Opt in to the user's durable inbox (docs/client.md#durable-inbox, needs an object token):
   * `inbox` events, acks, and a stable device key. `true` = automatic acks with the defaults.
   */
  inbox?: boolean | InboxOptions;
}

/** A danmaku (docs/history.md#sending): `text` or `data`, and optional hints. */
export interface DanmakuInput {
  text?: string;
  data?: unknown;
  /** Identifies this send: a retry with the same nonce is answered, not broadcast twice (default: random). */
  nonce?: string;
  /** Default: the connection's room. */
  room?: string;
  /** Video position in ms. */
  progress?: number;
  mode?: number;
  color?: number;
}

/**
 * The server's answer (docs/history.md#sending): code 0 with the message id, or a refusal code
 * with a message. Code -1: the client could not get an answer (not connected within
 * sendTimeoutMs, or a server that takes no danmaku echoed the frame).
 */
export interface DanmakuReply {
  code: number;
  id?: string;
  message?: string;
}

/** joinRoom's options. */
export interface JoinOptions {
  /**
   * What a first join of the rooms replays (clients with `history`): `{ last: N }` (N ≤ 10,000),
   * `{ since, epoch }` (what followed a position the app kept), or `{}` (nothing). Default: the
   * client's `history.last`. A room already joined keeps its own position.
   */
  history?: HistoryAsk;
}

/**
 * The server's answer to joinRoom / leaveRoom (docs/protocol.md#several-rooms): code 0, or a
 * refusal code with a message, and the connection's rooms. Code -1: no answer (not connected,
 * or the connection ended first); a join is then made after the next auth.
 */
export interface RoomsReply {
  code: number;
  message?: string;
  /** Of several rooms joined at once, the one refused. */
  room?: string;
  rooms: string[];
}

/** Join refused: the request is malformed (here: its history ask). */
const JOIN_MALFORMED = 1;
/** Join refused: it asks for history and the client did not opt in. */
const JOIN_NO_HISTORY = 5;
/** Leave refused: the connection is not in that room. */
const LEAVE_NOT_IN = 7;

/** Danmaku waiting for an answer, kept across reconnects (same nonce). */
interface Outgoing {
  body: Uint8Array;
  resolve: (r: DanmakuReply) => void;
  timer: ReturnType<typeof setTimeout>;
  /** The seq of the attempt on the current connection, if sent there. */
  seq: number;
}

const MAX_OUTGOING = 256;

export type ClientState = 'idle' | 'connecting' | 'authenticating' | 'open' | 'reconnecting' | 'closed';

interface Conn {
  url: string;
  link: Link | null;
  authenticated: boolean;
  /** Token was rewritten with the current room/accepts; otherwise they are replayed after auth. */
  rewritten: boolean;
  /** Value of `changes` when the token was built: later changes are replayed after auth. */
  tokenChanges: number;
  ended: boolean;
  onGone: (() => void)[];
  /**
   * A join was sent on this connection: op-23 frames are room envelopes from then on (they may
   * come before the join's reply, which waits behind earlier replies).
   */
  multi: boolean;
  /** The `last` of the token's history ask (what the server replays in a room joined without one); null: not opted in. */
  historyLast: number | null;
}

interface Pending {
  op: number;
  resolve: (ok: boolean) => void;
  /** A danmaku: answered by op 5 with a body. */
  danmaku?: Outgoing;
  /** ChangeRoom: the room asked for; a reply naming another room means the change was refused. */
  room?: string;
  /** Join / Leave: takes the JSON reply. */
  rooms?: (r: RoomsReply) => void;
}

/** Ops that have their own method (or are replies) and so cannot go through send(). */
const RESERVED_OPS = new Set<number>([
  Op.Heartbeat,
  Op.HeartbeatReply,
  Op.Auth,
  Op.AuthReply,
  Op.Raw,
  Op.ChangeRoom,
  Op.ChangeRoomReply,
  Op.Sub,
  Op.SubReply,
  Op.Unsub,
  Op.UnsubReply,
  Op.InboxAck,
  Op.InboxAckReply,
  Op.InboxFetch,
  Op.InboxMessage,
  Op.InboxFetchReply,
  Op.InboxState,
  Op.Join,
  Op.JoinReply,
  Op.Leave,
  Op.LeaveReply,
  Op.RoomMessage,
]);

const CLOSE_GRACE_MS = 3000;

export abstract class ClientSession {
  private readonly listeners = new Listeners<ClientEvents>();
  private readonly urls: string[];
  private readonly token: Token;
  private readonly heartbeatMs: number;
  private readonly missedHeartbeats: number;
  private readonly authTimeoutMs: number;
  private readonly backoff: Backoff | null;
  private readonly maxAttempts: number;
  private readonly maxBody: number;
  private readonly sendTimeoutMs: number;
  /** Set when the client opted in to history: where it stands in each of its rooms. */
  private readonly histories: RoomHistories | null;
  private readonly _inbox: Inbox | null;
  private readonly outgoing = new Set<Outgoing>();

  private _state: ClientState = 'idle';
  private conn: Conn | null = null;
  private urlIndex = 0;
  private attempt = 0;
  private stopped = false;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private unanswered = 0;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private authTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private _online: number | undefined;

  // Changes made through changeRoom/sub/unsub, re-applied on every reconnect.
  private room: string | undefined;
  private readonly subbed = new Set<number>();
  private readonly unsubbed = new Set<number>();
  private changes = 0;
  /** Extra rooms asked for with joinRoom, joined again after every reconnect. */
  private readonly joined = new Set<string>();
  /** joinRoom calls waiting for the join in flight; the next request takes all their rooms at once. */
  private joinWaiters: { rooms: string[]; local: Map<string, RoomsReply>; resolve: (r: RoomsReply) => void }[] = [];
  private joinRunning = false;

  /** @param urls transport addresses, tried in turn on reconnects. */
  protected constructor(urls: string[], options: SessionOptions) {
    if (urls.length === 0) throw new TypeError('client: no address given (set url, or nodes with addresses)');
    this.urls = urls;
    this.token = options.token;
    const advertised = options.nodes?.heartbeat;
    this.heartbeatMs = options.heartbeatMs ?? (advertised !== undefined && advertised > 0 ? advertised * 1000 : 30_000);
    this.missedHeartbeats = Math.max(1, options.missedHeartbeats ?? 2);
    this.authTimeoutMs = options.authTimeoutMs ?? 10_000;
    const rc = options.reconnect ?? true;
    this.backoff = rc === false ? null : resolveBackoff(rc === true ? undefined : rc, options.nodes);
    this.maxAttempts = typeof rc === 'object' && rc.maxAttempts !== undefined ? rc.maxAttempts : Infinity;
    this.maxBody = options.maxBody ?? MAX_CLIENT_BODY;
    this.sendTimeoutMs = options.sendTimeoutMs ?? 10_000;
    const h = options.history ?? false;
    this.histories =
      h === false
        ? null
        : new RoomHistories(h === true ? 20 : Math.max(0, h.last ?? 20), options.gapWaitMs ?? 5000, (room) => this.joined.has(room), {
            message: (m) => this.listeners.emit('message', m),
            roomState: (ev) => this.listeners.emit('roomState', ev),
            notRecovered: (ev) => this.listeners.emit('notRecovered', ev),
          });
    const ib = options.inbox ?? false;
    this._inbox = ib === false ? null : this.newInbox(ib === true ? {} : ib);
    if (options.autoConnect ?? true) {
      // Deferred so listeners attached right after construction see every event.
      queueMicrotask(() => {
        if (this._state === 'idle') this.connect();
      });
    }
  }

  /** Opens the transport for one connection attempt. */
  protected abstract dial(url: string, events: LinkEvents): Link;

  /** Whether op 9 frames are envelopes to unpack (WebSocket) or ordinary pushes (TCP). */
  protected abstract readonly envelopes: boolean;

  // ---- public API ----------------------------------------------------------------------

  get state(): ClientState {
    return this._state;
  }

  /** Last room online count from a heartbeat reply, if any arrived. */
  get online(): number | undefined {
    return this._online;
  }

  /** The address of the current (or last) connection attempt. */
  get url(): string {
    return this.urls[this.urlIndex % this.urls.length];
  }

  on<K extends keyof ClientEvents>(type: K, listener: Listener<ClientEvents[K]>): () => void {
    return this.listeners.on(type, listener);
  }

  once<K extends keyof ClientEvents>(type: K, listener: Listener<ClientEvents[K]>): () => void {
    return this.listeners.once(type, listener);
  }

  off<K extends keyof ClientEvents>(type: K, listener: Listener<ClientEvents[K]>): void {
    this.listeners.off(type, listener);
  }

  /** Starts connecting (again, after close()). No effect while already active. */
  connect(): this {
    if (this._state !== 'idle' && this._state !== 'closed') return this;
    this.stopped = false;
    this.attempt = 0;
    this.open();
    return this;
  }

  /**
   * Moves this connection to another room (op 12); `''` leaves the current room. The change
   * is kept and applied again on reconnects. Resolves true once the server replied (op 13),
   * false when not connected or the connection ended first.
   */
  changeRoom(roomId: string): Promise<boolean> {
    this.room = roomId;
    this.changes++;
    return this.request(Op.ChangeRoom, this.changeRoomBody(roomId), roomId);
  }

  /** The durable inbox (clients with `inbox`): ack(), fetch(), its state. */
  get inbox(): Inbox | null {
    return this._inbox;
  }

  /**
   * Joins extra rooms on this connection (op 19, docs/protocol.md#several-rooms): one room, or
   * several, sent as few frames as the body size allows. From the first join on, room messages
   * say their room (`message.room`). Rooms are joined again after every reconnect until
   * leaveRoom(); a refused one (code > 0) is forgotten. Resolves with code 0 and the rooms, or
   * the first refusal (with the `room` refused when there were several). Never rejects. A key
   * longer than 256 UTF-8 bytes (code 1) or not `type://id` (code 2) is refused here, not sent;
   * so is the call, with all its rooms, when `options.history` is not a valid ask or a `since`
   * for several rooms (code 1), or the client did not opt in to history (code 5). With `history`, each room's history is followed
   * (docs/client.md#several-rooms-with-history).
   */
  joinRoom(rooms: string | string[], options: JoinOptions = {}): Promise<RoomsReply> {
    const list = [...new Set(Array.isArray(rooms) ? rooms : [rooms])];
    const ask = options.history;
    if (ask !== undefined) {
      // As the server would answer it: the whole request refused.
      if (this.histories === null) {
        return Promise.resolve({ code: JOIN_NO_HISTORY, message: 'history: the client did not opt in to room history', rooms: this.rooms });
      }
      let bad = badHistoryAsk(ask);
      if (bad === undefined && 'since' in ask && list.length > 1) bad = 'history.since names a position in one room: join that room alone';
      if (bad !== undefined) return Promise.resolve({ code: JOIN_MALFORMED, message: bad, rooms: this.rooms });
    }
    // Refused here as the server would refuse them: one bad key would refuse its whole frame.
    const local = new Map<string, RoomsReply>();
    for (const r of list) {
      const why = badRoomKey(r);
      if (why !== undefined) local.set(r, why);
      else {
        this.joined.add(r);
        this.histories?.enter(r, ask === undefined ? undefined : { ...ask });
      }
    }
    return new Promise<RoomsReply>((resolve) => {
      const conn = this.conn;
      if (local.size === list.length || conn === null || !conn.authenticated) {
        resolve(local.size > 0 ? outcome(list, local, this.rooms) : { code: -1, message: 'not connected', rooms: this.rooms });
        return;
      }
      this.joinWaiters.push({ rooms: list, local, resolve });
      this.pumpJoins(conn);
    });
  }

  /**
   * Leaves one of the connection's rooms (op 21), the primary one included; not joined again after
   * reconnects. A connection that never joined is a goim one, where op 21 is not a leave: its
   * primary room is left with op 12, any other room was never entered (code 7).
   */
  leaveRoom(room: string): Promise<RoomsReply> {
    this.joined.delete(room);
    this.histories?.forget(room);
    const primary = room === this.primaryRoom();
    if (primary) {
      this.room = '';
      this.changes++;
    }
    return new Promise<RoomsReply>((resolve) => {
      const conn = this.conn;
      if (conn !== null && conn.authenticated && !conn.multi) {
        if (!primary) resolve({ code: LEAVE_NOT_IN, message: 'not in that room', rooms: this.rooms });
        else
          void this.request(Op.ChangeRoom, this.changeRoomBody(''), '').then((ok) =>
            resolve(ok ? { code: 0, rooms: this.rooms } : { code: -1, message: 'the connection ended', rooms: this.rooms }),
          );
        return;
      }
      if (conn === null || !conn.authenticated || !this.sendRooms(conn, Op.Leave, [room], resolve)) {
        resolve({ code: -1, message: 'not connected', rooms: this.rooms });
      }
    });
  }

  /** The rooms this client is in (or will be, once connected): its primary room, then those joined. */
  get rooms(): string[] {
    const primary = this.primaryRoom();
    const out = primary !== undefined && primary !== '' ? [primary] : [];
    for (const r of this.joined) if (r !== primary) out.push(r);
    return out;
  }

  /** Where this client stands in its primary room's history (clients with `history`). */
  get historyPosition(): { room: string | undefined; epoch: string | undefined; offset: number } | undefined {
    const h = this.histories;
    if (h === null) return undefined;
    const room = h.primary;
    return { room, ...((room === undefined ? undefined : h.position(room)) ?? { epoch: undefined, offset: 0 }) };
  }

  /** Where this client stands in the history of one of its rooms (clients with `history`); undefined for a room it does not follow. */
  historyPositionOf(room: string): { epoch: string | undefined; offset: number } | undefined {
    return this.histories?.position(room);
  }

  /**
   * Sends a danmaku on the connection (op 4, docs/history.md#sending) and resolves to the
   * server's answer. Kept across reconnects with the same nonce until answered or
   * sendTimeoutMs has passed.
   */
  sendDanmaku(input: DanmakuInput): Promise<DanmakuReply> {
    const msg: Record<string, unknown> = { ...input, nonce: input.nonce ?? randomNonce() };
    for (const k of Object.keys(msg)) if (msg[k] === undefined) delete msg[k];
    const body = utf8(JSON.stringify(msg));
    if (body.length > this.maxBody) throw new RangeError(`sendDanmaku: body of ${body.length} bytes exceeds ${this.maxBody}`);
    if (this.outgoing.size >= MAX_OUTGOING) return Promise.resolve({ code: -1, message: `more than ${MAX_OUTGOING} danmaku awaiting an answer` });
    return new Promise<DanmakuReply>((resolve) => {
      const out: Outgoing = {
        body,
        seq: 0,
        resolve: (r) => {
          clearTimeout(out.timer);
          this.outgoing.delete(out);
          resolve(r);
        },
        timer: setTimeout(() => out.resolve({ code: -1, message: `no answer within ${this.sendTimeoutMs} ms` }), this.sendTimeoutMs),
      };
      this.outgoing.add(out);
      const conn = this.conn;
      if (conn !== null && conn.authenticated) this.sendOutgoing(conn, out);
    });
  }

  /** Adds ops to the watched set for key/mid pushes and broadcasts (op 14). Kept across reconnects. */
  sub(ops: number | number[]): Promise<boolean> {
    const list = opList(ops);
    for (const op of list) {
      this.subbed.add(op);
      this.unsubbed.delete(op);
    }
    this.changes++;
    return this.request(Op.Sub, utf8(list.join(',')));
  }

  /** Removes ops from the watched set (op 16). Kept across reconnects. */
  unsub(ops: number | number[]): Promise<boolean> {
    const list = opList(ops);
    for (const op of list) {
      this.unsubbed.add(op);
      this.subbed.delete(op);
    }
    this.changes++;
    return this.request(Op.Unsub, utf8(list.join(',')));
  }

  /**
   * Sends an upstream frame (goim forwards it to logic, which only logs it; docs/protocol.md#operations). Resolves
   * true when the server echoed it, false when not connected or the connection ended first.
   * Throws RangeError for protocol ops that have their own method and for oversized bodies.
   */
  send(op: number, body: Uint8Array | string = new Uint8Array(0)): Promise<boolean> {
    if (!Number.isInteger(op) || op < -0x80000000 || op > 0x7fffffff) throw new RangeError(`send: op ${op} is not an int32`);
    if (RESERVED_OPS.has(op)) throw new RangeError(`send: op ${op} is reserved by the protocol; use its method`);
    const bytes = typeof body === 'string' ? utf8(body) : body;
    if (bytes.length > this.maxBody) throw new RangeError(`send: body of ${bytes.length} bytes exceeds ${this.maxBody}`);
    return this.request(op, bytes);
  }

  /** Closes the connection and stops reconnecting. Resolves once the transport has closed. */
  close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.histories?.stop();
    this.retryTimer = undefined;
    const conn = this.conn;
    if (conn === null) {
      const wasWaiting = this._state === 'reconnecting';
      this._state = 'closed';
      // The last close event promised a retry; say that it will not happen.
      if (wasWaiting) this.listeners.emit('close', { url: this.url, reason: 'closed by client', authenticated: false, willReconnect: false });
      return Promise.resolve();
    }
    const gone = new Promise<void>((resolve) => {
      if (conn.link === null) return resolve();
      const fallback = setTimeout(resolve, CLOSE_GRACE_MS);
      (fallback as { unref?: () => void }).unref?.();
      conn.onGone.push(() => {
        clearTimeout(fallback);
        resolve();
      });
    });
    if (conn.authenticated) this._inbox?.flush();
    this.end(conn, 'closed by client');
    conn.link?.close(true);
    return gone;
  }

  // ---- connection lifecycle ------------------------------------------------------------

  private open(): void {
    const conn: Conn = {
      url: this.url,
      link: null,
      authenticated: false,
      rewritten: false,
      tokenChanges: 0,
      ended: false,
      onGone: [],
      multi: false,
      historyLast: null,
    };
    this.conn = conn;
    this._state = 'connecting';
    let value: TokenValue | Promise<TokenValue>;
    try {
      value = typeof this.token === 'function' ? this.token() : this.token;
    } catch (err) {
      this.fail(conn, err, 'token');
      return;
    }
    if (isThenable(value)) {
      value.then(
        (v) => this.dialWith(conn, v),
        (err: unknown) => this.fail(conn, err, 'token'),
      );
    } else {
      this.dialWith(conn, value);
    }
  }

  private dialWith(conn: Conn, token: TokenValue): void {
    if (conn.ended) return;
    const auth = this.tokenBytes(token);
    conn.rewritten = auth.rewritten;
    conn.historyLast = auth.historyLast;
    conn.tokenChanges = this.changes;
    const events: LinkEvents = {
      opened: () => {
        if (conn.ended) return;
        this._state = 'authenticating';
        this.seq = 0;
        this.write(conn, Op.Auth, auth.bytes, this.nextSeq());
        this.authTimer = setTimeout(() => this.drop(conn, `no auth reply within ${this.authTimeoutMs} ms`), this.authTimeoutMs);
        this.listeners.emit('open', { url: conn.url, attempt: this.attempt });
      },
      frame: (frame) => {
        if (conn.ended) return;
        try {
          this.onFrame(conn, frame);
        } catch (err) {
          events.broken(asError(err));
        }
      },
      broken: (err) => {
        if (conn.ended) return;
        this.listeners.emit('error', err);
        this.drop(conn, `protocol error: ${err.message}`);
      },
      failed: (err) => {
        if (!conn.ended) this.listeners.emit('error', err);
      },
      closed: (reason, code) => {
        this.end(conn, reason, code);
        for (const done of conn.onGone.splice(0)) done();
      },
    };
    try {
      conn.link = this.dial(conn.url, events);
    } catch (err) {
      this.fail(conn, err, 'connect');
    }
  }

  private fail(conn: Conn, err: unknown, what: string): void {
    if (conn.ended) return;
    const e = asError(err);
    this.listeners.emit('error', e);
    this.end(conn, `${what} failed: ${e.message}`);
  }

  /** Ends a connection that is misbehaving or dead without waiting for the transport. */
  private drop(conn: Conn, reason: string): void {
    if (conn.ended) return;
    this.end(conn, reason);
    conn.link?.close(false);
  }

  /** Bookkeeping when a connection ends for any reason; decides about reconnecting. */
  private end(conn: Conn, reason: string, code?: number): void {
    if (conn.ended) return;
    conn.ended = true;
    if (this.conn === conn) this.conn = null;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.authTimer);
    this.heartbeatTimer = this.authTimer = undefined;
    for (const p of this.pending.values()) p.resolve(false);
    this.pending.clear();
    // Joined again after the next auth; their callers get this connection's end as the answer.
    for (const w of this.joinWaiters.splice(0)) w.resolve({ code: -1, message: 'the connection ended', rooms: this.rooms });
    // Danmaku stay in `outgoing` and are sent again (same nonce) after the next auth.
    for (const out of this.outgoing) out.seq = 0;
    this._inbox?.disconnected(this.stopped || this.backoff === null || this.attempt >= this.maxAttempts);

    const base: CloseEvent = { url: conn.url, reason, authenticated: conn.authenticated, willReconnect: false };
    if (code !== undefined) base.code = code;
    if (this.stopped || this.backoff === null || this.attempt >= this.maxAttempts) {
      this._state = 'closed';
      this.listeners.emit('close', base);
      return;
    }
    const delayMs = backoffDelay(this.backoff, this.attempt);
    this.attempt++;
    this.urlIndex++;
    this._state = 'reconnecting';
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopped) this.open();
    }, delayMs);
    this.listeners.emit('close', { ...base, willReconnect: true, delayMs });
  }

  private authenticated(conn: Conn): void {
    conn.authenticated = true;
    this._state = 'open';
    this.attempt = 0;
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
    this._inbox?.connected();
    // Changes made while connecting (or not expressible in the token) follow as requests.
    if (!conn.rewritten || conn.tokenChanges !== this.changes) this.replayChanges(conn);
    if (this.joined.size > 0) {
      this.joinWaiters.unshift({ rooms: [...this.joined], local: new Map(), resolve: () => {} });
      this.pumpJoins(conn);
    }
    // goim's JavaScript client heartbeats at once, then on every interval.
    this.unanswered = 0;
    this.heartbeat(conn);
    this.heartbeatTimer = setInterval(() => this.heartbeat(conn), this.heartbeatMs);
    for (const out of this.outgoing) if (out.seq === 0) this.sendOutgoing(conn, out);
    this.listeners.emit('auth', { url: conn.url });
  }

  private heartbeat(conn: Conn): void {
    if (conn.ended) return;
    if (this.unanswered >= this.missedHeartbeats) {
      this.drop(conn, `${this.unanswered} heartbeats unanswered`);
      return;
    }
    this.unanswered++;
    this.write(conn, Op.Heartbeat, undefined, this.nextSeq());
  }

  /** When the token could not carry the current room/accepts, send them as requests instead. */
  private replayChanges(conn: Conn): void {
    if (this.room !== undefined) this.write(conn, Op.ChangeRoom, this.changeRoomBody(this.room), this.nextSeq());
    if (this.subbed.size > 0) this.write(conn, Op.Sub, utf8([...this.subbed].join(',')), this.nextSeq());
    if (this.unsubbed.size > 0) this.write(conn, Op.Unsub, utf8([...this.unsubbed].join(',')), this.nextSeq());
  }

  // ---- frames --------------------------------------------------------------------------

  private onFrame(conn: Conn, f: ClientFrame): void {
    if (!conn.authenticated) {
      // Before op 8 nothing else can arrive: the comet replies to nothing but auth (docs/protocol.md#operations).
      if (f.op === Op.AuthReply) this.authenticated(conn);
      return;
    }
    if (f.op === Op.RoomMessage && f.seq === 0 && conn.multi) {
      const { room, frames } = roomMessage(f.body);
      for (const inner of eachFrame(frames)) {
        if (conn.ended) return;
        this.deliver(inner, room);
      }
      return;
    }
    if (f.op === Op.Raw && this.envelopes) {
      for (const inner of eachFrame(f.body)) {
        if (conn.ended) return; // a listener closed the client mid-batch
        this.deliver(inner);
      }
      return;
    }
    // Pushes carry seq 0 while this client never sends seq 0, so seq tells a push
    // from a reply even when an application op collides with a protocol op.
    if (f.seq === 0) {
      this.deliver(f);
      return;
    }
    switch (f.op) {
      case Op.HeartbeatReply:
        this.unanswered = 0;
        this._online = onlineCount(f.body);
        this.listeners.emit('online', this._online);
        return;
      case Op.AuthReply:
        return;
      case Op.ChangeRoomReply:
      case Op.SubReply:
      case Op.UnsubReply:
      case Op.JoinReply:
      case Op.LeaveReply:
        this.settle(f.seq, f.op - 1, f.body);
        return;
      case Op.SendMsgReply:
        if (!this.settle(f.seq, Op.SendMsg, f.body)) this.deliver(f);
        return;
      case Op.InboxAckReply:
      case Op.InboxFetchReply:
        if (this._inbox?.reply(f) !== true) this.deliver(f);
        return;
      default:
        if (!this.settle(f.seq, f.op)) this.deliver(f);
    }
  }

  /** One pushed frame; `room` names its room when it came in an op-23 envelope. */
  private deliver(f: ClientFrame, room?: string): void {
    if (f.seq === 0 && this._inbox?.push(f) === true) return;
    if (this.histories !== null) this.histories.frame(f, room);
    else this.listeners.emit('message', new PushMessage(f.op, f.body, f.ver, f.seq, 0, room ?? ''));
  }

  private settle(seq: number, op: number, body?: Uint8Array): boolean {
    const p = this.pending.get(seq);
    if (p === undefined || p.op !== op) return false;
    this.pending.delete(seq);
    if (p.danmaku !== undefined) {
      p.danmaku.resolve(danmakuReply(body));
      return true;
    }
    if (p.rooms !== undefined) {
      p.rooms(roomsReply(body, this.rooms));
      return true;
    }
    if (p.room !== undefined && body !== undefined) {
      // A server that granted this connection its room answers a refused change with the room
      // the connection stayed in (docs/protocol.md): remember that one for reconnects.
      // An accepted change echoes the request: the bare room id, or op 12's JSON form (docs/history.md#opting-in).
      const kept = utf8Text(body);
      if (kept !== p.room && roomOfJsonForm(kept) !== p.room) {
        if (this.room === p.room) {
          this.room = kept;
          this.histories?.setPrimary(kept === '' ? undefined : kept);
        }
        p.resolve(false);
        return true;
      }
    }
    p.resolve(true);
    return true;
  }

  /**
   * Sends the rooms of every joinRoom call waiting, together, once no join is in flight: an app
   * joining rooms one call at a time still sends few frames.
   */
  private pumpJoins(conn: Conn): void {
    if (this.joinRunning || this.joinWaiters.length === 0 || conn.ended) return;
    this.joinRunning = true;
    const waiters = this.joinWaiters.splice(0);
    const all = [...new Set(waiters.flatMap((w) => w.rooms))];
    const refused = new Map(waiters.flatMap((w) => [...w.local]));
    this.joinList(conn, all, refused, (ended, refusals, rooms) => {
      this.joinRunning = false;
      for (const w of waiters) w.resolve(ended ?? outcome(w.rooms, refusals, rooms));
      this.pumpJoins(conn);
    });
  }

  /**
   * Joins `rooms` on `conn`, one request at a time (the frame rate and the reply ring stay small
   * whatever the number of rooms), as many per frame as maxBody allows. A refused room is
   * forgotten and the rest go on. `done` gets the refusals and the rooms of the server's last
   * answer, or `ended` when the connection ended first.
   */
  private joinList(
    conn: Conn,
    rooms: string[],
    refusals: Map<string, RoomsReply>,
    done: (ended: RoomsReply | undefined, refusals: Map<string, RoomsReply>, rooms: string[]) => void,
    last?: string[],
  ): void {
    if (conn.ended) {
      done({ code: -1, message: 'the connection ended', rooms: this.rooms }, refusals, this.rooms);
      return;
    }
    const left = rooms.filter((r) => this.joined.has(r)); // left meanwhile: not joined
    if (left.length === 0) {
      done(undefined, refusals, last ?? this.rooms);
      return;
    }
    let n = 1;
    while (n < left.length && this.roomsBody(conn, Op.Join, left.slice(0, n + 1)).length <= this.maxBody) n++;
    const chunk = left.slice(0, n);
    const sent = this.sendRooms(conn, Op.Join, chunk, (r) => {
      if (r.code < 0) {
        done(r, refusals, this.rooms);
        return;
      }
      let rest = left.slice(n);
      if (r.code > 0) {
        // One room refused, or the whole frame; the rooms of the frame the server did not join
        // (after the refused one, or all of them when a key was bad) are tried again.
        const at = r.room !== undefined ? chunk.indexOf(r.room) : chunk.length === 1 ? 0 : -1;
        const refused = at >= 0 ? [chunk[at]] : chunk;
        if (at >= 0) {
          const inNow = new Set(r.rooms);
          rest = [...chunk.filter((room, i) => i !== at && !inNow.has(room)), ...rest];
        }
        for (const room of refused) {
          this.joined.delete(room);
          if (room !== this.histories?.primary) this.histories?.forget(room);
          const why: RoomsReply = { code: r.code, room, rooms: [] };
          if (r.message !== undefined) why.message = r.message;
          refusals.set(room, why);
        }
      }
      this.joinList(conn, rest, refusals, done, r.rooms);
    });
    if (!sent) done({ code: -1, message: 'not connected', rooms: this.rooms }, refusals, this.rooms);
  }

  /** Op 19 with `{"room"}` or `{"rooms"}`, or op 21 with `{"room"}`. */
  private sendRooms(conn: Conn, op: number, rooms: string[], done: (r: RoomsReply) => void): boolean {
    const seq = this.nextSeq();
    const known = this.rooms;
    const body = this.roomsBody(conn, op, rooms);
    if (op === Op.Join) conn.multi = true;
    this.pending.set(seq, { op, resolve: (ok) => ok || done({ code: -1, message: 'the connection ended', rooms: known }), rooms: done });
    if (this.write(conn, op, body, seq)) return true;
    this.pending.delete(seq);
    return false;
  }

  /**
   * The body of op 19 or 21. A join from a connection that opted in to history asks, per room,
   * for what was missed there (`{"since","epoch"}`) or for its first join's ask; the rooms with
   * neither take the frame's `history`, the client's last N, which is only written when the
   * token's differs (the server's default for them; a token resuming its room says last 0).
   */
  private roomsBody(conn: Conn, op: number, rooms: string[]): Uint8Array {
    const h = this.histories;
    if (op !== Op.Join || h === null || conn.historyLast === null) return utf8(JSON.stringify(rooms.length === 1 ? { room: rooms[0] } : { rooms }));
    const fallback = conn.historyLast === h.last ? undefined : h.fallback;
    const asks = rooms.map((room) => h.ask(room));
    let body: Record<string, unknown>;
    if (rooms.length === 1) {
      const history = asks[0] ?? fallback;
      body = history === undefined ? { room: rooms[0] } : { room: rooms[0], history };
    } else {
      body = { rooms: rooms.map((room, i) => (asks[i] === undefined ? room : { room, history: asks[i] })) };
      if (fallback !== undefined && asks.includes(undefined)) body.history = fallback;
    }
    return utf8(JSON.stringify(body));
  }

  /** The auth / op-12 room: the last changeRoom, else the object token's room_id. */
  private primaryRoom(): string | undefined {
    if (this.room !== undefined) return this.room;
    const t = this.token;
    if (typeof t !== 'object' || t === null || t instanceof Uint8Array) return undefined;
    const r = t.room_id;
    return typeof r === 'string' ? r : undefined;
  }

  private sendOutgoing(conn: Conn, out: Outgoing): void {
    const seq = this.nextSeq();
    out.seq = seq;
    this.pending.set(seq, { op: Op.SendMsg, resolve: () => {}, danmaku: out });
    if (!this.write(conn, Op.SendMsg, out.body, seq)) {
      this.pending.delete(seq);
      out.seq = 0;
    }
  }

  /** Op 12's body: the bare room id (goim), or with history the JSON form asking for a replay (docs/history.md#opting-in). */
  private changeRoomBody(roomId: string): Uint8Array {
    const h = this.histories;
    h?.setPrimary(roomId === '' ? undefined : roomId);
    if (h === null || roomId === '') return utf8(roomId);
    return utf8(JSON.stringify({ room: roomId, history: h.ask(roomId) ?? h.fallback }));
  }

  private request(op: number, body: Uint8Array, room?: string): Promise<boolean> {
    const conn = this.conn;
    if (conn === null || !conn.authenticated) return Promise.resolve(false);
    const seq = this.nextSeq();
    return new Promise<boolean>((resolve) => {
      this.pending.set(seq, room === undefined ? { op, resolve } : { op, resolve, room });
      if (!this.write(conn, op, body, seq)) {
        this.pending.delete(seq);
        resolve(false);
      }
    });
  }

  private write(conn: Conn, op: number, body: Uint8Array | undefined, seq: number): boolean {
    if (conn.ended || conn.link === null) return false;
    try {
      conn.link.send(encodeFrame(op, body, 1, seq));
      return true;
    } catch (err) {
      this.listeners.emit('error', asError(err));
      this.drop(conn, `send failed: ${asError(err).message}`);
      return false;
    }
  }

  private newInbox(options: InboxOptions): Inbox {
    return new Inbox(
      {
        request: (op, body) => {
          const conn = this.conn;
          if (conn === null || !conn.authenticated) return null;
          const seq = this.nextSeq();
          return this.write(conn, op, body, seq) ? seq : null;
        },
        message: (m) => this.listeners.emit('inbox', m),
        state: (st) => this.listeners.emit('inboxState', st),
        error: (err) => this.listeners.emit('error', err),
      },
      options,
    );
  }

  /** 1, 2, … per connection; never 0, which marks server pushes. */
  private nextSeq(): number {
    this.seq = this.seq >= 0x7fffffff ? 1 : this.seq + 1;
    return this.seq;
  }

  /** The auth body; `historyLast`: the `last` of the history it asks for (null: it does not opt in). */
  private tokenBytes(token: TokenValue): { bytes: Uint8Array; rewritten: boolean; historyLast: number | null } {
    if (typeof token === 'string') return { bytes: utf8(token), rewritten: false, historyLast: null };
    if (token instanceof Uint8Array) return { bytes: token, rewritten: false, historyLast: null };
    if (token === null) return { bytes: utf8('null'), rewritten: false, historyLast: null };
    const t: Record<string, unknown> = { ...token };
    if (this.room !== undefined) t.room_id = this.room;
    let historyLast: number | null = null;
    const h = this.histories;
    if (h !== null) {
      const room = typeof t.room_id === 'string' && t.room_id !== '' ? t.room_id : undefined;
      h.setPrimary(room);
      const ask = h.ask(room) ?? h.fallback;
      t.history = ask;
      historyLast = 'last' in ask ? ask.last : 0;
    }
    this._inbox?.addToToken(t);
    if (this.subbed.size > 0 || this.unsubbed.size > 0) {
      const base = Array.isArray(t.accepts) ? (t.accepts as unknown[]).filter((x): x is number => typeof x === 'number') : [];
      const merged = [...new Set([...base, ...this.subbed])].filter((op) => !this.unsubbed.has(op));
      t.accepts = merged;
    }
    return { bytes: utf8(stringifyToken(t)), rewritten: true, historyLast };
  }
}

/** The room of op 12's JSON form `{"room":…,"history":…}`, or undefined. */
function roomOfJsonForm(text: string): string | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(text) as { room?: unknown };
    return typeof v.room === 'string' ? v.room : undefined;
  } catch {
    return undefined;
  }
}

/** Longest room key the server joins, in UTF-8 bytes; the shape it takes (docs/protocol.md#several-rooms). */
const MAX_ROOM_KEY_BYTES = 256;
const ROOM_KEY = /^[A-Za-z0-9_.-]+:\/\/./s;

/** The refusal (code 1 or 2) the server would answer for `room`, else undefined. */
function badRoomKey(room: string): RoomsReply | undefined {
  if (typeof room !== 'string') return { code: 1, message: 'room key must be a string', room: String(room), rooms: [] };
  if (utf8(room).length > MAX_ROOM_KEY_BYTES) return { code: 1, message: `room key longer than ${MAX_ROOM_KEY_BYTES} bytes`, room, rooms: [] };
  if (!ROOM_KEY.test(room))
    return { code: 2, message: 'room key must be type://id with a room type of letters, digits, "_", "." or "-"', room, rooms: [] };
  return undefined;
}

/** What one joinRoom call is answered: the first of its rooms refused, else code 0; with the connection's rooms. */
function outcome(rooms: string[], refusals: Map<string, RoomsReply>, now: string[]): RoomsReply {
  for (const room of rooms) {
    const why = refusals.get(room);
    if (why !== undefined) return { ...why, rooms: now };
  }
  return { code: 0, rooms: now };
}

/** Op 20 / op 22's JSON body; anything unreadable is code -1 with the rooms the client knows. */
function roomsReply(body: Uint8Array | undefined, known: string[]): RoomsReply {
  try {
    const v = JSON.parse(utf8Text(body ?? new Uint8Array(0))) as Record<string, unknown>;
    if (typeof v.code === 'number' && Array.isArray(v.rooms)) {
      const r: RoomsReply = { code: v.code, rooms: v.rooms.filter((x): x is string => typeof x === 'string') };
      if (typeof v.message === 'string') r.message = v.message;
      if (typeof v.room === 'string') r.room = v.room;
      return r;
    }
  } catch {
    // fall through
  }
  return { code: -1, message: 'unreadable answer', rooms: known };
}

/** Op 5's JSON body; anything else (a goim server's header-only echo comes as op 4) is code -1. */
function danmakuReply(body: Uint8Array | undefined): DanmakuReply {
  if (body === undefined || body.length === 0) return { code: -1, message: 'the server takes no danmaku here (goim echo)' };
  try {
    const v = JSON.parse(utf8Text(body)) as Record<string, unknown>;
    if (typeof v.code === 'number') {
      const r: DanmakuReply = { code: v.code };
      if (typeof v.id === 'string') r.id = v.id;
      if (typeof v.message === 'string') r.message = v.message;
      return r;
    }
  } catch {
    // fall through
  }
  return { code: -1, message: 'unreadable answer' };
}

function randomNonce(): string {
  const b = new Uint8Array(9);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function opList(ops: number | number[]): number[] {
  const list = Array.isArray(ops) ? ops : [ops];
  for (const op of list) {
    if (!Number.isInteger(op) || op < -0x80000000 || op > 0x7fffffff) throw new RangeError(`op ${op} is not an int32`);
  }
  return list;
}

function isThenable<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

// What client frames mean (docs/protocol.md: Operations, Connection lifecycle, Rooms and
// accepts): auth, heartbeats, room changes, sub/unsub, the generic path to Logic.Receive,
// and what closing a connection tells logic.
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../log.js';
import type { HistoryAsk, LogicService } from '../ports/index.js';
import { historyAsk, HistoryAskError } from '../protocol/history-ask.js';
import type { Frame } from '../protocol/frame.js';
import { Op } from '../protocol/ops.js';
import { SharedAccepts } from './accepts.js';
import { State, type CloseHandler, type Connection } from './connection.js';
import type { ConnectionTable } from './connection-table.js';
import { frameBytes, heartbeatReplyBytes } from './frame-bytes.js';
import { Limit, type LimitLog } from './limit-log.js';
import type { LogicCalls } from './logic-calls.js';
import type { InboxDelivery } from './inbox-delivery.js';
import type { Replays } from './replay.js';
import { checkKey, JoinCode, MAX_ROOM_KEY_BYTES, mayJoin, roomRequest as joinRequest, roomsReply, type Refusal } from './room-requests.js';

export interface ClientProtocolOptions {
  serverId: string;
  logic: LogicService;
  log: Logger;
  table: ConnectionTable;
  /** Frames that may await their reply (goim's client ring). */
  ring: number;
  /** Routing refresh period (comet.routingRefresh); 0 disables it. */
  routingRefreshMs: number;
  /** Most ops one connection may watch (limits.maxAccepts). */
  maxAccepts: number;
  /** Most rooms one connection may be in (limits.maxRooms). */
  maxRooms: number;
  /** Most rooms with a multi-room member on this comet (limits.maxCometRooms); default: no bound. */
  maxCometRooms?: number;
  /** Where refused room changes, subs and oversized accept sets are counted and logged. */
  limitLog: LimitLog;
  /** Time of the heartbeat deadlines and routing refreshes (the sweep's clock). */
  clock: Clock;
  /** Replays history to opted-in connections joining a room (docs/history.md#replay). */
  replays?: Replays;
  /** Bounds the Connect, Disconnect and routing-refresh calls in flight (limits.logicCalls). */
  calls: LogicCalls;
  /** Durable inbox streams of connections that opted in (docs/protocol.md#durable-inbox). */
  inbox?: InboxDelivery;
}

/** An op-12 request: the room, and for an opted-in connection what to replay there. */
interface RoomRequest {
  roomId: string;
  ask: HistoryAsk | null;
}

const INT32_LIST_ITEM = /^[+-]?[0-9]+$/;

/** goim's SplitInt32s: comma-separated base-10 int32s; null when any element is bad. */
export function parseOpList(body: Buffer): number[] | null {
  if (body.length === 0) return [];
  const parts = body.toString('latin1').split(',');
  const ops: number[] = [];
  for (const p of parts) {
    if (!INT32_LIST_ITEM.test(p)) return null;
    const n = Number(p);
    if (n < -2147483648 || n > 2147483647) return null;
    ops.push(n);
  }
  return ops;
}

/** Property names are stored flat: a lookup by `s` flattens it (and every reference to it). */
const FLATTEN: Record<string, unknown> = {};

/**
 * A key in one piece. randomUUID() builds its text by concatenation, which V8 keeps as a
 * tree of ~15 string parts: ~490 bytes instead of ~64 for every idle connection, in the
 * connection and in logic's session maps. After the lookup V8 points the original at a
 * flat copy, and the next GC moves every reference (the maps' too) to that copy.
 */
function flatKey(key: string): string {
  void FLATTEN[key];
  return key;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class ClientProtocol {
  private readonly serverId: string;
  private readonly logic: LogicService;
  private readonly log: Logger;
  private readonly table: ConnectionTable;
  private readonly ring: number;
  private readonly refreshMs: number;
  private readonly maxAccepts: number;
  private readonly maxRooms: number;
  private readonly maxCometRooms: number;
  private readonly limitLog: LimitLog;
  private readonly clock: Clock;
  private readonly replays: Replays | undefined;
  private readonly calls: LogicCalls;
  private readonly inbox: InboxDelivery | undefined;
  private readonly accepts = new SharedAccepts();
  private lastRefreshWarn = -Infinity;
  private lastDisconnectWarn = -Infinity;
  /** Disconnect calls failed since the last warning. */
  private disconnectFailures = 0;
  /** Auth frames that ended registered, or refused by logic (metrics). */
  readonly auths = { ok: 0, failed: 0 };

  constructor(opts: ClientProtocolOptions) {
    this.serverId = opts.serverId;
    this.logic = opts.logic;
    this.log = opts.log;
    this.table = opts.table;
    this.ring = opts.ring;
    this.refreshMs = opts.routingRefreshMs;
    this.maxAccepts = opts.maxAccepts;
    this.maxRooms = opts.maxRooms;
    this.maxCometRooms = opts.maxCometRooms ?? Infinity;
    this.limitLog = opts.limitLog;
    this.clock = opts.clock;
    this.replays = opts.replays;
    this.calls = opts.calls;
    this.inbox = opts.inbox;
  }

  /** One decoded client frame. */
  onFrame(c: Connection, f: Frame): void {
    switch (c.state) {
      case State.Handshake:
        if (f.op === Op.Auth) this.auth(c, f);
        else this.log.debug({ remote: c.remote, op: f.op }, 'comet: frame before auth ignored');
        return;
      case State.Authing:
        // Kept for after registration, in order (goim reads them only after Connect returns).
        if (c.early!.length >= this.ring) c.close(`more than ${this.ring} frames sent during auth`, 'info');
        else c.early!.push(f);
        return;
      case State.Open:
        this.established(c, f);
        return;
      default:
        return;
    }
  }

  private auth(c: Connection, f: Frame): void {
    c.state = State.Authing;
    c.early = [];
    // Waits for a slot when limits.logicCalls calls are in flight; a full queue closes the connection.
    if (!this.calls.connect(c, () => this.callConnect(c, f))) {
      c.close(`${this.calls.gauges().connectsWaiting} handshakes already waiting for logic (limits.connectQueue)`, 'debug');
    }
  }

  private callConnect(c: Connection, f: Frame): Promise<void> {
    if (c.state !== State.Authing) return Promise.resolve(); // never call logic for a connection already gone
    let reply;
    try {
      reply = this.logic.connect({ server: this.serverId, cookie: c.cookie, token: f.body, clientIp: c.ip });
    } catch (err) {
      reply = Promise.reject(err);
    }
    c.cookie = ''; // only logic needs it (a browser's cookies can be kilobytes)
    return reply.then(
      (r) => {
        // Closed meanwhile (handshake timeout while it waited for a slot, client gone): logic
        // wrote routing to this comet for a connection it no longer holds. Undo it, unless a
        // newer connection with that key lives here (its routing is the same).
        if (c.state !== State.Authing) {
          const key = flatKey(r.key);
          if (!this.table.byKey.has(key)) this.disconnect({ mid: r.mid, key, server: this.serverId });
          return;
        }
        const accepts = this.accepts.of(r.accepts);
        if (accepts.size > this.maxAccepts) {
          this.tooManyAccepts(c, accepts.size);
          return;
        }
        // The auth reply goes out before the connection becomes reachable (docs/protocol.md).
        c.reply(frameBytes(c.isWs, Op.AuthReply, f.ver, f.seq));
        if (!c.open) return;
        c.mid = r.mid;
        c.key = flatKey(r.key);
        c.accepts = accepts;
        // What the auth mode granted binds later room changes and subs (docs/security.md).
        if (r.roomFixed === true) c.grantedRoom = r.roomId;
        if (r.acceptsFixed === true) c.grantedAccepts = c.accepts;
        if (r.rooms !== undefined) c.allowedRooms = new Set(r.rooms);
        // A missing or broken timeout ends the connection at once (as goim does for 0).
        c.heartbeatMs = Number.isFinite(r.heartbeatMs) ? r.heartbeatMs : 0;
        const old = this.table.register(c, r.roomId);
        // The old connection is already unregistered, so its close tells logic nothing:
        // a Disconnect would delete the routing just written for this one (docs/protocol.md#differs-same-key-disconnect).
        if (old !== undefined) old.close(`replaced by a new connection from ${c.remote}`, 'info');
        c.state = State.Open;
        this.auths.ok++;
        // Before the early frames: an op 12 among them starts its own replay after this one.
        if (r.history !== undefined && this.replays !== undefined) {
          c.history = r.history;
          if (c.room !== null) this.replays.start(c, r.history);
        }
        // Op 29 and the backlog follow the auth reply; live messages are held until they are read.
        if (r.inbox === true && this.inbox !== undefined) this.inbox.start(c);
        const t = this.clock.now();
        c.deadline = t + c.heartbeatMs;
        c.refreshAt = t + this.refreshDelay(0.5);
        const early = c.early;
        c.early = null;
        if (early !== null) for (const e of early) if (c.state === State.Open) this.established(c, e);
      },
      (err) => {
        this.auths.failed++;
        if (!c.open) return;
        this.log.info({ remote: c.remote, err: message(err) }, 'comet: auth failed');
        c.close(`auth failed: ${message(err)}`, 'debug');
      },
    );
  }

  private established(c: Connection, f: Frame): void {
    if (c.unanswered >= this.ring) {
      c.close(`more than ${this.ring} frames awaiting replies`, 'info');
      return;
    }
    switch (f.op) {
      case Op.Heartbeat:
        c.deadline = this.clock.now() + c.heartbeatMs;
        c.reply(heartbeatReplyBytes(c.isWs, f.ver, f.seq, onlineCount(c)));
        return;
      case Op.ChangeRoom: {
        const req = this.roomRequest(c, f.body);
        if (req === null) {
          this.limitLog.hit(Limit.HistoryRequest, { key: c.key, remote: c.remote });
          c.reply(frameBytes(c.isWs, Op.ChangeRoomReply, f.ver, f.seq, Buffer.from(c.room?.id ?? '')));
          return;
        }
        const { roomId } = req;
        const before = c.room;
        const seated = c.seats?.has(roomId) === true;
        if (c.seats !== null && roomId !== '' && !this.mayMoveMulti(c, roomId)) {
          c.reply(frameBytes(c.isWs, Op.ChangeRoomReply, f.ver, f.seq, Buffer.from(c.room?.id ?? '')));
          return;
        }
        // A multi-room connection's old primary seat, left by the move: its replay ends with it.
        const oldSeat = before !== null ? c.seats?.get(before.id) : undefined;
        if (roomId === '') {
          this.table.rooms.leave(c);
          this.replays?.drop(c);
        } else if (mayJoin(c, roomId)) {
          if (c.seats === null && roomId !== before?.id) this.replays?.drop(c); // the old room's replay ends with it
          this.table.rooms.join(c, roomId);
        } else {
          // Not the room the token or webhook granted: the connection stays where it is, and
          // the reply names that room instead of echoing the request (docs/protocol.md).
          this.limitLog.hit(Limit.RoomNotGranted, { key: c.key, remote: c.remote });
          c.reply(frameBytes(c.isWs, Op.ChangeRoomReply, f.ver, f.seq, Buffer.from(c.room?.id ?? '')));
          return;
        }
        if (oldSeat !== undefined && c.seats?.get(oldSeat.room.id) !== oldSeat) this.replays?.dropSeat(c, oldSeat);
        c.reply(frameBytes(c.isWs, Op.ChangeRoomReply, f.ver, f.seq, f.body));
        // After the reply: op 13 reaches the client before op 18 (docs/history.md#replay).
        if (req.ask === null || c.room === null || c.room === before || this.replays === undefined) return;
        if (c.seats === null) this.replays.start(c, req.ask);
        else if (!seated) this.replays.startSeat(c, c.seats.get(roomId)!, req.ask); // a room it was not in
        return;
      }
      case Op.Join:
        this.join(c, f);
        return;
      case Op.Leave:
        // tsim's op only once the connection is multi-room (op 19 is the opt-in); before, goim's generic path.
        if (c.seats !== null) this.leave(c, f);
        else this.generic(c, f);
        return;
      case Op.Sub:
      case Op.Unsub: {
        const ops = parseOpList(f.body);
        if (ops !== null) {
          const next = new Set(c.accepts); // the current set may be shared
          if (f.op === Op.Unsub) for (const op of ops) next.delete(op);
          else {
            const granted = c.grantedAccepts;
            let refused = 0;
            for (const op of ops) {
              if (granted === null || granted.has(op)) next.add(op);
              else refused++;
            }
            if (refused > 0) this.limitLog.hit(Limit.AcceptsNotGranted, { key: c.key, remote: c.remote, refused });
            // Checked before the set is kept anywhere: an endless stream of new ops costs nothing.
            if (next.size > this.maxAccepts) {
              this.tooManyAccepts(c, next.size);
              return;
            }
          }
          c.accepts = this.accepts.of(next);
        }
        c.reply(frameBytes(c.isWs, f.op + 1, f.ver, f.seq, f.body));
        return;
      }
      case Op.InboxAck:
      case Op.InboxFetch:
        // Only from a connection that opted in; from any other, goim's generic path.
        if (c.inbox !== null && this.inbox !== undefined) {
          if (f.op === Op.InboxAck) this.inbox.ack(c, f.ver, f.seq, f.body);
          else this.inbox.fetch(c, f.ver, f.seq, f.body);
          return;
        }
        this.generic(c, f);
        return;
      default:
        this.generic(c, f);
    }
  }

  /**
   * The op-12 body: goim's bare room id, or from an opted-in connection the JSON form
   * `{"room":"…","history":{…}}` (docs/history.md#opting-in). null: a JSON form that is not valid.
   * A bare id replays the token's `last` (its `since` belongs to the token's room).
   */
  private roomRequest(c: Connection, body: Buffer): RoomRequest | null {
    const opted = c.history;
    if (opted === null) return { roomId: body.toString(), ask: null };
    const fallback: HistoryAsk = { last: opted.last };
    if (body.length === 0 || body[0] !== 0x7b /* { */) return { roomId: body.toString(), ask: fallback };
    let v: unknown;
    try {
      v = JSON.parse(body.toString());
    } catch {
      return null;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
    const { room, history } = v as Record<string, unknown>;
    if (typeof room !== 'string') return null;
    if (history === undefined) return { roomId: room, ask: fallback };
    try {
      return { roomId: room, ask: historyAsk(history) };
    } catch (err) {
      if (err instanceof HistoryAskError) return null;
      throw err;
    }
  }

  /** Op 19: adds rooms, in order; the connection becomes multi-room at its first (docs/protocol.md#several-rooms). */
  private join(c: Connection, f: Frame): void {
    const req = joinRequest(f.body, true);
    let refusal: Refusal | null = req.ok ? null : req;
    /** Rooms joined now (not already in), with the replay each gets. */
    const replays: { room: string; ask: HistoryAsk }[] = [];
    if (!req.ok) {
      // refused as a whole: nothing joined
    } else if (c.history === null && req.asks.some((a) => a !== undefined)) {
      refusal = {
        ok: false,
        code: JoinCode.NoHistory,
        message: 'history: the connection did not opt in to room history (the auth token\'s "history")',
      };
    } else if (c.seats === null && c.room !== null && Buffer.byteLength(c.room.id) > MAX_ROOM_KEY_BYTES) {
      // Its room would be named in every envelope (a u16 length).
      refusal = { ok: false, code: JoinCode.Malformed, message: `the connection's room key is longer than ${MAX_ROOM_KEY_BYTES} bytes` };
    } else {
      for (let i = 0; i < req.rooms.length; i++) {
        const room = req.rooms[i];
        const seated = c.seats?.has(room) === true || (c.seats === null && c.room?.id === room);
        const r = this.joinOne(c, room);
        if (r === null) {
          // An opted-in connection replays what it asked for in a room it was not in, else the token's `last` (as op 12).
          if (!seated && c.history !== null) replays.push({ room, ask: req.asks[i] ?? { last: c.history.last } });
          continue;
        }
        // Of several rooms, the reply names the one refused; those before it are joined.
        refusal = req.rooms.length > 1 ? { ...r, room } : r;
        break;
      }
      // Multi-room now: a replay of its room still being read goes on enveloped.
      if (c.replay !== null && c.seats !== null) this.replays?.toSeat(c);
    }
    if (refusal !== null) this.refused(c, refusal.code, refusal.message);
    const body = refusal === null ? roomsReply(c, JoinCode.Ok) : roomsReply(c, refusal.code, refusal.message, refusal.room);
    c.reply(frameBytes(c.isWs, Op.JoinReply, f.ver, f.seq, body));
    // After the reply: op 20 reaches the client before the rooms' op 18 (docs/history.md#several-rooms).
    if (this.replays === undefined) return;
    for (const { room, ask } of replays) {
      const seat = c.seats?.get(room);
      if (seat !== undefined) this.replays.startSeat(c, seat, ask);
    }
  }

  private joinOne(c: Connection, room: string): Refusal | null {
    if (c.seats?.has(room) === true || (c.seats === null && c.room?.id === room)) {
      // Already in it: nothing changes (the connection still turns multi-room, as the client asked).
      this.table.rooms.multi(c);
      return null;
    }
    if (!mayJoin(c, room)) return { ok: false, code: JoinCode.NotGranted, message: 'the auth mode did not grant this room' };
    if (this.roomCount(c) >= this.maxRooms)
      return { ok: false, code: JoinCode.TooMany, message: `already in ${this.maxRooms} rooms (limits.maxRooms)` };
    if (this.cometFull(room)) return { ok: false, code: JoinCode.CometFull, message: this.cometFullMessage() };
    this.table.rooms.multi(c);
    this.table.rooms.add(c, room);
    return null;
  }

  /** Op 21 of a multi-room connection: leaves one of its rooms, the primary one included. */
  private leave(c: Connection, f: Frame): void {
    const req = joinRequest(f.body, false);
    let code: JoinCode = JoinCode.Ok;
    let why = '';
    if (!req.ok) {
      code = req.code;
      why = req.message;
    } else {
      const seat = c.seats?.get(req.rooms[0]);
      if (seat === undefined || !this.table.rooms.drop(c, req.rooms[0])) {
        code = JoinCode.NotIn;
        why = 'not in that room';
      } else this.replays?.dropSeat(c, seat); // what it held for that room goes with it
    }
    if (code !== JoinCode.Ok) this.refused(c, code, why);
    c.reply(frameBytes(c.isWs, Op.LeaveReply, f.ver, f.seq, roomsReply(c, code, why)));
  }

  /** Op 12 of a multi-room connection: a room key as op 19 takes it, within limits.maxRooms. */
  private mayMoveMulti(c: Connection, roomId: string): boolean {
    const key = checkKey(roomId);
    if (!key.ok) {
      this.refused(c, key.code, key.message);
      return false;
    }
    // Moving the primary room to a new one adds a room only when there was no primary room.
    if (c.room === null && !c.seats!.has(roomId) && this.roomCount(c) >= this.maxRooms) {
      this.refused(c, JoinCode.TooMany, 'limits.maxRooms');
      return false;
    }
    if (!c.seats!.has(roomId) && this.cometFull(roomId)) {
      this.refused(c, JoinCode.CometFull, this.cometFullMessage());
      return false;
    }
    return true;
  }

  /**
   * Whether a seat in `room` would take the comet past limits.maxCometRooms: joins hold up to
   * maxRooms rooms per connection, so the rooms multi-room connections sit in are bounded as a
   * whole (the room table, the online report). Counted by seats, so a room made with op 12 and
   * then joined counts too.
   */
  private cometFull(room: string): boolean {
    return this.table.rooms.seatedRooms >= this.maxCometRooms && this.table.rooms.firstSeat(room);
  }

  private cometFullMessage(): string {
    return `this server holds ${this.maxCometRooms} joined rooms (limits.maxCometRooms): try again later`;
  }

  private roomCount(c: Connection): number {
    return c.seats !== null ? c.seats.size : c.room !== null ? 1 : 0;
  }

  /** A refused op 19 / 21 (or op 12 of a multi-room connection): counted by limit name. */
  private refused(c: Connection, code: JoinCode, why: string): void {
    const limit =
      code === JoinCode.TooMany
        ? Limit.Rooms
        : code === JoinCode.CometFull
          ? Limit.CometRooms
          : code === JoinCode.NotGranted
            ? Limit.RoomNotGranted
            : Limit.RoomRequest;
    this.limitLog.hit(limit, { key: c.key, remote: c.remote, code, reason: why });
  }

  private tooManyAccepts(c: Connection, size: number): void {
    this.limitLog.hit(Limit.Accepts, { key: c.key, remote: c.remote, accepts: size });
    c.close(`would watch ${size} ops, more than limits.maxAccepts ${this.maxAccepts}`, 'info');
  }

  /** Any other op: Logic.Receive, then a header-only echo, in request order (docs/protocol.md, The generic path). */
  private generic(c: Connection, f: Frame): void {
    const slot = c.holdReply();
    let p;
    try {
      p = this.logic.receive({ mid: c.mid, key: c.key, room: receiveRoom(c, f), proto: { ver: f.ver, op: f.op, seq: f.seq, body: f.body } });
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (r) => c.releaseReply(slot, r.handled ? replyBytes(c, f, r.reply) : echoBytes(c, f)),
      (err) => {
        this.log.warn({ key: c.key, mid: String(c.mid), op: f.op, err: message(err) }, 'comet: receive failed');
        c.releaseReply(slot, echoBytes(c, f));
      },
    );
  }

  /** Refreshes one connection's routing in logic (called by the sweep); with the call queue full, later. */
  refreshRouting(c: Connection): void {
    c.refreshing = true;
    if (!this.calls.refresh(c, () => this.callRefresh(c))) {
      c.refreshing = false;
      c.refreshAt = this.clock.now() + Math.min(this.refreshMs, 10_000) * (0.5 + Math.random() * 0.5);
    }
  }

  private callRefresh(c: Connection): Promise<void> {
    let p;
    try {
      p = this.logic.heartbeat({ mid: c.mid, key: c.key, server: this.serverId });
    } catch (err) {
      p = Promise.reject(err);
    }
    return p.then(
      () => {
        c.refreshing = false;
        c.refreshAt = this.clock.now() + this.refreshDelay();
      },
      (err) => {
        c.refreshing = false;
        const t = this.clock.now();
        c.refreshAt = t + Math.min(this.refreshMs, 10_000) * (0.5 + Math.random() * 0.5);
        // Logic down means every connection fails: one line per 10 s is enough.
        if (t - this.lastRefreshWarn >= 10_000) {
          this.lastRefreshWarn = t;
          this.log.warn({ key: c.key, err: message(err) }, 'comet: routing refresh failed (retrying)');
        }
      },
    );
  }

  /**
   * Spread over [from, 1] of the period so connections made together do not refresh together:
   * the last quarter, and the last half for a connection's first refresh, so the clients of a
   * connect storm come back to logic over half a period rather than a quarter.
   */
  private refreshDelay(from = 0.75): number {
    return this.refreshMs > 0 ? this.refreshMs * (from + Math.random() * (1 - from)) : Infinity;
  }

  /** Connection.close hook: unregister, and tell logic unless a newer connection took over. */
  readonly closed: CloseHandler = (c, reason, level) => {
    const registered = this.table.byKey.get(c.key) === c;
    this.table.remove(c);
    this.inbox?.stop(c);
    this.calls.forget(c);
    if (this.log.isLevelEnabled(level)) {
      this.log[level]({ key: c.key || undefined, mid: String(c.mid), remote: c.remote, reason }, 'comet: connection closed');
    }
    if (registered) this.disconnect({ mid: c.mid, key: c.key, server: this.serverId });
  };

  /**
   * Removes a connection's routing in logic. The removal compares the server only, so a newer
   * connection with the same key on this comet would lose its routing too: a Disconnect that
   * waited while such a connection registered is not made, and one that ran alongside its
   * Connect has that connection refresh its routing at the next sweep.
   */
  private disconnect(ref: { mid: bigint; key: string; server: string }): void {
    this.calls.disconnect(ref.key, () => {
      if (this.table.byKey.has(ref.key)) return Promise.resolve();
      let p;
      try {
        p = this.logic.disconnect(ref);
      } catch (err) {
        p = Promise.reject(err);
      }
      return p.then(
        () => this.afterDisconnect(ref.key),
        (err: unknown) => {
          this.afterDisconnect(ref.key);
          this.disconnectFailed(ref.key, ref.mid, err);
        },
      );
    });
  }

  private afterDisconnect(key: string): void {
    const newer = this.table.byKey.get(key);
    if (newer !== undefined && newer.state === State.Open) newer.refreshAt = 0;
  }

  /** Logic down or overloaded fails many at once: one line per 10 s, with the count. */
  private disconnectFailed(key: string, mid: bigint, err: unknown): void {
    this.disconnectFailures++;
    const t = this.clock.now();
    if (t - this.lastDisconnectWarn < 10_000) return;
    this.lastDisconnectWarn = t;
    this.log.warn({ key, mid: String(mid), failed: this.disconnectFailures, err: message(err) }, 'comet: disconnect failed');
    this.disconnectFailures = 0;
  }

  /** Waits for the Disconnect calls in flight and queued, at most `ms`. */
  settleDisconnects(ms: number): Promise<void> {
    return this.calls.settle(ms);
  }
}

/** Heartbeat count: the room's (global, else local) count; 0 outside any room (fixes goim #11). */
function onlineCount(c: Connection): number {
  return c.room === null ? 0 : c.room.onlineCount();
}

/**
 * The room Logic.Receive is told the connection is in: its primary room, or for a danmaku of a
 * multi-room connection naming one of its other rooms, that room (docs/history.md#sending).
 * Logic refuses a danmaku whose room is not the one it is told.
 */
function receiveRoom(c: Connection, f: Frame): string {
  const primary = c.room?.id ?? '';
  if (c.seats === null || f.op !== Op.SendMsg || f.body[0] !== 0x7b /* { */) return primary;
  let v: unknown;
  try {
    v = JSON.parse(f.body.toString()); // bounded by protocol.maxBody
  } catch {
    return primary;
  }
  const room = typeof v === 'object' && v !== null ? (v as { room?: unknown }).room : undefined;
  return typeof room === 'string' && c.seats.has(room) ? room : primary;
}

/** Logic answered the frame (a danmaku, op 4): op 5 with its reply body, ver and seq echoed (docs/history.md#sending). */
function replyBytes(c: Connection, f: Frame, body: Uint8Array | undefined): Buffer {
  return frameBytes(c.isWs, Op.SendMsgReply, f.ver, f.seq, body);
}

/** The generic-path echo, with goim's corner cases for ops 3 and 9 (docs/protocol.md, The generic path). */
function echoBytes(c: Connection, f: Frame): Buffer | null {
  if (f.op === Op.HeartbeatReply) return heartbeatReplyBytes(c.isWs, f.ver, f.seq, onlineCount(c));
  if (f.op === Op.Raw && !c.isWs) return null; // goim writes an op-9 body raw: nothing
  return frameBytes(c.isWs, f.op, f.ver, f.seq);
}

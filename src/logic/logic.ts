// The logic role (docs/architecture.md): authenticates comet connections and keeps their
// routing in the session store, turns push requests into queue messages, counts rooms online
// and balances clients over the registered comets. Its HTTP API is in http/.
import { createHash, randomUUID } from 'node:crypto';
import { MemorySendGuard } from '../adapters/memory/send-guard.js';
import type { HistoryRoomTypes } from '../config/history-settings.js';
import type { Logger } from '../log.js';
import { Op } from '../protocol/ops.js';
import {
  AppId,
  PushType,
  type ConnectReply,
  type ConnectRequest,
  type HistoryReply,
  type HistoryRequest,
  type DeviceMark,
  type HistoryStore,
  type InboxAckRequest,
  type InboxSeqs,
  type InboxReply,
  type InboxRequest,
  type InboxStore,
  type Instance,
  type LogicService,
  type NodesReply,
  type PageBound,
  type ProgressCursor,
  type PushMsg,
  type PushQueue,
  type ReceiveRequest,
  type ReceiveResult,
  type Registry,
  type SessionRef,
  type SessionStore,
} from '../ports/index.js';
import type { SendGuard } from '../ports/send-guard.js';
import { AuthDeniedError, type AuthIdentity, type AuthResult, type AuthStats, type Authenticator } from './auth/authenticator.js';
import { GoimAuthenticator } from './auth/goim.js';
import { WeightedBalancer } from './balancer.js';
import { acceptComets } from './comet-filter.js';
import { Danmaku } from './danmaku/danmaku.js';
import { newMessageId } from './message-id.js';
import { OnlineRooms, type OnlineTotal, type RoomTop } from './online.js';
import { HistoryReader, NoHistoryError, type HistoryPage } from './history-reader.js';
import { Inbox, InboxUnavailableError, type InboxApiPage, type InboxSettings } from './inbox.js';
import { encodeRoomKey } from './room-key.js';
import type { RoomTypes } from './room-types.js';

/** What logic tells clients about the comets (config `node` and `backoff`); durations in ms. */
export interface NodeSettings {
  /** The one node given while no comet is known. */
  defaultDomain: string;
  /** Web clients get `<comet hostname><hostDomain>`. */
  hostDomain: string;
  tcpPort: number;
  wsPort: number;
  wssPort: number;
  /** How often clients send a heartbeat. */
  heartbeat: number;
  /** Heartbeats a connection may miss before its comet closes it. */
  heartbeatMax: number;
  /** Weight boost of comets in the client's region (goim's balancer). */
  regionWeight: number;
  /** Reconnect backoff clients are told to use (goim's units: seconds, factor, jitter). */
  backoff: { maxDelay: number; baseDelay: number; factor: number; jitter: number };
}

/** What the logic role takes from the configuration, resolved by the wiring; durations in ms. */
export interface LogicSettings {
  node: NodeSettings;
  /** How often the global room counts are rebuilt (logic.onlineReload). */
  onlineReload: number;
  /** A comet's room snapshot older than this is discarded (logic.onlineStale). */
  onlineStale: number;
  /** The largest push message accepted (push.maxBytes, resolved). */
  pushMaxBytes: number;
  /** What each room type enables ([roomTypes]); none when absent. */
  roomTypes?: RoomTypes;
  /** Durable pushes and new devices (`[inbox]`, delivery part); default: no op durable unless asked, new devices from now on. */
  inbox?: InboxSettings;
}

export interface LogicOptions extends LogicSettings {
  store: SessionStore;
  queue: PushQueue;
  registry: Registry;
  log: Logger;
  /** How connections are authenticated (the wiring builds the one `auth.mode` names); default goim's: the token is trusted. */
  authenticator?: Authenticator;
  /** Slow mode and nonces of danmaku (docs/history.md#limits): Redis in distributed mode; default in this process. */
  sendGuard?: SendGuard;
  /** Room history (docs/history.md); without it no room has history. */
  history?: HistoryStore;
  /** The room types that keep history (config/history-settings.ts). */
  historyTypes?: HistoryRoomTypes;
  /** Told of every Connect call (a distributed logic's memory settle, lib/memory-settle.ts). */
  onConnect?: () => void;
  /** Users' durable inboxes (docs/protocol.md#durable-inbox); without it durable pushes are refused as unavailable. */
  inboxStore?: InboxStore;
}

/** goim waits this long for the registry's first comet list before its first online reload. */
const FIRST_WATCH_WAIT_MS = 10_000;
/** Web clients get host names, every other platform IP addresses (goim model.PlatformWeb). */
const PLATFORM_WEB = 'web';
/** Refused pushes are logged at most this often (each one is counted). */
const REFUSED_LOG_EVERY_MS = 10_000;

/**
 * A push message bigger than push.maxBytes: no comet could queue it for a connection, so it
 * is refused (HTTP 413) instead of being accepted and dropped (docs/http-api.md).
 */
export class PushTooLargeError extends Error {
  override name = 'PushTooLargeError';
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`push message of ${bytes} bytes exceeds push.maxBytes (${limit})`);
  }
}

export class Logic implements LogicService {
  private readonly onConnect: (() => void) | undefined;
  private readonly node: NodeSettings;
  private readonly onlineReloadMs: number;
  private readonly onlineStaleMs: number;
  private readonly store: SessionStore;
  private readonly queue: PushQueue;
  private readonly registry: Registry;
  private readonly log: Logger;
  private readonly authenticator: Authenticator;
  private readonly historyReader: HistoryReader | undefined;
  /** Durable pushes and device watermarks; undefined without an inbox store. */
  private readonly inboxes: Inbox | undefined;
  /** Plain counters for metrics: connections accepted, denials per reason class. */
  private readonly auths: AuthStats = { accepted: 0, denied: {} };

  private readonly online = new OnlineRooms();
  private readonly balancer = new WeightedBalancer();
  /** Comets that passed the metadata filter, as last reported by the registry. */
  private usable: Instance[] = [];
  private connCount = 0;
  private ipCount = 0;
  /** Push API calls by kind (metrics). */
  readonly pushCounts = { keys: 0, mids: 0, room: 0, broadcast: 0 };
  /** Push API calls refused before queueing, by reason (metrics). */
  readonly pushRefused = { too_large: 0 };
  /** push.maxBytes in effect. */
  private readonly pushMax: number;
  private refusedUnlogged = 0;
  private refusedLoggedAt = -Infinity;
  /** Op 4 in room types with `send` (docs/history.md#sending). */
  readonly danmaku: Danmaku;

  private stopWatch: (() => void) | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private started = false;
  private closed = false;

  constructor(opts: LogicOptions) {
    this.node = { ...opts.node, backoff: { ...opts.node.backoff } };
    this.onlineReloadMs = opts.onlineReload;
    this.onlineStaleMs = opts.onlineStale;
    this.store = opts.store;
    this.queue = opts.queue;
    this.registry = opts.registry;
    this.log = opts.log;
    this.authenticator = opts.authenticator ?? new GoimAuthenticator();
    this.onConnect = opts.onConnect;
    this.pushMax = opts.pushMaxBytes;
    this.danmaku = new Danmaku({
      roomTypes: opts.roomTypes ?? new Map(),
      guard: opts.sendGuard ?? new MemorySendGuard(),
      queue: opts.queue,
      log: opts.log,
      pushMaxBytes: opts.pushMaxBytes,
    });
    this.historyReader = opts.history && new HistoryReader(opts.history, opts.historyTypes ?? new Map());
    this.inboxes = opts.inboxStore && new Inbox(opts.inboxStore, opts.inbox ?? { durableOps: [], newDeviceRecent: 0 });
  }

  /** Watches the registry for comets, loads the online counts once, then every `logic.onlineReload`. */
  async start(): Promise<void> {
    if (this.started) throw new Error('logic: already started');
    this.started = true;
    let firstList!: () => void;
    const firstSeen = new Promise<void>((resolve) => (firstList = resolve));
    this.stopWatch = this.registry.watch(AppId.Comet, (instances) => {
      this.onComets(instances);
      firstList();
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.log.warn(`logic: no comet list from the registry within ${FIRST_WATCH_WAIT_MS} ms; continuing`);
        resolve();
      }, FIRST_WATCH_WAIT_MS);
    });
    await Promise.race([firstSeen, timedOut]);
    clearTimeout(timer);
    if (this.closed) return;
    await this.reloadOnline();
    this.scheduleReload();
  }

  /** Stops the reload loop and the registry watch; the store, queue and registry stay open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopWatch?.();
    this.stopWatch = undefined;
    clearTimeout(this.reloadTimer);
    this.danmaku.close();
    await this.authenticator.close?.();
    await this.reloading;
  }

  // ---- comet → logic (goim.logic.Logic) ---------------------------------------------

  /**
   * Rejects when the auth mode refuses the connection: with an AuthDeniedError ("auth denied:
   * <why>"), or in goim mode with goim's TokenError. Store errors are only logged.
   */
  async connect(req: ConnectRequest): Promise<ConnectReply> {
    this.onConnect?.();
    const token = await this.authenticate(req);
    const key = token.key !== '' ? token.key : randomUUID();
    const ref: SessionRef = { mid: token.mid, key, server: req.server };
    try {
      await this.store.addMapping(ref);
    } catch (err) {
      this.log.error({ err, mid: String(token.mid), key, server: req.server }, `logic: storing the routing of key=${key} on ${req.server} failed`);
    }
    if (this.log.isLevelEnabled('debug'))
      this.log.debug({ mid: String(token.mid), key, server: req.server, roomId: token.roomId }, 'logic: connected');
    return {
      mid: token.mid,
      key,
      roomId: token.roomId,
      accepts: token.accepts,
      heartbeatMs: this.node.heartbeat * this.node.heartbeatMax,
      roomFixed: token.roomFixed === true,
      acceptsFixed: token.acceptsFixed === true,
      ...(token.rooms !== undefined ? { rooms: token.rooms } : {}),
      ...(token.history !== undefined ? { history: token.history } : {}),
      // Anonymous users (mid ≤ 0) are not reachable by mid, so they have no inbox.
      ...(token.inbox === true && token.mid > 0n ? { inbox: true } : {}),
    };
  }

  /** Connections accepted and denied (per reason class) since start; a copy. */
  authStats(): AuthStats {
    return { accepted: this.auths.accepted, denied: { ...this.auths.denied } };
  }

  private async authenticate(req: ConnectRequest): Promise<AuthIdentity> {
    let result: AuthResult;
    try {
      result = await this.authenticator.authenticate(req);
    } catch (err) {
      this.log.error({ err }, 'logic: the authenticator failed');
      result = { ok: false, reason: 'internal', message: 'internal error' };
    }
    if (result.ok) {
      this.auths.accepted++;
      return result;
    }
    this.auths.denied[result.reason] = (this.auths.denied[result.reason] ?? 0) + 1;
    // The comet logs the message; here the reason class and a token fingerprint, never the token.
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug(
        { reason: result.reason, server: req.server, clientIp: req.clientIp, token: fingerprint(req.token) },
        `logic: auth denied (${result.reason}): ${result.message}`,
      );
    }
    throw result.error ?? new AuthDeniedError(result.reason, result.message);
  }

  disconnect(ref: SessionRef): Promise<boolean> {
    return this.store.delMapping(ref);
  }

  /** Refreshes the routing TTLs; re-adds the routing when it had lapsed. */
  async heartbeat(ref: SessionRef): Promise<void> {
    if (!(await this.store.expireMapping(ref))) await this.store.addMapping(ref);
  }

  async renewOnline(server: string, roomCount: Record<string, number>): Promise<Record<string, number>> {
    await this.store.addServerOnline({ server, roomCount: { ...roomCount }, updated: Math.floor(Date.now() / 1000) });
    return this.online.all();
  }

  async receive(req: ReceiveRequest): Promise<ReceiveResult> {
    const proto = req.proto;
    if (proto.op === Op.SendMsg) {
      const r = await this.danmaku.receive(req);
      if (r.handled) return r;
    }
    // goim has no client-originated messaging: the frame is only logged.
    this.log.debug({ mid: String(req.mid), op: proto.op, seq: proto.seq, bytes: proto.body.length }, 'logic: received a client message');
    return { handled: false };
  }

  /** A room's history for a joining connection (docs/history.md#replay). */
  async history(req: HistoryRequest): Promise<HistoryReply> {
    if (this.historyReader === undefined) return { epoch: '', first: 1, last: 0, records: [], recovered: true };
    return this.historyReader.replay(req);
  }

  /** A page of a user's inbox for one of its devices (docs/protocol.md#durable-inbox). */
  async inbox(req: InboxRequest): Promise<InboxReply> {
    return this.inboxOrFail().read(req);
  }

  /** Raises a device's watermark (op 24, after comet checked it against what it delivered). */
  async inboxAck(req: InboxAckRequest): Promise<number> {
    return this.inboxOrFail().ack(req);
  }

  // ---- inbox API (docs/http-api.md#inbox) ---------------------------------------------

  /** Entries of `mid`'s inbox with seq > `after`. */
  async inboxPage(mid: bigint, after: number, limit: number, maxBytes: number): Promise<InboxApiPage> {
    return this.inboxOrFail().page(mid, after, limit, maxBytes);
  }

  async inboxDevices(mid: bigint): Promise<DeviceMark[]> {
    return this.inboxOrFail().devices(mid);
  }

  async inboxDelete(mid: bigint, upTo: number, forgetDevices: boolean): Promise<number> {
    return this.inboxOrFail().delete(mid, upTo, forgetDevices);
  }

  /** Durable pushes stored and refused for a storage failure (metrics). */
  inboxCounts(): { stored: number; unavailable: number } {
    return { ...(this.inboxes?.counts ?? { stored: 0, unavailable: 0 }) };
  }

  private inboxOrFail(): Inbox {
    if (this.inboxes === undefined) throw new InboxUnavailableError('no inbox storage configured');
    return this.inboxes;
  }

  // ---- history API (docs/http-api.md#history) ----------------------------------------

  /** Records of room `type://room` after `since`, within `bound`; rejects with NoHistoryError for a type without history. */
  historyPage(type: string, room: string, since: number, bound: PageBound): Promise<HistoryPage> {
    return this.reader(type).page(type, encodeRoomKey(type, room), since, bound);
  }

  /** Records of room `type://room` from the cursor `from` whose progress is below `to`, within `bound`. */
  historyProgress(type: string, room: string, from: ProgressCursor, to: number, bound: PageBound): Promise<HistoryPage> {
    return this.reader(type).progress(type, encodeRoomKey(type, room), from, to, bound);
  }

  private reader(type: string): HistoryReader {
    if (this.historyReader === undefined) throw new NoHistoryError(`room type ${JSON.stringify(type)} keeps no history`);
    return this.historyReader;
  }

  /** The comets a client should connect to (goim's weighted balancer) and its connection settings. */
  async nodes(platform: string, clientIp: string): Promise<NodesReply> {
    return this.nodesReply(platform, clientIp);
  }

  // ---- push API (docs/http-api.md#push) ----------------------------------------------

  /** Publishes one PUSH message per comet holding any of `keys`; unknown keys are dropped. */
  async pushKeys(op: number, keys: string[], msg: Uint8Array): Promise<void> {
    this.pushCounts.keys++;
    this.checkSize(msg, 'keys');
    if (keys.length === 0) return;
    const servers = await this.store.serversByKeys(keys);
    await this.publishByServer(
      op,
      keys.map((key, i) => [key, servers[i] ?? ''] as const),
      msg,
    );
  }

  /**
   * Publishes one PUSH message per comet holding any connection of `mids`. A durable push
   * (`durable`, else `inbox.durableOps`) is first stored in each user's inbox (mids above 0,
   * once each) and carries their seqs; a storage failure rejects with InboxUnavailableError
   * and nothing is published (docs/protocol.md#durable-inbox).
   */
  async pushMids(op: number, mids: bigint[], msg: Uint8Array, durable?: boolean): Promise<void> {
    this.pushCounts.mids++;
    this.checkSize(msg, 'mids');
    let inbox: InboxSeqs | undefined;
    if (this.inboxes?.isDurable(op, durable) ?? durable === true) {
      const users = [...new Set(mids.filter((m) => m > 0n))];
      if (users.length === 0) return;
      const seqs = await this.inboxOrFail().append(users, newMessageId(), op, msg, Date.now());
      inbox = { mids: users, seqs };
      // The routing is looked up after the append: a device registering meanwhile reads the
      // message from its backlog, one registered before gets it here.
      mids = users;
    }
    if (mids.length === 0) return;
    await this.publishByServer(op, await this.store.keysByMids(mids), msg, inbox);
  }

  pushRoom(op: number, type: string, room: string, msg: Uint8Array): Promise<void> {
    this.pushCounts.room++;
    if (msg.length > this.pushMax) return Promise.reject(this.tooLarge(msg, 'room'));
    const push: PushMsg = { type: PushType.ROOM, operation: op, speed: 0, server: '', room: encodeRoomKey(type, room), keys: [], msg };
    // History recognises a redelivered message by its id (docs/history.md#the-queue-message).
    push.id = newMessageId();
    push.time = Date.now();
    return this.queue.publish(push);
  }

  pushAll(op: number, speed: number, msg: Uint8Array): Promise<void> {
    this.pushCounts.broadcast++;
    if (msg.length > this.pushMax) return Promise.reject(this.tooLarge(msg, 'broadcast'));
    return this.queue.publish({ type: PushType.BROADCAST, operation: op, speed, server: '', room: '', keys: [], msg });
  }

  /** Throws PushTooLargeError for a message over push.maxBytes. */
  private checkSize(msg: Uint8Array, kind: string): void {
    if (msg.length > this.pushMax) throw this.tooLarge(msg, kind);
  }

  /** Counts the refusal, logs it (at most every 10 s, with the count) and returns the error. */
  private tooLarge(msg: Uint8Array, kind: string): PushTooLargeError {
    this.pushRefused.too_large++;
    this.refusedUnlogged++;
    const t = performance.now();
    if (t - this.refusedLoggedAt >= REFUSED_LOG_EVERY_MS) {
      this.refusedLoggedAt = t;
      this.log.warn(
        { kind, bytes: msg.length, maxBytes: this.pushMax, refused: this.refusedUnlogged },
        'logic: push refused: message larger than push.maxBytes',
      );
      this.refusedUnlogged = 0;
    }
    return new PushTooLargeError(msg.length, this.pushMax);
  }

  /** One PUSH message per comet, for the keys routed to it (a key or comet of '' is skipped). */
  private async publishByServer(
    op: number,
    routes: Iterable<readonly [key: string, server: string]>,
    msg: Uint8Array,
    inbox?: InboxSeqs,
  ): Promise<void> {
    const groups = new Map<string, string[]>();
    for (const [key, server] of routes) {
      if (key === '' || server === '') continue;
      const group = groups.get(server);
      if (group) group.push(key);
      else groups.set(server, [key]);
    }
    const sends: Promise<void>[] = [];
    for (const [server, keys] of groups) {
      const push: PushMsg = { type: PushType.PUSH, operation: op, speed: 0, server, room: '', keys, msg };
      if (inbox !== undefined) push.inbox = inbox;
      sends.push(this.queue.publish(push));
    }
    await Promise.all(sends);
  }

  // ---- online and nodes (docs/http-api.md#online, #nodes) ----------------------------

  /** The largest rooms of `type` (a key prefix), at most `limit`, largest first. */
  onlineTop(type: string, limit: number): RoomTop[] {
    return this.online.top(type, limit);
  }

  /** The largest rooms of every type by their full keys ("live://1000"), at most `limit` (the operations console). */
  roomsTop(limit: number): { room: string; count: number }[] {
    return this.online.topKeys(limit);
  }

  /**
   * Where the connections of user `mid` (or the one connection `key`) are routed, as the session
   * store holds it: key → comet server id, at most `max` keys (the operations console).
   */
  async routesOf(who: { mid: bigint } | { key: string }, max: number): Promise<{ key: string; server: string }[]> {
    if ('key' in who) {
      const [server] = await this.store.serversByKeys([who.key]);
      return server ? [{ key: who.key, server }] : [];
    }
    const out: { key: string; server: string }[] = [];
    for (const [key, server] of await this.store.keysByMids([who.mid])) {
      if (out.length >= max) break;
      out.push({ key, server });
    }
    return out;
  }

  /** The count of each requested room of `type` (0 when unknown), each room once. */
  onlineRooms(type: string, rooms: readonly string[]): Map<string, number> {
    return this.online.rooms(type, rooms);
  }

  /** Connections and client IPs on the usable comets, as their registrations report. */
  onlineTotal(): OnlineTotal {
    return { connCount: this.connCount, ipCount: this.ipCount };
  }

  /** The comets that passed the metadata filter (empty before the registry reported any). */
  comets(): readonly Instance[] {
    return this.usable;
  }

  /** Rebuilds the global room counts now (the reload loop calls this). */
  reloadOnline(): Promise<void> {
    this.reloading ??= this.online
      .reload(
        this.store,
        this.usable.map((c) => c.hostname),
        this.onlineStaleMs,
        this.log,
      )
      .catch((err: unknown) => {
        this.log.error({ err }, 'logic: reloading the online counts failed; keeping the previous counts');
      })
      .finally(() => {
        this.reloading = undefined;
      });
    return this.reloading;
  }

  private scheduleReload(): void {
    if (this.closed) return;
    this.reloadTimer = setTimeout(() => {
      void this.reloadOnline().then(() => this.scheduleReload());
    }, this.onlineReloadMs);
    this.reloadTimer.unref();
  }

  private onComets(all: Instance[]): void {
    if (this.closed) return;
    const accepted = acceptComets(all);
    this.usable = accepted.instances;
    this.connCount = accepted.connCount;
    this.ipCount = accepted.ipCount;
    if (!this.balancer.update(accepted.instances) && this.balancer.size > 0) {
      this.log.warn(
        `logic: balancer kept its ${this.balancer.size} nodes: the registry reported ${accepted.instances.length} usable comets (empty or less than half)`,
      );
    }
  }

  private nodesReply(platform: string, clientIp: string): NodesReply {
    const node = this.node;
    const { domains, addrs } = this.balancer.nodeAddrs(this.regionOf(clientIp), node.hostDomain, node.regionWeight);
    const nodes = platform === PLATFORM_WEB ? domains : addrs;
    return {
      domain: node.defaultDomain,
      tcpPort: node.tcpPort,
      wsPort: node.wsPort,
      wssPort: node.wssPort,
      heartbeat: Math.trunc(node.heartbeat / 1000),
      nodes: nodes.length > 0 ? nodes : [node.defaultDomain],
      backoff: { ...node.backoff },
      heartbeatMax: node.heartbeatMax,
    };
  }

  /**
   * The client's region for the balancer. goim's IP → province lookup is a stub that
   * always yields "", so region weighting only boosts comets registered without a region;
   * tsim keeps that behaviour.
   */
  private regionOf(_clientIp: string): string {
    return '';
  }
}

/** Enough of a token's hash to match log lines of one client, not to recover the token. */
function fingerprint(token: Uint8Array): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

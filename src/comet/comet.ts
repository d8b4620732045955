// The comet role (docs/architecture.md#roles): client listeners, connections, rooms, and the
// goim.comet.Comet operations job calls (directly when embedded, through gRPC otherwise).
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { MemorySettle, type MemorySettleCounts } from '../lib/memory-settle.js';
import { systemClock, type Clock } from '../lib/clock.js';
import type { Logger } from '../log.js';
import type { BucketCounts } from '../metrics/bucket-counts.js';
import { watchFds } from '../fd-probe.js';
import { fdOvercommit } from '../file-descriptors.js';
import type { LimitHits } from '../metrics/limit-hits.js';
import type { InboxSeqs, LogicService, Proto, Registry, RoomBatchParts } from '../ports/index.js';
import { CONNECTION_INFO_MAX, CONNECTION_ROOMS_MAX, type ConnectionInfo } from '../ports/comet-admin.js';
import type { Frame } from '../protocol/frame.js';
import { ClientProtocol } from './client-protocol.js';
import { clientIp, Connection } from './connection.js';
import { ConnectionTable } from './connection-table.js';
import { DeadlineSweep } from './deadlines.js';
import { Admission, type AdmissionLimits } from './admission.js';
import { Limit, LimitLog } from './limit-log.js';
import { LogicCalls, type LogicCallCounts, type LogicCallLimits } from './logic-calls.js';
import { Fanout, type PushCounts, type PushKind } from './fanout.js';
import { InboxDelivery, type InboxDeliveryCounts } from './inbox-delivery.js';
import { OnlineReporter } from './online-reporter.js';
import { Outbound, unsent } from './outbound.js';
import { Registration, type RegistrationSettings } from './registration.js';
import { Replays, REPLAY_LIMIT } from './replay.js';
import type { Room } from './room.js';
import { DEFAULT_REPLAY_CACHE_BYTES, RoomTails } from './room-tail.js';
import { TcpServer, type TransportCounters } from './tcp-server.js';
import type { TlsCredentials } from './tls-credentials.js';
import { loadTlsListeners, type CertFiles } from './tls-listeners.js';
import { WsServer } from './ws-server.js';

/** The client listeners' addresses and TLS files (config tcp and websocket sections). */
export interface CometListeners {
  /** tcp.bind */
  tcp: string[];
  /** tcp.tlsBind */
  tcpTls: string[];
  /** websocket.bind */
  ws: string[];
  /** websocket.tlsBind, or undefined when websocket.tlsOpen is off (no wss, no wss certificates). */
  wss: string[] | undefined;
  /** tcp.keepalive: TCP keep-alive on client sockets. */
  keepalive: boolean;
  /** comet.listenBacklog: the client listeners' accept queue. */
  backlog: number;
  /** websocket.certFile / privateFile. */
  wsCertificates: CertFiles;
  /** tcp.certFile / privateFile (both empty: the websocket ones, see tls-listeners.ts). */
  tcpCertificates: CertFiles;
}

/** Inbox pages and holds per connection (docs/configuration.md#inbox--durable-inbox-logic-comet). */
export interface CometInboxSettings {
  pageMessages: number;
  pageBytes: number;
  holdMessages: number;
  holdBytes: number;
}

const DEFAULT_INBOX: CometInboxSettings = { pageMessages: 100, pageBytes: 64 << 10, holdMessages: 256, holdBytes: 256 << 10 };

/** The client protocol settings a comet applies (config protocol section). */
export interface CometProtocol {
  cliProto: number;
  maxBody: number;
  sendQueueBytes: number;
  slowPolicy: 'drop' | 'disconnect';
  handshakeTimeout: number;
  /** The part of sendQueueBytes only replies may use (config/push-limits.ts sendQueueSplit). */
  replyReserve: number;
}

/** The config limits section. */
export interface CometLimits extends AdmissionLimits, LogicCallLimits {
  maxAccepts: number;
  /** limits.maxRooms: rooms one connection may be in (docs/protocol.md#several-rooms). */
  maxRooms: number;
  /** limits.maxCometRooms: rooms with a multi-room member this comet may hold (docs/protocol.md#several-rooms). */
  maxCometRooms: number;
  maxRefusedWaiting: number;
}

/** The comet's periods (config comet section), in ms. */
export interface CometTimers {
  sweepInterval: number;
  routingRefresh: number;
  renewOnline: number;
  shutdownWait: number;
}

/** What a comet takes from the configuration; the wiring builds it (config/comet-settings.ts). */
export interface CometSettings {
  listeners: CometListeners;
  protocol: CometProtocol;
  admission: CometLimits;
  timers: CometTimers;
  /** push.maxThrottled */
  maxThrottled: number;
  /** comet.replayCache: bytes of recent room records kept for joiners (docs/history.md#replay-cache); 0 = none. */
  replayCacheBytes?: number;
  /** memory.settleAfter / settleQuiet (docs/operations.md#memory-after-connect-storms); absent = never. */
  memorySettle?: { after: number; quietMs: number; growth?: number };
  /** Durable inbox delivery (`[inbox]`, delivery part); default: the schema's defaults. */
  inbox?: CometInboxSettings;
  /** What the registry entry says besides the counts (env section, registry.refresh). */
  registration: RegistrationSettings;
}

export interface CometOptions extends CometSettings {
  /** This comet's server id (goim host name): routing values and registry hostname. */
  serverId: string;
  logic: LogicService;
  log: Logger;
  /** When given, this comet registers as goim.comet and refreshes every registry.refresh. */
  registry?: Registry;
  /** e.g. "grpc://127.0.0.1:3109"; the registered address when given. */
  rpcAddr?: string;
  /** Where refusals by a `limits` setting (and oversized client frames) are counted. */
  limits?: LimitHits;
  /** Time for deadlines, rate limits and push pacing (default: the system clock; tests pass a manual one). */
  clock?: Clock;
  /**
   * Most live room bytes held for one connection while its join replay is read
   * (docs/history.md#replay); default protocol.sendQueueBytes, the most it could be sent anyway.
   */
  replayHoldBytes?: number;
}

export interface CometStats {
  /** Authenticated connections. */
  connections: number;
  /** Distinct client IPs among them. */
  ips: number;
  /** Rooms with at least one local member. */
  rooms: number;
  /** Pushes skipped because a connection was over protocol.sendQueueBytes. */
  pushesDropped: number;
  /** Connections closed for not reading fast enough. */
  slowDisconnects: number;
}

/** Counters since start and live views, read when metrics are scraped. */
export interface CometCounters extends TransportCounters {
  /** Accepted sockets not closed yet, authenticated or not. */
  sockets: number;
  authOk: number;
  authFailed: number;
  /** Push calls received from job, socket writes made, writes dropped over the cap. */
  pushesReceived: Readonly<PushCounts>;
  pushesDelivered: Readonly<PushCounts>;
  pushesDropped: Readonly<PushCounts>;
  slowDisconnects: number;
  /** Write calls on client sockets (one per socket per event-loop turn with output). */
  socketWrites: number;
  /** Pushes bigger than protocol.sendQueueBytes on their own (docs/configuration.md, [push]). */
  pushesTooLarge?: number;
  /** Throttled broadcasts walking now (at most push.maxThrottled). */
  throttledWalks?: number;
  /** Room batches a retried call carried that the room had already: not written again. */
  roomBatchesRepeated?: number;
  /** Room calls whose batch numbers could not be used (written whole). */
  roomCallsUnnumbered?: number;
  /** Seconds from a push call to the end of its fan-out loop (live objects, not copies). */
  fanoutLatency: Readonly<Record<PushKind, BucketCounts>>;
  /** Join replays ended, by result (docs/history.md#replay). */
  replays?: Readonly<Record<string, number>>;
  /** Where joins' records came from: the room tails (cache), history reads (store), reads completed from the tails. */
  replayReads?: Readonly<Record<string, number>>;
  /** Durable inbox delivery (docs/protocol.md#durable-inbox): frames, duplicates, re-reads, reads, acks. */
  inbox?: Readonly<InboxDeliveryCounts> & { acksWaiting?: number };
  /** Bytes and rooms held by the replay cache (comet.replayCache). */
  replayCache?: { bytes: number; rooms: number };
  /** Last-resort collections after connect storms (memory.settleAfter); absent when off. */
  memorySettles?: Readonly<MemorySettleCounts>;
  /** Session calls to logic (limits.logicCalls): in flight, waiting, and what waited or was never made. */
  logicCalls?: LogicCallCounts & { inFlight: number; connectsWaiting: number; backgroundWaiting: number };
}

/** Smallest power of two >= n (goim rounds cliProto up: 5 → 8). */
function ringSize(n: number): number {
  let r = 1;
  while (r < n) r <<= 1;
  return r;
}

export class Comet {
  private readonly settings: CometSettings;
  private readonly serverId: string;
  private readonly log: Logger;
  private readonly table = new ConnectionTable();
  private readonly out: Outbound;
  private readonly protocol: ClientProtocol;
  private readonly calls: LogicCalls;
  private readonly replays: Replays;
  private readonly inbox: InboxDelivery;
  private readonly replayTails: RoomTails<Room>;
  private readonly sweep: DeadlineSweep;
  private readonly fanout: Fanout;
  private readonly online: OnlineReporter;
  private readonly registration: Registration | undefined;
  private readonly tcp: TcpServer[] = [];
  private readonly ws: WsServer[] = [];
  private readonly admission: Admission;
  /** Certificates of the wss and TCP-over-TLS listeners (at most two sets), reloaded by reloadTls(). */
  private readonly credentials: TlsCredentials[] = [];
  private readonly transport: TransportCounters = { tcpAccepted: 0, wsAccepted: 0, tcpFramesRejected: 0, wsFramesRejected: 0, tlsHandshakes: 0 };
  private phase: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private stopping: Promise<void> | undefined;
  private readonly limitHits: LimitHits | undefined;
  private readonly clock: Clock;
  /** Stops this comet's use of the descriptor probe (fd-probe.ts). */
  private releaseFds: (() => void) | undefined;
  private readonly settle: MemorySettle | undefined;

  constructor(opts: CometOptions) {
    const { serverId, logic, log, protocol, admission, timers } = opts;
    this.settings = opts;
    this.serverId = serverId;
    const clock = (this.clock = opts.clock ?? systemClock);
    this.log = log;
    this.limitHits = opts.limits;
    const ring = ringSize(protocol.cliProto);
    // Room for the replies of a full ring, so heartbeats still pass a client slowed by pushes.
    this.out = new Outbound({
      capBytes: protocol.sendQueueBytes,
      replyReserve: protocol.replyReserve,
      slowPolicy: protocol.slowPolicy,
    });
    this.admission = new Admission(admission, new LimitLog(opts.limits, log, 'comet', clock), undefined, clock);
    // Replayed records are bounded by recordBytes per join, so a room's tail needs no more.
    const recordBytes = Math.floor((protocol.sendQueueBytes - protocol.replyReserve) / 2);
    const tails = new RoomTails<Room>(opts.replayCacheBytes ?? DEFAULT_REPLAY_CACHE_BYTES, recordBytes, REPLAY_LIMIT);
    this.replayTails = tails;
    // What an emptied room misses while nobody is here is unknown: its tail goes with it.
    this.table.rooms.onDeleted = (room) => tails.drop(room);
    this.replays = new Replays({
      logic,
      log,
      out: this.out,
      clock,
      limitLog: this.admission.log,
      // Held batches and replayed records share what a connection may queue for pushes
      // (docs/history.md#replay): half each, so the replay never runs into the slow policy.
      holdBytes: opts.replayHoldBytes ?? Math.floor((protocol.sendQueueBytes - protocol.replyReserve) / 2),
      recordBytes,
      tails,
    });
    const inbox = opts.inbox ?? DEFAULT_INBOX;
    this.inbox = new InboxDelivery({
      maxCalls: admission.logicCalls,
      logic,
      log,
      out: this.out,
      limitLog: this.admission.log,
      pageMessages: inbox.pageMessages,
      // A page always fits a push share that is half full.
      pageBytes: Math.min(inbox.pageBytes, recordBytes),
      holdMessages: inbox.holdMessages,
      holdBytes: inbox.holdBytes,
    });
    this.calls = new LogicCalls(admission, this.admission.log, log, clock);
    this.protocol = new ClientProtocol({
      calls: this.calls,
      serverId,
      logic,
      log,
      table: this.table,
      ring,
      routingRefreshMs: timers.routingRefresh,
      maxAccepts: admission.maxAccepts,
      maxRooms: admission.maxRooms,
      maxCometRooms: admission.maxCometRooms,
      limitLog: this.admission.log,
      clock,
      replays: this.replays,
      inbox: this.inbox,
    });
    this.sweep = new DeadlineSweep(this.table, timers.sweepInterval, (c) => this.protocol.refreshRouting(c), clock);
    const replays = this.replays;
    this.fanout = new Fanout(this.table, this.out, {
      maxThrottled: opts.maxThrottled,
      limits: this.admission.log,
      clock,
      hold: (c, bytes, seat) => replays.hold(c, bytes, seat),
      inbox: (c, seq, op, body) => this.inbox.live(c, seq, op, body),
      tails,
      // Counted every time (metrics); logged the first time only: a sender that gets it wrong does so on every call.
      unnumbered: (reason) => {
        if (this.fanout.unnumberedCalls === 1) log.debug({ reason }, 'comet: room call batch numbers not used; the whole call was written');
      },
    });
    this.online = new OnlineReporter(this.table.rooms, logic, serverId, timers.renewOnline, log);
    if (opts.memorySettle !== undefined && opts.memorySettle.after > 0)
      this.settle = new MemorySettle({ ...opts.memorySettle, clock, log, name: 'comet' });
    if (opts.registry) {
      this.registration = new Registration({
        registry: opts.registry,
        settings: opts.registration,
        serverId,
        rpcAddr: opts.rpcAddr,
        log,
        counts: () => ({ connections: this.table.connections, ips: this.table.ipCount }),
      });
    }
  }

  /** Binds every tcp.bind and websocket.bind address, starts the loops, registers. */
  async start(): Promise<void> {
    if (this.phase !== 'new') throw new Error('comet: start() may be called only once');
    this.phase = 'starting';
    const { admission } = this;
    const { protocol } = this.settings;
    const hooks = {
      admit: (socket: Socket) => this.phase !== 'stopped' && admission.admit(socket) === undefined,
      accept: (socket: Socket, isWs: boolean) => this.accept(socket, isWs),
      onFrame: (c: Connection, f: Frame) => {
        if (admission.frame(c)) this.protocol.onFrame(c, f);
      },
      reply: (c: Connection, bytes: Buffer) => this.out.reply(c, bytes),
      countFrame: (c: Connection) => admission.frame(c),
      frameTooLarge: (c: Connection) =>
        admission.log.hit(Limit.ClientFrameSize, { key: c.key || undefined, remote: c.remote, maxBody: protocol.maxBody }),
      log: this.log,
      maxBody: protocol.maxBody,
      counters: this.transport,
      limits: admission.log,
      handshakeTimeoutMs: protocol.handshakeTimeout,
      maxRefusedWaiting: this.settings.admission.maxRefusedWaiting,
    };
    try {
      const { tcp, tcpTls, ws, wss, wsCertificates, tcpCertificates } = this.settings.listeners;
      const tls = await loadTlsListeners({
        wss: wss !== undefined,
        tcpTls: tcpTls.length > 0,
        websocket: wsCertificates,
        tcp: tcpCertificates,
        handshakeTimeoutMs: protocol.handshakeTimeout,
      });
      this.credentials.push(...tls.credentials);
      for (const bind of tcp) this.tcp.push(new TcpServer(bind, hooks));
      for (const bind of tcpTls) this.tcp.push(new TcpServer(bind, hooks, tls.tcp));
      for (const bind of ws) this.ws.push(new WsServer(bind, hooks));
      if (tls.wss !== undefined) for (const bind of wss ?? []) this.ws.push(new WsServer(bind, hooks, tls.wss));
      for (const s of [...this.tcp, ...this.ws]) await s.listen(this.settings.listeners.backlog);
    } catch (err) {
      await Promise.all([...this.tcp, ...this.ws].map((s) => s.close()));
      this.phase = 'stopped';
      throw err;
    }
    this.sweep.start();
    this.online.start();
    this.settle?.start();
    this.releaseFds = watchFds(this.limitHits, this.log);
    await this.registration?.start();
    if (this.phase !== 'starting') return; // stop() was called meanwhile
    this.phase = 'running';
    const { maxConnections, maxConnectionsPerIp, fdLimit, reserved } = this.admission.caps;
    this.log.info(
      { tcp: this.tcpAddresses().map(fmt), ws: this.wsAddresses().map(fmt), maxConnections, maxConnectionsPerIp, fdLimit, reservedFds: reserved },
      'comet: listening',
    );
    const needs = this.settings.admission.fdNeeds;
    const over = needs && fdOvercommit(this.admission.caps, needs);
    if (over)
      this.log.warn(
        over,
        'comet: the connection caps add up to more than the open-file limit: raise it (ulimit -n) or lower them (docs/operations.md#file-descriptors)',
      );
  }

  /**
   * Deregisters, stops accepting, closes every connection (each told to logic with
   * Disconnect, waiting at most comet.shutdownWait), and clears its timers.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    if (this.phase === 'new') {
      this.phase = 'stopped';
      return;
    }
    this.phase = 'stopped';
    this.sweep.stop();
    this.settle?.stop();
    this.releaseFds?.();
    this.online.stop();
    this.fanout.stop();
    await this.registration?.stop();
    const closing = [...this.tcp, ...this.ws].map((s) => s.close());
    // What was already written (e.g. batches job drained into us) still reaches the
    // clients: sockets are ended, and only those still unflushed at the deadline destroyed.
    const all = this.table.all.slice();
    const flushed = all.map((c) => (c.socket.destroyed ? undefined : once(c.socket, 'close').catch(() => {})));
    for (let i = all.length - 1; i >= 0; i--) all[i].close('comet shutting down', 'debug', true);
    const deadline = setTimeout(() => {
      for (const c of all) c.socket.destroy();
    }, this.settings.timers.shutdownWait);
    await Promise.all([this.protocol.settleDisconnects(this.settings.timers.shutdownWait), ...flushed]);
    clearTimeout(deadline);
    await Promise.all(closing);
  }

  /** Bound TCP listeners: tcp.bind, then tcp.tlsBind. */
  tcpAddresses(): AddressInfo[] {
    return this.tcp.map((s) => s.address()).filter((a): a is AddressInfo => a !== undefined);
  }

  /** Bound WebSocket listeners: websocket.bind, then websocket.tlsBind (when tlsOpen). */
  wsAddresses(): AddressInfo[] {
    return this.ws.map((s) => s.address()).filter((a): a is AddressInfo => a !== undefined);
  }

  /** Bound TCP-over-TLS listeners (tcp.tlsBind). */
  tcpTlsAddresses(): AddressInfo[] {
    return this.tcp
      .filter((s) => s.secure)
      .map((s) => s.address())
      .filter((a): a is AddressInfo => a !== undefined);
  }

  /** Bound wss listeners (websocket.tlsBind). */
  wssAddresses(): AddressInfo[] {
    return this.ws
      .filter((s) => s.secure)
      .map((s) => s.address())
      .filter((a): a is AddressInfo => a !== undefined);
  }

  /**
   * Re-reads the TLS certificate and key files (on SIGHUP). New connections get the new
   * certificates; open ones keep theirs. A file that cannot be read or used is logged and
   * the certificates in use stay; never rejects.
   */
  async reloadTls(): Promise<void> {
    for (const c of this.credentials) {
      try {
        await c.load();
        this.log.info({ certFile: c.certFile, fingerprints: c.fingerprints() }, 'comet: tls certificates reloaded');
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'comet: tls reload failed; keeping the certificates in use');
      }
    }
  }

  /** goim Comet.PushMsg: to the given keys, filtered by their accepts; a durable push's seqs per user in `inbox`. */
  pushMsg(keys: string[], protoOp: number, proto: Proto, inbox?: InboxSeqs): void {
    this.fanout.pushMsg(keys, protoOp, proto, inbox);
  }

  /** goim Comet.Broadcast: to every connection watching protoOp, at `speed` connections/s when > 0. */
  broadcast(protoOp: number, proto: Proto, speed: number): void {
    this.fanout.broadcast(protoOp, proto, speed);
  }

  /**
   * goim Comet.BroadcastRoom: to every member of the room (no accepts filter); `parts`: the
   * job lane's batch numbers, so a retried call writes only the batches the room did not have.
   */
  broadcastRoom(roomId: string, proto: Proto, parts?: RoomBatchParts | null): void {
    this.fanout.broadcastRoom(roomId, proto, parts);
  }

  /** goim Comet.Rooms: rooms with at least one local member. */
  rooms(): string[] {
    return this.table.rooms.ids();
  }

  stats(): CometStats {
    return {
      connections: this.table.connections,
      ips: this.table.ipCount,
      rooms: this.table.rooms.size,
      pushesDropped: this.out.pushesDropped,
      slowDisconnects: this.out.slowDisconnects,
    };
  }

  /** Detailed counters for metrics (stats() stays the short summary). */
  counters(): CometCounters {
    const f = this.fanout;
    return {
      ...this.transport,
      sockets: this.table.all.length,
      authOk: this.protocol.auths.ok,
      authFailed: this.protocol.auths.failed,
      pushesReceived: { ...f.received },
      pushesDelivered: { ...f.delivered },
      pushesDropped: { ...f.dropped },
      slowDisconnects: this.out.slowDisconnects,
      socketWrites: this.out.socketWrites,
      pushesTooLarge: this.out.pushesTooLarge,
      throttledWalks: f.throttledWalks,
      roomBatchesRepeated: f.repeatedBatches,
      roomCallsUnnumbered: f.unnumberedCalls,
      fanoutLatency: f.latency,
      replays: { ...this.replays.results },
      replayReads: { ...this.replays.reads },
      inbox: { ...this.inbox.counts, acksWaiting: this.inbox.acksWaiting },
      replayCache: { bytes: this.replayTails.bytes, rooms: this.replayTails.size },
      memorySettles: this.settle?.counts,
      logicCalls: { ...this.calls.gauges(), waited: { ...this.calls.counts.waited }, shed: { ...this.calls.counts.shed } },
    };
  }

  /** The connections with these keys, for the operations console (at most CONNECTION_INFO_MAX keys are looked at). */
  connectionInfo(keys: readonly string[]): ConnectionInfo[] {
    const out: ConnectionInfo[] = [];
    for (const key of keys.slice(0, CONNECTION_INFO_MAX)) {
      const c = this.table.byKey.get(key);
      if (c !== undefined && c.open) out.push(this.describe(c));
    }
    return out;
  }

  /** Up to `limit` (at most CONNECTION_INFO_MAX) of a room's members here, and how many it has here (the operations console). */
  roomMembers(roomId: string, limit: number): { connections: ConnectionInfo[]; total: number } {
    const room = this.table.rooms.get(roomId);
    if (room === undefined) return { connections: [], total: 0 };
    const n = Math.max(0, Math.min(limit, CONNECTION_INFO_MAX));
    const members = [...room.members.slice(0, n), ...room.seats.slice(0, Math.max(0, n - room.members.length)).map((s) => s.member)];
    return { connections: members.map((c) => this.describe(c)), total: room.size };
  }

  private describe(c: Connection): ConnectionInfo {
    const rooms = c.seats !== null ? [...c.seats.keys()] : c.room !== null ? [c.room.id] : [];
    return {
      key: c.key,
      mid: String(c.mid),
      comet: this.serverId,
      remote: c.remote,
      rooms: rooms.slice(0, CONNECTION_ROOMS_MAX),
      since: c.since,
      transport: c.isWs ? 'websocket' : 'tcp',
      tls: 'encrypted' in c.socket,
    };
  }

  /** Closes the connection with this key (the operations console); false when there is none. */
  disconnect(key: string): boolean {
    const c = this.table.byKey.get(key);
    if (c === undefined || !c.open) return false;
    c.close('disconnected from the operations console', 'info');
    return true;
  }

  /** Bytes waiting unsent on the connection with this key (diagnostics, tests). */
  sendQueueBytes(key: string): number | undefined {
    const c = this.table.byKey.get(key);
    return c === undefined ? undefined : unsent(c);
  }

  private accept(socket: Socket, isWs: boolean): Connection | null {
    const address = socket.remoteAddress;
    if (this.phase === 'stopped' || address === undefined) {
      socket.destroy();
      return null;
    }
    if (isWs) this.transport.wsAccepted++;
    else this.transport.tcpAccepted++;
    this.settle?.count();
    socket.setNoDelay(true);
    socket.setKeepAlive(this.settings.listeners.keepalive);
    const remote = address.includes(':') ? `[${address}]:${socket.remotePort}` : `${address}:${socket.remotePort}`;
    const c = new Connection(
      socket,
      isWs,
      clientIp(address),
      remote,
      this.clock.now() + this.settings.protocol.handshakeTimeout,
      this.out,
      this.protocol.closed,
    );
    this.table.add(c);
    // One listener for both events: a closure less per connection.
    const onEnd = (err?: Error | boolean): void => c.close(err instanceof Error ? `socket error: ${err.message}` : 'closed by peer');
    socket.on('error', onEnd);
    socket.on('close', onEnd);
    return c;
  }
}

function fmt(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

// The comet role (spec §3): client listeners, connections, rooms, and the goim.comet.Comet
// operations job calls (directly when embedded, through gRPC otherwise).
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { BucketCounts } from '../metrics/bucket-counts.js';
import { watchFds } from '../fd-probe.js';
import type { LimitHits } from '../metrics/limit-hits.js';
import type { LogicService, Proto, Registry } from '../ports/index.js';
import type { Frame } from '../protocol/frame.js';
import { ClientProtocol } from './client-protocol.js';
import { now } from './clock.js';
import { clientIp, Connection } from './connection.js';
import { ConnectionTable } from './connection-table.js';
import { DeadlineSweep } from './deadlines.js';
import { Admission } from './admission.js';
import { Limit, LimitLog } from './limit-log.js';
import { Fanout, type PushCounts, type PushKind } from './fanout.js';
import { OnlineReporter } from './online-reporter.js';
import { Outbound, unsent } from './outbound.js';
import { sendQueueSplit } from '../config/push-limits.js';
import { Registration } from './registration.js';
import { TcpServer, type ListenerTls, type TransportCounters } from './tcp-server.js';
import { TlsCredentials } from './tls-credentials.js';
import { WsServer } from './ws-server.js';

export interface CometOptions {
  /** Uses env, tcp, websocket, protocol, limits, comet and registry. */
  config: Config;
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
  /** Seconds from a push call to the end of its fan-out loop (live objects, not copies). */
  fanoutLatency: Readonly<Record<PushKind, BucketCounts>>;
}

/** Smallest power of two >= n (goim rounds cliProto up: 5 → 8). */
function ringSize(n: number): number {
  let r = 1;
  while (r < n) r <<= 1;
  return r;
}

export class Comet {
  private readonly config: Config;
  private readonly log: Logger;
  private readonly table = new ConnectionTable();
  private readonly out: Outbound;
  private readonly protocol: ClientProtocol;
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
  /** Stops this comet's use of the descriptor probe (fd-probe.ts). */
  private releaseFds: (() => void) | undefined;

  constructor(opts: CometOptions) {
    const { config, serverId, logic, log } = opts;
    this.config = config;
    this.log = log;
    this.limitHits = opts.limits;
    const ring = ringSize(config.protocol.cliProto);
    // Room for the replies of a full ring, so heartbeats still pass a client slowed by pushes.
    const { replyReserve } = sendQueueSplit(config.protocol);
    this.out = new Outbound({
      capBytes: config.protocol.sendQueueBytes,
      replyReserve,
      slowPolicy: config.protocol.slowPolicy,
    });
    this.admission = new Admission(config.limits, new LimitLog(opts.limits, log));
    this.protocol = new ClientProtocol({
      serverId,
      logic,
      log,
      table: this.table,
      ring,
      routingRefreshMs: config.comet.routingRefresh,
      maxAccepts: config.limits.maxAccepts,
      limitLog: this.admission.log,
    });
    this.sweep = new DeadlineSweep(this.table, config.comet.sweepInterval, (c) => this.protocol.refreshRouting(c));
    this.fanout = new Fanout(this.table, this.out, { maxThrottled: config.push.maxThrottled, limits: this.admission.log });
    this.online = new OnlineReporter(this.table.rooms, logic, serverId, config.comet.renewOnline, log);
    if (opts.registry) {
      this.registration = new Registration({
        registry: opts.registry,
        config,
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
    const hooks = {
      admit: (socket: Socket) => this.phase !== 'stopped' && admission.admit(socket) === undefined,
      accept: (socket: Socket, isWs: boolean) => this.accept(socket, isWs),
      onFrame: (c: Connection, f: Frame) => {
        if (admission.frame(c)) this.protocol.onFrame(c, f);
      },
      reply: (c: Connection, bytes: Buffer) => this.out.reply(c, bytes),
      countFrame: (c: Connection) => admission.frame(c),
      frameTooLarge: (c: Connection) =>
        admission.log.hit(Limit.ClientFrameSize, { key: c.key || undefined, remote: c.remote, maxBody: this.config.protocol.maxBody }),
      log: this.log,
      maxBody: this.config.protocol.maxBody,
      counters: this.transport,
      limits: admission.log,
      handshakeTimeoutMs: this.config.protocol.handshakeTimeout,
      maxRefusedWaiting: this.config.limits.maxRefusedWaiting,
    };
    try {
      const { tcp, websocket, protocol } = this.config;
      const tlsOf = async (certFile: string, privateFile: string, what: string): Promise<ListenerTls> => {
        const credentials = new TlsCredentials(certFile, privateFile, what);
        await credentials.load();
        this.credentials.push(credentials);
        return { credentials, handshakeTimeoutMs: protocol.handshakeTimeout };
      };
      const wssTls = websocket.tlsOpen ? await tlsOf(websocket.certFile, websocket.privateFile, 'websocket.certFile') : undefined;
      let tcpTls: ListenerTls | undefined;
      if (tcp.tlsBind.length > 0) {
        // Unset tcp certificate files mean the wss ones.
        const own = tcp.certFile !== '' || tcp.privateFile !== '';
        tcpTls =
          !own && wssTls !== undefined
            ? wssTls
            : await tlsOf(own ? tcp.certFile : websocket.certFile, own ? tcp.privateFile : websocket.privateFile, own ? 'tcp.certFile' : 'websocket.certFile (for tcp.tlsBind)');
      }
      for (const bind of tcp.bind) this.tcp.push(new TcpServer(bind, hooks));
      for (const bind of tcp.tlsBind) this.tcp.push(new TcpServer(bind, hooks, tcpTls));
      for (const bind of websocket.bind) this.ws.push(new WsServer(bind, hooks));
      if (wssTls !== undefined) for (const bind of websocket.tlsBind) this.ws.push(new WsServer(bind, hooks, wssTls));
      for (const s of [...this.tcp, ...this.ws]) await s.listen();
    } catch (err) {
      await Promise.all([...this.tcp, ...this.ws].map((s) => s.close()));
      this.phase = 'stopped';
      throw err;
    }
    this.sweep.start();
    this.online.start();
    this.releaseFds = watchFds(this.limitHits, this.log);
    await this.registration?.start();
    if (this.phase !== 'starting') return; // stop() was called meanwhile
    this.phase = 'running';
    const { maxConnections, maxConnectionsPerIp, fdLimit } = this.admission.caps;
    this.log.info(
      { tcp: this.tcpAddresses().map(fmt), ws: this.wsAddresses().map(fmt), maxConnections, maxConnectionsPerIp, fdLimit },
      'comet: listening',
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
    }, this.config.comet.shutdownWait);
    await Promise.all([this.protocol.settleDisconnects(this.config.comet.shutdownWait), ...flushed]);
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
    return this.tcp.filter((s) => s.secure).map((s) => s.address()).filter((a): a is AddressInfo => a !== undefined);
  }

  /** Bound wss listeners (websocket.tlsBind). */
  wssAddresses(): AddressInfo[] {
    return this.ws.filter((s) => s.secure).map((s) => s.address()).filter((a): a is AddressInfo => a !== undefined);
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

  /** goim Comet.PushMsg: to the given keys, filtered by their accepts. */
  pushMsg(keys: string[], protoOp: number, proto: Proto): void {
    this.fanout.pushMsg(keys, protoOp, proto);
  }

  /** goim Comet.Broadcast: to every connection watching protoOp, at `speed` connections/s when > 0. */
  broadcast(protoOp: number, proto: Proto, speed: number): void {
    this.fanout.broadcast(protoOp, proto, speed);
  }

  /** goim Comet.BroadcastRoom: to every member of the room (no accepts filter). */
  broadcastRoom(roomId: string, proto: Proto): void {
    this.fanout.broadcastRoom(roomId, proto);
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
      fanoutLatency: f.latency,
    };
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
    socket.setNoDelay(true);
    socket.setKeepAlive(this.config.tcp.keepalive);
    const remote = address.includes(':') ? `[${address}]:${socket.remotePort}` : `${address}:${socket.remotePort}`;
    const c = new Connection(
      socket,
      isWs,
      clientIp(address),
      remote,
      now() + this.config.protocol.handshakeTimeout,
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

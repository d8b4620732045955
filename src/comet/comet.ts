// The comet role (spec §3): client listeners, connections, rooms, and the goim.comet.Comet
// operations job calls (directly when embedded, through gRPC otherwise).
import type { AddressInfo, Socket } from 'node:net';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { LogicClient, Proto, Registry } from '../ports/index.js';
import { HEADER_LEN, type Frame } from '../protocol/frame.js';
import { ClientProtocol } from './client-protocol.js';
import { now } from './clock.js';
import { clientIp, Connection } from './connection.js';
import { ConnectionTable } from './connection-table.js';
import { DeadlineSweep } from './deadlines.js';
import { Fanout } from './fanout.js';
import { OnlineReporter } from './online-reporter.js';
import { Outbound } from './outbound.js';
import { Registration } from './registration.js';
import { TcpServer } from './tcp-server.js';
import { WsServer } from './ws-server.js';

export interface CometOptions {
  /** Uses env, tcp, websocket, protocol, comet and registry. */
  config: Config;
  /** This comet's server id (goim host name): routing values and registry hostname. */
  serverId: string;
  logic: LogicClient;
  log: Logger;
  /** When given, this comet registers as goim.comet and refreshes every registry.refresh. */
  registry?: Registry;
  /** e.g. "grpc://127.0.0.1:3109"; the registered address when given. */
  rpcAddr?: string;
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
  private phase: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private stopping: Promise<void> | undefined;

  constructor(opts: CometOptions) {
    const { config, serverId, logic, log } = opts;
    this.config = config;
    this.log = log;
    const ring = ringSize(config.protocol.cliProto);
    // Room for the replies of a full ring, so heartbeats still pass a client slowed by pushes.
    const replyReserve = Math.min(config.protocol.sendQueueBytes >> 2, ring * (HEADER_LEN + config.protocol.maxBody + 10));
    this.out = new Outbound({
      capBytes: config.protocol.sendQueueBytes,
      replyReserve,
      slowPolicy: config.protocol.slowPolicy,
    });
    this.protocol = new ClientProtocol({
      serverId,
      logic,
      log,
      table: this.table,
      ring,
      routingRefreshMs: config.comet.routingRefresh,
    });
    this.sweep = new DeadlineSweep(this.table, config.comet.sweepInterval, (c) => this.protocol.refreshRouting(c));
    this.fanout = new Fanout(this.table, this.out);
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
    const hooks = {
      accept: (socket: Socket, isWs: boolean) => this.accept(socket, isWs),
      onFrame: (c: Connection, f: Frame) => this.protocol.onFrame(c, f),
      reply: (c: Connection, bytes: Buffer) => this.out.reply(c, bytes),
      log: this.log,
      maxBody: this.config.protocol.maxBody,
    };
    for (const bind of this.config.tcp.bind) this.tcp.push(new TcpServer(bind, hooks));
    for (const bind of this.config.websocket.bind) this.ws.push(new WsServer(bind, hooks));
    try {
      for (const s of [...this.tcp, ...this.ws]) await s.listen();
    } catch (err) {
      await Promise.all([...this.tcp, ...this.ws].map((s) => s.close()));
      this.phase = 'stopped';
      throw err;
    }
    this.sweep.start();
    this.online.start();
    await this.registration?.start();
    if (this.phase !== 'starting') return; // stop() was called meanwhile
    this.phase = 'running';
    this.log.info(
      { tcp: this.tcpAddresses().map(fmt), ws: this.wsAddresses().map(fmt) },
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
    this.online.stop();
    this.fanout.stop();
    await this.registration?.stop();
    const closing = [...this.tcp, ...this.ws].map((s) => s.close());
    const all = this.table.all;
    for (let i = all.length - 1; i >= 0; i--) all[i].close('comet shutting down');
    await this.protocol.settleDisconnects(this.config.comet.shutdownWait);
    await Promise.all(closing);
  }

  tcpAddresses(): AddressInfo[] {
    return this.tcp.map((s) => s.address()).filter((a): a is AddressInfo => a !== undefined);
  }

  wsAddresses(): AddressInfo[] {
    return this.ws.map((s) => s.address()).filter((a): a is AddressInfo => a !== undefined);
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

  /** Bytes waiting unsent on the connection with this key (diagnostics, tests). */
  sendQueueBytes(key: string): number | undefined {
    return this.table.byKey.get(key)?.socket.writableLength;
  }

  private accept(socket: Socket, isWs: boolean): Connection | null {
    const address = socket.remoteAddress;
    if (this.phase === 'stopped' || address === undefined) {
      socket.destroy();
      return null;
    }
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
    socket.on('error', (err) => c.close(`socket error: ${err.message}`));
    socket.on('close', () => c.close('closed by peer'));
    return c;
  }
}

function fmt(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

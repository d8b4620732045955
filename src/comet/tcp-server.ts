// Raw TCP listener (docs/protocol.md#frames): a byte stream of goim frames per connection, in
// the clear or over TLS (beyond goim: tcp.tlsBind).
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { Logger } from '../log.js';
import { FrameError, FrameReader, type Frame } from '../protocol/frame.js';
import type { Connection } from './connection.js';
import { Limit, type LimitLog } from './limit-log.js';
import { closeServer, listen, onListenerError } from './listener.js';
import type { TlsCredentials } from './tls-credentials.js';
import { TlsHandshakes, type TlsHandshakeCounters } from './tls-deadline.js';

/** TLS settings of a listener. */
export interface ListenerTls {
  credentials: TlsCredentials;
  /** A TLS handshake not done within this long of accept drops the socket (protocol.handshakeTimeout). */
  handshakeTimeoutMs: number;
}

export interface TransportHooks {
  /**
   * Admission limits, checked first on every new socket (before a TLS handshake); false =
   * refused, and the listener drops the socket.
   */
  admit(socket: Socket): boolean;
  /** Creates and tracks the connection for a new socket; null when the socket is unusable. */
  accept(socket: Socket, isWs: boolean): Connection | null;
  /** A decoded client frame. */
  onFrame(c: Connection, f: Frame): void;
  log: Logger;
  maxBody: number;
  /** Counted per transport (metrics). */
  counters: TransportCounters;
  /** A client frame over protocol.maxBody (counted as a limit hit; the caller closes). */
  frameTooLarge(c: Connection): void;
  /** Where listeners count and log what they refuse (TLS handshake timeouts, accepts failing for lack of descriptors). */
  limits: LimitLog;
}

/** Connections accepted and frames that failed to decode, by transport; TLS handshakes in progress. */
export interface TransportCounters extends TlsHandshakeCounters {
  tcpAccepted: number;
  wsAccepted: number;
  tcpFramesRejected: number;
  wsFramesRejected: number;
}

/** The handshake deadline of a TLS listener's admitted sockets, counted in `hooks`. */
export function tlsHandshakes(server: TlsServer, bind: string, hooks: TransportHooks, tls: ListenerTls): TlsHandshakes {
  const timedOut = (raw: Socket): void =>
    hooks.limits.hit(Limit.TlsHandshakeTimeout, { remote: raw.remoteAddress, bind, timeoutMs: tls.handshakeTimeoutMs });
  return new TlsHandshakes(server, tls.handshakeTimeoutMs, hooks.counters, timedOut, hooks.log, bind);
}

export class TcpServer {
  private readonly server: Server;
  private bound: AddressInfo | undefined;

  constructor(
    private readonly bind: string,
    private readonly hooks: TransportHooks,
    private readonly tls?: ListenerTls,
  ) {
    if (tls === undefined) {
      this.server = createServer((socket) => {
        if (hooks.admit(socket)) this.onConnection(socket);
        else socket.destroy();
      });
    } else {
      const server = createTlsServer({ ...tls.credentials.serverOptions(), handshakeTimeout: tls.handshakeTimeoutMs }, (socket) => {
        handshakes.done(socket);
        this.onConnection(socket);
      });
      const handshakes = tlsHandshakes(server, bind, hooks, tls);
      // 'connection' is the plain socket, before the handshake: refusing costs no crypto.
      server.on('connection', (socket: Socket) => {
        if (hooks.admit(socket)) handshakes.start(socket);
        else socket.destroy();
      });
      tls.credentials.attach(server);
      this.server = server;
    }
    this.server.on('error', (err) => onListenerError(err, bind, 'tcp', hooks));
  }

  async listen(backlog: number): Promise<void> {
    this.bound = await listen(this.server, this.bind, this.tls ? 'tcp over tls' : 'tcp', backlog);
  }

  /** Whether this listener speaks TLS. */
  get secure(): boolean {
    return this.tls !== undefined;
  }

  address(): AddressInfo | undefined {
    return this.bound;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private onConnection(socket: Socket): void {
    const { hooks } = this;
    const c = hooks.accept(socket, false);
    if (c === null) return;
    const reader = new FrameReader(hooks.maxBody);
    const onFrame = (f: Frame): void => {
      if (c.open) hooks.onFrame(c, f);
    };
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, onFrame);
      } catch (err) {
        if (err instanceof FrameError) {
          hooks.counters.tcpFramesRejected++;
          if (err.tooLarge) hooks.frameTooLarge(c);
          c.close(`bad frame: ${err.message}`, 'info');
        } else {
          hooks.log.error({ err, remote: c.remote, key: c.key }, 'comet: frame handling failed');
          c.close('internal error', 'warn');
        }
      }
    });
  }
}

// WebSocket listener (docs/protocol.md#websocket), plain or over TLS (wss,
// docs/security.md#wss-goim-tlsopen). Node's HTTP server parses the upgrade request; the
// handshake (ws-handshake.ts) and the client frames (ws-reader.ts) are handled here on the
// raw socket, and every byte the server sends is written by comet (pre-framed binary
// messages, see frame-bytes.ts).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { applyHttpLimits } from '../http-limits.js';
import { decodeMessageFrame, FrameError } from '../protocol/frame.js';
import type { Connection } from './connection.js';
import { closeServer, listen, onListenerError } from './listener.js';
import { tlsHandshakes, type ListenerTls, type TransportHooks } from './tcp-server.js';
import { WS_PONG, wsFrame } from './ws-frame.js';
import { acceptUpgrade } from './ws-handshake.js';
import { WsProtocolError, WsReader, type WsHandlers } from './ws-reader.js';

/** goim's WebSocket read buffer: the smallest message limit (docs/protocol.md#websocket). */
const MIN_MAX_PAYLOAD = 8192;
const SERVICE_UNAVAILABLE =
  'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\nserver at capacity\r\n';

export interface WsHooks extends TransportHooks {
  /**
   * protocol.handshakeTimeout: the longest an upgrade request may take (admitted sockets are
   * also cut by the comet's deadline sweep), and the longest a refused plain socket may take
   * to send the request its 503 answers; absolute, from accept, however slowly bytes arrive.
   */
  handshakeTimeoutMs: number;
  /** limits.maxRefusedWaiting: refused plain sockets that may wait for their 503 at once (per listener). */
  maxRefusedWaiting: number;
  /** Queues bytes for a connection as a reply (pongs). */
  reply(c: Connection, bytes: Buffer): void;
  /**
   * Counts a WebSocket frame that is not a goim frame (ping, pong, fragment) against the
   * connection's upstream frame rate; false when that closed it.
   */
  countFrame(c: Connection): boolean;
}

export class WsServer {
  private readonly http: Server;
  /** Largest client message, in payload bytes. */
  private readonly maxPayload: number;
  /** What every connection's reader reports to (one object for all of them). */
  private readonly handlers: WsHandlers<Connection>;
  /** The connection made for each accepted socket, found again at upgrade time. */
  private readonly bySocket = new WeakMap<object, Connection>();
  /** Plain sockets refused by a limit: their request is answered 503. */
  private readonly refused = new WeakSet<object>();
  /** How many of them are open. */
  private refusedWaiting = 0;
  private bound: AddressInfo | undefined;

  constructor(
    private readonly bind: string,
    private readonly hooks: WsHooks,
    private readonly tls?: ListenerTls,
  ) {
    this.maxPayload = Math.max(MIN_MAX_PAYLOAD, hooks.maxBody + 16);
    this.handlers = {
      message: (c, data) => this.onMessage(c, data),
      ping: (c, data) => hooks.reply(c, wsFrame(WS_PONG, data)),
      // goim never sends a Close frame: a close from the client just ends the socket.
      close: (c) => c.close('websocket close frame from the client'),
      partial: (c) => hooks.countFrame(c),
      open: (c) => c.open,
    };
    const accept = (socket: Socket): void => {
      const c = hooks.accept(socket, true);
      if (c !== null) this.bySocket.set(socket, c);
    };
    // Node's request timers, absolute from the request's first byte (its header timeout is
    // disabled when requestTimeout is 0): the upgrade request has no body, so both are the
    // handshake timeout. Checked every second at most, not Node's default 30 s.
    const ms = hooks.handshakeTimeoutMs;
    const timers = { headersTimeout: ms, requestTimeout: ms, connectionsCheckingInterval: Math.max(10, Math.min(1000, ms)) };
    if (tls === undefined) {
      this.http = createServer(timers);
      this.http.on('connection', (socket: Socket) => {
        if (hooks.admit(socket)) accept(socket);
        else this.refuse(socket);
      });
    } else {
      const server = createHttpsServer({ ...tls.credentials.serverOptions(), handshakeTimeout: tls.handshakeTimeoutMs, ...timers });
      const handshakes = tlsHandshakes(server, bind, hooks, tls);
      // The plain socket, before the handshake: refusing costs no crypto (and no 503).
      server.on('connection', (socket: Socket) => {
        if (hooks.admit(socket)) handshakes.start(socket);
        else socket.destroy();
      });
      server.on('secureConnection', (socket: TLSSocket) => {
        handshakes.done(socket);
        accept(socket);
      });
      tls.credentials.attach(server);
      this.http = server;
    }
    this.http.on('request', (req, res) => {
      if (this.refused.has(req.socket)) {
        res.writeHead(503, { 'content-type': 'text/plain', connection: 'close' });
        res.end('server at capacity\n');
        return;
      }
      const status = req.url === '/sub' ? 426 : 404;
      res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
      res.end(status === 426 ? 'upgrade required\n' : 'not found\n');
    });
    // Every answer here closes the connection, so a client has no second request to send on
    // it; without this, a chunk of pipelined requests is answered request by request into
    // memory (20 sockets of 2,000 took a comet from 98 to 285 MB). The second one cuts the
    // connection (limit http_pipelined, docs/security.md#limits).
    applyHttpLimits(this.http, { maxPipelined: 1, maxConnectionsPerIp: 0 }, hooks.limits);
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.http.on('error', (err) => onListenerError(err, bind, 'websocket', hooks));
  }

  /**
   * A plain socket refused by a limit is answered 503 once its request arrives, so a client
   * sees why. It holds a descriptor meanwhile: at most limits.maxRefusedWaiting wait at once
   * (more are closed at once), each until protocol.handshakeTimeout after accept at most,
   * however slowly it trickles bytes (docs/security.md#limits).
   */
  private refuse(socket: Socket): void {
    if (this.refusedWaiting >= this.hooks.maxRefusedWaiting) {
      socket.destroy();
      return;
    }
    this.refused.add(socket);
    this.refusedWaiting++;
    const timer = setTimeout(() => socket.destroy(), this.hooks.handshakeTimeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      this.refusedWaiting--;
    });
  }

  async listen(backlog: number): Promise<void> {
    this.bound = await listen(this.http, this.bind, this.tls ? 'websocket over tls' : 'websocket', backlog);
  }

  /** Whether this listener speaks TLS. */
  get secure(): boolean {
    return this.tls !== undefined;
  }

  address(): AddressInfo | undefined {
    return this.bound;
  }

  close(): Promise<void> {
    return closeServer(this.http);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const c = this.bySocket.get(socket);
    if (c === undefined && this.refused.has(socket)) {
      socket.end(SERVICE_UNAVAILABLE);
      return;
    }
    if (c === undefined || !c.open) {
      socket.destroy();
      return;
    }
    // goim accepts exactly "/sub" and closes silently otherwise; an HTTP error says why.
    if (req.url !== '/sub') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n');
      return;
    }
    if (!acceptUpgrade(req, socket)) return;
    c.cookie = req.headers.cookie ?? '';
    const reader = new WsReader(c, this.handlers, this.maxPayload);
    const onData = (chunk: Buffer): void => {
      try {
        reader.push(chunk);
      } catch (err) {
        if (err instanceof WsProtocolError) {
          this.hooks.counters.wsFramesRejected++;
          if (err.tooLarge) this.hooks.frameTooLarge(c);
          c.close(`websocket error: ${err.message}`, 'info');
        } else {
          this.hooks.log.error({ err, remote: c.remote, key: c.key }, 'comet: frame handling failed');
          c.close('internal error', 'warn');
        }
      }
    };
    socket.on('data', onData);
    // The HTTP server's sockets stay half-open after the client's FIN; this one ends with it
    // (and then closes: 'closed by peer').
    socket.allowHalfOpen = false;
    if (head.length > 0) onData(head);
  }

  private onMessage(c: Connection, data: Buffer): void {
    if (!c.open) return;
    let frame;
    try {
      frame = decodeMessageFrame(data, this.hooks.maxBody);
    } catch (err) {
      this.hooks.counters.wsFramesRejected++;
      if (err instanceof FrameError && err.tooLarge) this.hooks.frameTooLarge(c);
      c.close(`bad frame: ${err instanceof FrameError ? err.message : String(err)}`, 'info');
      return;
    }
    try {
      this.hooks.onFrame(c, frame);
    } catch (err) {
      this.hooks.log.error({ err, remote: c.remote, key: c.key }, 'comet: frame handling failed');
      c.close('internal error', 'warn');
    }
  }
}

// WebSocket listener (spec §2.11). ws performs the upgrade and parses client frames; every
// byte the server sends is written by comet on the raw socket (pre-framed binary messages,
// see frame-bytes.ts), so ws never writes after the 101 response.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { decodeMessageFrame, FrameError } from '../protocol/frame.js';
import type { Connection } from './connection.js';
import { closeServer, listen } from './listener.js';
import type { TransportHooks } from './tcp-server.js';
import { WS_PONG, wsFrame } from './ws-frame.js';

/** goim's WebSocket read buffer: the smallest message limit (spec §3.8). */
const MIN_MAX_PAYLOAD = 8192;

/**
 * goim never sends a Close frame: a close from the client, or a protocol error, just ends
 * the socket. ws calls close() in both cases; here that drops the socket instead.
 */
class SilentCloseWebSocket extends WebSocket {
  override close(): void {
    this.terminate();
  }
}

export interface WsHooks extends TransportHooks {
  /** Queues bytes for a connection as a reply (pongs). */
  reply(c: Connection, bytes: Buffer): void;
}

export class WsServer {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  /** The connection made for each accepted socket, found again at upgrade time. */
  private readonly bySocket = new WeakMap<object, Connection>();
  private bound: AddressInfo | undefined;

  constructor(
    private readonly bind: string,
    private readonly hooks: WsHooks,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: Math.max(MIN_MAX_PAYLOAD, hooks.maxBody + 16),
      perMessageDeflate: false,
      clientTracking: false,
      autoPong: false,
      skipUTF8Validation: true, // text and binary messages are the same to goim
      WebSocket: SilentCloseWebSocket,
    });
    // The handshake deadline covers the upgrade; Node's own request timers are not needed.
    this.http = createServer({ requestTimeout: 0 });
    this.http.on('connection', (socket: Socket) => {
      const c = hooks.accept(socket, true);
      if (c !== null) this.bySocket.set(socket, c);
    });
    this.http.on('request', (req, res) => {
      const status = req.url === '/sub' ? 426 : 404;
      res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
      res.end(status === 426 ? 'upgrade required\n' : 'not found\n');
    });
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.http.on('error', (err) => hooks.log.error({ err: err.message, bind }, 'comet: websocket listener error'));
  }

  async listen(): Promise<void> {
    this.bound = await listen(this.http, this.bind, 'websocket');
  }

  address(): AddressInfo | undefined {
    return this.bound;
  }

  close(): Promise<void> {
    return closeServer(this.http);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const c = this.bySocket.get(socket);
    if (c === undefined || !c.open) {
      socket.destroy();
      return;
    }
    // goim accepts exactly "/sub" and closes silently otherwise; an HTTP error says why.
    if (req.url !== '/sub') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n');
      return;
    }
    c.cookie = req.headers.cookie ?? '';
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (!c.open) {
        ws.terminate();
        return;
      }
      ws.on('message', (data) => this.onMessage(c, data as Buffer));
      ws.on('ping', (data) => {
        if (c.open) this.hooks.reply(c, wsFrame(WS_PONG, data));
      });
      ws.on('error', (err) => c.close(`websocket error: ${err.message}`, 'info'));
    });
  }

  private onMessage(c: Connection, data: Buffer): void {
    if (!c.open) return;
    let frame;
    try {
      frame = decodeMessageFrame(data, this.hooks.maxBody);
    } catch (err) {
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

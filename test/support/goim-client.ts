// A raw goim protocol client over real sockets, for tests (TCP, or WebSocket written by
// hand so that every byte the server sends can be checked).
//
//   const c = await GoimTestClient.tcp(port);             // or GoimTestClient.ws(port)
//   await c.auth({ mid: 1, room_id: 'live://1', accepts: [1000] });   // resolves with the op-8 reply
//   c.send(Op.Heartbeat);  const hb = await c.next();     // frames in arrival order
//   c.close();
//
// Frames from the server are queued: next() takes the oldest, nextWhere() the oldest that
// matches (others stay queued). On WebSocket an op-9 envelope is unpacked into its inner
// frames, so both transports yield the same frames for a push. Waits reject after their
// timeout and as soon as the connection closes with nothing matching.
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { encodeFrame, splitFrames, type Frame } from '../../src/protocol/frame.js';

export type { Frame };

const DEFAULT_TIMEOUT_MS = 10_000;
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface WsOptions {
  /** Request path (default "/sub"). */
  path?: string;
  /** Address to connect to (default 127.0.0.1). */
  host?: string;
  /** Extra request headers (e.g. Cookie). */
  headers?: Record<string, string>;
  /** Connect over TLS (wss) trusting this CA. */
  tls?: TlsClientOptions;
}

export interface TlsClientOptions {
  /** Trusted CA certificate(s), PEM (a self-signed server certificate itself). */
  ca: string | Buffer | Array<string | Buffer>;
  /** SNI name, also checked against the certificate (default "localhost"). */
  servername?: string;
}

export class GoimTestClient {
  /** TCP: every chunk as received. WS: every data message's payload (header not included). */
  readonly rawMessages: Buffer[] = [];
  /** WS only: every server WebSocket frame with its header, data and control alike. */
  readonly rawFrames: Buffer[] = [];
  /** Resolves when the connection is closed (by the server, or by close()); a paused socket sees it only once resumed. */
  readonly closed: Promise<void>;
  /** True once the socket has closed. */
  isClosed = false;

  private readonly frames: Frame[] = [];
  private readonly listeners = new Set<() => void>();
  private pending: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];

  private constructor(
    /** The client socket (e.g. pause() it to stop reading). */
    readonly socket: Socket,
    readonly transport: 'tcp' | 'ws',
    initial: Buffer,
  ) {
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.isClosed = true;
        this.notify();
        resolve();
      });
    });
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    if (initial.length > 0) this.onData(initial);
  }

  static async tcp(port: number, host = '127.0.0.1'): Promise<GoimTestClient> {
    const socket = await open(port, host);
    return new GoimTestClient(socket, 'tcp', Buffer.alloc(0));
  }

  /** The TCP protocol over TLS; resolves once the handshake verified the server certificate. */
  static async tls(port: number, opts: TlsClientOptions, host = '127.0.0.1'): Promise<GoimTestClient> {
    const socket = await openTls(port, host, opts);
    return new GoimTestClient(socket, 'tcp', Buffer.alloc(0));
  }

  /** The server certificate's SHA-256 fingerprint (TLS connections only). */
  peerFingerprint(): string {
    return (this.socket as TLSSocket).getPeerCertificate().fingerprint256;
  }

  /** Upgrades to WebSocket; rejects with "websocket upgrade refused: <status line>" on a non-101 answer. */
  static async ws(port: number, opts: WsOptions = {}): Promise<GoimTestClient> {
    const host = opts.host ?? '127.0.0.1';
    const socket = opts.tls ? await openTls(port, host, opts.tls) : await open(port, host);
    const key = randomBytes(16).toString('base64');
    const extra = Object.entries(opts.headers ?? {})
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(
      `GET ${opts.path ?? '/sub'} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    );
    const { head, rest } = await readHttpHead(socket);
    const statusLine = head.split('\r\n')[0];
    if (!/^HTTP\/1\.1 101 /.test(statusLine)) {
      socket.destroy();
      throw new Error(`websocket upgrade refused: ${statusLine}`);
    }
    const expected = createHash('sha1')
      .update(key + WS_GUID)
      .digest('base64');
    if (!head.toLowerCase().includes(`sec-websocket-accept: ${expected.toLowerCase()}`)) {
      socket.destroy();
      throw new Error(`websocket upgrade: bad Sec-WebSocket-Accept in ${JSON.stringify(head)}`);
    }
    return new GoimTestClient(socket, 'ws', rest);
  }

  /** Sends one frame (one WebSocket message). */
  send(op: number, body: Uint8Array | string = Buffer.alloc(0), ver = 1, seq = 0): void {
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    this.sendRaw(encodeFrame(op, b, ver, seq));
  }

  /** TCP: writes the bytes as they are. WS: sends them as one masked binary message. */
  sendRaw(bytes: Buffer): void {
    if (this.transport === 'tcp') this.socket.write(bytes);
    else this.sendWsFrame(0x2, bytes);
  }

  /** WS only: one frame with any opcode (e.g. 0x1 text, 0x9 ping), masked unless told otherwise. */
  sendWsFrame(opcode: number, payload: Buffer, opts: { fin?: boolean; mask?: boolean } = {}): void {
    const mask = opts.mask ?? true;
    const len = payload.length;
    const lenBytes = len < 126 ? 0 : len < 65536 ? 2 : 8;
    const head = Buffer.alloc(2 + lenBytes + (mask ? 4 : 0));
    head[0] = ((opts.fin ?? true) ? 0x80 : 0) | opcode;
    head[1] = (mask ? 0x80 : 0) | (len < 126 ? len : len < 65536 ? 126 : 127);
    if (lenBytes === 2) head.writeUInt16BE(len, 2);
    if (lenBytes === 8) head.writeBigUInt64BE(BigInt(len), 2);
    let body = payload;
    if (mask) {
      const key = randomBytes(4);
      key.copy(head, 2 + lenBytes);
      body = Buffer.allocUnsafe(len);
      for (let i = 0; i < len; i++) body[i] = payload[i] ^ key[i & 3];
    }
    this.socket.write(Buffer.concat([head, body]));
  }

  /** Sends op 7 with the token (objects as JSON); resolves with the op-8 reply. */
  auth(token: object | string, seq = 1): Promise<Frame> {
    this.send(7, typeof token === 'string' ? token : JSON.stringify(token), 1, seq);
    return this.nextWhere((f) => f.op === 8);
  }

  /** The next frame from the server. */
  next(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Frame> {
    return this.nextWhere(() => true, timeoutMs);
  }

  /** The oldest queued (or next arriving) frame matching `pred`; the others stay queued. */
  nextWhere(pred: (f: Frame) => boolean, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Frame> {
    let found: Frame | undefined;
    return this.waitUntil(() => {
      const i = this.frames.findIndex(pred);
      if (i < 0) return false;
      found = this.frames.splice(i, 1)[0];
      return true;
    }, timeoutMs).then(
      () => found!,
      (err: Error) => {
        throw new Error(`no matching frame: ${err.message}`);
      },
    );
  }

  /** The next `n` frames. */
  async collect(n: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Frame[]> {
    await this.waitUntil(() => this.frames.length >= n, timeoutMs).catch((err: Error) => {
      throw new Error(`collected ${this.frames.length} of ${n} frames: ${err.message}`);
    });
    return this.frames.splice(0, n);
  }

  /** Frames received and not yet taken. */
  get queued(): number {
    return this.frames.length;
  }

  /** Resolves once `check()` is true (checked now and after every chunk received). */
  waitUntil(check: () => boolean, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (err?: Error): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        if (err) reject(err);
        else resolve();
      };
      const listener = (): void => {
        if (check()) settle();
        else if (this.isClosed) settle(new Error('connection closed'));
      };
      const timer = setTimeout(() => settle(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      this.listeners.add(listener);
      listener();
    });
  }

  /** TCP: every byte received so far. */
  rawBytes(): Buffer {
    return Buffer.concat(this.rawMessages);
  }

  close(): void {
    this.socket.destroy();
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  private onData(chunk: Buffer): void {
    if (this.transport === 'tcp') {
      this.rawMessages.push(chunk);
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      let off = 0;
      while (this.pending.length - off >= 16) {
        const packLen = this.pending.readInt32BE(off);
        if (packLen < 16 || this.pending.length - off < packLen) break;
        this.frames.push(...splitFrames(Buffer.from(this.pending.subarray(off, off + packLen))));
        off += packLen;
      }
      this.pending = this.pending.subarray(off);
    } else {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      this.readWsFrames();
    }
    this.notify();
  }

  private readWsFrames(): void {
    for (;;) {
      const buf = this.pending;
      if (buf.length < 2) return;
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        at = 10;
      }
      const maskAt = at;
      if (masked) at += 4;
      if (buf.length < at + len) return;
      const frame = Buffer.from(buf.subarray(0, at + len));
      this.pending = buf.subarray(at + len);
      this.rawFrames.push(frame);
      let payload = frame.subarray(at);
      if (masked) {
        payload = Buffer.from(payload);
        for (let i = 0; i < payload.length; i++) payload[i] ^= frame[maskAt + (i & 3)];
      }
      const fin = (frame[0] & 0x80) !== 0;
      const opcode = frame[0] & 0x0f;
      if (opcode === 0x1 || opcode === 0x2 || opcode === 0x0) {
        this.fragments.push(payload);
        if (!fin) continue;
        const message = Buffer.concat(this.fragments);
        this.fragments = [];
        this.rawMessages.push(message);
        this.onMessage(message);
      }
    }
  }

  private onMessage(message: Buffer): void {
    const [frame] = splitFrames(message.subarray(0, message.readInt32BE(0)));
    if (frame.op === 9) this.frames.push(...splitFrames(Buffer.from(frame.body)));
    else this.frames.push({ ...frame, body: Buffer.from(frame.body) });
  }
}

function open(port: number, host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function openTls(port: number, host: string, opts: TlsClientOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host, ca: opts.ca, servername: opts.servername ?? 'localhost' });
    socket.once('secureConnect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Reads up to the end of the HTTP response head; `rest` is what followed it. */
function readHttpHead(socket: Socket): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      cleanup();
      // No I/O can run before the caller attaches its own 'data' listener.
      resolve({ head: buf.subarray(0, end).toString('latin1'), rest: buf.subarray(end + 4) });
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`websocket upgrade refused: connection closed after ${JSON.stringify(buf.toString('latin1'))}`));
    };
    const cleanup = (): void => {
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

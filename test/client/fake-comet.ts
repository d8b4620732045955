// A scripted goim peer for client tests, over WebSocket (`ws`) or raw TCP (`node:net`).
// It parses client frames with the server-side codec (src/protocol/frame.ts), an
// implementation independent of the client's, and answers as a comet would:
// op 7 → op 8, op 2 → op 3 + count, op 12/14/16 → op+1 echo, anything else → header-only echo.

import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { type Frame, FrameReader, decodeMessageFrame, encodeFrame } from '../../src/protocol/frame.js';

export const hex = (s: string): Buffer => Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex');

export interface Script {
  /** What to do on op 7: reply op 8 (default), close silently (goim on a bad token), or nothing. */
  auth?: 'accept' | 'close' | 'ignore';
  /** Answer heartbeats (default true). */
  answerHeartbeats?: boolean;
  /** Online count in heartbeat replies (default 3). */
  online?: number;
  /** Answers a frame instead of the defaults: bytes to send, 'drop', null for no answer, undefined for the default. */
  answer?: (f: PeerFrame) => Buffer | 'drop' | null | undefined;
}

export interface PeerFrame extends Frame {
  /** The exact bytes the client sent for this frame. */
  raw: Buffer;
  conn: number;
}

export class FakeComet extends EventEmitter {
  readonly frames: PeerFrame[] = [];
  /** Number of connections accepted so far. */
  connections = 0;
  script: Required<Script>;
  private readonly senders = new Map<number, { send(b: Buffer | string): void; drop(): void }>();

  private constructor(
    readonly url: string,
    private readonly shutdown: () => Promise<void>,
    script: Script,
  ) {
    super();
    this.script = { auth: 'accept', answerHeartbeats: true, online: 3, answer: () => undefined, ...script };
  }

  static async ws(script: Script = {}): Promise<FakeComet> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/sub' });
    await once(wss, 'listening');
    const port = (wss.address() as AddressInfo).port;
    const sockets = new Set<WebSocket>();
    const peer = new FakeComet(
      `ws://127.0.0.1:${port}/sub`,
      async () => {
        for (const s of sockets) s.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      },
      script,
    );
    wss.on('connection', (ws) => {
      sockets.add(ws);
      const conn = ++peer.connections;
      peer.senders.set(conn, { send: (b) => ws.send(b, { binary: typeof b !== 'string' }), drop: () => ws.terminate() });
      ws.on('message', (data: Buffer) => {
        const frame = decodeMessageFrame(data);
        peer.handle(conn, { ...frame, raw: Buffer.from(data) });
      });
      ws.on('close', () => {
        sockets.delete(ws);
        peer.senders.delete(conn);
        peer.emit('disconnect', conn);
      });
      peer.emit('connect', conn);
    });
    return peer;
  }

  static async tcp(script: Script = {}): Promise<FakeComet> {
    const sockets = new Set<Socket>();
    const server: Server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const peer = new FakeComet(
      `127.0.0.1:${port}`,
      async () => {
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
      script,
    );
    server.on('connection', (socket) => {
      sockets.add(socket);
      const conn = ++peer.connections;
      peer.senders.set(conn, { send: (b) => socket.write(b), drop: () => socket.destroy() });
      const reader = new FrameReader();
      let stream = Buffer.alloc(0); // every byte received, to hand out each frame's exact bytes
      let offset = 0;
      socket.on('data', (chunk) => {
        stream = Buffer.concat([stream, chunk]);
        reader.push(chunk, (f) => {
          const raw = stream.subarray(offset, offset + 16 + f.body.length);
          offset += raw.length;
          peer.handle(conn, { ...f, raw: Buffer.from(raw) });
        });
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        peer.senders.delete(conn);
        peer.emit('disconnect', conn);
      });
      peer.emit('connect', conn);
    });
    return peer;
  }

  private handle(conn: number, f: Omit<PeerFrame, 'conn'>): void {
    const frame: PeerFrame = { ...f, conn };
    this.frames.push(frame);
    const reply = this.reply(frame);
    if (reply === 'drop') this.drop(conn);
    else if (reply !== null) this.send(conn, reply);
    this.emit('frame', frame);
  }

  private reply(f: PeerFrame): Buffer | 'drop' | null {
    const custom = this.script.answer(f);
    if (custom !== undefined) return custom;
    switch (f.op) {
      case 7:
        if (this.script.auth === 'ignore') return null;
        return this.script.auth === 'accept' ? encodeFrame(8, undefined, f.ver, f.seq) : 'drop';
      case 2: {
        if (!this.script.answerHeartbeats) return null;
        const count = Buffer.alloc(4);
        count.writeInt32BE(this.script.online);
        return encodeFrame(3, count, f.ver, f.seq);
      }
      case 12:
      case 14:
      case 16:
        return encodeFrame(f.op + 1, f.body, f.ver, f.seq);
      default:
        return encodeFrame(f.op, undefined, f.ver, f.seq);
    }
  }

  /** Sends raw bytes: one WebSocket message, or bytes on the TCP stream. */
  send(conn: number, bytes: Buffer): void {
    this.senders.get(conn)?.send(bytes);
  }

  /** Sends a text WebSocket message (never done by goim). */
  sendText(conn: number, text: string): void {
    this.senders.get(conn)?.send(text);
  }

  /** Drops a connection without any goodbye, as a comet does. */
  drop(conn: number): void {
    this.senders.get(conn)?.drop();
  }

  /** Resolves with the first recorded frame (past or future) matching `pred`. */
  async frame(pred: (f: PeerFrame) => boolean, timeoutMs = 5000): Promise<PeerFrame> {
    const seen = this.frames.find(pred);
    if (seen) return seen;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('frame', onFrame);
        reject(new Error('fake comet: timed out waiting for a frame'));
      }, timeoutMs);
      const onFrame = (f: PeerFrame): void => {
        if (!pred(f)) return;
        clearTimeout(timer);
        this.off('frame', onFrame);
        resolve(f);
      };
      this.on('frame', onFrame);
    });
  }

  close(): Promise<void> {
    return this.shutdown();
  }
}

interface Emitting<E> {
  once<K extends keyof E>(type: K, listener: (payload: E[K]) => void): () => void;
}

/** The next `type` event of a client, failing the test after `timeoutMs`. */
export function next<E, K extends keyof E>(client: Emitting<E>, type: K, timeoutMs = 5000): Promise<E[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for client event '${String(type)}'`));
    }, timeoutMs);
    const off = client.once(type, (payload) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });
}

/** Collects `n` events of `type` in order. */
export function collect<E, K extends keyof E>(
  client: { on<T extends keyof E>(type: T, l: (p: E[T]) => void): () => void },
  type: K,
  n: number,
  timeoutMs = 5000,
): Promise<E[K][]> {
  const out: E[K][] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out: got ${out.length} of ${n} '${String(type)}' events`));
    }, timeoutMs);
    const off = client.on(type, (p) => {
      out.push(p);
      if (out.length < n) return;
      clearTimeout(timer);
      off();
      resolve(out);
    });
  });
}

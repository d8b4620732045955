// The well-behaved side of the fuzz run: clients in one room that must receive every push,
// in order, while the fuzzer hammers the same ports, and the pusher that numbers the pushes.
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { decodeMessageFrame, encodeFrame, FrameReader, splitFrames, type Frame } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import { NORMAL_ROOM, NORMAL_ROOM_ID, NORMAL_ROOM_TYPE, PUSH_OP } from './payloads.js';

const HEARTBEAT_MS = 10_000;

/** What one normal client saw of the numbered pushes. */
class SequenceCheck {
  received = 0;
  /** Next number expected. */
  next = 1;
  missing = 0;
  duplicates = 0;
  outOfOrder = 0;

  see(n: number): void {
    this.received++;
    if (n === this.next) this.next++;
    else if (n < this.next) this.duplicates++;
    else {
      this.outOfOrder++;
      this.missing += n - this.next;
      this.next = n + 1;
    }
  }
}

export class NormalClient {
  readonly check = new SequenceCheck();
  closed = false;
  closeReason = '';
  private authed!: () => void;
  readonly ready = new Promise<void>((r) => (this.authed = r));
  private heartbeat: NodeJS.Timeout | undefined;
  private socket: Socket | undefined;
  private ws: WebSocket | undefined;

  private constructor(
    readonly name: string,
    readonly transport: 'tcp' | 'ws',
  ) {}

  static start(transport: 'tcp' | 'ws', host: string, port: number, index: number): NormalClient {
    const c = new NormalClient(`${transport}-${index}`, transport);
    const token = JSON.stringify({ mid: 10_000_000 + index, key: `normal-${transport}-${index}`, room_id: NORMAL_ROOM, accepts: [PUSH_OP] });
    const auth = encodeFrame(Op.Auth, Buffer.from(token), 1, 1);
    if (transport === 'tcp') {
      const s = connect({ host, port });
      c.socket = s;
      const reader = new FrameReader(1 << 24);
      s.on('connect', () => s.write(auth));
      s.on('data', (chunk: Buffer) => reader.push(chunk, (f) => c.onFrame(f)));
      s.on('error', (err) => (c.closeReason ||= err.message));
      s.on('close', () => c.onClose());
    } else {
      const ws = new WebSocket(`ws://${host}:${port}/sub`, { perMessageDeflate: false });
      c.ws = ws;
      ws.on('open', () => ws.send(auth));
      ws.on('message', (data: Buffer) => {
        const f = decodeMessageFrame(data, 1 << 24);
        if (f.op === Op.Raw) for (const inner of splitFrames(f.body)) c.onFrame(inner);
        else c.onFrame(f);
      });
      ws.on('error', (err) => (c.closeReason ||= err.message));
      ws.on('close', () => c.onClose());
    }
    c.heartbeat = setInterval(() => c.send(encodeFrame(Op.Heartbeat, Buffer.alloc(0), 1, 2)), HEARTBEAT_MS);
    return c;
  }

  private send(b: Buffer): void {
    if (this.closed) return;
    if (this.socket) this.socket.write(b);
    else if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(b);
  }

  private onFrame(f: Frame): void {
    if (f.op === Op.AuthReply) this.authed();
    else if (f.op === PUSH_OP) this.check.see(Number(f.body.toString()));
  }

  private onClose(): void {
    this.closed = true;
    this.closeReason ||= 'closed by the server';
    clearInterval(this.heartbeat);
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.closed = true;
    this.socket?.destroy();
    this.ws?.terminate();
  }
}

/** Pushes "1", "2", … to the normal room through logic's HTTP API, one at a time, every `intervalMs`. */
export class Pusher {
  sent = 0;
  failed = 0;
  lastError = '';
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly api: string,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  /** Stops after the push in flight; resolves to the last number pushed successfully. */
  async stop(): Promise<number> {
    this.stopped = true;
    await this.loop;
    return this.sent;
  }

  private async run(): Promise<void> {
    const url = `${this.api}/goim/push/room?operation=${PUSH_OP}&type=${NORMAL_ROOM_TYPE}&room=${NORMAL_ROOM_ID}`;
    let next = Date.now();
    while (!this.stopped) {
      const n = this.sent + 1;
      try {
        const res = await fetch(url, { method: 'POST', body: String(n) });
        const text = await res.text();
        if (res.status === 200 && text === '{"code":0,"message":""}') this.sent = n;
        else {
          this.failed++;
          this.lastError = `${res.status} ${text}`;
        }
      } catch (err) {
        this.failed++;
        this.lastError = (err as Error).message;
      }
      next += this.intervalMs;
      const wait = next - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      else next = Date.now();
    }
  }
}

// One fuzz connection per call: a scenario picked at random, run over a short-lived TCP or
// WebSocket connection, closed by the server (for cause) or by us at the end.
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { FrameError, FrameReader } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import {
  authFrame,
  badHttp,
  brokenToken,
  hostileFrame,
  hostileWsFrame,
  mutatedFrame,
  oversizedFrame,
  randomBlob,
  upgradeRequest,
  validFrame,
  validToken,
  wsFrame,
} from './payloads.js';
import type { Rng } from './rng.js';

export interface Target {
  host: string;
  tcpPort: number;
  wsPort: number;
}

/** What one connection did. */
export interface Outcome {
  scenario: string;
  transport: 'tcp' | 'ws';
  frames: number;
  bytes: number;
  /** The connection could not be made at all (refused, reset during connect). */
  failedToConnect: boolean;
}

/** A connection that takes longer than this is cut (nothing here should). */
const CONNECTION_TIMEOUT_MS = 10_000;
/** Server → client frames have no size limit; the reader only needs to find op 8. */
const READ_LIMIT = 1 << 24;

class RawConnection {
  bytes = 0;
  closed = false;
  private readonly closing: Promise<void>;
  private waiters: Array<() => void> = [];
  received: Buffer = Buffer.alloc(0);

  private constructor(readonly socket: Socket) {
    socket.on('error', () => {});
    this.closing = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      }),
    );
  }

  static open(t: Target, port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: t.host, port });
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new RawConnection(s));
      });
      s.once('error', reject);
    });
  }

  write(b: Buffer): void {
    if (this.closed || b.length === 0) return;
    this.bytes += b.length;
    this.socket.write(b);
  }

  /** Keeps what arrives until `done(bytes)` says enough, or the connection closes. */
  until(done: (received: Buffer) => boolean): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (done(this.received)) finish(true);
        else if (this.closed) finish(false);
      };
      const onData = (chunk: Buffer): void => {
        this.received = Buffer.concat([this.received, chunk]);
        check();
      };
      const finish = (ok: boolean): void => {
        this.socket.removeListener('data', onData);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(ok);
      };
      this.socket.on('data', onData);
      this.waiters.push(check);
      check();
    });
  }

  /** Ends our side and waits for the close (destroying it after a timeout). */
  async finish(): Promise<void> {
    if (!this.closed) {
      this.socket.resume(); // keep reading pushes, so the close is not held up
      this.socket.end();
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.closing, new Promise<void>((r) => (timer = setTimeout(r, CONNECTION_TIMEOUT_MS)))]);
    clearTimeout(timer);
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** True once the bytes hold a complete op-8 frame (TCP stream of goim frames). */
function hasAuthReply(bytes: Buffer): boolean {
  const reader = new FrameReader(READ_LIMIT);
  let found = false;
  try {
    reader.push(bytes, (f) => {
      if (f.op === Op.AuthReply) found = true;
    });
  } catch (err) {
    if (!(err instanceof FrameError)) throw err;
  }
  return found;
}

const ended = (s: string, t: 'tcp' | 'ws', frames: number, c: RawConnection): Outcome => ({
  scenario: s,
  transport: t,
  frames,
  bytes: c.bytes,
  failedToConnect: false,
});

/** Writes `frames` in a few random chunks (the server must reassemble across reads). */
function writeChunked(rng: Rng, c: RawConnection, frames: Buffer[]): void {
  const all = Buffer.concat(frames);
  let off = 0;
  while (off < all.length) {
    const n = rng.chance(0.7) ? all.length - off : rng.range(1, all.length - off);
    c.write(all.subarray(off, off + n));
    off += n;
  }
}

// ---- TCP ------------------------------------------------------------------------------

async function tcpHostile(rng: Rng, t: Target, budget: number): Promise<Outcome> {
  const c = await RawConnection.open(t, t.tcpPort);
  const n = Math.min(budget, rng.range(1, 80));
  writeChunked(
    rng,
    c,
    Array.from({ length: n }, () => hostileFrame(rng)),
  );
  await c.finish();
  return ended('tcp: hostile frames', 'tcp', n, c);
}

async function tcpRandom(rng: Rng, t: Target, budget: number): Promise<Outcome> {
  const c = await RawConnection.open(t, t.tcpPort);
  const n = Math.min(budget, rng.range(1, 30));
  writeChunked(
    rng,
    c,
    Array.from({ length: n }, () => randomBlob(rng)),
  );
  await c.finish();
  return ended('tcp: random bytes', 'tcp', n, c);
}

async function tcpOversized(rng: Rng, t: Target, budget: number): Promise<Outcome> {
  const c = await RawConnection.open(t, t.tcpPort);
  const n = Math.min(budget, rng.range(1, 3));
  writeChunked(
    rng,
    c,
    Array.from({ length: n }, () => oversizedFrame(rng)),
  );
  await c.finish();
  return ended('tcp: oversized body', 'tcp', n, c);
}

/** Authenticates for real, waits for the reply, then misbehaves. */
async function tcpAuthThen(rng: Rng, t: Target, budget: number, id: number, garbage: boolean): Promise<Outcome> {
  const c = await RawConnection.open(t, t.tcpPort);
  c.write(authFrame(rng, validToken(rng, id)));
  await c.until(hasAuthReply);
  const n = Math.min(budget - 1, rng.range(1, 60));
  const frames = Array.from({ length: Math.max(0, n) }, () =>
    garbage ? (rng.chance(0.6) ? hostileFrame(rng) : mutatedFrame(rng)) : validFrame(rng),
  );
  writeChunked(rng, c, frames);
  await c.finish();
  return ended(garbage ? 'tcp: valid auth, then garbage' : 'tcp: valid auth, then valid frames', 'tcp', frames.length + 1, c);
}

/** Floods frames while the auth is still in flight (more than the client ring allows). */
async function tcpPipeline(rng: Rng, t: Target, budget: number, id: number): Promise<Outcome> {
  const c = await RawConnection.open(t, t.tcpPort);
  const n = Math.min(budget, rng.range(2, 40));
  const auth = rng.chance(0.8) ? authFrame(rng, validToken(rng, id)) : authFrame(rng, brokenToken(rng));
  writeChunked(rng, c, [auth, ...Array.from({ length: n - 1 }, () => validFrame(rng))]);
  await c.finish();
  return ended('tcp: frames during auth', 'tcp', n, c);
}

async function tcpBadAuth(rng: Rng, t: Target, budget: number): Promise<Outcome> {
  const c = await RawConnection.open(t, t.tcpPort);
  const n = Math.min(budget, rng.range(1, 5));
  writeChunked(
    rng,
    c,
    Array.from({ length: n }, () => authFrame(rng, brokenToken(rng))),
  );
  await c.finish();
  return ended('tcp: broken tokens', 'tcp', n, c);
}

// ---- WebSocket --------------------------------------------------------------------------

async function wsUpgrade(rng: Rng, t: Target): Promise<RawConnection | null> {
  const c = await RawConnection.open(t, t.wsPort);
  c.write(upgradeRequest(rng, `${t.host}:${t.wsPort}`));
  const ok = await c.until((b) => b.indexOf('\r\n\r\n') >= 0);
  if (!ok || !c.received.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 101')) {
    await c.finish();
    return null;
  }
  c.received = c.received.subarray(c.received.indexOf('\r\n\r\n') + 4);
  return c;
}

async function wsRawFraming(rng: Rng, t: Target, budget: number, id: number): Promise<Outcome> {
  const c = await wsUpgrade(rng, t);
  if (c === null) return { scenario: 'ws: upgrade refused', transport: 'ws', frames: 0, bytes: 0, failedToConnect: false };
  let n = 0;
  const frames: Buffer[] = [];
  if (rng.chance(0.3)) {
    frames.push(wsFrame(rng, { opcode: 0x2, payload: authFrame(rng, validToken(rng, id)) }));
    n++;
  }
  const more = Math.min(budget - n, rng.range(1, 40));
  for (let i = 0; i < more; i++) frames.push(hostileWsFrame(rng));
  n += Math.max(0, more);
  writeChunked(rng, c, frames);
  await c.finish();
  return ended('ws: malformed WebSocket frames (raw)', 'ws', n, c);
}

async function wsBadHttp(rng: Rng, t: Target): Promise<Outcome> {
  const c = await RawConnection.open(t, t.wsPort);
  c.write(badHttp(rng, `${t.host}:${t.wsPort}`));
  await c.finish();
  return ended('ws: bad HTTP upgrade', 'ws', 1, c);
}

/** Well-formed WebSocket messages (the `ws` client) carrying bad goim frames. */
function wsLibrary(rng: Rng, t: Target, budget: number, id: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://${t.host}:${t.wsPort}/sub`, { perMessageDeflate: false, handshakeTimeout: CONNECTION_TIMEOUT_MS });
    let frames = 0;
    let bytes = 0;
    let opened = false;
    const timer = setTimeout(() => ws.terminate(), CONNECTION_TIMEOUT_MS);
    const send = (b: Buffer): void => {
      if (ws.readyState !== WebSocket.OPEN) return;
      frames++;
      bytes += b.length;
      ws.send(b, { binary: rng.chance(0.9) });
    };
    const blast = (): void => {
      const n = Math.min(budget - frames, rng.range(1, 40));
      for (let i = 0; i < n; i++) send(rng.chance(0.1) ? rng.bytes(rng.range(8193, 20_000)) : hostileFrame(rng));
      // close() waits for the server's close frame, which goim never sends: end the socket.
      setImmediate(() => ws.terminate());
    };
    let error = '';
    ws.on('error', (err) => (error ||= (err as NodeJS.ErrnoException).code ?? err.message));
    ws.on('open', () => {
      opened = true;
      if (rng.chance(0.4)) {
        send(authFrame(rng, validToken(rng, id)));
        ws.once('message', blast);
      } else {
        blast();
      }
    });
    ws.on('close', () => {
      clearTimeout(timer);
      const scenario = opened ? 'ws: bad goim frames in valid messages' : `connect failed: ${error || 'closed before open'}`;
      resolve({ scenario, transport: 'ws', frames, bytes, failedToConnect: !opened });
    });
  });
}

/** Runs one connection; `budget` is the most frames it may send. */
export async function attack(rng: Rng, t: Target, budget: number, id: number): Promise<Outcome> {
  const run = rng.weighted<() => Promise<Outcome>>([
    [30, () => tcpHostile(rng, t, budget)],
    [6, () => tcpRandom(rng, t, budget)],
    [3, () => tcpOversized(rng, t, budget)],
    [10, () => tcpAuthThen(rng, t, budget, id, true)],
    [5, () => tcpAuthThen(rng, t, budget, id, false)],
    [4, () => tcpPipeline(rng, t, budget, id)],
    [4, () => tcpBadAuth(rng, t, budget)],
    [18, () => wsRawFraming(rng, t, budget, id)],
    [5, () => wsBadHttp(rng, t)],
    [15, () => wsLibrary(rng, t, budget, id)],
  ]);
  try {
    return await run();
  } catch (err) {
    return {
      scenario: `connect failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      transport: 'tcp',
      frames: 0,
      bytes: 0,
      failedToConnect: true,
    };
  }
}

// A load worker for the inbox scenario (bench/scenarios/inbox.ts): opens its share of the
// users over TCP, user g as mid g + 1 with the stable key `bench-<mid>` and `"inbox": true`,
// accepting the scenario's operation for the non-durable pushes. Each client checks the seqs of
// the op-27 frames it gets (each the previous + 1: a repeat is a duplicate, a jump a loss),
// acknowledges cumulatively as the SDK does (every `ackEvery` messages, and once it holds
// everything its op-29 state announced), and counts the plain frames of the operation. Frames
// are walked in place on one shared read buffer.
import { connect as netConnect, type Socket } from 'node:net';
import { eachFrame } from './frame-chunks.js';
import { HEADER_LEN, encodeFrame } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import { exitWithParent } from '../run/children.js';

export interface InboxOpen {
  t: 'open';
  host: string;
  port: number;
  /** Operation of the pushes (the token's accepts: the non-durable ones arrive as it). */
  op: number;
  /** Users g = first … first + count − 1 (mid g + 1). */
  first: number;
  count: number;
  ackEvery: number;
  concurrency: number;
  timeoutMs: number;
  sources: string[];
}

export type InboxCommand = InboxOpen | { t: 'count' } | { t: 'flush' } | { t: 'close' };

export interface InboxOpened {
  t: 'opened';
  ok: number;
  failed: number;
  errors: string[];
  ms: number;
}

/** Totals over this worker's clients (cheap enough to poll). */
export interface InboxCount {
  t: 'count';
  /** Authenticated and still connected. */
  open: number;
  /** Closed after authenticating. */
  lost: number;
  /** Op-27 frames, all clients. */
  inboxMessages: number;
  /** Op-27 seqs at or below the client's previous one. */
  duplicates: number;
  /** Seqs skipped between consecutive op-27 frames. */
  gaps: number;
  /** Plain frames of the operation (non-durable pushes). */
  plainMessages: number;
  /** Clients holding every seq up to their op-29 `last` whose acknowledgement of it was answered. */
  drained: number;
  /** Acknowledgements sent, and answered with a code other than 0. */
  acks: number;
  ackRefused: number;
  /** Op-27 frames above the op-29 `last` (live durable pushes), all clients. */
  liveInbox: number;
}

interface Client {
  socket: Socket;
  mid: number;
  ready: boolean;
  /** The op-29 `last` (-1 until it came). */
  stateLast: number;
  lastSeq: number;
  /** Highest seq acknowledged (sent), and answered. */
  ackSent: number;
  acked: number;
  pending: Buffer | null;
}

const clients: Client[] = [];
const readBuffer = Buffer.allocUnsafe(64 * 1024);
let op = 0;
let ackEvery = 100;
let lost = 0;
let inboxMessages = 0;
let duplicates = 0;
let gaps = 0;
let plainMessages = 0;
let liveInbox = 0;
let acks = 0;
let ackRefused = 0;
let ackReplies = 0;
let frameSeq = 1;

function send(m: InboxOpened | InboxCount | { t: 'flushed'; acks: number } | { t: 'closed' }): void {
  process.send!(m);
}

function ack(c: Client, seq: number): void {
  if (seq <= c.ackSent || c.socket.destroyed) return;
  c.ackSent = seq;
  acks++;
  c.socket.write(encodeFrame(Op.InboxAck, Buffer.from(`{"seq":${seq}}`), 1, ++frameSeq));
}

function onFrame(c: Client, buf: Buffer, start: number, end: number): void {
  const frameOp = buf.readInt32BE(start + 8);
  if (frameOp === Op.InboxMessage) {
    inboxMessages++;
    const seq = Number(buf.readBigUInt64BE(start + HEADER_LEN));
    if (seq <= c.lastSeq) duplicates++;
    else {
      if (c.stateLast >= 0 && seq !== c.lastSeq + 1) gaps += seq - c.lastSeq - 1;
      c.lastSeq = seq;
    }
    if (c.stateLast >= 0 && seq > c.stateLast) liveInbox++;
    if (c.lastSeq - c.ackSent >= ackEvery || c.lastSeq === c.stateLast) ack(c, c.lastSeq);
  } else if (frameOp === op) plainMessages++;
  else if (frameOp === Op.InboxState) {
    const s = JSON.parse(buf.toString('utf8', start + HEADER_LEN, end)) as { acked: number; last: number };
    c.stateLast = s.last;
    // A device that had acknowledged everything already is drained at once.
    c.acked = s.acked;
    c.ackSent = s.acked;
    if (c.lastSeq === 0) c.lastSeq = s.acked;
  } else if (frameOp === Op.InboxAckReply) {
    ackReplies++;
    const r = JSON.parse(buf.toString('utf8', start + HEADER_LEN, end)) as { code: number; acked?: number };
    if (r.code === 0 && r.acked !== undefined) c.acked = Math.max(c.acked, r.acked);
    else ackRefused++;
  }
}

/** Walks the complete frames of a chunk (with what was left of the previous one); false on a corrupt stream. */
function onData(c: Client, chunk: Buffer): boolean {
  return (
    eachFrame(c, chunk, (buf, start, end) => {
      if (!c.ready) {
        if (buf.readInt32BE(start + 8) === Op.AuthReply) c.ready = true;
      } else onFrame(c, buf, start, end);
    }) === null
  );
}

function openAll(cmd: InboxOpen): Promise<InboxOpened> {
  op = cmd.op;
  ackEvery = cmd.ackEvery;
  const start = performance.now();
  const errors: string[] = [];
  let next = 0;
  let ok = 0;
  let failed = 0;
  return new Promise((resolve) => {
    if (cmd.count === 0) return resolve({ t: 'opened', ok, failed, errors, ms: 0 });
    const startOne = (): void => {
      const g = cmd.first + next++;
      let reported = false;
      const done = (err: string | null): void => {
        if (reported) return;
        reported = true;
        clearTimeout(timer);
        if (err === null) ok++;
        else {
          failed++;
          if (errors.length < 5) errors.push(err);
        }
        if (ok + failed === cmd.count) resolve({ t: 'opened', ok, failed, errors, ms: performance.now() - start });
        else if (next < cmd.count) startOne();
      };
      const socket = netConnect({
        host: cmd.host,
        port: cmd.port,
        localAddress: cmd.sources[g % cmd.sources.length],
        onread: {
          buffer: readBuffer,
          callback: (n: number) => {
            const wasReady = c.ready;
            try {
              // The chunk lives in the shared buffer: onData copies what it keeps.
              if (!onData(c, readBuffer.subarray(0, n))) throw new Error('corrupt stream');
            } catch (err) {
              socket.destroy();
              done((err as Error).message);
            }
            if (!wasReady && c.ready) done(null);
            return true;
          },
        },
      });
      const c: Client = { socket, mid: g + 1, ready: false, stateLast: -1, lastSeq: 0, ackSent: 0, acked: 0, pending: null };
      const timer = setTimeout(() => {
        socket.destroy();
        done('handshake timeout');
      }, cmd.timeoutMs);
      socket.setNoDelay(true);
      socket.once('connect', () => {
        const token = { mid: c.mid, key: `bench-${c.mid}`, accepts: [cmd.op], inbox: true };
        socket.write(encodeFrame(Op.Auth, Buffer.from(JSON.stringify(token)), 1, 1));
      });
      socket.on('error', (err) => done(err.message));
      socket.once('close', () => {
        if (c.ready) lost++;
        done('closed before ready');
      });
      clients.push(c);
    };
    for (let i = 0; i < Math.min(cmd.concurrency, cmd.count); i++) startOne();
  });
}

function count(): InboxCount {
  let open = 0;
  let drained = 0;
  for (const c of clients) {
    if (!c.ready || c.socket.destroyed) continue;
    open++;
    if (c.stateLast >= 0 && c.lastSeq >= c.stateLast && c.acked >= c.stateLast) drained++;
  }
  return { t: 'count', open, lost, inboxMessages, duplicates, gaps, plainMessages, drained, acks, ackRefused, liveInbox };
}

/** Acknowledges every client's newest seq; waits (at most 30 s) for the answers. */
async function flush(): Promise<number> {
  for (const c of clients) if (c.ready) ack(c, c.lastSeq);
  const until = performance.now() + 30_000;
  while (ackReplies < acks && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  return acks;
}

process.on('message', (m: InboxCommand) => {
  switch (m.t) {
    case 'open':
      void openAll(m).then(send);
      break;
    case 'count':
      send(count());
      break;
    case 'flush':
      void flush().then((n) => send({ t: 'flushed', acks: n }));
      break;
    case 'close':
      for (const c of clients) c.socket.destroy();
      clients.length = 0;
      send({ t: 'closed' });
      setImmediate(() => process.exit(0));
      break;
  }
});

exitWithParent();

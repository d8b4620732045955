// A danmaku load worker (forked by bench/scenarios/danmaku.ts): opens its share of the
// clients in one room with a history request in the token, and
//  - viewers count the room messages (op 1000) each receives; one in `sampleEvery` reads the
//    send stamp at the start of each danmaku's text and records send→viewer latency;
//  - senders (the first viewers of the worker) also send one danmaku a second on op 4 and
//    count the op-5 answers by code;
//  - joiners record auth→first replayed record and auth→replay complete (the op-18 range
//    received), and how many records each got.
// Frames are walked in place on one shared read buffer; only op-5 and op-18 bodies are decoded.
import { connect as netConnect, type Socket } from 'node:net';
import { eachFrame } from './frame-chunks.js';
import { HEADER_LEN, encodeFrame } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import { encodeHistogram, newHistogram, recordMs } from '../measure/histogram.js';
import { exitWithParent } from '../run/children.js';
import { clockMs } from './stamp.js';

const DANMAKU_OP = 1000;

export interface DanmakuOpen {
  t: 'open';
  host: string;
  port: number;
  room: string;
  firstMid: number;
  count: number;
  /** The token's history request. */
  history: Record<string, number>;
  /** The first `senders` clients of this worker send. */
  senders: number;
  concurrency: number;
  sampleEvery: number;
  timeoutMs: number;
  sources: string[];
}

export interface DanmakuSend {
  t: 'send';
  durationMs: number;
  /** Danmaku per second per sender. */
  perSecond: number;
}

export type DanmakuCommand = DanmakuOpen | DanmakuSend | { t: 'report' } | { t: 'close' };

export interface DanmakuOpened {
  t: 'opened';
  ok: number;
  failed: number;
  errors: string[];
  ms: number;
}

export interface DanmakuSent {
  t: 'sent';
  sends: number;
  accepted: number;
  refused: number;
  /** Refusals by code. */
  codes: Record<string, number>;
}

export interface DanmakuReport {
  t: 'report';
  open: number;
  lost: number;
  /** Room messages (op 1000) per client, fewest and most. */
  minMessages: number;
  maxMessages: number;
  totalMessages: number;
  /** send→viewer latency (sampled viewers). */
  latency: string;
  /** Joins: auth sent → op-8 reply. */
  authMs: string;
  /** Joins: auth sent → first replayed record. */
  firstRecord: string;
  /** Joins: auth sent → the last record of the op-18 range. */
  replayDone: string;
  /** Clients whose op-18 range was received in full. */
  replayed: number;
  /** Clients that received an op-18 frame. */
  roomStates: number;
  recoveredFalse: number;
  /** Latest time (clockMs) a client's replay completed. */
  lastDoneAt: number;
}

interface Client {
  socket: Socket;
  mid: number;
  ready: boolean;
  sender: boolean;
  sampled: boolean;
  authAt: number;
  messages: number;
  /** Range of the op-18 frame; 0 until it arrives. */
  stateLast: number;
  stateCount: number;
  replayedSeen: number;
  firstRecordAt: number;
  pending: Buffer | null;
}

const clients: Client[] = [];
const readBuffer = Buffer.allocUnsafe(64 * 1024);
const TEXT_KEY = Buffer.from('"text":"');
let lost = 0;
let latency = newHistogram();
const authMs = newHistogram();
const firstRecord = newHistogram();
const replayDone = newHistogram();
let replayed = 0;
let roomStates = 0;
let recoveredFalse = 0;
let lastDoneAt = 0;
let sendTally: DanmakuSent = { t: 'sent', sends: 0, accepted: 0, refused: 0, codes: {} };
let outstanding = 0;

function send(m: DanmakuOpened | DanmakuSent | DanmakuReport | { t: 'closed' }): void {
  process.send!(m);
}

function onFrame(c: Client, buf: Buffer, start: number, end: number): void {
  const op = buf.readInt32BE(start + 8);
  const seq = buf.readUInt32BE(start + 12);
  const b = start + HEADER_LEN;
  if (op === DANMAKU_OP) {
    c.messages++;
    if (c.stateLast > 0 && seq > 0 && seq <= c.stateLast) {
      const now = clockMs();
      if (c.replayedSeen === 0) {
        c.firstRecordAt = now;
        recordMs(firstRecord, now - c.authAt);
      }
      c.replayedSeen++;
      if (c.replayedSeen === c.stateCount) {
        replayed++;
        recordMs(replayDone, now - c.authAt);
        lastDoneAt = Math.max(lastDoneAt, now);
      }
    }
    if (c.sampled) {
      const at = buf.subarray(b, end).indexOf(TEXT_KEY);
      if (at >= 0) {
        const stamp = Number.parseFloat(buf.toString('latin1', b + at + TEXT_KEY.length, Math.min(end, b + at + TEXT_KEY.length + 17)));
        if (stamp === stamp) recordMs(latency, clockMs() - stamp);
      }
    }
  } else if (op === Op.SendMsgReply) {
    outstanding--;
    let code = -1;
    try {
      code = (JSON.parse(buf.toString('utf8', b, end)) as { code: number }).code;
    } catch {
      // counted as refused with code -1
    }
    if (code === 0) sendTally.accepted++;
    else {
      sendTally.refused++;
      sendTally.codes[String(code)] = (sendTally.codes[String(code)] ?? 0) + 1;
    }
  } else if (op === Op.RoomState) {
    roomStates++;
    try {
      const s = JSON.parse(buf.toString('utf8', b, end)) as { first: number; last: number; recovered?: boolean };
      if (s.recovered === false) recoveredFalse++;
      if (c.stateLast === 0 && s.last >= s.first) {
        c.stateLast = s.last;
        c.stateCount = s.last - s.first + 1;
      }
    } catch {
      recoveredFalse++;
    }
  }
}

/** Walks the complete frames of a chunk (with what was left of the previous one). */
function onData(c: Client, chunk: Buffer): boolean {
  return (
    eachFrame(c, chunk, (buf, start, end) => {
      if (!c.ready) {
        if (buf.readInt32BE(start + 8) === Op.AuthReply) {
          c.ready = true;
          recordMs(authMs, clockMs() - c.authAt);
        }
      } else onFrame(c, buf, start, end);
    }) === null
  );
}

function openAll(cmd: DanmakuOpen): Promise<DanmakuOpened> {
  const start = performance.now();
  const errors: string[] = [];
  let next = 0;
  let ok = 0;
  let failed = 0;
  return new Promise((resolve) => {
    if (cmd.count === 0) return resolve({ t: 'opened', ok, failed, errors, ms: 0 });
    const startOne = (): void => {
      const index = next++;
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
      const mid = cmd.firstMid + index;
      const socket = netConnect({
        host: cmd.host,
        port: cmd.port,
        localAddress: cmd.sources[index % cmd.sources.length],
        onread: {
          buffer: readBuffer,
          callback: (n: number) => {
            const wasReady = c.ready;
            // The chunk lives in the shared buffer: onData copies what it keeps.
            if (!onData(c, readBuffer.subarray(0, n))) {
              socket.destroy();
              done('corrupt stream');
            } else if (!wasReady && c.ready) done(null);
            return true;
          },
        },
      });
      const c: Client = {
        socket,
        mid,
        ready: false,
        sender: index < cmd.senders,
        sampled: index % cmd.sampleEvery === 0,
        authAt: 0,
        messages: 0,
        stateLast: 0,
        stateCount: 0,
        replayedSeen: 0,
        firstRecordAt: 0,
        pending: null,
      };
      const timer = setTimeout(() => {
        socket.destroy();
        done('handshake timeout');
      }, cmd.timeoutMs);
      socket.setNoDelay(true);
      socket.once('connect', () => {
        c.authAt = clockMs();
        const token = { mid, room_id: cmd.room, accepts: [DANMAKU_OP], history: cmd.history };
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

/** Each sender sends `perSecond` danmaku a second, spread over the second, for the duration. */
async function sendLoop(cmd: DanmakuSend): Promise<DanmakuSent> {
  sendTally = { t: 'sent', sends: 0, accepted: 0, refused: 0, codes: {} };
  const senders = clients.filter((c) => c.sender && c.ready);
  const interval = 1000 / cmd.perSecond;
  const rounds = Math.floor((cmd.durationMs / 1000) * cmd.perSecond);
  let seq = 2;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    // Spread the senders evenly over one interval.
    for (let i = 0; i < senders.length; i++) {
      const due = t0 + r * interval + (i * interval) / senders.length;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((res) => setTimeout(res, wait));
      const s = senders[i];
      const body = JSON.stringify({ text: `${clockMs().toFixed(3).padStart(17, '0')} 666`, nonce: `${s.mid}-${r}` });
      s.socket.write(encodeFrame(Op.SendMsg, Buffer.from(body), 1, seq++));
      sendTally.sends++;
      outstanding++;
    }
  }
  // Wait for the answers (at most 10 s).
  const until = performance.now() + 10_000;
  while (outstanding > 0 && performance.now() < until) await new Promise((res) => setTimeout(res, 20));
  return sendTally;
}

function report(): DanmakuReport {
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  let total = 0;
  let open = 0;
  for (const c of clients) {
    if (!c.ready) continue;
    open++;
    min = Math.min(min, c.messages);
    max = Math.max(max, c.messages);
    total += c.messages;
  }
  const r: DanmakuReport = {
    t: 'report',
    open,
    lost,
    minMessages: open > 0 ? min : 0,
    maxMessages: max,
    totalMessages: total,
    latency: encodeHistogram(latency),
    authMs: encodeHistogram(authMs),
    firstRecord: encodeHistogram(firstRecord),
    replayDone: encodeHistogram(replayDone),
    replayed,
    roomStates,
    recoveredFalse,
    lastDoneAt,
  };
  latency = newHistogram();
  return r;
}

process.on('message', (m: DanmakuCommand) => {
  switch (m.t) {
    case 'open':
      void openAll(m).then(send);
      break;
    case 'send':
      void sendLoop(m).then(send);
      break;
    case 'report':
      send(report());
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

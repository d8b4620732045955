// A viewer load worker for the persist scenario (bench/scenarios/persist.ts): opens its share
// of the viewers over TCP, viewer g in room `live://<1 + g mod rooms>`, each opted in to
// history without asking for any (token `history: {}`), so that every room message carries
// its offset in the frame's seq. Each viewer counts the room messages (op 1000) it receives
// and checks that their offsets follow each other (offset = previous + 1, once it has one);
// one viewer in `sampleEvery` reads the send stamp (at the start of a pushed body, or of a
// danmaku's text) and records send→viewer latency. With `--push danmaku` the viewers g <
// senders also send danmaku on op 4 at a fixed rate, the frames due at each tick in one write,
// and count the op-5 answers per room. Frames are walked in place on one shared read buffer.
import { connect as netConnect, type Socket } from 'node:net';
import { eachFrame } from './frame-chunks.js';
import { HEADER_LEN, encodeFrame } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import { encodeHistogram, newHistogram, recordMs } from '../measure/histogram.js';
import { exitWithParent } from '../run/children.js';
import { clockMs, parseStamp } from './stamp.js';

/** The operation of the pushed room messages (the viewers' accepts). */
export const PERSIST_OP = 1000;

export interface PersistOpen {
  t: 'open';
  host: string;
  port: number;
  /** Room type of the keys (`live`). */
  roomType: string;
  rooms: number;
  /** The viewers this worker opens are g = first … first + count − 1 (mid g + 1). */
  first: number;
  count: number;
  /** Viewers g < senders also send danmaku (the send command). */
  senders: number;
  concurrency: number;
  sampleEvery: number;
  timeoutMs: number;
  sources: string[];
}

export interface PersistSend {
  t: 'send';
  durationMs: number;
  /** Danmaku per second per sender. */
  perSender: number;
  /** Unanswered danmaku per sender at most: one due beyond it is not sent (counted). */
  inFlight: number;
}

export type PersistCommand = PersistOpen | PersistSend | { t: 'count' } | { t: 'report' } | { t: 'close' };

/** Room messages received so far, all viewers, and the danmaku sent and accepted (cheap enough to poll). */
export interface PersistCount {
  t: 'count';
  total: number;
  sent: number;
  accepted: number;
}

export interface PersistSent {
  t: 'sent';
  sent: number;
  unsent: number;
  /** Answered with code 0. */
  accepted: number;
  /** Answered with another code, or not answered within 10 s of the last send. */
  failed: number;
  /** Refusals by code ("none": no answer). */
  codes: Record<string, number>;
  /** Accepted per room index. */
  acceptedByRoom: number[];
}

export interface PersistOpened {
  t: 'opened';
  ok: number;
  failed: number;
  errors: string[];
  ms: number;
}

export interface PersistReport {
  t: 'report';
  /** Viewers authenticated and still connected. */
  open: number;
  /** Viewers whose connection closed after authenticating. */
  lost: number;
  /** Room messages received, all viewers. */
  total: number;
  /** Per room index: fewest and most room messages among this worker's viewers in it (-1: none here). */
  roomMin: number[];
  roomMax: number[];
  /** Room messages with seq 0 (no offset). */
  unnumbered: number;
  /** Room messages whose offset did not follow the viewer's previous one (a gap, a repeat, or out of order). */
  offsetBreaks: number;
  /** Op-18 (room state) frames. */
  roomStates: number;
  /** push→viewer latency (sampled viewers), encoded histogram. */
  latency: string;
}

interface Viewer {
  socket: Socket;
  mid: number;
  room: number;
  ready: boolean;
  sender: boolean;
  /** Danmaku sent and not answered yet. */
  outstanding: number;
  sampled: boolean;
  messages: number;
  lastOffset: number;
  pending: Buffer | null;
}

const viewers: Viewer[] = [];
const readBuffer = Buffer.allocUnsafe(64 * 1024);
let rooms = 0;
let lost = 0;
let total = 0;
let unnumbered = 0;
let offsetBreaks = 0;
let roomStates = 0;
const latency = newHistogram();
const TEXT_KEY = Buffer.from('"text":"');
const STAMP_DIGITS = 17;
let sendTally: PersistSent = { t: 'sent', sent: 0, unsent: 0, accepted: 0, failed: 0, codes: {}, acceptedByRoom: [] };

function send(m: PersistOpened | PersistCount | PersistSent | PersistReport | { t: 'closed' }): void {
  process.send!(m);
}

function onFrame(v: Viewer, buf: Buffer, start: number, end: number): void {
  const op = buf.readInt32BE(start + 8);
  if (op === PERSIST_OP) {
    v.messages++;
    total++;
    const seq = buf.readUInt32BE(start + 12);
    if (seq === 0) unnumbered++;
    else {
      if (v.lastOffset > 0 && seq !== v.lastOffset + 1) offsetBreaks++;
      v.lastOffset = seq;
    }
    if (v.sampled) {
      const b = start + HEADER_LEN;
      let stamp = parseStamp(buf, b, end);
      if (stamp !== stamp) {
        // A danmaku: {"id":…,"mid":…,"text":"<stamp> 666",…}
        const at = buf.subarray(b, end).indexOf(TEXT_KEY);
        if (at >= 0)
          stamp = Number.parseFloat(buf.toString('latin1', b + at + TEXT_KEY.length, Math.min(end, b + at + TEXT_KEY.length + STAMP_DIGITS)));
      }
      if (stamp === stamp) recordMs(latency, clockMs() - stamp);
    }
  } else if (op === Op.SendMsgReply) {
    v.outstanding--;
    let code = 'unreadable';
    try {
      code = String((JSON.parse(buf.toString('utf8', start + HEADER_LEN, end)) as { code: unknown }).code);
    } catch {
      // counted as refused, code "unreadable"
    }
    if (code === '0') {
      sendTally.accepted++;
      sendTally.acceptedByRoom[v.room]++;
    } else {
      sendTally.failed++;
      sendTally.codes[code] = (sendTally.codes[code] ?? 0) + 1;
    }
  } else if (op === Op.RoomState) roomStates++;
}

/** Walks the complete frames of a chunk (with what was left of the previous one); false on a corrupt stream. */
function onData(v: Viewer, chunk: Buffer): boolean {
  return (
    eachFrame(v, chunk, (buf, start, end) => {
      if (!v.ready) {
        if (buf.readInt32BE(start + 8) === Op.AuthReply) v.ready = true;
      } else onFrame(v, buf, start, end);
    }) === null
  );
}

function openAll(cmd: PersistOpen): Promise<PersistOpened> {
  rooms = cmd.rooms;
  const start = performance.now();
  const errors: string[] = [];
  let next = 0;
  let ok = 0;
  let failed = 0;
  return new Promise((resolve) => {
    if (cmd.count === 0) return resolve({ t: 'opened', ok, failed, errors, ms: 0 });
    const startOne = (): void => {
      const index = next++;
      const g = cmd.first + index;
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
            const wasReady = v.ready;
            // The chunk lives in the shared buffer: onData copies what it keeps.
            if (!onData(v, readBuffer.subarray(0, n))) {
              socket.destroy();
              done('corrupt stream');
            } else if (!wasReady && v.ready) done(null);
            return true;
          },
        },
      });
      const v: Viewer = {
        socket,
        mid: g + 1,
        room: g % cmd.rooms,
        ready: false,
        sender: g < cmd.senders,
        outstanding: 0,
        sampled: g % cmd.sampleEvery === 0,
        messages: 0,
        lastOffset: 0,
        pending: null,
      };
      const timer = setTimeout(() => {
        socket.destroy();
        done('handshake timeout');
      }, cmd.timeoutMs);
      socket.setNoDelay(true);
      socket.once('connect', () => {
        const token = { mid: v.mid, room_id: `${cmd.roomType}://${1 + v.room}`, accepts: [PERSIST_OP], history: {} };
        socket.write(encodeFrame(Op.Auth, Buffer.from(JSON.stringify(token)), 1, 1));
      });
      socket.on('error', (err) => done(err.message));
      socket.once('close', () => {
        if (v.ready) lost++;
        done('closed before ready');
      });
      viewers.push(v);
    };
    for (let i = 0; i < Math.min(cmd.concurrency, cmd.count); i++) startOne();
  });
}

/** Send ticks: every sender writes the danmaku due since its previous tick in one write. */
const TICK_MS = 5;

/** Each sender sends `perSender` danmaku a second for the duration, evenly spread; waits for the answers (at most 10 s). */
async function sendLoop(cmd: PersistSend): Promise<PersistSent> {
  sendTally = { t: 'sent', sent: 0, unsent: 0, accepted: 0, failed: 0, codes: {}, acceptedByRoom: new Array<number>(rooms).fill(0) };
  const senders = viewers.filter((v) => v.sender && v.ready);
  const total = Math.floor((cmd.durationMs / 1000) * cmd.perSender);
  const due = new Array<number>(senders.length).fill(0);
  let seq = 2;
  let n = 0;
  const t0 = performance.now();
  // Senders start spread over one send interval, so that their danmaku do not come in bursts.
  const offset = senders.map((_, i) => (i / Math.max(1, senders.length)) * (1000 / cmd.perSender));
  for (;;) {
    const elapsed = performance.now() - t0;
    let left = false;
    for (let i = 0; i < senders.length; i++) {
      const v = senders[i];
      const upTo = Math.min(total, Math.max(0, Math.floor(((elapsed - offset[i]) * cmd.perSender) / 1000) + 1));
      if (due[i] < total) left = true;
      if (upTo <= due[i]) continue;
      const frames: Buffer[] = [];
      for (; due[i] < upTo; due[i]++) {
        if (v.outstanding >= cmd.inFlight || v.socket.destroyed) {
          sendTally.unsent++;
          continue;
        }
        const text = `${clockMs().toFixed(3).padStart(STAMP_DIGITS, '0')} 666`;
        frames.push(encodeFrame(Op.SendMsg, Buffer.from(JSON.stringify({ text, nonce: `${v.mid}-${n++}` })), 1, seq++));
        v.outstanding++;
        sendTally.sent++;
      }
      if (frames.length > 0) v.socket.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
    }
    if (!left) break;
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  const until = performance.now() + 10_000;
  while (sendTally.accepted + sendTally.failed < sendTally.sent && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  const unanswered = sendTally.sent - sendTally.accepted - sendTally.failed;
  if (unanswered > 0) {
    sendTally.failed += unanswered;
    sendTally.codes.none = unanswered;
  }
  return sendTally;
}

function report(): PersistReport {
  const roomMin = new Array<number>(rooms).fill(-1);
  const roomMax = new Array<number>(rooms).fill(-1);
  let open = 0;
  for (const v of viewers) {
    if (!v.ready || v.socket.destroyed) continue;
    open++;
    roomMin[v.room] = roomMin[v.room] < 0 ? v.messages : Math.min(roomMin[v.room], v.messages);
    roomMax[v.room] = Math.max(roomMax[v.room], v.messages);
  }
  return {
    t: 'report',
    open,
    lost,
    total,
    roomMin,
    roomMax,
    unnumbered,
    offsetBreaks,
    roomStates,
    latency: encodeHistogram(latency),
  };
}

process.on('message', (m: PersistCommand) => {
  switch (m.t) {
    case 'open':
      void openAll(m).then(send);
      break;
    case 'send':
      void sendLoop(m).then(send);
      break;
    case 'count':
      send({ t: 'count', total, sent: sendTally.sent, accepted: sendTally.accepted });
      break;
    case 'report':
      send(report());
      break;
    case 'close':
      for (const v of viewers) v.socket.destroy();
      viewers.length = 0;
      send({ t: 'closed' });
      setImmediate(() => process.exit(0));
      break;
  }
});

exitWithParent();

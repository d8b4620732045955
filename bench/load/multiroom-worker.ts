// A load worker for the multiroom scenario (bench/scenarios/multiroom.ts): opens its share of
// the connections over TCP, connection g in rooms `<type>://<1 + (g × perConn + j) mod rooms>`
// for j < perConn — the first by its token, the others joined with one op 19 in the list form
// (`{"rooms":[…]}`); with perConn = 1 no op 19 is sent and the connection keeps goim's bytes.
// It counts the room messages it receives, inside op-23 envelopes or as plain frames, and one
// connection in `sampleEvery` records push→client latency from the body's send stamp.
import { connect as netConnect, type Socket } from 'node:net';
import { eachFrame } from './frame-chunks.js';
import { HEADER_LEN, encodeFrame } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import { encodeHistogram, newHistogram, recordMs } from '../measure/histogram.js';
import { exitWithParent } from '../run/children.js';
import { roomsOf } from './multiroom-rooms.js';
import { clockMs, parseStamp } from './stamp.js';

export interface MultiroomOpen {
  t: 'open';
  host: string;
  port: number;
  roomType: string;
  /** Rooms in all, and rooms per connection. */
  rooms: number;
  perConn: number;
  /** Operation of the pushed room messages. */
  op: number;
  first: number;
  count: number;
  concurrency: number;
  sampleEvery: number;
  timeoutMs: number;
  sources: string[];
}

export type MultiroomCommand = MultiroomOpen | { t: 'count' } | { t: 'report' } | { t: 'close' };

export interface MultiroomOpened {
  t: 'opened';
  ok: number;
  failed: number;
  errors: string[];
  ms: number;
}

export interface MultiroomCount {
  t: 'count';
  open: number;
  lost: number;
  messages: number;
  /** Op-23 envelopes received. */
  envelopes: number;
}

export interface MultiroomReport extends Omit<MultiroomCount, 't'> {
  t: 'report';
  latency: string;
}

interface Conn {
  socket: Socket;
  ready: boolean;
  sampled: boolean;
  pending: Buffer | null;
}

const conns: Conn[] = [];
const readBuffer = Buffer.allocUnsafe(64 * 1024);
const latency = newHistogram();
let op = 0;
let lost = 0;
let messages = 0;
let envelopes = 0;

function send(m: MultiroomOpened | MultiroomCount | MultiroomReport | { t: 'closed' }): void {
  process.send!(m);
}

/** Counts the room messages among the frames in buf[start, end) (one frame, or an envelope's inner frames). */
function onMessages(c: Conn, buf: Buffer, start: number, end: number): void {
  let off = start;
  while (end - off >= HEADER_LEN) {
    const len = buf.readUInt32BE(off);
    if (len < HEADER_LEN || off + len > end) return;
    if (buf.readInt32BE(off + 8) === op) {
      messages++;
      if (c.sampled) {
        const stamp = parseStamp(buf, off + HEADER_LEN, off + len);
        if (stamp === stamp) recordMs(latency, clockMs() - stamp);
      }
    }
    off += len;
  }
}

/** A complete frame after auth; returns why the connection must close (a refused join), or null. */
function onFrame(c: Conn, buf: Buffer, start: number, end: number): string | null {
  const frameOp = buf.readInt32BE(start + 8);
  if (frameOp === Op.RoomMessage) {
    envelopes++;
    const keyLen = buf.readUInt16BE(start + HEADER_LEN);
    onMessages(c, buf, start + HEADER_LEN + 2 + keyLen, end);
  } else if (frameOp === op) onMessages(c, buf, start, end);
  else if (frameOp === Op.JoinReply) {
    const r = JSON.parse(buf.toString('utf8', start + HEADER_LEN, end)) as { code: number; message?: string };
    if (r.code !== 0) return `join refused: ${r.message ?? r.code}`;
    c.ready = true;
  }
  return null;
}

function onData(c: Conn, chunk: Buffer, multi: boolean): string | null {
  return eachFrame(c, chunk, (buf, start, end) => {
    if (buf.readInt32BE(start + 8) === Op.AuthReply) {
      if (!multi) c.ready = true;
      return null;
    }
    return onFrame(c, buf, start, end);
  });
}

function openAll(cmd: MultiroomOpen): Promise<MultiroomOpened> {
  op = cmd.op;
  const multi = cmd.perConn > 1;
  const start = performance.now();
  const errors: string[] = [];
  let next = 0;
  let ok = 0;
  let failed = 0;
  return new Promise((resolve) => {
    if (cmd.count === 0) return resolve({ t: 'opened', ok, failed, errors, ms: 0 });
    const startOne = (): void => {
      const g = cmd.first + next++;
      const keys = roomsOf(g, cmd.perConn, cmd.rooms).map((r) => `${cmd.roomType}://${r + 1}`);
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
            let err: string | null;
            try {
              // The chunk lives in the shared buffer: onData copies what it keeps.
              err = onData(c, readBuffer.subarray(0, n), multi);
            } catch (e) {
              err = (e as Error).message;
            }
            if (err) {
              socket.destroy();
              done(err);
            } else if (!wasReady && c.ready) done(null);
            return true;
          },
        },
      });
      const c: Conn = { socket, ready: false, sampled: g % cmd.sampleEvery === 0, pending: null };
      const timer = setTimeout(() => {
        socket.destroy();
        done('handshake timeout');
      }, cmd.timeoutMs);
      socket.setNoDelay(true);
      socket.once('connect', () => {
        const frames = [encodeFrame(Op.Auth, Buffer.from(JSON.stringify({ mid: g + 1, room_id: keys[0], accepts: [] })), 1, 1)];
        if (multi) frames.push(encodeFrame(Op.Join, Buffer.from(JSON.stringify({ rooms: keys.slice(1) })), 1, 2));
        socket.write(Buffer.concat(frames));
      });
      socket.on('error', (err) => done(err.message));
      socket.once('close', () => {
        if (c.ready) lost++;
        done('closed before ready');
      });
      conns.push(c);
    };
    for (let i = 0; i < Math.min(cmd.concurrency, cmd.count); i++) startOne();
  });
}

function count(): MultiroomCount {
  let open = 0;
  for (const c of conns) if (c.ready && !c.socket.destroyed) open++;
  return { t: 'count', open, lost, messages, envelopes };
}

process.on('message', (m: MultiroomCommand) => {
  switch (m.t) {
    case 'open':
      void openAll(m).then(send);
      break;
    case 'count':
      send(count());
      break;
    case 'report': {
      const { open } = count();
      send({ t: 'report', open, lost, messages, envelopes, latency: encodeHistogram(latency) });
      break;
    }
    case 'close':
      for (const c of conns) c.socket.destroy();
      conns.length = 0;
      send({ t: 'closed' });
      setImmediate(() => process.exit(0));
      break;
  }
});

exitWithParent();

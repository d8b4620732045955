// A load worker (forked by the benchmark parent): opens its share of the clients, answers
// nothing after the handshake, and counts what arrives as cheaply as it can —
//  - TCP: one shared read buffer for all sockets (net `onread`), frames counted by walking
//    packLen headers, no allocation per read or per frame;
//  - WebSocket (ws client): inner frames of each op-9 envelope walked in place;
//  - socket.io: one count per event.
// One connection in `sampleEvery` also reads the send stamp of each message and records
// push→client latency into an HDR histogram, sent to the parent on `report`.
import { connect as netConnect, type Socket } from 'node:net';
import { io as sioConnect, type Socket as SioSocket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { encodeFrame } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import { BENCH_OP } from '../servers/bench-room.js';
import { encodeHistogram, newHistogram, recordMs } from '../measure/histogram.js';
import { exitWithParent } from '../run/children.js';
import { countEnvelope, StreamFrameCounter } from './frame-counter.js';
import type { ConnectCommand, ConnectedReply, Counts, ParentMessage, WorkerMessage } from './messages.js';
import { clockMs, parseStamp, parseStampText } from './stamp.js';

/** Bytes of a body the latency reader needs: `{"t":` + 17 characters. */
const STAMP_BYTES = 24;
const MAX_ERRORS = 5;

interface Client {
  ready: boolean;
  close(): void;
  /** Sends one goim heartbeat (tsim clients only). */
  heartbeat?(): void;
}

const counts: Counts = { frames: 0, reads: 0, open: 0, lost: 0 };
let histogram = newHistogram();
const clients: Client[] = [];
/** One read buffer shared by every TCP socket of this worker: reads are handled one at a time. */
const readBuffer = Buffer.allocUnsafe(64 * 1024);

function send(m: WorkerMessage): void {
  process.send!(m);
}

function sampleStamp(stamp: number): void {
  if (stamp === stamp) recordMs(histogram, clockMs() - stamp);
}

/** goim op 2, shared by every client (heartbeats carry no body). */
const HEARTBEAT = encodeFrame(Op.Heartbeat, Buffer.alloc(0), 1, 0);

function authFrame(mid: number, room: string): Buffer {
  return encodeFrame(Op.Auth, Buffer.from(JSON.stringify({ mid, room_id: room, accepts: [BENCH_OP] })), 1, 1);
}

/** Opens one client; `done` is called once, with null when ready. */
type Opener = (cmd: ConnectCommand, index: number, done: (err: string | null) => void) => Client;

/**
 * A client's handshake outcome, reported once: `finish(null)` when ready, `finish(reason)` on
 * failure; `ended` when its connection closes (counted as lost once it was ready).
 */
function lifecycle(client: Client, done: (err: string | null) => void) {
  let settled = false;
  const finish = (err: string | null): void => {
    if (settled) return;
    settled = true;
    if (err === null) {
      client.ready = true;
      counts.open++;
    }
    done(err);
  };
  const ended = (reason: string): void => {
    if (client.ready) {
      counts.open--;
      counts.lost++;
    }
    finish(reason);
  };
  return { finish, ended };
}

const openTcp: Opener = (cmd, index, done) => {
  const sampled = index % cmd.sampleEvery === 0;
  const counter = new StreamFrameCounter(sampled ? (b, len) => sampleStamp(parseStamp(b, 0, len)) : null, STAMP_BYTES);
  const client: Client = { ready: false, close: () => socket.destroy(), heartbeat: () => socket.write(HEARTBEAT) };
  const { finish, ended } = lifecycle(client, done);
  const socket: Socket = netConnect({
    host: cmd.host,
    port: cmd.port,
    localAddress: cmd.sources[index % cmd.sources.length],
    onread: {
      buffer: readBuffer,
      callback: (n: number) => {
        let frames: number;
        try {
          frames = counter.push(readBuffer, 0, n);
        } catch (e) {
          socket.destroy();
          finish(`corrupt stream: ${(e as Error).message}`);
          return true;
        }
        if (!client.ready) {
          // The first frame of an authenticating client is the op-8 reply.
          if (frames === 0 || !cmd.auth) return true;
          frames--;
          finish(null);
        }
        counts.frames += frames;
        counts.reads++;
        return true;
      },
    },
  });
  socket.setNoDelay(true);
  socket.once('connect', () => {
    if (cmd.auth) socket.write(authFrame(cmd.firstMid + index, cmd.room));
    else finish(null);
  });
  socket.on('error', (err) => finish(err.message));
  socket.once('close', () => ended('closed before ready'));
  return client;
};

const openWs: Opener = (cmd, index, done) => {
  const sampled = index % cmd.sampleEvery === 0;
  const onBody = sampled ? (m: Buffer, s: number, e: number) => sampleStamp(parseStamp(m, s, e)) : null;
  const ws = new WebSocket(`ws://${cmd.host}:${cmd.port}${cmd.path}`, {
    localAddress: cmd.sources[index % cmd.sources.length],
    perMessageDeflate: false,
    skipUTF8Validation: true,
  });
  const client: Client = { ready: false, close: () => ws.terminate(), heartbeat: () => ws.send(HEARTBEAT) };
  const { finish, ended } = lifecycle(client, done);
  ws.on('open', () => {
    if (cmd.auth) ws.send(authFrame(cmd.firstMid + index, cmd.room));
    else finish(null);
  });
  ws.on('message', (data: Buffer) => {
    if (!client.ready) {
      if (cmd.auth && data.length >= 16 && data.readInt32BE(8) === Op.AuthReply) finish(null);
      return;
    }
    try {
      counts.frames += countEnvelope(data, onBody);
      counts.reads++;
    } catch (e) {
      ws.terminate();
      finish(`corrupt message: ${(e as Error).message}`);
    }
  });
  ws.on('error', (err) => finish(err.message));
  ws.on('close', () => ended('closed before ready'));
  return client;
};

const openSocketIo: Opener = (cmd, index, done) => {
  const sampled = index % cmd.sampleEvery === 0;
  // localAddress is passed through to the ws client by engine.io-client, though not typed.
  const options: Record<string, unknown> = {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: cmd.timeoutMs,
    localAddress: cmd.sources[index % cmd.sources.length],
  };
  const s: SioSocket = sioConnect(`http://${cmd.host}:${cmd.port}`, options);
  const client: Client = { ready: false, close: () => s.disconnect() };
  const { finish, ended } = lifecycle(client, done);
  s.once('connect', () => finish(null));
  s.once('connect_error', (err: Error) => finish(err.message));
  s.on('m', (body: string) => {
    counts.frames++;
    counts.reads++;
    if (sampled) sampleStamp(parseStampText(body));
  });
  s.once('disconnect', () => ended('disconnected before ready'));
  return client;
};

const openers: Record<ConnectCommand['kind'], Opener> = { tcp: openTcp, ws: openWs, 'socket.io': openSocketIo };

/** Opens cmd.count clients with at most cmd.concurrency handshakes in flight. */
function connectAll(cmd: ConnectCommand): Promise<ConnectedReply> {
  const start = performance.now();
  const open = openers[cmd.kind];
  const errors: string[] = [];
  let next = 0;
  let ok = 0;
  let failed = 0;
  return new Promise((resolve) => {
    if (cmd.count === 0) return resolve({ t: 'connected', ok, failed, errors, ms: 0 });
    const startOne = (): void => {
      const index = next++;
      let client: Client | undefined = undefined;
      const timer = setTimeout(() => {
        client?.close();
        onDone('handshake timeout');
      }, cmd.timeoutMs);
      let reported = false;
      const onDone = (err: string | null) => {
        if (reported) return;
        reported = true;
        clearTimeout(timer);
        if (err === null) ok++;
        else {
          failed++;
          if (errors.length < MAX_ERRORS) errors.push(err);
        }
        if (ok + failed === cmd.count) resolve({ t: 'connected', ok, failed, errors, ms: performance.now() - start });
        else if (next < cmd.count) startOne();
      };
      client = open(cmd, index, onDone);
      clients.push(client);
    };
    for (let i = 0; i < Math.min(cmd.concurrency, cmd.count); i++) startOne();
  });
}

/** Ticks of the heartbeat spreader per second: each sends the share of heartbeats due. */
const HEARTBEAT_TICKS_PER_S = 10;
let heartbeatTimer: NodeJS.Timeout | undefined;

/** Heartbeats from every ready client every `everyMs`, a slice per tick so they arrive evenly; 0 stops them. */
function heartbeatEvery(everyMs: number): number {
  clearInterval(heartbeatTimer);
  heartbeatTimer = undefined;
  const ready = clients.filter((c) => c.ready && c.heartbeat !== undefined);
  if (everyMs <= 0 || ready.length === 0) return 0;
  const perTick = ready.length / ((everyMs / 1000) * HEARTBEAT_TICKS_PER_S);
  let due = 0;
  let next = 0;
  heartbeatTimer = setInterval(() => {
    due += perTick;
    for (; due >= 1; due--) {
      const c = ready[next++ % ready.length];
      if (c.ready) c.heartbeat!();
    }
  }, 1000 / HEARTBEAT_TICKS_PER_S);
  return ready.length;
}

process.on('message', (m: ParentMessage) => {
  switch (m.t) {
    case 'heartbeat':
      send({ t: 'heartbeating', clients: heartbeatEvery(m.everyMs) });
      break;
    case 'connect':
      connectAll(m).then(send, (err: unknown) => send({ t: 'fatal', error: String(err) }));
      break;
    case 'poll':
      send({ t: 'counts', ...counts });
      break;
    case 'reset':
      counts.frames = 0;
      counts.reads = 0;
      counts.lost = 0;
      histogram = newHistogram();
      send({ t: 'reset' });
      break;
    case 'report':
      send({ t: 'report', ...counts, histogram: encodeHistogram(histogram), samples: histogram.totalCount });
      break;
    case 'close':
      heartbeatEvery(0);
      for (const c of clients) c.close();
      clients.length = 0;
      send({ t: 'closed' });
      setImmediate(() => process.exit(0));
      break;
  }
});

exitWithParent();

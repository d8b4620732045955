// A recovery load worker (forked by bench/scenarios/recovery.ts): opens its share of the clients
// in one history room over goim TCP and keeps them there the way the client SDK does
// (docs/client.md#danmaku-and-history), implemented on the wire for 10,000 clients:
//  - every client opts in (token `history`), remembers the room's epoch and the last offset it
//    has without a gap, and after a dropped connection reconnects with the SDK's back-off
//    (DEFAULT_BACKOFF, backoffDelay) asking `{"since": last, "epoch": e}`;
//  - op 18 (RoomState) and offsets are handled as the SDK's RoomHistory does: a new epoch or
//    `recovered: false` moves the position to `first - 1`, a message at or below the position
//    is dropped, one past a gap waits for it at most `gapWaitMs`, then the gap is given up
//    (reason "gap");
//  - every room message's offset is recorded twice: as received on the wire, and as the SDK
//    would deliver it to the application. Lost = an offset of the room never received;
//    duplicated = an offset received twice (on the wire) or delivered twice (after the SDK's rule).
// After `mark` (just before the comet is killed) each client records when its connection
// dropped, when it was authenticated again (op 8), and when it recovered: op 18 with
// `recovered: true` and every record of its range received.
import { connect as netConnect, type Socket } from 'node:net';
import { DEFAULT_BACKOFF, backoffDelay } from 'tsim-client';
import { eachFrame } from './frame-chunks.js';
import { HEADER_LEN, encodeFrame } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import { encodeHistogram, newHistogram, recordMs } from '../measure/histogram.js';
import { exitWithParent } from '../run/children.js';
import { clockMs } from './stamp.js';

/** The op of the room messages (the push API's `operation`). */
export const RECOVERY_OP = 1000;
/** The SDK's authTimeout: op 7 sent, no op 8 within this → the attempt counts as failed. */
const AUTH_TIMEOUT_MS = 10_000;
/** The SDK gives a gap up at once when more than this many messages wait behind it. */
const MAX_GAP_WAITING = 10_000;
/** Offsets recorded per client at most (the scenario's rate × duration stays far below). */
const MAX_OFFSET = 1 << 22;
/** Distinct lost offsets tallied (offset → clients that lost it) per worker. */
const MAX_LOST_OFFSETS = 5000;

export interface RecoveryOpen {
  t: 'open';
  host: string;
  port: number;
  room: string;
  firstMid: number;
  count: number;
  /** Handshakes in flight at once for the first connections (reconnects are not throttled, as with SDK clients). */
  concurrency: number;
  timeoutMs: number;
  sources: string[];
  gapWaitMs: number;
}

/** Everything from now on belongs to the storm: the comet is about to be killed at `killAt` (clockMs). */
export interface RecoveryMark {
  t: 'mark';
  killAt: number;
}

/** Per-client losses against the room's offsets up to `lastOffset`. */
export interface RecoveryFinal {
  t: 'final';
  lastOffset: number;
}

export type RecoveryCommand = RecoveryOpen | RecoveryMark | { t: 'status' } | RecoveryFinal | { t: 'close' };

export type RecoveryReply = RecoveryOpened | RecoveryStatus | RecoveryReport | { t: 'marked' } | { t: 'closed' };

export interface RecoveryOpened {
  t: 'opened';
  ok: number;
  failed: number;
  errors: string[];
  ms: number;
}

export interface RecoveryStatus {
  t: 'status';
  clients: number;
  /** Authenticated now. */
  open: number;
  /** Since the mark: connections dropped, clients authenticated again, recovered, not recovered. */
  dropped: number;
  reconnected: number;
  recovered: number;
  notRecovered: number;
  /** Latest clockMs of a reconnection / a recovery since the mark (0: none). */
  lastReconnectAt: number;
  lastRecoveredAt: number;
  /** Lowest position (last offset without a gap) over the clients, and how many have at least `atLeast`. */
  minPosition: number;
  /** Clients that have had an op 18 with an epoch. */
  positioned: number;
}

export interface RecoveryReport {
  t: 'final';
  clients: number;
  /** Clients that never learned the room's epoch and start (no op 18): their losses cannot be counted. */
  unpositioned: number;
  /** Offsets of the room (from each client's first op 18 to lastOffset) never received. */
  lost: number;
  /** Of those, lost by clients the storm left not recovered (told so, or never answered): what they would page over HTTP. */
  lostNotRecovered: number;
  clientsWithLoss: number;
  /** Offsets received more than once on the wire (the SDK drops the repeats). */
  wireDuplicates: number;
  clientsWithWireDuplicates: number;
  /** Offsets the SDK's rule would have delivered to the application twice. */
  deliveredDuplicates: number;
  /** Offsets received but never delivered by the SDK's rule (dropped after a position reset). */
  undelivered: number;
  /** Room messages received without an offset (seq 0). */
  unnumbered: number;
  /** Offsets received for the first time after a higher one (the SDK holds the higher ones until the gap fills). */
  outOfOrder: number;
  /** Messages received, all clients. */
  received: number;
  /** Lost offsets → clients that lost it (at most MAX_LOST_OFFSETS offsets). */
  lostOffsets: Array<[number, number]>;
  /** A few clients' lost ranges, e.g. "mid 17: 412-430". */
  lostExamples: string[];
  /** Not recovered since the mark, by reason. */
  notRecoveredByReason: Record<string, number>;
  /** Over the whole run (first joins included), by reason. */
  notRecoveredAllByReason: Record<string, number>;
  /** Op-18 frames inside the stream announcing an epoch (first epoch included). */
  epochAnnouncements: number;
  epochs: string[];
  /** Records each recovering client was replayed (op-18 range sizes) since the mark. */
  replayedRecords: number;
  /** Since the mark: kill → socket closed, kill → op 8, kill → recovered (ms histograms). */
  dropMs: string;
  reconnectMs: string;
  /** Since the mark: op 7 sent → op 8 of each successful reconnection (the server's handshake time). */
  authMs: string;
  recoverMs: string;
  /** Since the mark: connection attempts that failed, by why (refused, no op 8 in 10 s, closed before op 8, an error code). */
  failedAttempts: Record<string, number>;
  /** Clients authenticated more than once since the mark (dropped again after reconnecting). */
  rejoinedAgain: number;
}

interface Client {
  index: number;
  mid: number;
  socket: Socket | null;
  ready: boolean;
  /** Failed attempts since the last authentication (the back-off's exponent). */
  attempt: number;
  retryTimer: NodeJS.Timeout | null;
  /** clockMs when op 7 was sent on the current connection. */
  authSentAt: number;
  authTimer: NodeJS.Timeout | null;
  pending: Buffer | null;
  /** The SDK's position: epoch (undefined: none) and last offset without a gap. */
  epoch: string | undefined;
  last: number;
  maxSeen: number;
  /** Offsets past a gap, waiting for it (the SDK's `held`). */
  held: Set<number> | null;
  gapTimer: NodeJS.Timeout | null;
  /** The first offset this client is accountable for (its first op 18); 0 until then. */
  start: number;
  /** Receipts per offset on the wire, and deliveries by the SDK's rule (saturating at 255). */
  received: Uint8Array;
  delivered: Uint8Array;
  /** The current connection has had its join op 18. */
  joined: boolean;
  // Since the mark.
  droppedAt: number;
  reconnectedAt: number;
  rejoins: number;
  /** Op-18 range end this client waits for (recovered: true); -1 when not waiting. */
  awaiting: number;
  recoveredAt: number;
  notRecoveredReason: string | undefined;
}

const clients: Client[] = [];
const readBuffer = Buffer.allocUnsafe(64 * 1024);
let target: RecoveryOpen | null = null;
let closing = false;
let killAt = 0;
let failedAttempts: Record<string, number> = {};
let epochAnnouncements = 0;
let replayedRecords = 0;
let unnumbered = 0;
let outOfOrder = 0;
let receivedTotal = 0;
const epochs = new Set<string>();
const notRecoveredAll: Record<string, number> = {};
let dropMs = newHistogram();
let reconnectMs = newHistogram();
let authMs = newHistogram();
let recoverMs = newHistogram();
/** Resolves the first-open promise as clients authenticate for the first time. */
let onFirstReady: ((c: Client, err: string | null) => void) | null = null;

function send(m: RecoveryReply): void {
  process.send!(m);
}

function bump(a: Uint8Array, i: number): number {
  const v = a[i];
  if (v < 255) a[i] = v + 1;
  return v + 1;
}

/** Grows `c`'s per-offset arrays to hold `offset`. */
function ensure(c: Client, offset: number): void {
  if (offset < c.received.length) return;
  let n = c.received.length;
  while (n <= offset) n *= 2;
  const r = new Uint8Array(n);
  r.set(c.received);
  const d = new Uint8Array(n);
  d.set(c.delivered);
  c.received = r;
  c.delivered = d;
}

function deliver(c: Client, offset: number): void {
  bump(c.delivered, offset);
  // Recovered once the op-18 range has been delivered.
  if (c.awaiting >= 0 && c.last >= c.awaiting) markRecovered(c);
}

function markRecovered(c: Client): void {
  c.awaiting = -1;
  if (killAt > 0 && c.recoveredAt === 0) {
    c.recoveredAt = clockMs();
    recordMs(recoverMs, c.recoveredAt - killAt);
  }
}

function notRecovered(c: Client, reason: string): void {
  notRecoveredAll[reason] = (notRecoveredAll[reason] ?? 0) + 1;
  if (killAt > 0 && c.droppedAt > 0 && c.recoveredAt === 0 && c.notRecoveredReason === undefined) c.notRecoveredReason = reason;
}

/** The SDK's gapExpired: what waited goes out in order past the gap. */
function gapExpired(c: Client): void {
  if (c.gapTimer) clearTimeout(c.gapTimer);
  c.gapTimer = null;
  if (c.held === null || c.held.size === 0) return;
  const offsets = [...c.held].sort((a, b) => a - b);
  c.held.clear();
  c.last = offsets[offsets.length - 1];
  for (const o of offsets) deliver(c, o);
}

function onGapTimer(c: Client): void {
  c.gapTimer = null;
  if (c.held === null || c.held.size === 0) return;
  notRecovered(c, 'gap');
  gapExpired(c);
}

function onRoomMessage(c: Client, offset: number): void {
  receivedTotal++;
  if (offset === 0) {
    unnumbered++;
    return;
  }
  if (offset >= MAX_OFFSET) return;
  ensure(c, offset);
  // A first receipt after a higher offset (a repeat is a duplicate, counted at the end).
  if (bump(c.received, offset) === 1 && offset < c.maxSeen) outOfOrder++;
  c.maxSeen = Math.max(c.maxSeen, offset);
  if (c.epoch === undefined) {
    // The SDK passes messages through while it has no position.
    deliver(c, offset);
    return;
  }
  if (offset <= c.last) return;
  if (offset > c.last + 1) {
    (c.held ??= new Set()).add(offset);
    if (c.held.size > MAX_GAP_WAITING) onGapTimer(c);
    else c.gapTimer ??= setTimeout(() => onGapTimer(c), target!.gapWaitMs);
    return;
  }
  c.last = offset;
  deliver(c, offset);
  while (c.held !== null && c.held.delete(c.last + 1)) {
    c.last++;
    deliver(c, c.last);
  }
  if (c.held !== null && c.held.size === 0 && c.gapTimer) {
    clearTimeout(c.gapTimer);
    c.gapTimer = null;
  }
}

interface StateBody {
  room?: unknown;
  epoch?: unknown;
  first?: unknown;
  last?: unknown;
  recovered?: unknown;
  reason?: unknown;
}

function onRoomState(c: Client, body: string): void {
  let o: StateBody;
  try {
    o = JSON.parse(body) as StateBody;
  } catch {
    return;
  }
  if (typeof o.epoch !== 'string' || typeof o.first !== 'number') return;
  const first = o.first;
  const last = typeof o.last === 'number' ? o.last : first - 1;
  const recovered = o.recovered !== false;
  const reason = typeof o.reason === 'string' ? o.reason : 'unknown';
  const epoch = o.epoch === '' ? undefined : o.epoch;
  // A join's op 18 carries `recovered`; the job's announcement of an epoch does not.
  const isJoin = 'recovered' in o;
  if (!isJoin) epochAnnouncements++;
  if (epoch !== undefined) {
    epochs.add(epoch);
    if (c.start === 0) c.start = first;
  }
  // The SDK: another epoch, or a gap not filled: flush what waited, count from this join's start.
  if (c.epoch !== epoch || !recovered) {
    gapExpired(c);
    c.epoch = epoch;
    c.last = first - 1;
  }
  if (!recovered) notRecovered(c, reason);
  if (isJoin && !c.joined) {
    c.joined = true;
    if (killAt > 0 && c.droppedAt > 0 && c.recoveredAt === 0) {
      if (recovered) {
        replayedRecords += Math.max(0, last - first + 1);
        c.awaiting = last;
        if (c.last >= last) markRecovered(c);
      }
    }
  }
}

function onFrame(c: Client, buf: Buffer, start: number, end: number): void {
  const op = buf.readInt32BE(start + 8);
  if (op === RECOVERY_OP) onRoomMessage(c, buf.readUInt32BE(start + 12));
  else if (op === Op.RoomState) onRoomState(c, buf.toString('utf8', start + HEADER_LEN, end));
  else if (op === Op.Raw) walk(c, buf, start + HEADER_LEN, end);
}

/** Frames inside an op-9 envelope. */
function walk(c: Client, buf: Buffer, from: number, to: number): void {
  let off = from;
  while (to - off >= HEADER_LEN) {
    const len = buf.readUInt32BE(off);
    if (len < HEADER_LEN || off + len > to) return;
    onFrame(c, buf, off, off + len);
    off += len;
  }
}

function onAuthenticated(c: Client): void {
  c.ready = true;
  c.joined = false;
  if (c.authTimer) clearTimeout(c.authTimer);
  c.authTimer = null;
  c.attempt = 0;
  if (killAt > 0 && c.droppedAt > 0) {
    c.rejoins++;
    if (c.reconnectedAt === 0) {
      c.reconnectedAt = clockMs();
      recordMs(reconnectMs, c.reconnectedAt - killAt);
      recordMs(authMs, c.reconnectedAt - c.authSentAt);
    }
  }
  onFirstReady?.(c, null);
}

/** Walks the complete frames of a chunk (with what was left of the previous one). */
function onData(c: Client, chunk: Buffer): boolean {
  return (
    eachFrame(c, chunk, (buf, start, end) => {
      if (!c.ready) {
        if (buf.readInt32BE(start + 8) === Op.AuthReply) onAuthenticated(c);
      } else onFrame(c, buf, start, end);
    }) === null
  );
}

/** The token's history request: what was missed, once the client knows an epoch (the SDK's `ask`, last 0). */
function historyAsk(c: Client): Record<string, unknown> {
  return c.epoch !== undefined ? { since: c.last, epoch: c.epoch } : {};
}

function connectClient(c: Client): void {
  const t = target!;
  c.pending = null;
  c.ready = false;
  const socket = netConnect({
    host: t.host,
    port: t.port,
    localAddress: t.sources[c.index % t.sources.length],
    onread: {
      buffer: readBuffer,
      callback: (n: number) => {
        // The chunk lives in the shared buffer: onData copies what it keeps.
        if (!onData(c, readBuffer.subarray(0, n))) socket.destroy();
        return true;
      },
    },
  });
  c.socket = socket;
  socket.setNoDelay(true);
  let why = 'closed before op 8';
  socket.once('connect', () => {
    const token = { mid: c.mid, room_id: t.room, accepts: [RECOVERY_OP], history: historyAsk(c) };
    socket.write(encodeFrame(Op.Auth, Buffer.from(JSON.stringify(token)), 1, 1));
    c.authSentAt = clockMs();
    // The SDK's authTimeout runs from op 7; the TCP connect itself has no timeout there either.
    c.authTimer = setTimeout(() => {
      why = 'no op 8 in 10 s';
      socket.destroy();
    }, AUTH_TIMEOUT_MS);
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (!c.ready) why = err.code === 'ECONNREFUSED' ? 'refused' : (err.code ?? err.message);
  });
  socket.once('close', () => onClosed(c, socket, why));
}

function onClosed(c: Client, socket: Socket, why: string): void {
  if (c.socket !== socket) return;
  c.socket = null;
  if (c.authTimer) clearTimeout(c.authTimer);
  c.authTimer = null;
  const wasReady = c.ready;
  c.ready = false;
  if (!wasReady) {
    if (killAt > 0) failedAttempts[why] = (failedAttempts[why] ?? 0) + 1;
    onFirstReady?.(c, 'closed before ready');
  }
  if (closing) return;
  if (wasReady && killAt > 0 && c.droppedAt === 0) {
    c.droppedAt = clockMs();
    recordMs(dropMs, c.droppedAt - killAt);
  }
  // The SDK's back-off: base 1 s × 1.8^attempt, at most 30 s, ±30 %.
  const delay = backoffDelay(DEFAULT_BACKOFF, c.attempt);
  c.attempt++;
  c.retryTimer = setTimeout(() => {
    c.retryTimer = null;
    if (!closing) connectClient(c);
  }, delay);
}

function newClient(index: number, mid: number): Client {
  return {
    index,
    mid,
    socket: null,
    ready: false,
    attempt: 0,
    retryTimer: null,
    authSentAt: 0,
    authTimer: null,
    pending: null,
    epoch: undefined,
    last: 0,
    maxSeen: 0,
    held: null,
    gapTimer: null,
    start: 0,
    received: new Uint8Array(1024),
    delivered: new Uint8Array(1024),
    joined: false,
    droppedAt: 0,
    reconnectedAt: 0,
    rejoins: 0,
    awaiting: -1,
    recoveredAt: 0,
    notRecoveredReason: undefined,
  };
}

/**
 * Opens the clients, `concurrency` handshakes at a time; a client whose first attempt fails is
 * retried with the back-off like any other, and counted failed when not ready within `timeoutMs`.
 */
function openAll(cmd: RecoveryOpen): Promise<RecoveryOpened> {
  target = cmd;
  const t0 = performance.now();
  const errors: string[] = [];
  let next = 0;
  let ok = 0;
  let failed = 0;
  const settled = new Set<Client>();
  return new Promise((resolve) => {
    if (cmd.count === 0) return resolve({ t: 'opened', ok, failed, errors, ms: 0 });
    const finish = (): void => {
      onFirstReady = null;
      resolve({ t: 'opened', ok, failed, errors, ms: performance.now() - t0 });
    };
    const settle = (c: Client, err: string | null): void => {
      if (settled.has(c)) return;
      if (err !== null) {
        if (errors.length < 5) errors.push(err);
        return; // retried by the back-off until the deadline
      }
      settled.add(c);
      ok++;
      if (ok + failed === cmd.count) finish();
      else if (next < cmd.count) startOne();
    };
    onFirstReady = settle;
    const startOne = (): void => {
      const index = next++;
      const c = newClient(index, cmd.firstMid + index);
      clients.push(c);
      connectClient(c);
      setTimeout(() => {
        if (settled.has(c) || onFirstReady === null) return;
        settled.add(c);
        failed++;
        if (errors.length < 5) errors.push(`mid ${c.mid}: not authenticated in ${cmd.timeoutMs} ms`);
        if (ok + failed === cmd.count) finish();
        else if (next < cmd.count) startOne();
      }, cmd.timeoutMs);
    };
    for (let i = 0; i < Math.min(cmd.concurrency, cmd.count); i++) startOne();
  });
}

function mark(at: number): void {
  killAt = at;
  failedAttempts = {};
  replayedRecords = 0;
  dropMs = newHistogram();
  reconnectMs = newHistogram();
  authMs = newHistogram();
  recoverMs = newHistogram();
  for (const c of clients) {
    c.droppedAt = 0;
    c.reconnectedAt = 0;
    c.rejoins = 0;
    c.awaiting = -1;
    c.recoveredAt = 0;
    c.notRecoveredReason = undefined;
  }
}

function status(): RecoveryStatus {
  let open = 0;
  let dropped = 0;
  let reconnected = 0;
  let recovered = 0;
  let notRec = 0;
  let lastReconnectAt = 0;
  let lastRecoveredAt = 0;
  let minPosition = Number.POSITIVE_INFINITY;
  let positioned = 0;
  for (const c of clients) {
    if (c.ready) open++;
    if (c.droppedAt > 0) dropped++;
    if (c.reconnectedAt > 0) reconnected++;
    if (c.recoveredAt > 0) recovered++;
    else if (c.notRecoveredReason !== undefined) notRec++;
    lastReconnectAt = Math.max(lastReconnectAt, c.reconnectedAt);
    lastRecoveredAt = Math.max(lastRecoveredAt, c.recoveredAt);
    minPosition = Math.min(minPosition, c.last);
    if (c.start > 0) positioned++;
  }
  return {
    t: 'status',
    clients: clients.length,
    open,
    dropped,
    reconnected,
    recovered,
    notRecovered: notRec,
    lastReconnectAt,
    lastRecoveredAt,
    minPosition: clients.length > 0 ? minPosition : 0,
    positioned,
  };
}

/** Offsets as ranges: [3,4,5,9] → "3-5 9". */
function ranges(offsets: number[], max = 6): string {
  const out: string[] = [];
  for (let i = 0; i < offsets.length && out.length < max;) {
    let j = i;
    while (j + 1 < offsets.length && offsets[j + 1] === offsets[j] + 1) j++;
    out.push(i === j ? `${offsets[i]}` : `${offsets[i]}-${offsets[j]}`);
    i = j + 1;
  }
  return out.join(' ');
}

function final(lastOffset: number): RecoveryReport {
  let lost = 0;
  let lostNotRecovered = 0;
  let clientsWithLoss = 0;
  let wireDuplicates = 0;
  let clientsWithWireDuplicates = 0;
  let deliveredDuplicates = 0;
  let undelivered = 0;
  let unpositioned = 0;
  let rejoinedAgain = 0;
  const lostOffsets = new Map<number, number>();
  const lostExamples: string[] = [];
  const byReason: Record<string, number> = {};
  for (const c of clients) {
    if (c.notRecoveredReason !== undefined && c.recoveredAt === 0) byReason[c.notRecoveredReason] = (byReason[c.notRecoveredReason] ?? 0) + 1;
    if (c.rejoins > 1) rejoinedAgain++;
    if (c.start === 0) {
      unpositioned++;
      continue;
    }
    ensure(c, Math.min(lastOffset, MAX_OFFSET - 1));
    const missing: number[] = [];
    let dups = 0;
    for (let o = c.start; o <= lastOffset && o < MAX_OFFSET; o++) {
      const r = c.received[o];
      const d = c.delivered[o];
      if (r === 0) {
        missing.push(o);
        if (lostOffsets.has(o) || lostOffsets.size < MAX_LOST_OFFSETS) lostOffsets.set(o, (lostOffsets.get(o) ?? 0) + 1);
      } else {
        if (r > 1) dups += r - 1;
        if (d === 0) undelivered++;
      }
      if (d > 1) deliveredDuplicates += d - 1;
    }
    lost += missing.length;
    if (c.droppedAt > 0 && c.recoveredAt === 0) lostNotRecovered += missing.length;
    if (missing.length > 0) {
      clientsWithLoss++;
      if (lostExamples.length < 5) lostExamples.push(`mid ${c.mid}: ${ranges(missing)}${missing.length > 6 ? ' …' : ''} (${missing.length})`);
    }
    wireDuplicates += dups;
    if (dups > 0) clientsWithWireDuplicates++;
  }
  return {
    t: 'final',
    clients: clients.length,
    unpositioned,
    lost,
    lostNotRecovered,
    clientsWithLoss,
    wireDuplicates,
    clientsWithWireDuplicates,
    deliveredDuplicates,
    undelivered,
    unnumbered,
    outOfOrder,
    received: receivedTotal,
    lostOffsets: [...lostOffsets],
    lostExamples,
    notRecoveredByReason: byReason,
    notRecoveredAllByReason: { ...notRecoveredAll },
    epochAnnouncements,
    epochs: [...epochs],
    replayedRecords,
    dropMs: encodeHistogram(dropMs),
    reconnectMs: encodeHistogram(reconnectMs),
    authMs: encodeHistogram(authMs),
    recoverMs: encodeHistogram(recoverMs),
    failedAttempts,
    rejoinedAgain,
  };
}

function closeAll(): void {
  closing = true;
  for (const c of clients) {
    if (c.retryTimer) clearTimeout(c.retryTimer);
    if (c.authTimer) clearTimeout(c.authTimer);
    if (c.gapTimer) clearTimeout(c.gapTimer);
    c.socket?.destroy();
  }
  clients.length = 0;
}

process.on('message', (m: RecoveryCommand) => {
  switch (m.t) {
    case 'open':
      void openAll(m).then(send);
      break;
    case 'mark':
      mark(m.killAt);
      send({ t: 'marked' });
      break;
    case 'status':
      send(status());
      break;
    case 'final':
      send(final(m.lastOffset));
      break;
    case 'close':
      closeAll();
      send({ t: 'closed' });
      setImmediate(() => process.exit(0));
      break;
  }
});

exitWithParent();

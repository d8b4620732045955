// Durable inbox delivery to connections that opted in (docs/protocol.md#durable-inbox): after
// auth op 29 and the backlog above the device's watermark, then live durable messages as
// op 27 in seq order, with no gap and no duplicate. The inbox in logic's storage is the truth:
// live messages that skip ahead, arrive while the inbox is read, overflow the hold or do not
// fit the socket are (re)read from it, so nothing is lost and nothing is held unbounded.
// Op 24 acknowledges, op 26 re-sends what was delivered.
import type { Logger } from '../log.js';
import { InboxAckRangeError, type InboxRecord, type InboxReply, type LogicService } from '../ports/index.js';
import { HEADER_LEN, writeHeader } from '../protocol/frame.js';
import { Op } from '../protocol/ops.js';
import { State, type Connection } from './connection.js';
import { frameBytes } from './frame-bytes.js';
import { Limit, type LimitLog } from './limit-log.js';
import { unsent, type Outbound } from './outbound.js';

/** Bytes of an op-27 body before the message: seq (u64) and op (i32). */
const INBOX_HEAD = 12;
/** A read whose connection closed while it waited for a call slot. */
const GONE = new Error('connection closed');
/** Wait before reading again after logic failed to answer a read. */
const RETRY_MS = 1000;
/** How often a blocked stream looks at a socket that will emit no 'drain'. */
const DRAIN_CHECK_MS = 100;
/** Failed reads are logged at most this often. */
const WARN_EVERY_MS = 10_000;
/** Op-26 fetches that read the inbox, per connection: a bucket of FETCH_BURST refilled at FETCH_RATE a second. */
const FETCH_RATE = 2;
const FETCH_BURST = 4;

/** Op-25 / op-28 refusal codes (docs/protocol.md#acknowledging-op-24). */
const InboxCode = { Malformed: 1, AboveDelivered: 2, OtherUser: 3, Unavailable: 4, Busy: 5, TooManyFetches: 6 } as const;

/** Why an op 24 or 26 was refused, as counted (metrics). */
const REASONS: Record<number, string> = {
  [InboxCode.Malformed]: 'malformed',
  [InboxCode.AboveDelivered]: 'above_delivered',
  [InboxCode.OtherUser]: 'other_user',
  [InboxCode.Unavailable]: 'unavailable',
  [InboxCode.Busy]: 'busy',
  [InboxCode.TooManyFetches]: 'too_many_fetches',
};

/** An op-25 reply body. */
type AckAnswer = { code: 0; acked: number } | { code: number; message: string };

/** One opted-in connection's place in its user's inbox. */
export class InboxStream {
  /** Highest seq written to the connection (or known not to exist). */
  delivered = 0;
  /** A read loop is running: live messages are held. */
  reading = false;
  /** The socket could not take the next message: resume from the inbox once it drains. */
  blocked = false;
  /** The inbox may hold more than was delivered: read until a page is not full (after auth, after a block). */
  behind = true;
  /** Highest live seq seen that is not delivered yet. */
  wanted = 0;
  /** Live op-27 frames (unwrapped) by seq, while reading. */
  readonly held = new Map<number, Buffer>();
  heldBytes = 0;
  /** An op 26 is being answered. */
  fetching = false;
  /** Op-26 reads the connection may still make now, and when that was counted (performance.now()). */
  fetchTokens = FETCH_BURST;
  fetchCounted = 0;
  /** The device's watermark as last stored or read (op 29, op-25 replies); -1 before either. */
  acked = -1;
  /** An acknowledgement is being stored. */
  acking = false;
  /** Acknowledgements that came while one was stored: the highest seq, and their replies in order. */
  ackNext = 0;
  readonly ackWaiting: Array<(a: AckAnswer) => void> = [];
  /** A retry after a failed read is scheduled. */
  retry: NodeJS.Timeout | null = null;
  /** While blocked on a socket that will emit no 'drain': the next look at it. */
  drainCheck: NodeJS.Timeout | null = null;
  /** The read after auth answered: op 29 is sent and `delivered` starts at the watermark. */
  started = false;
}

/**
 * Inbox calls to logic in flight at once from this comet; the others wait in turn. Each
 * connection has at most one read, one fetch and one ack waiting, so a connect storm of
 * opted-in clients gives logic a steady load, not one read per client at once. Acks wait apart
 * and take every other free slot while reads wait: an ack is one small write that completes a
 * client's drain, and would otherwise wait behind the backlog reads of every other connection.
 */
class CallSlots {
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly acksWaiting: Array<() => void> = [];
  /** The last slot handed to a waiting call went to an ack. */
  private ackLast = false;

  constructor(private readonly max: number) {}

  /** Acknowledgements waiting for a slot. */
  get acksQueued(): number {
    return this.acksWaiting.length;
  }

  run<T>(call: () => Promise<T>, ack = false): Promise<T> {
    if (this.max > 0 && this.inFlight >= this.max)
      return new Promise<void>((r) => (ack ? this.acksWaiting : this.waiting).push(r)).then(() => this.start(call));
    return this.start(call);
  }

  private start<T>(call: () => Promise<T>): Promise<T> {
    this.inFlight++;
    let p: Promise<T>;
    try {
      p = call();
    } catch (err) {
      p = Promise.reject(err);
    }
    return p.finally(() => {
      this.inFlight--;
      this.next()?.();
    });
  }

  private next(): (() => void) | undefined {
    this.ackLast = this.acksWaiting.length > 0 && (!this.ackLast || this.waiting.length === 0);
    return this.ackLast ? this.acksWaiting.shift() : this.waiting.shift();
  }
}

export interface InboxDeliveryOptions {
  /** Inbox calls to logic in flight at once (limits.logicCalls; 0 = no bound). */
  maxCalls: number;
  logic: LogicService;
  log: Logger;
  out: Outbound;
  limitLog: LimitLog;
  /** inbox.pageMessages, inbox.pageBytes (bounded by the caller to what a socket may queue). */
  pageMessages: number;
  pageBytes: number;
  /** inbox.holdMessages, inbox.holdBytes: live messages held per connection while reading. */
  holdMessages: number;
  holdBytes: number;
}

/** Counters since start (metrics). */
export interface InboxDeliveryCounts {
  /** Op-27 frames written (backlog, live and fetched). */
  sent: number;
  /** Live messages dropped as already delivered. */
  duplicates: number;
  /** Live messages not held (hold full, or socket blocked): read back from the inbox instead. */
  reread: number;
  /** Reads of a connection's inbox page, and the failed ones. */
  reads: number;
  readFailures: number;
  /** Acknowledgements stored. */
  acks: number;
}

/** The raw op-27 frame: ver 1, seq 0, body = seq (u64 BE) ‖ op (i32 BE) ‖ message. */
function inboxFrame(seq: number, op: number, body: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_LEN + INBOX_HEAD + body.length);
  writeHeader(buf, 0, INBOX_HEAD + body.length, 1, Op.InboxMessage, 0);
  buf.writeBigUInt64BE(BigInt(seq), HEADER_LEN);
  buf.writeInt32BE(op | 0, HEADER_LEN + 8);
  buf.set(body, HEADER_LEN + INBOX_HEAD);
  return buf;
}

/** Frames as one push: back to back on TCP, one op-9 message on WebSocket (docs/protocol.md#pushes-on-the-wire). */
function packed(c: Connection, frames: Buffer[]): Buffer {
  const inner = frames.length === 1 ? frames[0] : Buffer.concat(frames);
  return c.isWs ? frameBytes(true, Op.Raw, 1, 0, inner) : inner;
}

function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A non-negative safe integer, or undefined. */
function seqOf(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** The JSON object of an op-24 / op-26 body, or undefined. */
function objectOf(body: Buffer): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

export class InboxDelivery {
  private readonly logic: LogicService;
  private readonly log: Logger;
  private readonly out: Outbound;
  private readonly limitLog: LimitLog;
  private readonly page: { limit: number; maxBytes: number };
  private readonly holdMessages: number;
  private readonly holdBytes: number;
  private lastWarn = -Infinity;
  private readonly slots: CallSlots;
  readonly counts: InboxDeliveryCounts = { sent: 0, duplicates: 0, reread: 0, reads: 0, readFailures: 0, acks: 0 };

  /** Acknowledgements waiting for one of the inbox call slots (diagnostics, tests). */
  get acksWaiting(): number {
    return this.slots.acksQueued;
  }

  constructor(opts: InboxDeliveryOptions) {
    this.logic = opts.logic;
    this.log = opts.log;
    this.out = opts.out;
    this.limitLog = opts.limitLog;
    this.page = { limit: opts.pageMessages, maxBytes: opts.pageBytes };
    this.holdMessages = opts.holdMessages;
    this.holdBytes = opts.holdBytes;
    this.slots = new CallSlots(opts.maxCalls);
  }

  /** After auth (the op-8 reply queued, the connection registered): op 29, the backlog, then live. */
  start(c: Connection): void {
    const s = new InboxStream();
    c.inbox = s;
    s.reading = true;
    void this.read(c, s, true);
  }

  /** A live durable message for `c` (its user's seq). */
  live(c: Connection, seq: number, op: number, body: Uint8Array): void {
    const s = c.inbox;
    if (s === null || c.state !== State.Open || !(Number.isSafeInteger(seq) && seq > 0)) return;
    if (seq <= s.delivered) {
      this.counts.duplicates++;
      return;
    }
    if (s.started && !s.reading && !s.blocked && seq === s.delivered + 1) {
      if (this.write(c, s, [inboxFrame(seq, op, body)], seq)) return;
    }
    if (seq > s.wanted) s.wanted = seq;
    if (s.blocked) {
      this.counts.reread++;
      return;
    }
    const frameLen = HEADER_LEN + INBOX_HEAD + body.length;
    if (!s.held.has(seq) && s.held.size < this.holdMessages && s.heldBytes + frameLen <= this.holdBytes) {
      s.held.set(seq, inboxFrame(seq, op, body));
      s.heldBytes += frameLen;
    } else this.counts.reread++;
    this.resume(c, s);
  }

  /** Starts a read loop unless one runs (the read after auth while that has not answered yet). */
  private resume(c: Connection, s: InboxStream): void {
    if (s.reading || s.retry !== null || c.inbox !== s || c.state !== State.Open) return;
    s.reading = true;
    void this.read(c, s, !s.started);
  }

  /**
   * Writes frames ending at seq `last`; false (and the stream blocked until the socket drains)
   * when the socket's push share cannot take them: never dropped by the slow-reader policy.
   */
  private write(c: Connection, s: InboxStream, frames: Buffer[], last: number): boolean {
    const bytes = packed(c, frames);
    if (!this.out.fits(c, bytes.length)) {
      this.block(c, s);
      return false;
    }
    this.out.push(c, bytes);
    this.counts.sent += frames.length;
    s.delivered = last;
    return true;
  }

  private block(c: Connection, s: InboxStream): void {
    if (s.blocked) return;
    s.blocked = true;
    s.behind = true;
    this.dropHeld(s, Infinity);
    const unblock = (): void => {
      if (!s.blocked) return;
      s.blocked = false;
      c.socket.off('drain', unblock);
      if (s.drainCheck !== null) clearTimeout(s.drainCheck);
      s.drainCheck = null;
      this.resume(c, s);
    };
    c.socket.once('drain', unblock);
    // Node emits 'drain' only after a write returned false, that is past the socket's
    // high-water mark (16 KiB): a send queue below it never gets one. Look at the socket until
    // it is empty, unless a 'drain' is owed after all.
    const look = (): void => {
      s.drainCheck = null;
      if (!s.blocked || c.inbox !== s || c.state !== State.Open || c.socket.writableNeedDrain) return;
      if (unsent(c) === 0) unblock();
      else s.drainCheck = setTimeout(look, DRAIN_CHECK_MS).unref();
    };
    s.drainCheck = setTimeout(look, DRAIN_CHECK_MS).unref();
  }

  /** Forgets held frames at or below `upTo`. */
  private dropHeld(s: InboxStream, upTo: number): void {
    for (const [seq, f] of s.held) {
      if (seq <= upTo) {
        s.held.delete(seq);
        s.heldBytes -= f.length;
      }
    }
  }

  /** Writes the held frames that continue the stream (delivered + 1, + 2, …). */
  private writeHeld(c: Connection, s: InboxStream): void {
    this.dropHeld(s, s.delivered);
    const frames: Buffer[] = [];
    let next = s.delivered + 1;
    for (let f = s.held.get(next); f !== undefined; f = s.held.get(++next)) frames.push(f);
    if (frames.length === 0) return;
    if (this.write(c, s, frames, next - 1)) this.dropHeld(s, s.delivered);
  }

  /**
   * Reads pages after what was delivered until the connection has everything the inbox held
   * when the read began and every live seq seen; `first`: the read after auth (op 29 first).
   */
  private async read(c: Connection, s: InboxStream, first: boolean): Promise<void> {
    const { logic } = this;
    try {
      for (;;) {
        if (c.inbox !== s || c.state !== State.Open) return;
        if (!first) {
          this.writeHeld(c, s);
          if (s.blocked) return;
          if (!s.behind && s.wanted <= s.delivered) return;
        }
        // Live seqs seen before the read began were stored before it began.
        const seenBefore = s.wanted;
        this.counts.reads++;
        let reply: InboxReply;
        try {
          const req = first ? { mid: c.mid, key: c.key, ...this.page } : { mid: c.mid, key: c.key, after: s.delivered, ...this.page };
          // A connection that closed while waiting for a slot costs logic nothing.
          reply = await this.slots.run(() => (c.inbox === s ? logic.inbox(req) : Promise.reject(GONE)));
        } catch (err) {
          if (err !== GONE) this.readFailed(c, s, err);
          return;
        }
        if (c.inbox !== s || c.state !== State.Open) return;
        if (first) {
          first = false;
          s.started = true;
          s.delivered = reply.acked;
          if (reply.acked > s.acked) s.acked = reply.acked;
          // Ahead of the backlog and of any live message; a reply-sized frame, so never dropped.
          this.out.reply(c, frameBytes(c.isWs, Op.InboxState, 1, 0, json({ acked: reply.acked, first: reply.first, last: reply.last })));
        }
        const records = reply.records.filter((r) => r.seq > s.delivered);
        if (records.length > 0 && !this.write(c, s, records.map(frameOf), records[records.length - 1].seq)) return;
        // A page that is not full, or that reached `last`, held every message still stored up
        // to `last` (the range is read before the page): what is missing below it was deleted
        // and is never delivered. A full page that reached `last` needs no read to confirm it.
        const full = reply.cut || reply.records.length >= this.page.limit;
        if (full && (reply.records.at(-1)?.seq ?? 0) < reply.last) continue;
        s.behind = false;
        if (reply.last > s.delivered) s.delivered = reply.last;
        // A seq seen before the read and above the inbox's last was never stored (or was
        // deleted): not waited for, or a bogus seq would keep this loop reading.
        if (seenBefore > s.delivered) {
          this.dropHeld(s, seenBefore);
          if (s.wanted === seenBefore) s.wanted = s.delivered;
        }
      }
    } finally {
      if (c.inbox === s) s.reading = false;
    }
  }

  private readFailed(c: Connection, s: InboxStream, err: unknown): void {
    this.counts.readFailures++;
    const t = performance.now();
    if (t - this.lastWarn >= WARN_EVERY_MS) {
      this.lastWarn = t;
      this.log.warn({ key: c.key, mid: String(c.mid), err: message(err) }, 'comet: reading the inbox failed (retrying)');
    }
    // Held frames stay; the read is tried again while the connection lives.
    if (s.retry !== null) return;
    s.retry = setTimeout(() => {
      s.retry = null;
      this.resume(c, s);
    }, RETRY_MS);
    s.retry.unref();
  }

  /** Op 24: `{"seq":N}` acknowledges up to N (docs/protocol.md#acknowledging-op-24). */
  ack(c: Connection, ver: number, seq: number, body: Buffer): void {
    const s = c.inbox!;
    const slot = c.holdReply();
    const reply = (v: AckAnswer): void => c.releaseReply(slot, frameBytes(c.isWs, Op.InboxAckReply, ver, seq, json(v)));
    const obj = objectOf(body);
    const n = obj === undefined ? undefined : seqOf(obj.seq);
    if (obj === undefined || n === undefined || !validMid(obj.mid))
      return reply(this.refuse(c, InboxCode.Malformed, 'the body must be {"seq":N}, N an integer from 0'));
    if (obj.mid !== undefined && BigInt(obj.mid as number | string) !== c.mid)
      return reply(this.refuse(c, InboxCode.OtherUser, "mid is not the connection's: only its own inbox can be acknowledged"));
    if (n > s.delivered)
      return reply(this.refuse(c, InboxCode.AboveDelivered, `seq ${n} is above what this connection was delivered (${s.delivered})`));
    // What is already stored is answered here: a flood of repeated acks never reaches the store.
    if (n <= s.acked) return reply({ code: 0, acked: s.acked });
    // One store call at a time per connection: acks meanwhile wait and are stored as one, the highest.
    if (n > s.ackNext) s.ackNext = n;
    s.ackWaiting.push(reply);
    if (!s.acking) this.storeAck(c, s);
  }

  /** Stores the highest waiting acknowledgement and answers every ack that waited for it, in order. */
  private storeAck(c: Connection, s: InboxStream): void {
    const replies = s.ackWaiting.splice(0);
    const n = s.ackNext;
    s.ackNext = 0;
    if (n <= s.acked) {
      for (const r of replies) r({ code: 0, acked: s.acked });
      return;
    }
    s.acking = true;
    // A connection that closed before its turn costs the store nothing.
    const live = (): boolean => c.inbox === s && c.state === State.Open;
    void this.slots
      .run(() => (live() ? this.logic.inboxAck({ mid: c.mid, key: c.key, seq: n }) : Promise.reject(GONE)), true)
      .then(
        (acked): AckAnswer => {
          this.counts.acks++;
          if (acked > s.acked) s.acked = acked;
          return { code: 0, acked: s.acked };
        },
        (err: unknown): AckAnswer | null => {
          if (err === GONE) return null;
          if (err instanceof InboxAckRangeError) return this.refuse(c, InboxCode.AboveDelivered, err.message);
          return this.refuse(c, InboxCode.Unavailable, 'inbox unavailable: try again');
        },
      )
      .then((answer) => {
        s.acking = false;
        if (answer === null) return;
        for (const r of replies) r(answer);
        if (s.ackWaiting.length > 0 && live()) this.storeAck(c, s);
      });
  }

  /** Op 26: `{"after":N}` re-sends one page of what was delivered above N (docs/protocol.md#fetching-again-op-26). */
  fetch(c: Connection, ver: number, seq: number, body: Buffer): void {
    const s = c.inbox!;
    const slot = c.holdReply();
    const reply = (v: unknown): void => c.releaseReply(slot, frameBytes(c.isWs, Op.InboxFetchReply, ver, seq, json(v)));
    const obj = objectOf(body);
    const after = obj === undefined ? undefined : seqOf(obj.after);
    if (after === undefined) return reply(this.refuse(c, InboxCode.Malformed, 'the body must be {"after":N}, N an integer from 0'));
    if (s.fetching) return reply(this.refuse(c, InboxCode.Busy, 'a fetch is already running on this connection'));
    const upTo = s.delivered;
    if (after >= upTo) return reply({ code: 0, next: after, more: false });
    if (!this.takeFetch(s)) return reply(this.refuse(c, InboxCode.TooManyFetches, `too many fetches: at most ${FETCH_RATE} a second`));
    s.fetching = true;
    this.slots
      .run(() => (c.inbox === s && c.state === State.Open ? this.logic.inbox({ mid: c.mid, key: c.key, after, ...this.page }) : Promise.reject(GONE)))
      .then(
        (r) => {
          s.fetching = false;
          const records = r.records.filter((x) => x.seq <= upTo);
          let next = after;
          if (records.length > 0) {
            const bytes = packed(c, records.map(frameOf));
            // Never past the push share: what does not fit now is asked again (more: true).
            if (this.out.fits(c, bytes.length)) {
              this.out.push(c, bytes);
              this.counts.sent += records.length;
              next = records[records.length - 1].seq;
            }
          }
          const full = r.cut || r.records.length >= this.page.limit;
          // Not written for the socket's share: ask again; else more when the page was full.
          const more = records.length > 0 && (next === after || (next < upTo && full));
          reply({ code: 0, next, more });
        },
        (err: unknown) => {
          s.fetching = false;
          if (err !== GONE) reply(this.refuse(c, InboxCode.Unavailable, 'inbox unavailable: try again'));
        },
      );
  }

  /** Takes one op-26 read from the connection's bucket; false when it is empty. */
  private takeFetch(s: InboxStream): boolean {
    const now = performance.now();
    s.fetchTokens = Math.min(FETCH_BURST, s.fetchTokens + ((now - s.fetchCounted) / 1000) * FETCH_RATE);
    s.fetchCounted = now;
    if (s.fetchTokens < 1) return false;
    s.fetchTokens--;
    return true;
  }

  private refuse(c: Connection, code: number, why: string): { code: number; message: string } {
    this.limitLog.hit(Limit.InboxRefused, { key: c.key, mid: String(c.mid), remote: c.remote, reason: REASONS[code] });
    return { code, message: why };
  }

  /** Stops a connection's stream (it closed). */
  stop(c: Connection): void {
    const s = c.inbox;
    if (s === null) return;
    if (s.retry !== null) clearTimeout(s.retry);
    if (s.drainCheck !== null) clearTimeout(s.drainCheck);
    s.held.clear();
    s.heldBytes = 0;
    c.inbox = null;
  }
}

function frameOf(r: InboxRecord): Buffer {
  return inboxFrame(r.seq, r.op, r.body);
}

/** An op-24 `mid`: absent, or an integer (a JSON number, or a decimal string for ids past 2⁵³). */
function validMid(v: unknown): boolean {
  if (v === undefined) return true;
  if (typeof v === 'number') return Number.isSafeInteger(v);
  return typeof v === 'string' && /^-?[0-9]{1,19}$/.test(v);
}

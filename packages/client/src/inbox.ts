// The durable inbox on the client side (docs/protocol.md#durable-inbox): the device key the
// watermark belongs to, op 27 decoded and deduplicated by seq across reconnects, op 29, batched
// cumulative acks (op 24) and re-sends (op 26), each answered by its reply (op 25, op 28).

import { CodecError, type ClientFrame, Op, text, utf8 } from './codec.js';

/** Web Storage's two methods the client uses to keep the device key (localStorage, sessionStorage, or your own). */
export interface KeyStorage {
  getItem(name: string): string | null;
  setItem(name: string, value: string): void;
}

export interface InboxOptions {
  /**
   * `'auto'` (default): a message counts as processed once the `inbox` listeners returned, and
   * acks are sent for it. `'manual'`: only what `client.inbox.ack(seq)` names is acknowledged.
   */
  ack?: 'auto' | 'manual';
  /** An ack waits at most this long for more messages to cover (default 100 ms). */
  ackDelayMs?: number;
  /** …unless this many processed messages are waiting: then it goes at once (default 100). */
  ackEvery?: number;
  /**
   * The device key, when the token has none. The watermark belongs to the key, so a key that
   * changes is a new device, which starts from "now" ([configuration.md] `inbox.newDeviceRecent`).
   */
  key?: string;
  /**
   * Where a generated key is kept, per mid (default: the page's `sessionStorage` where there is
   * one: a reload resumes, each tab is its own device). `null`: kept only by this client object.
   */
  keyStorage?: KeyStorage | null;
}

/** One durable message (op 27). */
export class InboxMessage {
  constructor(
    /** Its place in the user's inbox: 1, 2, 3, … */
    readonly seq: number,
    /** The push's `operation`. */
    readonly op: number,
    readonly body: Uint8Array,
    /** Re-sent by `fetch()`: its seq was delivered before. */
    readonly fetched = false,
  ) {}

  text(): string {
    return text(this.body);
  }

  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }
}

/** Op 29, once per connection before the backlog: the device's watermark and the inbox's range. */
export interface InboxStateEvent {
  acked: number;
  /** Lowest seq still stored (`last` + 1 when none). */
  first: number;
  /** Highest seq assigned. */
  last: number;
}

/**
 * The answer to an ack: code 0 with the watermark now, or a refusal (docs/protocol.md#acknowledging-op-24;
 * -1: the client is closed, or gave up waiting for a connection).
 */
export interface InboxAckResult {
  code: number;
  acked?: number;
  message?: string;
}

/** The answer to a fetch: code 0 with the last seq re-sent and whether more are stored, or a refusal. */
export interface InboxFetchResult {
  code: number;
  next?: number;
  more?: boolean;
  message?: string;
}

/** An ack or fetch the server refused, or one sent automatically that failed. */
export class InboxError extends Error {
  override name = 'InboxError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export interface InboxEvents {
  /** A durable message, in seq order, each once (`fetched` ones again, on request). */
  inbox: InboxMessage;
  inboxState: InboxStateEvent;
}

/** What the inbox needs from the session. */
export interface InboxHost {
  /** Writes a request on the authenticated connection; its seq, or null when there is none. */
  request(op: number, body: Uint8Array): number | null;
  message(m: InboxMessage): void;
  state(st: InboxStateEvent): void;
  error(err: Error): void;
}

const MAX_SEQ = Number.MAX_SAFE_INTEGER;
/** ack() calls waiting for an answer at most; more answer -1 at once. */
const MAX_WAITERS = 10_000;
/** After "storage unavailable" (code 4), an automatic ack is tried again after this long at least. */
const RETRY_MS = 1000;
const CODE_UNAVAILABLE = 4;
const CODE_BUSY = 5;
const KEY_PREFIX = 'tsim-client:inbox-key:';

interface Waiter {
  seq: number;
  resolve: (r: InboxAckResult) => void;
}

export class Inbox {
  private readonly manual: boolean;
  private readonly ackDelayMs: number;
  private readonly ackEvery: number;
  private readonly fixedKey: string | undefined;
  private readonly storage: KeyStorage | null;
  private readonly keys = new Map<string, string>();

  /** Highest seq handed to the application (dedup across reconnects). */
  private seen = 0;
  /** Highest seq the application processed (auto) or named in ack(). */
  private processed = 0;
  /** The server's watermark for this device, as last told. */
  private acked = 0;
  /** Highest seq an ack was sent for (or given up on) on this connection. */
  private sent = 0;
  /** Highest seq the server delivered on this connection: an ack above it is refused (code 2). */
  private top = 0;
  private up = false;
  /** The client closed (or gave up reconnecting) and no connection was attempted since. */
  private final = false;
  private inFlight: { seq: number; target: number } | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private retryAt = 0;
  private waiters: Waiter[] = [];
  private fetching: { seq: number; after: number; last: number; resolve: (r: InboxFetchResult) => void } | null = null;
  private _state: InboxStateEvent | undefined;
  /** The mid of the last token (seqs belong to one user). */
  private mid: string | undefined;

  constructor(
    private readonly host: InboxHost,
    options: InboxOptions,
  ) {
    this.manual = options.ack === 'manual';
    this.ackDelayMs = Math.max(0, options.ackDelayMs ?? 100);
    this.ackEvery = Math.max(1, options.ackEvery ?? 100);
    if (options.key !== undefined && (typeof options.key !== 'string' || options.key === ''))
      throw new TypeError('inbox.key must be a non-empty string');
    this.fixedKey = options.key;
    this.storage = options.keyStorage !== undefined ? options.keyStorage : defaultStorage();
  }

  /** The last op 29 received. */
  get state(): InboxStateEvent | undefined {
    return this._state;
  }

  /** Highest seq delivered to the application so far. */
  get lastSeq(): number {
    return this.seen;
  }

  /**
   * Acknowledges every message up to `seq` (batched with the others: ackDelayMs / ackEvery).
   * Resolves once an ack covering it was answered; never rejects.
   */
  ack(seq: number): Promise<InboxAckResult> {
    if (!Number.isSafeInteger(seq) || seq < 0) return Promise.resolve({ code: 1, message: `seq ${seq} is not an integer from 0` });
    if (seq > this.seen) return Promise.resolve({ code: 2, message: `seq ${seq} was not received (highest ${this.seen})` });
    if (seq <= this.acked) return Promise.resolve({ code: 0, acked: this.acked });
    if (this.final) return Promise.resolve({ code: -1, message: 'the client is closed' });
    if (this.waiters.length >= MAX_WAITERS) return Promise.resolve({ code: -1, message: `more than ${MAX_WAITERS} acks waiting` });
    const done = new Promise<InboxAckResult>((resolve) => this.waiters.push({ seq, resolve }));
    this.mark(seq);
    return done;
  }

  /**
   * Asks the server to send again the messages above `after` it already delivered on this
   * connection (op 26, one page). They arrive as `inbox` events with `fetched` set, then this
   * resolves with `next` (ask again from it while `more`). Never rejects.
   */
  fetch(after: number): Promise<InboxFetchResult> {
    if (!Number.isSafeInteger(after) || after < 0) return Promise.resolve({ code: 1, message: `after ${after} is not an integer from 0` });
    if (this.fetching !== null) return Promise.resolve({ code: CODE_BUSY, message: 'a fetch is already running' });
    const seq = this.up ? this.host.request(Op.InboxFetch, utf8(`{"after":${after}}`)) : null;
    if (seq === null) return Promise.resolve({ code: -1, message: 'not connected' });
    return new Promise((resolve) => (this.fetching = { seq, after, last: after, resolve }));
  }

  /** The token fields for the inbox: `inbox: true`, and a stable key when the token has none. */
  addToToken(t: Record<string, unknown>): void {
    t.inbox = true;
    this.final = false;
    const mid = typeof t.mid === 'bigint' || typeof t.mid === 'number' ? String(t.mid) : '';
    if (this.mid !== undefined && mid !== this.mid) this.forget();
    this.mid = mid;
    if (typeof t.key === 'string' && t.key !== '') return;
    t.key = this.fixedKey ?? this.keyFor(mid);
  }

  /** A token for another user: seqs are per user, so what was seen and acknowledged no longer counts. */
  private forget(): void {
    this.seen = this.processed = this.acked = this.sent = this.top = 0;
    for (const w of this.waiters.splice(0)) w.resolve({ code: -1, message: 'the client now stands for another user' });
  }

  // ---- from the session ----------------------------------------------------------------

  /** The connection authenticated (op 8); the inbox's op 29 follows. */
  connected(): void {
    this.up = true;
    this.inFlight = null;
    this.top = 0;
    this.sent = 0;
  }

  /** The client is closing: acknowledge what is processed now rather than after the next connect. */
  flush(): void {
    const target = Math.min(this.processed, this.top);
    if (this.up && target > this.sent && target > this.acked) this.sendAck(target);
  }

  /** The connection ended; `final` when the client will not reconnect. */
  disconnected(final: boolean): void {
    this.up = false;
    this.inFlight = null;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.fetching?.resolve({ code: -1, message: 'the connection ended' });
    this.fetching = null;
    this.final = final;
    if (final) for (const w of this.waiters.splice(0)) w.resolve({ code: -1, message: 'the client is closed' });
  }

  /** Ops 27 and 29 (seq 0); true when the frame was the inbox's. */
  push(f: ClientFrame): boolean {
    if (f.op === Op.InboxMessage) {
      this.message(f.body);
      return true;
    }
    if (f.op === Op.InboxState) {
      this.stateFrame(f.body);
      return true;
    }
    return false;
  }

  /** Ops 25 and 28; true when the frame answered one of the inbox's requests. */
  reply(f: ClientFrame): boolean {
    if (f.op === Op.InboxAckReply && this.inFlight !== null && this.inFlight.seq === f.seq) {
      const target = this.inFlight.target;
      this.inFlight = null;
      this.ackAnswer(target, parseReply(f.body));
      return true;
    }
    if (f.op === Op.InboxFetchReply && this.fetching !== null && this.fetching.seq === f.seq) {
      const { resolve } = this.fetching;
      this.fetching = null;
      const r = parseReply(f.body);
      const out: InboxFetchResult = { code: r.code };
      if (typeof r.next === 'number') out.next = r.next;
      if (typeof r.more === 'boolean') out.more = r.more;
      if (r.message !== undefined) out.message = r.message;
      resolve(out);
      return true;
    }
    return false;
  }

  // ---- internals -----------------------------------------------------------------------

  private message(body: Uint8Array): void {
    if (body.length < 12) throw new CodecError(`inbox message of ${body.length} bytes (at least 12)`);
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const seq = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
    if (seq < 1 || seq > MAX_SEQ) throw new CodecError(`inbox message seq ${seq} out of range`);
    const op = view.getInt32(8);
    if (seq > this.top) this.top = seq;
    let fetched = false;
    if (seq <= this.seen) {
      // A re-send asked for by fetch() is the application's again, once per seq and fetch.
      const f = this.fetching;
      if (f === null || seq <= f.last || seq <= f.after) {
        this.schedule();
        return;
      }
      f.last = seq;
      fetched = true;
    } else {
      this.seen = seq;
    }
    this.host.message(new InboxMessage(seq, op, body.subarray(12), fetched));
    if (!this.manual && !fetched) this.mark(seq);
    else this.schedule();
  }

  private stateFrame(body: Uint8Array): void {
    let v: unknown;
    try {
      v = JSON.parse(text(body));
    } catch {
      throw new CodecError('inbox state is not JSON');
    }
    const o = (v ?? {}) as Record<string, unknown>;
    const acked = o.acked;
    const first = o.first;
    const last = o.last;
    if (!isSeq(acked) || !isSeq(first) || !isSeq(last)) throw new CodecError('inbox state is not {"acked","first","last"}');
    const st: InboxStateEvent = { acked, first, last };
    this._state = st;
    this.acked = acked;
    // Delivery on this connection starts at the watermark: acks up to it are allowed.
    this.top = Math.max(this.top, acked);
    this.sent = acked;
    this.settleWaiters(acked);
    this.host.state(st);
    this.schedule();
  }

  private mark(seq: number): void {
    if (seq > this.processed) this.processed = seq;
    this.schedule();
  }

  /** Sends an ack now, or sets the timer for one, for what is processed and not yet acknowledged. */
  private schedule(): void {
    if (!this.up || this.inFlight !== null) return;
    const target = Math.min(this.processed, this.top);
    if (target <= this.sent || target <= this.acked) return;
    const now = Date.now();
    if (target - this.sent >= this.ackEvery && now >= this.retryAt) {
      this.sendAck(target);
      return;
    }
    this.timer ??= setTimeout(
      () => {
        this.timer = undefined;
        const t = Math.min(this.processed, this.top);
        if (this.up && this.inFlight === null && t > this.sent && t > this.acked) this.sendAck(t);
      },
      Math.max(this.ackDelayMs, this.retryAt - now),
    );
  }

  private sendAck(target: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const seq = this.host.request(Op.InboxAck, utf8(`{"seq":${target}}`));
    if (seq === null) return;
    this.inFlight = { seq, target };
    this.sent = target;
  }

  private ackAnswer(target: number, r: Reply): void {
    if (r.code === 0 && typeof r.acked === 'number') {
      if (r.acked > this.acked) this.acked = r.acked;
      this.settleWaiters(this.acked);
    } else {
      const message = r.message ?? `ack refused (code ${r.code})`;
      if (r.code === CODE_UNAVAILABLE) {
        // Try again later: the storage may come back.
        this.sent = this.acked;
        this.retryAt = Date.now() + RETRY_MS;
      }
      const failed = this.waiters.filter((w) => w.seq <= target);
      this.waiters = this.waiters.filter((w) => w.seq > target);
      for (const w of failed) w.resolve({ code: r.code, message });
      if (!this.manual) this.host.error(new InboxError(r.code, `inbox ack of ${target}: ${message}`));
    }
    this.schedule();
  }

  private settleWaiters(acked: number): void {
    if (this.waiters.length === 0) return;
    const done = this.waiters.filter((w) => w.seq <= acked);
    if (done.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.seq > acked);
    for (const w of done) w.resolve({ code: 0, acked });
  }

  private keyFor(mid: string): string {
    const known = this.keys.get(mid);
    if (known !== undefined) return known;
    let key: string | null = null;
    try {
      key = this.storage?.getItem(KEY_PREFIX + mid) ?? null;
    } catch {
      // storage refused (privacy mode, quota): keep the key in memory only
    }
    if (key === null || key === '' || key.length > 128) {
      key = randomKey();
      try {
        this.storage?.setItem(KEY_PREFIX + mid, key);
      } catch {
        // as above
      }
    }
    this.keys.set(mid, key);
    return key;
  }
}

interface Reply {
  code: number;
  acked?: number;
  next?: number;
  more?: boolean;
  message?: string;
}

/** An op-25 / op-28 body; anything unreadable is code -1. */
function parseReply(body: Uint8Array): Reply {
  try {
    const v = JSON.parse(text(body)) as Record<string, unknown>;
    if (typeof v.code !== 'number') return { code: -1, message: 'unreadable answer' };
    const r: Reply = { code: v.code };
    if (isSeq(v.acked)) r.acked = v.acked;
    if (isSeq(v.next)) r.next = v.next;
    if (typeof v.more === 'boolean') r.more = v.more;
    if (typeof v.message === 'string') r.message = v.message;
    return r;
  } catch {
    return { code: -1, message: 'unreadable answer' };
  }
}

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function defaultStorage(): KeyStorage | null {
  try {
    return (globalThis as { sessionStorage?: KeyStorage }).sessionStorage ?? null;
  } catch {
    // a sandboxed page throws on access
    return null;
  }
}

/** 128 random bits as 32 hex digits (crypto.randomUUID needs a secure context). */
function randomKey(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

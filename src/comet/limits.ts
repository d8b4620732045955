// Admission and flood limits of one comet (config `limits`): sockets open in total and per
// IP, the accept rate, and each connection's upstream frame rate. Refusals are counted by
// limit name (tsim_limit_hits_total) and logged at most once per limit every 10 s, so a
// flood of refused sockets does not become a flood of log lines.
import type { Socket } from 'node:net';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { connectionCaps, type ConnectionCaps } from '../file-descriptors.js';
import type { LimitHits } from '../metrics/limit-hits.js';
import { now } from './clock.js';
import { clientIp, type Connection } from './connection.js';

/** Names under which refusals are counted. */
export const Limit = {
  Connections: 'connections',
  ConnectionsPerIp: 'connections_per_ip',
  NewConnectionsRate: 'new_connections_rate',
  UpstreamFrameRate: 'upstream_frame_rate',
  /** A client frame over protocol.maxBody. */
  ClientFrameSize: 'client_frame_size',
  /** A connection that would watch more than limits.maxAccepts ops (closed). */
  Accepts: 'accepts',
  /** Op 12 to a room other than the one the auth mode granted (refused, connection kept). */
  RoomNotGranted: 'room_not_granted',
  /** Op 14 naming ops the auth mode did not grant (those ops ignored, connection kept). */
  AcceptsNotGranted: 'accepts_not_granted',
  /** A TLS handshake not finished within protocol.handshakeTimeout of accept (socket closed). */
  TlsHandshakeTimeout: 'tls_handshake_timeout',
  /** No free file descriptor: an accept failed with EMFILE/ENFILE, or the periodic probe found none. */
  FileDescriptors: 'file_descriptors',
  /** HTTP API connections over httpServer.maxConnections (closed at accept). */
  HttpConnections: 'http_connections',
  /** HTTP API requests not received in full within httpServer.headersTimeout / requestTimeout. */
  HttpRequestTimeout: 'http_request_timeout',
  /** Keyless HTTP API requests refused for a cross-site Origin or an unknown Host. */
  HttpOrigin: 'http_origin',
  /** Broadcasts sent unthrottled because push.maxThrottled throttled walks were running. */
  ThrottledBroadcasts: 'throttled_broadcasts',
  /** Push calls carrying a push bigger than protocol.sendQueueBytes (dropped). */
  PushTooLarge: 'push_too_large',
} as const;
export type LimitName = (typeof Limit)[keyof typeof Limit];

const LOG_EVERY_MS = 10_000;

/** Whether a frame decode error is about protocol.maxBody (frame.ts words it so). */
export function isTooLarge(err: Error): boolean {
  return err.message.includes('exceeds limit');
}

/** A token bucket refilled lazily from the time of each take (no timers). */
export class TokenBucket {
  private readonly state: BucketState;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    t = now(),
  ) {
    this.state = { tokens: burst, at: t };
  }

  /** Takes one token if there is one. */
  take(t = now()): boolean {
    return takeToken(this.state, this.rate, this.burst, t);
  }
}

/** The two numbers a bucket needs; Connection carries them inline for the frame limit. */
interface BucketState {
  tokens: number;
  at: number;
}

function takeToken(b: BucketState, rate: number, burst: number, t: number): boolean {
  if (t > b.at) {
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) * rate) / 1000);
    b.at = t;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

/** Counts each hit and writes one warning per limit per 10 s with the hits since the last. */
export class LimitLog {
  private readonly unlogged = new Map<string, number>();
  private readonly lastLog = new Map<string, number>();

  constructor(
    private readonly hits: LimitHits | undefined,
    private readonly log: Logger,
    /** Who reports, as the log line's prefix. */
    private readonly role = 'comet',
  ) {}

  hit(limit: LimitName, detail: Record<string, unknown>): void {
    this.hits?.hit(limit);
    const n = (this.unlogged.get(limit) ?? 0) + 1;
    const t = now();
    if (t - (this.lastLog.get(limit) ?? -Infinity) < LOG_EVERY_MS) {
      this.unlogged.set(limit, n);
      return;
    }
    this.lastLog.set(limit, t);
    this.unlogged.set(limit, 0);
    this.log.warn({ limit, hits: n, ...detail }, `${this.role}: limit ${limit} reached`);
  }
}

export class Admission {
  private readonly maxConnections: number;
  private readonly maxPerIp: number;
  private readonly acceptRate: TokenBucket | undefined;
  private readonly frameRate: number;
  private readonly frameBurst: number;
  private readonly perIp = new Map<string, number>();
  private open = 0;
  /** The socket caps in force: configured, or derived from the fd limit when unset. */
  readonly caps: ConnectionCaps;

  constructor(
    limits: Config['limits'],
    readonly log: LimitLog,
    fdLimit?: number,
  ) {
    this.caps = connectionCaps(limits, fdLimit);
    this.maxConnections = this.caps.maxConnections;
    this.maxPerIp = this.caps.maxConnectionsPerIp;
    const rate = limits.newConnectionsPerSecond;
    this.acceptRate = rate > 0 ? new TokenBucket(rate, rate) : undefined;
    this.frameRate = limits.upstreamFramesPerSecond;
    this.frameBurst = limits.upstreamFramesBurst;
  }

  /** Sockets admitted and not closed yet. */
  get sockets(): number {
    return this.open;
  }

  /**
   * Decides on a new socket before anything else is done with it (a TLS socket: before its
   * handshake). Admitted sockets are counted until they close; returns the refusing limit's
   * name, or undefined when admitted.
   */
  admit(socket: Socket): LimitName | undefined {
    const address = socket.remoteAddress;
    const ip = address === undefined ? '' : clientIp(address);
    let refused: LimitName | undefined;
    if (this.maxConnections > 0 && this.open >= this.maxConnections) refused = Limit.Connections;
    else if (this.maxPerIp > 0 && (this.perIp.get(ip) ?? 0) >= this.maxPerIp) refused = Limit.ConnectionsPerIp;
    else if (this.acceptRate !== undefined && !this.acceptRate.take()) refused = Limit.NewConnectionsRate;
    if (refused !== undefined) {
      this.log.hit(refused, { ip, open: this.open });
      return refused;
    }
    this.open++;
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    // on, not once: 'close' fires once anyway, and once() costs a wrapper per connection.
    socket.on('close', () => {
      this.open--;
      const n = (this.perIp.get(ip) ?? 1) - 1;
      if (n > 0) this.perIp.set(ip, n);
      else this.perIp.delete(ip);
    });
    return undefined;
  }

  /** One upstream frame of `c`: false (and the connection closed) when over its rate. */
  frame(c: Connection): boolean {
    if (this.frameRate === 0) return true;
    if (c.frameBucket === undefined) {
      c.frameBucket = { tokens: this.frameBurst, at: now() };
    }
    if (takeToken(c.frameBucket, this.frameRate, this.frameBurst, now())) return true;
    this.log.hit(Limit.UpstreamFrameRate, { key: c.key || undefined, remote: c.remote });
    c.close(`more than ${this.frameRate} frames/s (burst ${this.frameBurst})`, 'info');
    return false;
  }
}

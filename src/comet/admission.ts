// Admission and flood limits of one comet (config `limits`, docs/security.md): sockets open
// in total and per IP, the accept rate, and each connection's upstream frame rate. Refusals
// are counted and logged through the LimitLog (limit-log.ts).
import type { Socket } from 'node:net';
import { connectionCaps, type ConnectionCaps, type FdNeeds } from '../file-descriptors.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { takeToken, TokenBucket } from '../lib/token-bucket.js';
import { clientIp, type Connection } from './connection.js';
import { Limit, type LimitLog, type LimitName } from './limit-log.js';

/** The `limits` settings admission applies (unset caps are derived from the fd limit). */
export interface AdmissionLimits {
  maxConnections?: number;
  maxConnectionsPerIp?: number;
  reservedFds: number;
  /** What the rest of the process may hold: the derived caps leave at least this free. */
  fdNeeds?: FdNeeds;
  newConnectionsPerSecond: number;
  upstreamFramesPerSecond: number;
  upstreamFramesBurst: number;
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
    limits: AdmissionLimits,
    readonly log: LimitLog,
    fdLimit?: number,
    private readonly clock: Clock = systemClock,
  ) {
    this.caps = connectionCaps(limits, fdLimit);
    this.maxConnections = this.caps.maxConnections;
    this.maxPerIp = this.caps.maxConnectionsPerIp;
    const rate = limits.newConnectionsPerSecond;
    this.acceptRate = rate > 0 ? new TokenBucket(rate, rate, clock) : undefined;
    this.frameRate = limits.upstreamFramesPerSecond;
    this.frameBurst = limits.upstreamFramesBurst;
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
    const t = this.clock.now();
    if (c.frameBucket === undefined) c.frameBucket = { tokens: this.frameBurst, at: t };
    if (takeToken(c.frameBucket, this.frameRate, this.frameBurst, t)) return true;
    this.log.hit(Limit.UpstreamFrameRate, { key: c.key || undefined, remote: c.remote });
    c.close(`more than ${this.frameRate} frames/s (burst ${this.frameBurst})`, 'info');
    return false;
  }
}

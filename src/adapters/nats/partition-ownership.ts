// Which partitions this job reads. Every lease TTL / 3 the job announces itself in the
// job group and gets the live members (sorted); partition p belongs to member p mod n. It
// takes (leases) its own partitions that are free, renews the ones it holds, and hands over
// the ones that now belong to another member: stop pulling, handle and settle everything
// received, wait until the server has the acks, release the lease. The lease is renewed
// until that release, so nobody else can start on the partition while this job still
// pulls or holds unsettled messages; the next holder then starts exactly where it stopped,
// and a room's messages stay in order across the move.
//
// A reader pulls only while its lease is known to be valid: until the send time of the
// last successful renewal plus the TTL, minus a margin; a renewal answered late (a slow
// store, a stalled process) stops the pulling before the lease could lapse. A lease lost
// to another job is given up at once, without release.
// While the lease store is unreachable the job keeps pulling what it holds (pushes go on)
// and takes nothing new; whoever takes such a partition afterwards does not pull while
// another request is open on it (see PartitionReader).
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '../../log.js';
import type { PushHandler } from '../../ports/index.js';
import type { LeaseStore } from '../../ports/index.js';
import { PartitionReader, type ReaderCounters } from './partition-reader.js';
import type { Topology } from './topology.js';

/** What ownership needs from the queue's connection. */
export interface ConnectionView {
  /** Connected, with stream and consumers in place: new partitions may be taken. */
  ready(): boolean;
  /** The connection is up now (flush would not wait for a reconnect). */
  linkUp(): boolean;
  js(): JetStreamClient | null;
  /** The connection of js(). */
  nc(): NatsConnection | null;
  flush(): Promise<void>;
}

export interface PartitionOwnershipOptions {
  topology: Topology;
  leases: LeaseStore;
  owner: string;
  leaseTtlMs: number;
  /** Bound on waiting for the server to confirm acks at hand-over. */
  settleTimeoutMs: number;
  retryDelayMs: number;
  retryMaxDelayMs: number;
  /** Wait of one batch request (see PartitionReader). */
  fetchExpiresMs: number;
  handler: PushHandler;
  connection: ConnectionView;
  log: Logger;
  /** Handed to every reader (metrics). */
  counters?: ReaderCounters;
}

interface Held {
  reader: PartitionReader;
  /** Set while the partition is being handed over or given up. */
  leaving: Promise<void> | null;
  /** Renew no more: the lease is being released, or it was lost. */
  final: boolean;
  /** Another job holds the lease now: nothing to settle or release. */
  lost: boolean;
}

export class PartitionOwnership {
  private readonly o: PartitionOwnershipOptions;
  private readonly log: Logger;
  private readonly held = new Map<number, Held>();
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private storeFailing = false;
  /** close() began: no heartbeats, no new partitions; held leases are still renewed. */
  private closing = false;
  private stopped = false;
  /** Rounds (heartbeat, renewals) run this often. */
  private readonly every: number;
  /** Pulling stops this long before a lease could lapse (network, timers). */
  private readonly margin: number;

  constructor(opts: PartitionOwnershipOptions) {
    this.o = opts;
    this.log = opts.log;
    this.every = Math.max(50, Math.trunc(opts.leaseTtlMs / 3));
    this.margin = Math.max(50, Math.trunc(opts.leaseTtlMs / 10));
  }

  /** Starts the periodic rounds; resolves after the first. */
  start(): Promise<void> {
    this.timer = setInterval(() => void this.balanceSoon(), this.every);
    return this.balanceSoon();
  }

  /** Runs a round now unless one is under way (the next tick comes soon anyway). */
  balanceSoon(): Promise<void> {
    if (this.round || this.stopped) return this.round ?? Promise.resolve();
    this.round = this.balance().finally(() => (this.round = null));
    return this.round;
  }

  /** Partitions read now (not counting ones being handed over). */
  owned(): number[] {
    return [...this.held.entries()]
      .filter(([, h]) => !h.leaving)
      .map(([p]) => p)
      .sort((a, b) => a - b);
  }

  /**
   * Hands every partition over (released for the others) and leaves the group. Rounds go on
   * meanwhile, renewing the leases until each partition is released.
   */
  async close(): Promise<void> {
    if (this.closing || this.stopped) return;
    this.closing = true;
    await this.round;
    const leaving = [...this.held.keys()].map((p) => this.leave(p, true));
    try {
      // at once, so the others rebalance now; the leases keep them off until released
      await this.o.leases.leave(this.o.topology.stream, this.o.owner);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'nats: could not leave the job group; others rebalance after the lease TTL');
    }
    await Promise.all(leaving);
    this.stopTimer();
  }

  /** The connection dropped: pull requests died with it, so readers look before pulling again. */
  connectionLost(): void {
    for (const h of this.held.values()) h.reader.connectionLost();
  }

  /** Stops reading at once, releasing nothing (a crash, as the others see it). */
  abort(): void {
    this.stopTimer();
    for (const h of this.held.values()) h.reader.abort();
    this.held.clear();
  }

  private stopTimer(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private leaseName(p: number): string {
    return `${this.o.topology.stream}.${p}`;
  }

  private async balance(): Promise<void> {
    const { topology, leases, owner, leaseTtlMs } = this.o;
    if (this.closing) {
      await this.renewAll();
      return;
    }
    let members: string[];
    try {
      members = await leases.heartbeat(topology.stream, owner, leaseTtlMs);
    } catch (e) {
      if (!this.storeFailing) {
        this.log.warn(
          { err: (e as Error).message, held: this.owned() },
          'nats: lease store unreachable; keeping held partitions, taking no new ones',
        );
      }
      this.storeFailing = true;
      await this.renewAll();
      return;
    }
    if (this.storeFailing) this.log.info('nats: lease store reachable again');
    this.storeFailing = false;
    if (!members.includes(owner)) members = [...members, owner].sort();
    const work: Promise<void>[] = [];
    for (let p = 0; p < topology.partitions; p++) {
      if (this.stopped || this.closing) break;
      const mine = members[p % members.length] === owner;
      const h = this.held.get(p);
      if (h) {
        if (!mine && !h.leaving) void this.leave(p, true); // another member is to read it now
        work.push(this.renew(p, h));
      } else if (mine && this.o.connection.ready()) {
        work.push(this.take(p));
      }
    }
    await Promise.all(work);
  }

  private renewAll(): Promise<unknown> {
    return Promise.all([...this.held].map(([p, h]) => this.renew(p, h)));
  }

  private async take(p: number): Promise<void> {
    const { leases, owner, leaseTtlMs } = this.o;
    let got: boolean;
    const sent = performance.now();
    try {
      got = await leases.acquire(this.leaseName(p), owner, leaseTtlMs);
    } catch {
      return; // the heartbeat reports a lasting outage
    }
    if (!got) return;
    const js = this.o.connection.js();
    const nc = this.o.connection.nc();
    if (this.stopped || this.closing || this.held.has(p) || !js || !nc) {
      if (!this.held.has(p)) await leases.release(this.leaseName(p), owner).catch(() => {});
      return;
    }
    const reader = new PartitionReader({
      js,
      nc,
      topology: this.o.topology,
      partition: p,
      handler: this.o.handler,
      retryDelayMs: this.o.retryDelayMs,
      retryMaxDelayMs: this.o.retryMaxDelayMs,
      fetchExpiresMs: this.o.fetchExpiresMs,
      pullUntil: sent + leaseTtlMs - this.margin,
      minPullWindowMs: Math.max(10, Math.trunc(this.every / 2)),
      recheckMs: this.every,
      flush: () => this.o.connection.flush(),
      linkUp: () => this.o.connection.linkUp(),
      log: this.log,
      counters: this.o.counters,
    });
    this.held.set(p, { reader, leaving: null, final: false, lost: false });
    this.log.info({ partition: p, owner }, 'nats: partition taken');
  }

  private async renew(p: number, h: Held): Promise<void> {
    if (h.final) return;
    const sent = performance.now();
    let still: boolean;
    try {
      still = await this.o.leases.acquire(this.leaseName(p), this.o.owner, this.o.leaseTtlMs);
    } catch {
      // The store is unreachable: keep pulling (pushes go on). Nobody can take the lease
      // from an unreachable store; a job that takes it once the store answers again waits
      // while this one still pulls, and this one stops at its first renewal then.
      if (!h.final) h.reader.setPullUntil(Infinity);
      return;
    }
    if (h.final) return;
    if (still) {
      h.reader.setPullUntil(sent + this.o.leaseTtlMs - this.margin);
      return;
    }
    this.log.warn({ partition: p }, 'nats: partition lease lost to another job; stopping it');
    h.lost = true;
    h.final = true;
    h.reader.cut();
    void this.leave(p, false);
  }

  /**
   * Stops reading partition p after handling what was received; when `release` (the lease is
   * still ours, and renewed meanwhile), waits until the server has the acks, then releases
   * the lease.
   */
  private leave(p: number, release: boolean): Promise<void> {
    const h = this.held.get(p);
    if (!h) return Promise.resolve();
    if (!release) {
      h.final = true;
      h.reader.cut();
    }
    h.leaving ??= (async () => {
      await h.reader.stop();
      if (release && !h.lost) {
        if (this.o.connection.linkUp()) {
          try {
            await this.settled(h.reader);
          } catch {
            // the next holder waits for redeliveries instead
          }
        }
        // no renewal may follow the release (it would take the lease again)
        h.final = true;
        if (!h.lost) {
          await this.o.leases.release(this.leaseName(p), this.o.owner).catch((e: Error) => {
            this.log.warn({ partition: p, err: e.message }, 'nats: lease release failed; it lapses after the TTL');
          });
        }
      }
      h.final = true;
      this.held.delete(p);
      this.log.info({ partition: p, owner: this.o.owner, delivered: h.reader.delivered }, 'nats: partition left');
    })();
    return h.leaving;
  }

  /** Waits (briefly) until the server has processed this partition's acks. */
  private async settled(reader: PartitionReader): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((_, reject) => (timer = setTimeout(() => reject(new Error('flush timeout')), this.o.settleTimeoutMs)));
    try {
      await Promise.race([this.o.connection.flush(), bound]);
    } finally {
      clearTimeout(timer);
    }
    for (let i = 0; i < 20 && (await reader.pendingAcks()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
  }
}

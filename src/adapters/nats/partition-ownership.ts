// Which partitions this job reads. Every lease TTL / 3 the job announces itself in the
// job group and gets the live members (sorted); partition p belongs to member p mod n. It
// takes (leases) its own partitions that are free, renews the ones it holds, and hands over
// the ones that now belong to another member: stop pulling, handle and settle everything
// received, wait until the server has the acks, release the lease. The next holder then
// starts exactly where it stopped, so a room's messages stay in order across the move.
// A lease lost to another job (this one stalled past the TTL) is given up without release.
// While the lease store is unreachable the job keeps what it holds and takes nothing new.
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '../../log.js';
import type { PushHandler } from '../../ports/index.js';
import type { LeaseStore } from './leases.js';
import { PartitionReader } from './partition-reader.js';
import type { Topology } from './topology.js';

/** What ownership needs from the queue's connection. */
export interface ConnectionView {
  /** Connected, with stream and consumers in place: new partitions may be taken. */
  ready(): boolean;
  /** The connection is up now (flush would not wait for a reconnect). */
  linkUp(): boolean;
  js(): JetStreamClient | null;
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
}

interface Held {
  reader: PartitionReader;
  /** Set while the partition is being handed over or given up. */
  leaving: Promise<void> | null;
}

export class PartitionOwnership {
  private readonly o: PartitionOwnershipOptions;
  private readonly log: Logger;
  private readonly held = new Map<number, Held>();
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private storeFailing = false;
  private stopped = false;

  constructor(opts: PartitionOwnershipOptions) {
    this.o = opts;
    this.log = opts.log;
  }

  /** Starts the periodic rounds; resolves after the first. */
  start(): Promise<void> {
    const every = Math.max(50, Math.trunc(this.o.leaseTtlMs / 3));
    this.timer = setInterval(() => void this.balanceSoon(), every);
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

  /** Hands every partition over (released for the others) and leaves the group. */
  async close(): Promise<void> {
    this.stopTimer();
    await this.round;
    await Promise.all([...this.held.keys()].map((p) => this.leave(p, true)));
    try {
      await this.o.leases.leave(this.o.topology.stream, this.o.owner);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'nats: could not leave the job group; others rebalance after the lease TTL');
    }
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
    let members: string[];
    try {
      members = await leases.heartbeat(topology.stream, owner, leaseTtlMs);
    } catch (e) {
      if (!this.storeFailing) {
        this.log.warn({ err: (e as Error).message, held: this.owned() }, 'nats: lease store unreachable; keeping held partitions, taking no new ones');
      }
      this.storeFailing = true;
      return;
    }
    if (this.storeFailing) this.log.info('nats: lease store reachable again');
    this.storeFailing = false;
    if (!members.includes(owner)) members = [...members, owner].sort();
    const work: Promise<void>[] = [];
    for (let p = 0; p < topology.partitions; p++) {
      if (this.stopped) return;
      const mine = members[p % members.length] === owner;
      const h = this.held.get(p);
      if (h) {
        if (h.leaving) continue;
        if (mine) work.push(this.renew(p));
        else void this.leave(p, true); // another member is to read it now
      } else if (mine && this.o.connection.ready()) {
        work.push(this.take(p));
      }
    }
    await Promise.all(work);
  }

  private async take(p: number): Promise<void> {
    const { leases, owner, leaseTtlMs } = this.o;
    let got: boolean;
    try {
      got = await leases.acquire(this.leaseName(p), owner, leaseTtlMs);
    } catch {
      return; // the heartbeat reports a lasting outage
    }
    if (!got) return;
    const js = this.o.connection.js();
    if (this.stopped || this.held.has(p) || !js) {
      if (!this.held.has(p)) await leases.release(this.leaseName(p), owner).catch(() => {});
      return;
    }
    const reader = new PartitionReader({
      js,
      topology: this.o.topology,
      partition: p,
      handler: this.o.handler,
      retryDelayMs: this.o.retryDelayMs,
      retryMaxDelayMs: this.o.retryMaxDelayMs,
      fetchExpiresMs: this.o.fetchExpiresMs,
      log: this.log,
    });
    this.held.set(p, { reader, leaving: null });
    this.log.info({ partition: p, owner }, 'nats: partition taken');
  }

  private async renew(p: number): Promise<void> {
    let still: boolean;
    try {
      still = await this.o.leases.acquire(this.leaseName(p), this.o.owner, this.o.leaseTtlMs);
    } catch {
      return; // keep reading while the lease store is away
    }
    if (!still) {
      this.log.warn({ partition: p }, 'nats: partition lease lost to another job; stopping it');
      void this.leave(p, false);
    }
  }

  /**
   * Stops reading partition p after handling what was received; when `release` (the lease is
   * still ours), waits until the server has the acks, then releases the lease.
   */
  private leave(p: number, release: boolean): Promise<void> {
    const h = this.held.get(p);
    if (!h) return Promise.resolve();
    h.leaving ??= (async () => {
      await h.reader.stop();
      if (release) {
        if (this.o.connection.linkUp()) {
          try {
            await this.settled(h.reader);
          } catch {
            // the next holder waits for redeliveries instead
          }
        }
        await this.o.leases.release(this.leaseName(p), this.o.owner).catch((e: Error) => {
          this.log.warn({ partition: p, err: e.message }, 'nats: lease release failed; it lapses after the TTL');
        });
      }
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

// PushQueue on NATS JetStream (nats-server ≥ 2.9; no consumer pinning needed).
//
// Logic publishes each goim PushMsg (protobuf, src/rpc/proto/goim/logic/logic.proto) to `<subject>.<p>`, p chosen from
// the record key as goim's Kafka partitioner does (partition.ts), and resolves once the
// stream acknowledged it (AckedPublisher: the publishes of one event-loop turn share a
// socket write, each still waits for its own ack). Jobs consume with one durable pull consumer per partition; each
// partition is read by exactly one job at a time, which holds a lease on it (LeaseStore:
// Redis for several jobs), so messages of one room or key reach the job's handler in
// order even with several jobs. Live jobs split the partitions evenly (members sorted,
// partition p belongs to member p mod n); a job hands a partition over by draining it —
// no request left open, every received message handled and settled — while still renewing
// the lease, and releases it only then. A job pulls only while its lease is known to be
// valid. A job that dies stops renewing; after lease TTL another job takes its partitions
// and gets its unacknowledged messages again first (at-least-once): at once when the server
// says the dead job's subscriptions are gone (workqueue retention: the partition's consumer
// is restarted), else after ack_wait (see PartitionReader; docs/deployment.md, failures).
//
// NATS outages: the client reconnects forever; publish fails at once with a clear error
// while disconnected, and so do publishes still waiting for their ack when the connection
// drops (the stream may have stored them: at-least-once, the caller may retry). Lease-store outages: a job keeps the partitions it holds (pushes go
// on) and takes no new ones.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '../../log.js';
import type { LeaseStore, PushHandler, PushMsg, PushQueue } from '../../ports/index.js';
import { encodePushMsg } from '../../rpc/push-msg.js';
import { AckedPublisher } from './acked-publisher.js';
import type { ReaderCounters } from './partition-reader.js';
import { partitionOf } from './partition.js';
import { PartitionOwnership } from './partition-ownership.js';
import { ensureConsumers, ensureStream, partitionSubject, type Topology } from './topology.js';

export interface NatsPushQueueOptions extends Topology {
  /** nats://host:port, several comma-separated. */
  url: string;
  leaseTtlMs: number;
  publishTimeoutMs: number;
  retryDelayMs: number;
  retryMaxDelayMs: number;
  /**
   * Partition leases shared by all jobs (adapters/redis/lease-store.ts; a single job may use
   * adapters/memory/lease-store.ts). Needed to consume; publishers need none.
   */
  leases?: LeaseStore;
  /** close() also closes `leases` (true when it was made for this queue). */
  ownsLeases?: boolean;
  /** This job's name in the lease store (default host:pid:random). */
  owner?: string;
  /** Client name shown by the server. */
  name?: string;
  log: Logger;
}

type State = 'connecting' | 'connected' | 'disconnected' | 'closed';

export class NatsPushQueue implements PushQueue {
  private readonly o: NatsPushQueueOptions;
  private readonly log: Logger;
  private readonly where: string;
  private readonly leases: LeaseStore | undefined;
  readonly owner: string;
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private state: State = 'connecting';
  private lastError = '';
  /** The connection is up now (kept apart from `state`, which close() sets first). */
  private linkUp = false;
  /** Stream and consumers exist (checked after every (re)connect). */
  private topologyReady = false;
  /** Settled the first time the stream and consumers are in place (see ready()). */
  private readonly firstReady: Promise<void>;
  private markReady!: () => void;
  private topologyError = '';
  private readonly started: Promise<void>;
  /** Settles once the first connection attempt and stream check succeeded or failed (or on close). */
  private readonly attempted: Promise<void>;
  private markAttempted!: () => void;
  private cancelWait: (() => void) | null = null;
  /** Set by consume(): the partitions this job reads. */
  private ownership: PartitionOwnership | null = null;
  private readonly readerCounters: ReaderCounters = { redelivered: 0, pending: [] };
  /** Sends publishes and settles them from the stream's acks; made with the connection. */
  private publisher: AckedPublisher | null = null;

  constructor(opts: NatsPushQueueOptions) {
    this.o = opts;
    this.log = opts.log;
    this.where = opts.url;
    this.leases = opts.leases;
    this.owner = opts.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.attempted = new Promise<void>((resolve) => (this.markAttempted = resolve));
    this.firstReady = new Promise<void>((resolve) => (this.markReady = resolve));
    this.started = this.connectLoop();
  }

  /** Resolves once connected with the stream and consumers in place (never, if that never happens). */
  ready(): Promise<void> {
    return this.firstReady;
  }

  /**
   * Resolves once the stream acknowledged the message; rejects fast while NATS is
   * unreachable. Messages published during one event-loop turn go out together, in call
   * order (AckedPublisher).
   */
  publish(msg: PushMsg): Promise<void> {
    const publisher = this.publisher;
    if (this.state !== 'connected' || !publisher) {
      return Promise.reject(
        new Error(`nats ${this.where}: publish failed: not connected (${this.state}${this.lastError ? `; last error: ${this.lastError}` : ''})`),
      );
    }
    if (!this.topologyReady) {
      return Promise.reject(
        new Error(`nats ${this.where}: publish failed: stream ${this.o.stream} not ready${this.topologyError ? `: ${this.topologyError}` : ''}`),
      );
    }
    let data: Uint8Array;
    try {
      data = encodePushMsg(msg);
    } catch (e) {
      return Promise.reject(e);
    }
    return publisher.publish(partitionSubject(this.o, partitionOf(msg, this.o.partitions)), data);
  }

  /**
   * Starts taking partitions and delivering their messages to `handler`. Resolves after the
   * first round of lease taking (at once, with a warning, while NATS is not reachable yet:
   * partitions are taken as soon as it is).
   */
  async consume(handler: PushHandler): Promise<void> {
    if (this.state === 'closed') throw new Error('nats queue: closed');
    if (this.ownership) throw new Error('nats queue: consume() called twice');
    if (!this.leases) throw new Error('nats queue: consume() needs a lease store (options.leases)');
    this.ownership = new PartitionOwnership({
      topology: this.o,
      leases: this.leases,
      owner: this.owner,
      leaseTtlMs: this.o.leaseTtlMs,
      settleTimeoutMs: this.o.publishTimeoutMs,
      retryDelayMs: this.o.retryDelayMs,
      retryMaxDelayMs: this.o.retryMaxDelayMs,
      // an idle job re-asks every few seconds; a hand-over or close waits at most this long
      fetchExpiresMs: Math.min(5000, Math.max(1000, Math.trunc(this.o.leaseTtlMs / 2))),
      handler,
      connection: {
        ready: () => this.state === 'connected' && this.topologyReady,
        linkUp: () => this.linkUp,
        js: () => this.js,
        nc: () => this.nc,
        flush: () => this.nc?.flush() ?? Promise.resolve(),
      },
      log: this.log,
      counters: this.readerCounters,
    });
    // A normal start connects and checks the stream in well under this: wait for that
    // rather than report "not ready" about a check still under way.
    await this.firstOutcome(this.o.publishTimeoutMs);
    if (this.isClosed()) return;
    await this.ownership.start();
    if (!this.topologyReady) this.log.warn({ nats: this.where, state: this.state }, 'nats: not ready yet; consuming starts once it is');
  }

  /** Resolves once the first connection attempt and stream check came out either way, or after `ms`. */
  private firstOutcome(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    return Promise.race([this.attempted, bound]).finally(() => clearTimeout(timer));
  }

  /** Partitions this job reads now (tests, metrics). */
  ownedPartitions(): number[] {
    return this.ownership?.owned() ?? [];
  }

  /**
   * depth: messages of this job's partitions the server had not delivered yet, as of each
   * partition's last delivery; redeliveries: messages this job received more than once.
   */
  queueStats(): { depth: number; redeliveries: number } {
    let depth = 0;
    for (const p of this.ownedPartitions()) depth += this.readerCounters.pending[p] ?? 0;
    return { depth, redeliveries: this.readerCounters.redelivered };
  }

  /** Stops consuming: every received message is handled and settled, leases released; then disconnects. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.markAttempted();
    this.cancelWait?.();
    // publishes accepted before close are sent and get their acks before the connection goes
    const publishing = this.linkUp ? this.publisher?.whenIdle() : undefined;
    await this.ownership?.close();
    if (this.o.ownsLeases) await this.leases?.close?.().catch(() => {});
    await this.started;
    await publishing;
    this.publisher?.close();
    this.publisher = null;
    const nc = this.nc;
    this.nc = null;
    this.js = null;
    if (nc) {
      // drain() flushes what is buffered; while disconnected it would wait for a reconnect
      try {
        if (this.linkUp) await nc.drain();
        else await nc.close();
      } catch {
        await nc.close().catch(() => {});
      }
    }
  }

  /**
   * Stops at once as if the process died: no draining, no acks, no lease release. Other jobs
   * take the partitions after the lease TTL and get the unacknowledged messages again.
   */
  async abort(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.markAttempted();
    this.publisher?.close();
    this.publisher = null;
    this.cancelWait?.();
    this.ownership?.abort();
    const nc = this.nc;
    this.nc = null;
    this.js = null;
    await nc?.close().catch(() => {});
    if (this.o.ownsLeases) await this.leases?.close?.().catch(() => {});
  }

  // ---- connection ---------------------------------------------------------------------

  /** A method, so checks after an await are not narrowed away by the compiler. */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private async connectLoop(): Promise<void> {
    let delay = 250;
    while (this.state !== 'closed') {
      try {
        const nc = await connect({
          servers: this.o.url.split(',').map((s) => s.trim()),
          name: this.o.name,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1000,
          timeout: 5000,
          pingInterval: 10_000,
          maxPingOut: 3,
          // Without it every request (stream checks, consumer info, fetches) builds two
          // Error objects up front, stack traces included, in case it fails or times out.
          noAsyncTraces: true,
        });
        if (this.isClosed()) {
          await nc.close();
          return;
        }
        this.nc = nc;
        this.js = jetstream(nc, { timeout: this.o.publishTimeoutMs });
        this.publisher = new AckedPublisher(nc, this.o.publishTimeoutMs, `nats ${this.where}`);
        this.state = 'connected';
        this.linkUp = true;
        if (this.lastError) this.log.info({ nats: this.where }, 'nats: connected');
        this.lastError = '';
        void this.watchStatus(nc);
        await this.ensureTopology();
        return;
      } catch (e) {
        const msg = (e as Error).message;
        if (msg !== this.lastError) this.log.warn({ nats: this.where, err: msg }, 'nats: cannot connect; retrying');
        this.lastError = msg;
        this.markAttempted();
        await this.wait(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'close') {
        this.linkUp = false;
        // acks of what was sent can only come on the lost connection: fail those publishes now
        this.publisher?.failAll(s.type === 'close' ? 'connection closed' : 'connection lost before the stream acknowledged');
        // what was on the wire to the pull requests is lost; readers look before pulling again
        this.ownership?.connectionLost();
      }
      if (s.type === 'reconnect') this.linkUp = true;
      if (this.isClosed()) continue; // close() owns the state from here
      switch (s.type) {
        case 'disconnect':
          this.state = 'disconnected';
          this.lastError = `disconnected from ${s.server}`;
          this.log.warn({ nats: this.where }, 'nats: disconnected; reconnecting');
          break;
        case 'reconnect':
          this.state = 'connected';
          this.lastError = '';
          this.log.info({ nats: this.where, server: s.server }, 'nats: reconnected');
          void this.ensureTopology();
          break;
        case 'error':
          this.lastError = s.error.message;
          break;
      }
    }
  }

  /** Creates the stream and consumers when missing; retries until it works or the queue closes. */
  private async ensureTopology(): Promise<void> {
    let delay = 500;
    while (this.state !== 'closed' && this.nc) {
      try {
        const jsm = await jetstreamManager(this.nc, { timeout: this.o.publishTimeoutMs });
        await ensureStream(jsm, this.o, this.log);
        await ensureConsumers(jsm, this.o, this.log);
        if (!this.topologyReady) this.log.info({ stream: this.o.stream, partitions: this.o.partitions }, 'nats: stream ready');
        this.topologyReady = true;
        this.markReady();
        this.topologyError = '';
        this.markAttempted();
        void this.ownership?.balanceSoon();
        return;
      } catch (e) {
        const msg = (e as Error).message;
        if (msg !== this.topologyError) this.log.error({ stream: this.o.stream, err: msg }, 'nats: cannot set up the stream; retrying');
        this.topologyError = msg;
        this.markAttempted();
        if (this.state === 'disconnected') return; // the reconnect retries
        await this.wait(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  private wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.cancelWait = done;
    }).finally(() => (this.cancelWait = null));
  }
}

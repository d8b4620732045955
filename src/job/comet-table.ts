// The comets job pushes to, kept in step with the registry: keyed by host name, limited to
// the job's zone when one is configured. Instances flagged offline still receive pushes, as
// in goim: they still hold connections until those leave. A comet whose calls keep failing
// is marked down by its lane long before the registry drops it (docs/deployment.md).
import type { CometDialer, Instance } from '../ports/index.js';
import type { Logger } from '../log.js';
import { CometLane, newLaneCounters, type LaneCounters, type LanePolicy } from './comet-lane.js';

/** Dropped calls are logged at most this often per reason (each one is counted in the metrics). */
const DROP_LOG_EVERY_MS = 10_000;

export class CometTable {
  private readonly lanes = new Map<string, CometLane>();
  /** Each comet's registration time as last listed: a new one means it registered again. */
  private readonly registered = new Map<string, number>();
  /** Over every lane, past and present. */
  readonly laneCounters: LaneCounters = newLaneCounters();
  /** Per drop reason: when last logged, and the drops since. */
  private readonly dropLog = new Map<string, { at: number; unlogged: number }>();
  /** The lanes as an array, rebuilt on change, so fan-out loops never build one. */
  private snapshot: CometLane[] = [];
  /** Lanes being closed (removed comets, shutdown); awaited by close(). */
  private readonly closing = new Set<Promise<unknown>>();

  constructor(
    private readonly dial: CometDialer,
    private readonly zone: string,
    private readonly routineSize: number,
    private readonly log: Logger,
    private readonly policy: Partial<LanePolicy> = {},
  ) {}

  get size(): number {
    return this.snapshot.length;
  }

  get(hostname: string): CometLane | undefined {
    return this.lanes.get(hostname);
  }

  /** Current lanes; the array is replaced, never mutated, so callers may keep it. */
  all(): readonly CometLane[] {
    return this.snapshot;
  }

  hostnames(): string[] {
    return this.snapshot.map((l) => l.hostname);
  }

  /** Comets marked down now, and the calls held for them (metrics). */
  health(): { down: number; heldCalls: number } {
    let down = 0;
    let heldCalls = 0;
    for (const l of this.snapshot) {
      if (l.isDown) down++;
      heldCalls += l.heldCalls;
    }
    return { down, heldCalls };
  }

  /**
   * Applies a registry list. As in goim, a list with no instance in the job's zone is ignored
   * (the table stays as it was): an empty answer is more often a registry hiccup than every
   * comet leaving at once, and a comet that is really gone is marked down by its lane, which
   * sends its messages back to the queue while no other comet takes them. Returns false when
   * ignored.
   */
  update(instances: readonly Instance[]): boolean {
    const mine = this.zone === '' ? instances : instances.filter((i) => i.zone === this.zone);
    if (mine.length === 0) {
      if (this.lanes.size > 0 || instances.length > 0) {
        this.log.warn({ zone: this.zone, instances: instances.length }, 'job: comet list without any instance in zone ignored');
      }
      return false;
    }
    const next = new Map<string, CometLane>();
    for (const ins of mine) {
      if (next.has(ins.hostname)) continue;
      const old = this.lanes.get(ins.hostname);
      // goim keeps an existing host's client; a changed address means the comet restarted elsewhere.
      if (old && sameAddrs(old.instance.addrs, ins.addrs)) {
        // A dead comet's entry does not change; a renewed one while its lane is down is a restart.
        if (old.isDown && this.registered.get(ins.hostname) !== ins.latestTimestamp) old.poke(() => this.dial(ins));
        next.set(ins.hostname, old);
        continue;
      }
      try {
        next.set(ins.hostname, new CometLane(ins, this.dial(ins), this.routineSize, this.onHealth, this.laneCounters, this.policy, this.onDrop));
        this.log.info({ comet: ins.hostname, addrs: ins.addrs }, old ? 'job: comet re-dialled' : 'job: comet added');
      } catch (e) {
        this.log.error({ comet: ins.hostname, addrs: ins.addrs, err: (e as Error).message }, 'job: cannot dial comet');
        if (old) next.set(ins.hostname, old);
      }
    }
    for (const [host, lane] of this.lanes) {
      if (next.get(host) === lane) continue;
      if (!next.has(host)) this.log.info({ comet: host }, 'job: comet removed');
      this.retire(lane);
    }
    this.lanes.clear();
    for (const [host, lane] of next) this.lanes.set(host, lane);
    this.registered.clear();
    for (const ins of mine) this.registered.set(ins.hostname, ins.latestTimestamp);
    this.snapshot = [...next.values()];
    return true;
  }

  private retire(lane: CometLane): void {
    const p = lane.close().then((dropped) => {
      if (dropped > 0) this.log.warn({ comet: lane.hostname, dropped }, 'job: calls queued or held for a removed comet dropped');
    });
    this.closing.add(p);
    void p.finally(() => this.closing.delete(p));
  }

  private readonly onHealth = (lane: CometLane, err: Error | null): void => {
    if (err) {
      this.log.warn(
        { comet: lane.hostname, err: err.message, failures: this.policy.failures },
        'job: comet down: its calls keep failing; holding them for it and probing it',
      );
    } else this.log.info({ comet: lane.hostname, heldCalls: lane.heldCalls }, 'job: comet answers again; sending the calls held for it');
  };

  private readonly onDrop = (lane: CometLane, reason: 'refused' | 'backlog_full', err: Error | null): void => {
    let entry = this.dropLog.get(reason);
    if (!entry) this.dropLog.set(reason, (entry = { at: -Infinity, unlogged: 0 }));
    entry.unlogged++;
    const t = performance.now();
    if (t - entry.at < DROP_LOG_EVERY_MS) return;
    entry.at = t;
    const detail = { comet: lane.hostname, reason, dropped: entry.unlogged, err: err?.message };
    if (reason === 'refused') this.log.warn(detail, 'job: comet keeps refusing a call; dropped it');
    else this.log.warn({ ...detail, backlogBytes: this.policy.backlogBytes }, 'job: comet down and its backlog full; dropping calls for it');
    entry.unlogged = 0;
  };

  /** Closes every comet client (after the calls in flight settled). */
  async close(): Promise<void> {
    for (const lane of this.lanes.values()) this.retire(lane);
    this.lanes.clear();
    this.snapshot = [];
    while (this.closing.size > 0) await Promise.all([...this.closing]);
  }
}

function sameAddrs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// In-test collaborators for job tests: comets that record every call (optionally slow or
// failing) and a registry that notifies watchers synchronously.
import { buildConfig } from '../../src/config/load.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';
import { AppId, type CometService, type Instance, type Proto, type Registry, type RoomBatchParts } from '../../src/ports/index.js';

export type CometCallRecord =
  | { kind: 'push'; keys: string[]; op: number; proto: Proto }
  | { kind: 'broadcast'; op: number; proto: Proto; speed: number }
  | { kind: 'room'; room: string; proto: Proto; parts?: RoomBatchParts };

export interface FakeCometOptions {
  /** Delay of each call, ms (a function for random delays); undefined = resolve on next tick. */
  delay?: number | (() => number);
  /** Return an error to make the call fail (after its delay). */
  fail?: (call: CometCallRecord, index: number) => Error | null;
  /** Return an error to make a Rooms call (the job's probe of a down comet) fail. */
  failRooms?: () => Error | null;
}

/** A comet client that records accepted calls in `calls` (failed calls go to `failed`). */
export class FakeComet implements CometService {
  /** Calls in the order they were made. */
  readonly started: CometCallRecord[] = [];
  /** Calls in the order they were accepted. */
  readonly calls: CometCallRecord[] = [];
  readonly failed: CometCallRecord[] = [];
  attempts = 0;
  closed = false;
  inFlight = 0;
  maxInFlight = 0;
  /** Rooms with a broadcastRoom call in flight, to catch overlapping calls for one room. */
  readonly roomsInFlight = new Set<string>();
  overlappingRoomCalls = 0;
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor(
    readonly name: string,
    public opts: FakeCometOptions = {},
  ) {}

  pushMsg(keys: string[], op: number, proto: Proto): Promise<void> {
    return this.record({ kind: 'push', keys, op, proto });
  }

  broadcast(op: number, proto: Proto, speed: number): Promise<void> {
    return this.record({ kind: 'broadcast', op, proto, speed });
  }

  broadcastRoom(room: string, proto: Proto, parts?: RoomBatchParts): Promise<void> {
    return this.record({ kind: 'room', room, proto, parts });
  }

  /** Rooms calls made (a job probes a down comet with them). */
  probes = 0;

  async rooms(): Promise<string[]> {
    this.probes++;
    const err = this.opts.failRooms?.() ?? null;
    if (err) throw err;
    return [];
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Resolves once `n` calls were accepted. */
  waitCalls(n: number, timeoutMs = 10_000): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return withTimeout(
      new Promise<void>((resolve) => this.waiters.push({ n, resolve })),
      timeoutMs,
      `${this.name}: waiting for ${n} calls, got ${this.calls.length}`,
    );
  }

  private record(call: CometCallRecord): Promise<void> {
    const index = this.attempts++;
    this.started.push(call);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (call.kind === 'room') {
      if (this.roomsInFlight.has(call.room)) this.overlappingRoomCalls++;
      this.roomsInFlight.add(call.room);
    }
    const d = typeof this.opts.delay === 'function' ? this.opts.delay() : this.opts.delay;
    return new Promise<void>((resolve, reject) => {
      const finish = () => {
        this.inFlight--;
        if (call.kind === 'room') this.roomsInFlight.delete(call.room);
        const err = this.opts.fail?.(call, index) ?? null;
        if (err) {
          this.failed.push(call);
          reject(err);
          return;
        }
        this.calls.push(call);
        this.waiters = this.waiters.filter((w) => {
          if (this.calls.length < w.n) return true;
          w.resolve();
          return false;
        });
        resolve();
      };
      if (d === undefined) setImmediate(finish);
      else setTimeout(finish, d);
    });
  }
}

/** A registry whose watchers are told synchronously of every change. */
export class FakeRegistry implements Registry {
  private readonly instances = new Map<string, Instance>();
  private readonly watchers = new Set<(list: Instance[]) => void>();

  async register(instance: Instance): Promise<void> {
    this.instances.set(`${instance.appid}/${instance.hostname}`, instance);
    this.notify();
  }

  async deregister(appid: string, hostname: string): Promise<void> {
    this.instances.delete(`${appid}/${hostname}`);
    this.notify();
  }

  async list(appid: string): Promise<Instance[]> {
    return [...this.instances.values()].filter((i) => i.appid === appid);
  }

  watch(appid: string, onChange: (instances: Instance[]) => void): () => void {
    const w = (list: Instance[]) => onChange(list.filter((i) => i.appid === appid));
    this.watchers.add(w);
    w([...this.instances.values()]);
    return () => this.watchers.delete(w);
  }

  get watching(): number {
    return this.watchers.size;
  }

  async close(): Promise<void> {
    this.watchers.clear();
  }

  private notify(): void {
    const list = [...this.instances.values()];
    for (const w of this.watchers) w(list);
  }
}

export function cometInstance(hostname: string, zone = '', addrs: string[] = []): Instance {
  return {
    region: '',
    zone,
    env: '',
    appid: AppId.Comet,
    hostname,
    addrs,
    version: '',
    latestTimestamp: 0,
    metadata: { weight: '10', offline: 'false' },
  };
}

/** Job tests pin goim's fixed batching window unless they ask for room.adaptive. */
export function testConfig(input: ConfigInput = {}): Config {
  const room = { adaptive: false, ...((input as { room?: object }).room ?? {}) };
  // Appends start at once unless a test asks for writeLinger: most of these drive a manual clock.
  const history = { writeLinger: '0', ...((input as { history?: object }).history ?? {}) };
  return buildConfig({ ...(input as Record<string, unknown>), room, history }, 'test');
}

/** The Job settings of `config`, as the wiring (src/embedded.ts) passes them. */
export { jobSettings } from '../../src/config/job-settings.js';

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
}

export function unhex(text: string): Buffer {
  return Buffer.from(text.replace(/[\s|]/g, ''), 'hex');
}

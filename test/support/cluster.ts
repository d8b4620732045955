// Distributed-mode tests: private Redis and NATS servers, tsim role processes, and their
// configuration files — all children of the test, on free 127.0.0.1 ports, so no test
// touches the shared servers and an outage can be staged by stopping our own instance.
//
//   const h = await Cluster.start('tsim-dist-');          // redis-server + nats-server -js
//   const logic = h.spawn('logic', 'logic', logicConfig({ host: 'logic-1' }));
//   const { http } = await logic.started;                   // the "tsim logic started" line
//   ...
//   after(() => h.cleanup());                               // every child killed by PID
//
// When redis-server or nats-server is not installed the suite is skipped with a notice, or
// fails when TSIM_REQUIRE_SERVICES=1 (CI).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'smol-toml';
import type { CometAddresses } from '../../src/distributed/comet-process.js';
import { packageRoot } from '../../src/package-root.js';
import { BINARY_DIRS, findBinary } from '../../bench/run/services.js';
import { eventually } from './eventually.js';

// ---- binaries and the gate -------------------------------------------------------------

/**
 * For suites: `describe(name, { skip: await clusterGate() }, …)`. False when redis-server and
 * nats-server are installed; otherwise the skip reason, or a throw when
 * TSIM_REQUIRE_SERVICES=1.
 */
export async function clusterGate(): Promise<false | string> {
  const missing = ['redis-server', 'nats-server'].filter((b) => !findBinary(b));
  if (missing.length === 0) return false;
  const what = `${missing.join(' and ')} not installed (looked in ${BINARY_DIRS.join(', ')} and PATH)`;
  if (process.env.TSIM_REQUIRE_SERVICES === '1') {
    throw new Error(`distributed tests need private Redis and NATS servers (TSIM_REQUIRE_SERVICES=1): ${what}`);
  }
  const notice = `distributed tests skipped: ${what}; set TSIM_REQUIRE_SERVICES=1 to fail instead of skipping`;
  process.stderr.write(`# SKIP ${notice}\n`);
  return notice;
}

// ---- ports and children -----------------------------------------------------------------

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Every child started by this module, so cleanup can kill what a failed test left. */
const children = new Set<ChildProcess>();
// Last resort when the test process ends without its cleanup (an uncaught error).
process.once('exit', () => killAllChildren());

function track(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  children.add(child);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
}

/** SIGKILLs (by PID) every child of this module still running. */
export function killAllChildren(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once no process has this PID (e.g. a comet worker, not our own child). */
export function waitGone(pid: number, what: string, timeoutMs = 15_000): Promise<void> {
  return eventually(() => !isAlive(pid), `${what} (pid ${pid}) to exit`, timeoutMs);
}

// ---- private Redis and NATS ---------------------------------------------------------------

/** A server process of ours that can be stopped and started again on the same port. */
abstract class PrivateServer {
  protected child: ChildProcess | undefined;
  protected exit: Promise<unknown> | undefined;
  protected output = '';

  protected constructor(
    readonly port: number,
    private readonly label: string,
  ) {}

  protected abstract command(): { bin: string; args: string[] };

  abstract get url(): string;

  /** Starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    const { bin, args } = this.command();
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.output = '';
    const keep = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-4000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exit = track(child);
    let exited = false;
    void this.exit.then(() => (exited = true));
    await eventually(async () => {
      if (exited) throw new Error(`${this.label} exited at start-up: ${this.output}`);
      return portOpen(this.port);
    }, `${this.label} on port ${this.port}`);
  }

  /** Kills the server at once (SIGKILL): an outage as clients see it. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await this.exit;
    this.child = undefined;
  }

  /** Stops the server gracefully (SIGTERM), killing it if that takes too long. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.exit;
    clearTimeout(timer);
    this.child = undefined;
  }
}

/** redis-server on a free port, without persistence (a restart comes back empty). */
export class PrivateRedis extends PrivateServer {
  private constructor(port: number) {
    super(port, 'redis-server');
  }

  static async start(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort());
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  protected command() {
    return {
      bin: findBinary('redis-server')!,
      args: ['--bind', '127.0.0.1', '--port', String(this.port), '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    };
  }
}

/** nats-server with JetStream on a free port; its store survives a restart. */
export class PrivateNats extends PrivateServer {
  private constructor(
    port: number,
    private readonly storeDir: string,
  ) {
    super(port, 'nats-server');
  }

  static async start(storeDir: string): Promise<PrivateNats> {
    const n = new PrivateNats(await freePort(), storeDir);
    await n.start();
    return n;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  protected command() {
    return { bin: findBinary('nats-server')!, args: ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir] };
  }
}

// ---- tsim role processes ----------------------------------------------------------------

export type Role = 'comet' | 'logic' | 'job';

/** One pino JSON line. */
export type LogRecord = Record<string, unknown> & { msg: string; level: number };

/** The "tsim comet started" line of a comet of one process. */
export interface CometStarted extends LogRecord, CometAddresses {}

export interface CometClusterStarted extends LogRecord {
  tcp: string[];
  websocket: string[];
  workers: Array<{ worker: number; pid: number; serverId: string; grpc: string; rpcAddr: string; metrics?: string }>;
}

export interface LogicStarted extends LogRecord {
  http: string;
  grpc: string;
  rpcAddr: string;
}

export interface JobStarted extends LogRecord {
  owner: string;
  comets: string[];
  metrics?: string;
}

/** The port of "127.0.0.1:3101", ":3101" or "[::1]:3101/sub". */
export function portOf(addr: string): number {
  const m = /:(\d+)(?:\/.*)?$/.exec(addr);
  if (!m) throw new Error(`no port in ${addr}`);
  return Number(m[1]);
}

/** The CLI the tests run: bin/tsim.js, as users do (TSIM_CLI points elsewhere). */
function cliPath(): string {
  return process.env.TSIM_CLI ?? join(packageRoot(), 'bin', 'tsim.js');
}

/** A `tsim <role> --config <file>` child process and its JSON log. */
export class TsimProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the "tsim <role> started" line; rejects when the process exits first. */
  readonly started: Promise<LogRecord>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly records: LogRecord[] = [];
  private readonly waiters = new Set<() => void>();
  private stderr = '';

  constructor(
    readonly role: Role,
    readonly name: string,
    configPath: string,
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, [cliPath(), role, '--config', configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    this.pid = this.child.pid!;
    this.exited = track(this.child);
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-8000)));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let rec: LogRecord;
      try {
        rec = JSON.parse(line) as LogRecord;
      } catch {
        return;
      }
      this.records.push(rec);
      for (const w of [...this.waiters]) w();
    });
    this.started = this.waitForLog((r) => r.msg === `tsim ${role} started`, `${name} to start`, 30_000);
    this.started.catch(() => {}); // observed by whoever awaits it
  }

  /** Resolves with the first log record (past or future) matching `pred`. */
  waitForLog(pred: (r: LogRecord) => boolean, what: string, timeoutMs = 20_000): Promise<LogRecord> {
    return new Promise((resolve, reject) => {
      let exitedAs: string | undefined;
      const check = (): void => {
        const hit = this.records.find(pred);
        if (hit) return settle(undefined, hit);
        if (exitedAs) settle(new Error(`${this.name} exited (${exitedAs}) before ${what}\n${this.diagnostics()}`));
      };
      const settle = (err: Error | undefined, rec?: LogRecord): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve(rec!);
      };
      const timer = setTimeout(() => settle(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.diagnostics()}`)), timeoutMs);
      this.waiters.add(check);
      void this.exited.then(({ code, signal }) => {
        exitedAs = `code ${code}, signal ${signal}`;
        // stdout may still hold lines: let them arrive first
        setImmediate(check);
      });
      check();
    });
  }

  /** Log records so far. */
  logs(): readonly LogRecord[] {
    return this.records;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.alive) this.child.kill(signal);
  }

  /** SIGTERM, then the exit code (SIGKILL after `timeoutMs`, which fails the caller's check). */
  async stop(timeoutMs = 25_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), timeoutMs);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }

  /** The last log lines and stderr, for failure messages. */
  diagnostics(): string {
    const tail = this.records
      .slice(-15)
      .map((r) => JSON.stringify(r))
      .join('\n');
    return `--- ${this.name} (pid ${this.pid}) last log lines:\n${tail}\n--- stderr:\n${this.stderr}`;
  }
}

// ---- configuration ------------------------------------------------------------------------

type Table = Record<string, unknown>;

function merge(base: Table, over: Table): Table {
  const out: Table = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? merge(b as Table, v as Table) : v;
  }
  return out;
}

/**
 * Settings every test process shares: short registry, lease and redelivery times so
 * failures show within seconds, JSON logs at info (the tests read them).
 */
const SHARED: Table = {
  log: { level: 'info' },
  registry: { refresh: '500ms', ttl: '3s' },
  redis: { expire: '6s' },
  nats: { stream: 'TSIMTEST_PUSH', subject: 'tsimtest.push', ackWait: '2s', leaseTtl: '2s', retryDelay: '200ms', retryMaxDelay: '1s' },
  rpcClient: { timeout: '3s' },
};

/** A comet on free ports (client ports, gRPC), reporting online counts and refreshing routing often. */
export function cometConfig(host: string, over: Table = {}): Table {
  return merge(
    merge(SHARED, {
      env: { host, addrs: ['127.0.0.1'] },
      tcp: { bind: ['127.0.0.1:0'] },
      websocket: { bind: ['127.0.0.1:0'] },
      rpcServer: { addr: '127.0.0.1:0' },
      metrics: { addr: '127.0.0.1:0' },
      comet: { renewOnline: '300ms', routingRefresh: '1s', sweepInterval: '200ms', shutdownWait: '2s' },
    }),
    over,
  );
}

export function logicConfig(host: string, over: Table = {}): Table {
  return merge(
    merge(SHARED, {
      env: { host },
      httpServer: { addr: '127.0.0.1:0' },
      rpcServer: { addr: '127.0.0.1:0' },
      logic: { onlineReload: '300ms' },
      // the tests call the API without keys (api-keys tests cover them)
      api: { auth: 'off' },
    }),
    over,
  );
}

export function jobConfig(host: string, over: Table = {}): Table {
  return merge(merge(SHARED, { env: { host }, room: { signal: '20ms' }, job: { cometWait: '5s' }, metrics: { addr: '127.0.0.1:0' } }), over);
}

// ---- the harness ------------------------------------------------------------------------

/** A temp folder, private Redis and NATS, and the tsim processes of one suite. */
export class Cluster {
  readonly processes: TsimProcess[] = [];

  private constructor(
    readonly dir: string,
    readonly redis: PrivateRedis,
    readonly nats: PrivateNats,
  ) {}

  static async start(prefix: string): Promise<Cluster> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    try {
      const [redis, nats] = await Promise.all([PrivateRedis.start(), PrivateNats.start(join(dir, 'nats'))]);
      return new Cluster(dir, redis, nats);
    } catch (err) {
      killAllChildren();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Environment pointing a process at this cluster's Redis and NATS. */
  env(): Record<string, string> {
    return { REDIS_URL: this.redis.url, NATS_URL: this.nats.url };
  }

  async writeConfig(name: string, config: Table): Promise<string> {
    const path = join(this.dir, `${name}.toml`);
    await writeFile(path, stringify(config));
    return path;
  }

  /** Writes `<name>.toml` and starts `tsim <role>` with it (await `.started`). */
  async spawn(role: Role, name: string, config: Table): Promise<TsimProcess> {
    const path = await this.writeConfig(name, config);
    const p = new TsimProcess(role, name, path, this.env());
    this.processes.push(p);
    return p;
  }

  /** Kills every process still running (by PID), both servers, and removes the folder. */
  async cleanup(): Promise<void> {
    for (const p of this.processes) p.kill('SIGKILL');
    await Promise.all(this.processes.map((p) => p.exited));
    killAllChildren();
    await Promise.all([this.redis.kill(), this.nats.kill()]);
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Diagnostics of every process (attach to a failing assertion). */
  diagnostics(): string {
    return this.processes.map((p) => p.diagnostics()).join('\n');
  }
}

// ---- HTTP -----------------------------------------------------------------------------------

export interface ApiReply {
  status: number;
  text: string;
  /** The parsed goim envelope, when the body is JSON. */
  body: { code: number; message: string; data?: unknown } | undefined;
}

/** A request to logic's HTTP API at `base` ("http://127.0.0.1:port"). */
export async function api(base: string, path: string, body?: string): Promise<ApiReply> {
  const res = await fetch(`${base}${path}`, body === undefined ? {} : { method: 'POST', body });
  const text = await res.text();
  let parsed: ApiReply['body'];
  try {
    parsed = JSON.parse(text) as ApiReply['body'];
  } catch {
    parsed = undefined;
  }
  return { status: res.status, text, body: parsed };
}

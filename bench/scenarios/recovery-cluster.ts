// The cluster of the recovery scenario: distributed tsim as `--server tsim-cluster` runs it
// (servers/tsim-cluster.ts: the same logic and job configurations, a private redis-server and
// nats-server -js), with room history on in PostgreSQL and a comet that can be SIGKILLed and
// started again on the same ports (client, gRPC and metrics), as a crashed comet restarted by
// its supervisor would be. Each role is `node dist/src/cli.js <role> --config <temp toml>`.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killPid, onExitCleanup, pidAlive, stopChild, track, trackPids, waitPidGone } from '../run/children.js';
import { freePort, waitForPort } from '../run/ports.js';
import { startNats, startRedis, type Service } from '../run/services.js';
import { clusterConfigs, cometIds, type ClusterPorts, type Role } from '../servers/tsim-cluster.js';
import { processTree, type ServerProcess } from '../servers/server.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 30_000;
/** nats.partitions left at its default: the job takes this many at start. */
const PARTITIONS = 8;
/** Log lines of one message forwarded to stderr; the rest are counted. */
const FORWARD_PER_MESSAGE = 3;

type LogRecord = Record<string, unknown> & { msg?: string; level?: number };

/** pino levels. */
const WARN = 40;
const ERROR = 50;

/** One `tsim <role>` child: its JSON log read line by line, warnings forwarded (a few of each). */
class RoleProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  private readonly records: Array<LogRecord & { at: number }> = [];
  private readonly waiters = new Set<() => void>();
  /** Warnings and errors by message: forwarded up to FORWARD_PER_MESSAGE, then counted. */
  readonly warnings = new Map<string, number>();
  /** Set when the benchmark stops the cluster: deregistration warnings are expected then, errors only. */
  quiet = false;

  constructor(
    readonly role: Role,
    conf: string,
    env: NodeJS.ProcessEnv,
  ) {
    this.child = track(fork(CLI, [role, '--config', conf], { env, stdio: ['ignore', 'pipe', 2, 'ipc'], serialization: 'json' }));
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.onLine(line));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private onLine(line: string): void {
    let rec: LogRecord;
    try {
      rec = JSON.parse(line) as LogRecord;
    } catch {
      process.stderr.write(`recovery ${this.role}: ${line}\n`);
      return;
    }
    if ((rec.level ?? 0) >= (this.quiet ? ERROR : WARN)) {
      // Messages naming a connection key count as one.
      const key = String(rec.msg).replace(/key=\S+/g, 'key=…');
      const n = (this.warnings.get(key) ?? 0) + 1;
      this.warnings.set(key, n);
      if (n <= FORWARD_PER_MESSAGE) process.stderr.write(`recovery ${this.role}: ${line}\n`);
    }
    this.records.push({ ...rec, at: performance.timeOrigin + performance.now() });
    if (this.records.length > 2000) this.records.splice(0, 1000);
    for (const w of [...this.waiters]) w();
  }

  /** Resolves with the first record (past or future) matching `pred`; rejects on exit or timeout. */
  waitForLog(pred: (r: LogRecord) => boolean, what: string, timeoutMs = START_TIMEOUT_MS): Promise<LogRecord & { at: number }> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.records.find(pred);
        if (hit) settle(undefined, hit);
        else if (!this.alive) settle(new Error(`tsim ${this.role} exited (code ${this.child.exitCode}) before ${what}`));
      };
      const settle = (err: Error | undefined, rec?: LogRecord & { at: number }): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve(rec!);
      };
      const timer = setTimeout(() => settle(new Error(`recovery: timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      this.waiters.add(check);
      void this.exited.then(() => setTimeout(check, 50));
      check();
    });
  }

  /** Log records (with the time they were read) matching `pred`. */
  find(pred: (r: LogRecord) => boolean): Array<LogRecord & { at: number }> {
    return this.records.filter(pred);
  }
}

export interface RecoveryClusterOptions {
  /** comet.workers of the one comet. */
  cometWorkers: number;
  batch: number;
  signalMs: number;
  /** The TOML tables giving logic and job the history room type and its store. */
  historyToml: string;
  /** PostgreSQL URL of the history (also DATABASE_URL, which overrides the files). */
  databaseUrl: string;
}

export interface RecoveryCluster {
  ports: ClusterPorts;
  /** The comet's metrics listeners (one per worker). */
  cometMetricsPorts: number[];
  /** Every process of the server, by role (the comet's current pid and workers). */
  processes(): ServerProcess[];
  /** SIGKILLs the comet (its primary and, with workers, their pids) and resolves once they are gone. */
  killComet(): Promise<{ pids: number[] }>;
  /** Starts the comet again with the same configuration; resolves with its pid once it is serving. */
  startComet(): Promise<{ pid: number; startedAt: number }>;
  /** Log records of the job matching `pred` (e.g. comet lanes down and up again). */
  jobLog(pred: (r: LogRecord) => boolean): Array<LogRecord & { at: number }>;
  /** Warnings and errors each role logged, by message (counts). */
  warnings(): Record<string, Record<string, number>>;
  stop(): Promise<void>;
}

/** `n` consecutive free 127.0.0.1 ports (comet workers use base + i). */
async function freePortRun(n: number): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = await freePort();
    if (base + n > 65_535) continue;
    let ok = true;
    for (let i = 1; i < n && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error(`recovery: no ${n} consecutive free ports`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The comet's table with fixed gRPC and metrics ports: a restart binds the same ones. */
function fixedCometConfig(base: string, rpcPort: number, metricsPort: number): string {
  const rpc = '[rpcServer]\naddr = "127.0.0.1:0"';
  const metrics = '[metrics]\naddr = "127.0.0.1:0"';
  if (!base.includes(rpc) || !base.includes(metrics)) throw new Error('recovery: unexpected comet configuration from clusterConfigs');
  return base.replace(rpc, `[rpcServer]\naddr = "127.0.0.1:${rpcPort}"`).replace(metrics, `[metrics]\naddr = "127.0.0.1:${metricsPort}"`);
}

export async function launchRecoveryCluster(o: RecoveryClusterOptions): Promise<RecoveryCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'tsim-recovery-bench-'));
  const dropCleanup = onExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const services: Service[] = [];
  const roles: Partial<Record<Role, RoleProcess>> = {};
  /** Every role process started, the killed comet included (for its warnings). */
  const everyRole: RoleProcess[] = [];
  /** Comet processes started so far (killed ones included), for clean-up by pid. */
  let cometTree: number[] = [];
  const cometPids = (): number[] => {
    const c = roles.comet;
    if (c?.alive) cometTree = processTree(c.pid);
    return cometTree.filter((p) => pidAlive(p));
  };
  const untrack = trackPids(cometPids);

  const stopAll = async (): Promise<void> => {
    const stopRole = async (r: RoleProcess | undefined) => {
      if (r) await stopChild(r.child, 'SIGTERM', STOP_GRACE_MS);
    };
    for (const r of everyRole) r.quiet = true;
    const left = cometPids();
    await Promise.all([stopRole(roles.job), stopRole(roles.comet)]);
    for (const pid of left) {
      if (!(await waitPidGone(pid, 5000))) {
        killPid(pid, 'SIGKILL');
        await waitPidGone(pid, 5000);
      }
    }
    await stopRole(roles.logic);
    await Promise.all(services.map((s) => s.stop()));
    untrack();
    rmSync(dir, { recursive: true, force: true });
    dropCleanup();
  };

  try {
    const [redis, nats] = await Promise.all([startRedis(join(dir, 'redis')), startNats(join(dir, 'nats'))]);
    services.push(redis, nats);
    const ports: ClusterPorts = { redis: redis.port, nats: nats.port, http: await freePort(), tcp: await freePort(), ws: await freePort() };
    const rpcBase = await freePortRun(o.cometWorkers);
    const metricsBase = await freePortRun(o.cometWorkers);
    const confs = clusterConfigs(ports, { transport: 'tcp', batch: o.batch, signalMs: o.signalMs, cometWorkers: o.cometWorkers });
    const files: Record<Role, string> = {
      logic: `${confs.logic}${o.historyToml}`,
      job: `${confs.job}${o.historyToml}`,
      comet: fixedCometConfig(confs.comet, rpcBase, metricsBase),
    };
    // REDIS_URL / NATS_URL / DATABASE_URL would override the files: point them at ours.
    const env = { ...process.env, REDIS_URL: redis.url, NATS_URL: nats.url, DATABASE_URL: o.databaseUrl };
    const start = (role: Role): RoleProcess => {
      const file = join(dir, `${role}.toml`);
      writeFileSync(file, files[role]);
      const r = new RoleProcess(role, file, env);
      roles[role] = r;
      everyRole.push(r);
      return r;
    };
    const started = (r: RoleProcess) => r.waitForLog((l) => l.msg === `tsim ${r.role} started`, `tsim ${r.role} started`);

    await started(start('logic'));
    await started(start('comet'));
    const ids = cometIds(o.cometWorkers);
    const job = start('job');
    const jobUp = await started(job);
    const listed = new Set(Array.isArray(jobUp.comets) ? (jobUp.comets as string[]) : []);
    for (const id of ids) {
      if (!listed.has(id)) await job.waitForLog((l) => l.msg === 'job: comet added' && l.comet === id, `the job to add comet ${id}`);
    }
    const taken = new Set<unknown>();
    await job.waitForLog((l) => {
      if (l.msg === 'nats: partition taken') taken.add(l.partition);
      return taken.size >= PARTITIONS;
    }, `the job to take the ${PARTITIONS} queue partitions`);
    await waitForPort(ports.http, 10_000);
    await waitForPort(ports.tcp, 10_000);

    const roleOrder: Role[] = ['logic', 'job', 'comet'];
    return {
      ports,
      cometMetricsPorts: Array.from({ length: o.cometWorkers }, (_, i) => metricsBase + i),
      processes() {
        const out: ServerProcess[] = [];
        for (const role of roleOrder) {
          const r = roles[role];
          if (!r?.alive) continue;
          if (role === 'comet') {
            const tree = processTree(r.pid);
            out.push({ pid: r.pid, role: o.cometWorkers > 1 ? 'comet-primary' : 'comet' });
            tree.slice(1).forEach((pid, i) => out.push({ pid, role: `comet-w${i}` }));
          } else out.push({ pid: r.pid, role });
        }
        out.push({ pid: redis.pid, role: 'redis' }, { pid: nats.pid, role: 'nats' });
        return out;
      },
      async killComet() {
        const comet = roles.comet!;
        // The primary and its workers, all at once: the host's comet process group dies.
        const pids = processTree(comet.pid);
        for (const pid of pids) killPid(pid, 'SIGKILL');
        await comet.exited;
        for (const pid of pids.slice(1)) await waitPidGone(pid, 5000);
        return { pids };
      },
      async startComet() {
        const comet = start('comet');
        const up = await started(comet);
        return { pid: comet.pid, startedAt: up.at };
      },
      jobLog: (pred) => roles.job?.find(pred) ?? [],
      warnings() {
        const out: Record<string, Record<string, number>> = {};
        for (const r of everyRole) {
          const mine = (out[r.role] ??= {});
          for (const [msg, n] of r.warnings) mine[msg] = (mine[msg] ?? 0) + n;
        }
        return out;
      },
      stop: stopAll,
    };
  } catch (err) {
    for (const pid of cometPids()) killPid(pid, 'SIGKILL');
    await Promise.all(Object.values(roles).map((r) => stopChild(r.child, 'SIGKILL')));
    await Promise.all(services.map((s) => stopChild(s.child, 'SIGKILL')));
    untrack();
    rmSync(dir, { recursive: true, force: true });
    dropCleanup();
    throw err;
  }
}

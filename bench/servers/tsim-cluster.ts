// Distributed tsim as the server under test: a private redis-server and nats-server -js,
// then `tsim logic`, `tsim comet` (comet.workers processes under one primary) and
// `tsim job`, each `node dist/src/cli.js <role> --config <temp toml>` on free 127.0.0.1
// ports with the probe preloaded for GC requests. Ready once the job has every comet worker
// in its table, holds the queue's partitions, and logic lists every comet. Every process —
// roles, comet workers, Redis, NATS — is measured, each labelled by its role. Pushes go
// through logic's HTTP API, with push = "queue" straight into NATS from this process, or
// with push = "comet" as a job would, into every comet's gRPC BroadcastRoom from this
// process (those connections are load, not server, and close when the server stops).
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { NatsPushQueue } from '../../src/adapters/nats/push-queue.js';
import { pushAtRate, type RatePush } from '../load/pusher.js';
import { CometPusher } from '../load/comet-pusher.js';
import { openQueuePusher, publishAtRate } from '../load/queue-pusher.js';
import { killPid, onExitCleanup, pidAlive, stopChild, track, trackPids, waitPidGone } from '../run/children.js';
import { freePort, waitForPort } from '../run/ports.js';
import { startNats, startRedis, type Service } from '../run/services.js';
import { scrapeMetric } from '../measure/scrape.js';
import { BENCH_OP, BENCH_ROOM, tsimClientTarget } from './bench-room.js';
import {
  batchAt,
  limitLines,
  processTree,
  type MemorySettleEvent,
  type ProcessConnections,
  type PushRun,
  type ServerOptions,
  type ServerProcess,
} from './server.js';
import type { TsimServer } from './tsim.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const PROBE = pathToFileURL(fileURLToPath(new URL('./probe.js', import.meta.url))).href;

/** nats.partitions left at its default: the job takes this many partitions at start. */
const PARTITIONS = 8;
const START_TIMEOUT_MS = 30_000;
/** A role's own shutdown grace is 20 s (a comet primary's 25 s): past this it is killed. */
const STOP_GRACE_MS = 30_000;

export type Role = 'logic' | 'comet' | 'job';

export interface ClusterPorts {
  redis: number;
  nats: number;
  /** logic's HTTP API. */
  http: number;
  tcp: number;
  ws: number;
}

/** Host names (env.host) of the roles; comet worker i registers as `<comet>-<i>`. */
export const HOSTS = { logic: 'bench-logic', comet: 'bench-comet', job: 'bench-job' } as const;

/** Server ids the comet registers: `<host>-<i>` with workers, else the host itself. */
export function cometIds(workers: number): string[] {
  return workers > 1 ? Array.from({ length: workers }, (_, i) => `${HOSTS.comet}-${i}`) : [HOSTS.comet];
}

/**
 * The TOML of each role. What the embedded benchmark sets (room batching, handshake room,
 * no heartbeat expiry) goes to the role that uses it; gRPC and metrics listen on port 0
 * (a free port each, per worker too); everything else keeps its default. `extraConfig`
 * (e.g. [roomTypes.live] and [history]) is appended to logic's and the job's files, `limits`
 * go to the comet's [limits].
 */
export function clusterConfigs(ports: ClusterPorts, opts: ServerOptions & { cometWorkers: number }): Record<Role, string> {
  const shared = (host: string, ...env: string[]) => [
    '[env]',
    `host = "${host}"`,
    ...env,
    '[log]',
    // info: the "tsim <role> started" lines; nothing is logged per connection or push.
    'level = "info"',
    '[redis]',
    `url = "redis://127.0.0.1:${ports.redis}"`,
  ];
  const nats = ['[nats]', `url = "nats://127.0.0.1:${ports.nats}"`];
  return {
    logic: [
      ...shared(HOSTS.logic),
      ...nats,
      '[httpServer]',
      `addr = "127.0.0.1:${ports.http}"`,
      // The push loops and the scrapes all come from loopback: no per-address share.
      'maxConnectionsPerIp = 0',
      '[rpcServer]',
      'addr = "127.0.0.1:0"',
      '[api]',
      // A distributed logic requires API keys by default; the benchmark pushes on loopback.
      'auth = "off"',
      '[node]',
      // Load clients send no heartbeats; keep them connected for long runs.
      'heartbeat = "1h"',
      `tcpPort = ${ports.tcp}`,
      `wsPort = ${ports.ws}`,
      opts.extraConfig ?? '',
      '',
    ].join('\n'),
    comet: [
      // addrs: what logic's /goim/nodes/weighted advertises to clients.
      ...shared(HOSTS.comet, 'addrs = ["127.0.0.1"]'),
      '[tcp]',
      `bind = ["127.0.0.1:${ports.tcp}"]`,
      '[websocket]',
      `bind = ["127.0.0.1:${ports.ws}"]`,
      '[rpcServer]',
      'addr = "127.0.0.1:0"',
      '[metrics]',
      'addr = "127.0.0.1:0"',
      '[comet]',
      `workers = ${opts.cometWorkers}`,
      '[protocol]',
      // Thousands of clients connect at once: leave their handshake some room.
      'handshakeTimeout = "30s"',
      '[limits]',
      // The load comes from a few loopback addresses and may fill the open-file limit on
      // purpose (the bench checks its client count against it): no derived socket caps.
      'maxConnections = 0',
      'maxConnectionsPerIp = 0',
      ...limitLines(opts.limits),
      '',
    ].join('\n'),
    job: [
      ...shared(HOSTS.job),
      ...nats,
      '[metrics]',
      'addr = "127.0.0.1:0"',
      '[room]',
      `batch = ${opts.batch}`,
      `signal = "${opts.signalMs}ms"`,
      opts.extraConfig ?? '',
      '',
    ].join('\n'),
  };
}

type LogRecord = Record<string, unknown> & { msg?: string; level?: number };

/** pino level numbers: warn and above go to stderr (error and above while stopping). */
const WARN = 40;
const ERROR = 50;
const KEEP_RECORDS = 400;

/** One `tsim <role>` child: its JSON log read line by line, GC requests over IPC. */
class RoleProcess {
  readonly child: ChildProcess;
  private readonly records: LogRecord[] = [];
  /** Kept apart from `records` (which keeps only the last lines): a run reports every one. */
  readonly settles: MemorySettleEvent[] = [];
  private readonly waiters = new Set<() => void>();
  /** Set when the benchmark stops the cluster: deregistration warnings are expected then. */
  quiet = false;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly role: Role,
    conf: string,
    env: NodeJS.ProcessEnv,
    cpuProfDir: string | undefined,
  ) {
    const execArgv = ['--expose-gc', '--import', PROBE];
    if (cpuProfDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`);
    // stdout is the JSON log (read here); stderr goes to ours, leaving stdout to the tables.
    this.child = track(fork(CLI, [role, '--config', conf], { execArgv, env, stdio: ['ignore', 'pipe', 2, 'ipc'], serialization: 'json' }));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
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
      process.stderr.write(`tsim-cluster ${this.role}: ${line}\n`);
      return;
    }
    if ((rec.level ?? 0) >= (this.quiet ? ERROR : WARN)) process.stderr.write(`tsim-cluster ${this.role}: ${line}\n`);
    if (typeof rec.msg === 'string' && rec.msg.includes('memory settled')) {
      const role = typeof rec.worker === 'number' ? `comet-w${rec.worker}` : this.role;
      this.settles.push({
        role,
        pauseMs: Number(rec.pauseMs),
        cpuMs: Number(rec.cpuMs),
        rssBeforeMb: Number(rec.rssBeforeMb),
        rssAfterMb: Number(rec.rssAfterMb),
      });
    }
    this.records.push(rec);
    if (this.records.length > KEEP_RECORDS) this.records.splice(0, this.records.length - KEEP_RECORDS);
    for (const w of [...this.waiters]) w();
  }

  /** Resolves with the first record (past or future) matching `pred`; rejects on exit or timeout. */
  waitForLog(pred: (r: LogRecord) => boolean, what: string, timeoutMs = START_TIMEOUT_MS): Promise<LogRecord> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.records.find(pred);
        if (hit) settle(undefined, hit);
        else if (!this.alive)
          settle(new Error(`tsim ${this.role} exited (code ${this.child.exitCode}, signal ${this.child.signalCode}) before ${what}\n${this.tail()}`));
      };
      const settle = (err: Error | undefined, rec?: LogRecord): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve(rec!);
      };
      const timer = setTimeout(
        () => settle(new Error(`tsim-cluster: timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`)),
        timeoutMs,
      );
      this.waiters.add(check);
      // stdout may still hold lines when the exit is seen: let them arrive first
      void this.exited.then(() => setTimeout(check, 50));
      check();
    });
  }

  logs(): readonly LogRecord[] {
    return this.records;
  }

  /** The last log lines, for error messages. */
  tail(n = 12): string {
    return this.records
      .slice(-n)
      .map((r) => `  ${this.role}: ${JSON.stringify(r)}`)
      .join('\n');
  }

  /** A full GC here and, for a comet primary, in every worker (see probe.ts). */
  gc(): Promise<{ workers: number; collected: number }> {
    return new Promise((resolve, reject) => {
      if (!this.alive || !this.child.connected) return reject(new Error(`tsim ${this.role} is not running`));
      const timer = setTimeout(() => {
        this.child.off('message', onMessage);
        reject(new Error(`tsim ${this.role}: no answer to gc request`));
      }, 15_000);
      const onMessage = (m: { t?: string; workers?: number; collected?: number }) => {
        if (m?.t !== 'gc') return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        resolve({ workers: m.workers ?? 0, collected: m.collected ?? 0 });
      };
      this.child.on('message', onMessage);
      this.child.send({ t: 'gc' });
    });
  }
}

/** The command line of `pid` holds our CLI (a comet worker of ours, not a reused pid). */
function isOurNode(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(CLI);
  } catch {
    return false;
  }
}

interface CometWorkerInfo {
  worker: number;
  pid: number;
  serverId: string;
  /** Its metrics listener, e.g. "127.0.0.1:41234". */
  metrics?: string;
  /** Its gRPC address in the registry, e.g. "grpc://127.0.0.1:41235". */
  rpcAddr?: string;
}

/** A metric of one comet process, from its metrics listener (e.g. "127.0.0.1:41234"). */
function scrapeComet(metrics: string | undefined, name: string): Promise<number | undefined> {
  const port = metrics ? /:(\d+)$/.exec(metrics)?.[1] : undefined;
  return port ? scrapeMetric(`http://127.0.0.1:${port}/metrics`, name) : Promise.resolve(undefined);
}

const DEFAULT_COMET_WORKERS = 2;

export interface TsimClusterServer extends TsimServer {
  /** The private NATS server's URL. */
  natsUrl: string;
  /** logic's configuration file (its [nats] settings, for a publisher of one's own: openQueuePusher). */
  logicConfig: string;
}

export async function launchTsimCluster(options: ServerOptions): Promise<TsimClusterServer> {
  const opts = { ...options, cometWorkers: options.cometWorkers ?? DEFAULT_COMET_WORKERS };
  const dir = mkdtempSync(join(tmpdir(), 'tsim-cluster-bench-'));
  const dropCleanup = onExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const services: Service[] = [];
  const roles: Partial<Record<Role, RoleProcess>> = {};
  let workers: CometWorkerInfo[] = [];
  /** push = "queue": this process's publisher on the cluster's NATS. */
  let queue: NatsPushQueue | null = null;
  /** push = "comet": this process's gRPC clients of the comet processes. */
  let cometPusher: CometPusher | null = null;

  /** Comet workers: those the comet reported, and whatever its primary runs now (a restarted one). */
  const workerPids = (): number[] => {
    const comet = roles.comet;
    const pids = new Set(workers.map((w) => w.pid));
    if (comet?.alive) for (const p of processTree(comet.pid).slice(1)) pids.add(p);
    return [...pids].filter((p) => pidAlive(p) && isOurNode(p));
  };
  // Workers are not our children: name them for Ctrl-C and the deadline too.
  const untrackWorkers = trackPids(workerPids);

  const stopAll = async (): Promise<string[]> => {
    const problems: string[] = [];
    const t0 = performance.now();
    // Our publisher first: every publish was settled (push runs wait for theirs).
    if (queue) {
      await queue.close().catch((e: unknown) => problems.push(`closing the queue pusher: ${(e as Error).message}`));
      queue = null;
    }
    cometPusher?.close();
    cometPusher = null;
    for (const r of Object.values(roles)) r.quiet = true;
    const stopRole = async (r: RoleProcess | undefined) => {
      if (!r) return;
      await stopChild(r.child, 'SIGTERM', STOP_GRACE_MS);
      const { code, signal } = await r.exited;
      if (code !== 0) problems.push(`tsim ${r.role} exited with code ${code}${signal ? `, signal ${signal}` : ''}`);
    };
    const leftWorkers = workerPids();
    // The job and the comets together (nothing is left to deliver), while logic still answers
    // the comets' Disconnect calls; then logic, then Redis and NATS.
    await Promise.all([stopRole(roles.job), stopRole(roles.comet)]);
    for (const pid of leftWorkers) {
      if (!(await waitPidGone(pid, 5000))) {
        problems.push(`comet worker pid ${pid} outlived its primary: killed`);
        killPid(pid, 'SIGKILL');
        await waitPidGone(pid, 5000);
      }
    }
    await stopRole(roles.logic);
    await Promise.all(services.map((s) => s.stop()));
    untrackWorkers();
    rmSync(dir, { recursive: true, force: true });
    dropCleanup();
    process.stderr.write(`tsim-cluster: stopped in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    return problems;
  };

  try {
    const [redis, nats] = await Promise.all([startRedis(join(dir, 'redis')), startNats(join(dir, 'nats'))]);
    services.push(redis, nats);
    const ports: ClusterPorts = { redis: redis.port, nats: nats.port, http: await freePort(), tcp: await freePort(), ws: await freePort() };
    const confs = clusterConfigs(ports, opts);
    // REDIS_URL / NATS_URL would override the files: point them at ours.
    const env = { ...process.env, REDIS_URL: redis.url, NATS_URL: nats.url };
    const start = (role: Role): RoleProcess => {
      const file = join(dir, `${role}.toml`);
      writeFileSync(file, confs[role]);
      const r = new RoleProcess(role, file, env, opts.cpuProfDir);
      roles[role] = r;
      return r;
    };
    const started = (r: RoleProcess) => r.waitForLog((l) => l.msg === `tsim ${r.role} started`, `tsim ${r.role} started`);

    // logic first: comets find it in the registry when they start.
    const logic = start('logic');
    await started(logic);
    const comet = start('comet');
    const cometUp = await started(comet);
    const ids = cometIds(opts.cometWorkers);
    workers = Array.isArray(cometUp.workers)
      ? (cometUp.workers as CometWorkerInfo[]).map((w) => ({
          worker: w.worker,
          pid: w.pid,
          serverId: w.serverId,
          metrics: w.metrics,
          rpcAddr: w.rpcAddr,
        }))
      : [];
    // What each comet process holds: every worker, or the single comet process.
    const cometMetrics: Array<{ pid: number; role: string; metrics?: string }> =
      workers.length > 0
        ? workers.map((w) => ({ pid: w.pid, role: `comet-w${w.worker}`, metrics: w.metrics }))
        : [{ pid: comet.pid, role: 'comet', metrics: typeof cometUp.metrics === 'string' ? cometUp.metrics : undefined }];
    const connectionsByProcess = async (): Promise<ProcessConnections[]> =>
      Promise.all(
        cometMetrics.map(async (c) => ({
          pid: c.pid,
          role: c.role,
          connections: (await scrapeComet(c.metrics, 'tsim_comet_connections')) ?? Number.NaN,
        })),
      );
    // The job last, so that its first comet list already holds every worker.
    const job = start('job');
    const jobUp = await started(job);
    const listed = new Set(Array.isArray(jobUp.comets) ? (jobUp.comets as string[]) : []);
    for (const id of ids) {
      if (!listed.has(id)) await job.waitForLog((l) => l.msg === 'job: comet added' && l.comet === id, `the job to add comet ${id}`);
    }
    // Pushes published before the job holds the room's partition wait in the stream; waiting
    // here keeps that out of the warm-up.
    const taken = new Set<unknown>();
    await job.waitForLog((l) => {
      if (l.msg === 'nats: partition taken') taken.add(l.partition);
      return taken.size >= PARTITIONS;
    }, `the job to take the ${PARTITIONS} queue partitions`);
    await waitForPort(ports.http, 10_000);
    await waitForInstances(ports.http, ids);
    await waitForPort(opts.transport === 'tcp' ? ports.tcp : ports.ws, 10_000);
    // The stream exists (the job reads it): the publisher only connects and checks it.
    if (opts.push === 'queue') queue = await openQueuePusher(join(dir, 'logic.toml'), nats.url, START_TIMEOUT_MS);
    if (opts.push === 'comet') {
      const addrs = workers.length > 0 ? workers.map((w) => w.rpcAddr) : [cometUp.rpcAddr];
      if (!addrs.every((a): a is string => typeof a === 'string'))
        throw new Error('tsim-cluster: the comet did not log the gRPC address of every worker');
      cometPusher = new CometPusher(addrs);
    }

    const roleOrder: Role[] = ['logic', 'job', 'comet'];
    const processes = (): ServerProcess[] => {
      const out: ServerProcess[] = [];
      for (const role of roleOrder) {
        const r = roles[role];
        if (r?.alive) out.push({ pid: r.pid, role: role === 'comet' && opts.cometWorkers > 1 ? 'comet-primary' : role });
      }
      for (const pid of workerPids()) {
        const w = workers.find((x) => x.pid === pid);
        out.push({ pid, role: `comet-w${w ? w.worker : '?'}` });
      }
      out.push({ pid: redis.pid, role: 'redis' }, { pid: nats.pid, role: 'nats' });
      return out;
    };

    const pushPath = `/goim/push/room?operation=${BENCH_OP}&type=${BENCH_ROOM.type}&room=${BENCH_ROOM.id}`;
    let warnedGc = false;
    return {
      kind: 'tsim-cluster',
      httpPort: ports.http,
      natsUrl: nats.url,
      logicConfig: join(dir, 'logic.toml'),
      label: `tsim-cluster ${opts.cometWorkers}w ${opts.transport}${opts.push && opts.push !== 'http' ? ` push=${opts.push}` : ''}`,
      client: tsimClientTarget(opts.transport, ports),
      processes,
      pids: () => processes().map((p) => p.pid),
      connections: async () => {
        const per = await connectionsByProcess();
        return per.every((c) => Number.isFinite(c.connections)) ? per.reduce((s, c) => s + c.connections, 0) : undefined;
      },
      connectionsByProcess,
      socketWrites: async () => {
        const per = await Promise.all(cometMetrics.map((c) => scrapeComet(c.metrics, 'tsim_comet_socket_writes_total')));
        return per.every((n) => n !== undefined) ? per.reduce((a: number, n) => a + n, 0) : undefined;
      },
      memorySettles: () => roleOrder.flatMap((r) => roles[r]?.settles ?? []),
      async gc() {
        const answers = await Promise.all(roleOrder.map((r) => roles[r]!.gc()));
        const c = answers[roleOrder.indexOf('comet')];
        if (opts.cometWorkers > 1 && c.collected < c.workers && !warnedGc) {
          warnedGc = true;
          process.stderr.write(`tsim-cluster: only ${c.collected} of ${c.workers} comet workers ran a forced GC; their RSS is measured without it\n`);
        }
      },
      push(rate: number, durationMs: number, bodySize: number): PushRun {
        const batch = batchAt(rate, opts.batch, opts.signalMs);
        if (cometPusher) {
          // Tallied in calls of `batch` messages each.
          const direct = cometPusher.push(rate, durationMs, bodySize, batch);
          return {
            expectedPerClient: () => direct.tally.accepted * batch,
            done: direct.done.then((t) => ({ ...t, messagesPerClient: t.accepted * batch, messagesPerWrite: batch })),
          };
        }
        const run: RatePush = queue
          ? publishAtRate(queue, rate, durationMs, bodySize)
          : pushAtRate({ host: '127.0.0.1', port: ports.http, path: pushPath }, rate, durationMs, bodySize);
        return {
          expectedPerClient: () => run.tally.accepted,
          done: run.done.then((t) => ({ ...t, messagesPerClient: t.accepted, messagesPerWrite: batch })),
        };
      },
      async stop() {
        const problems = await stopAll();
        for (const p of problems) process.stderr.write(`tsim-cluster: ${p}\n`);
      },
    };
  } catch (err) {
    // Start-up failed: kill what started, by pid.
    await queue?.abort();
    cometPusher?.close();
    for (const pid of workerPids()) killPid(pid, 'SIGKILL');
    await Promise.all(Object.values(roles).map((r) => stopChild(r.child, 'SIGKILL')));
    await Promise.all(services.map((s) => stopChild(s.child, 'SIGKILL')));
    untrackWorkers();
    rmSync(dir, { recursive: true, force: true });
    dropCleanup();
    throw err;
  }
}

/** Resolves once logic's /goim/nodes/instances lists every comet id. */
async function waitForInstances(httpPort: number, ids: readonly string[]): Promise<void> {
  const until = performance.now() + START_TIMEOUT_MS;
  let seen: string[] = [];
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/goim/nodes/instances`);
      const body = (await res.json()) as { data?: Array<{ hostname?: string }> | null };
      seen = (body.data ?? []).map((i) => String(i.hostname));
      if (ids.every((id) => seen.includes(id))) return;
    } catch {
      // not answering yet
    }
    if (performance.now() > until) throw new Error(`tsim-cluster: logic lists comets [${seen.join(', ')}], not all of [${ids.join(', ')}]`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

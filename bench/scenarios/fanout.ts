// fanout: N clients in one room, R messages/s pushed for D seconds, per server (tsim and
// the baselines, same N, same message shape). For each rate: expected vs delivered
// messages, delivered msgs/s, server write syscalls/s, server CPU% and RSS, push→client
// latency, and the CPU of the load workers and of the machine (to see what limited it).
import { LoadPool } from '../load/pool.js';
import { bodySize } from '../load/stamp.js';
import type { LatencySummary } from '../measure/histogram.js';
import { machineBusyPct, sampleMachineCpu, type MachineCpu, type ProcDelta, type ProcSample } from '../measure/proc.js';
import { writeResults } from '../measure/results.js';
import { fmtInt, fmtMb, fmtMs, fmtNum, formatTable } from '../measure/table.js';
import { armDeadline, disarmDeadline } from '../run/children.js';
import { launchServer, pushModeProblem } from '../servers/launch.js';
import type { ProcessConnections, PushMode, RunningServer, ServerKind, Transport } from '../servers/server.js';
import {
  backgroundBusy,
  checkServerFdLimit,
  clientSplit,
  cometCpuPct,
  groupDelta,
  writesPerCpuSecond,
  openClients,
  processTable,
  splitCpu,
  progress,
  sampleGroup,
  sleep,
  type LoadOptions,
} from './common.js';

export interface FanoutOptions extends LoadOptions {
  /** Folder for the JSON results (default bench/results). */
  outDir?: string;
  transport: Transport;
  /** Rates to run one after another (messages per second), over the same connections. */
  rates: number[];
  durationS: number;
  /** Servers to measure, in order (tsim and/or baselines). */
  servers: ServerKind[];
  workers: number;
  /** Body bytes of each message. */
  size: number;
  batch: number;
  signalMs: number;
  /** Stop a server's rate list at the first rate it does not keep up with (see FanoutRow.sustained). */
  stopOnLoss: boolean;
  /** Longest wait for late messages after a run, s. */
  drainS: number;
  cpuProfDir?: string;
  /** tsim-cluster: comet.workers. */
  cometWorkers?: number;
  /** tsim-cluster: through logic's HTTP push API (default), straight into its NATS queue, or into its comets' gRPC BroadcastRoom. */
  push?: PushMode;
}

export interface FanoutRow {
  server: string;
  transport: string;
  clients: number;
  rate: number;
  /** Messages per batch (tsim room batch at this rate; what the baselines write at once). */
  messagesPerWrite: number;
  pushesSent: number;
  pushesFailed: number;
  expected: number;
  delivered: number;
  lost: number;
  lossPct: number;
  /** Clients that disconnected during the run. */
  clientsLost: number;
  deliveredPerSec: number;
  /** write/writev syscalls of the server per second (/proc/<pid>/io syscw). */
  serverWritesPerSec: number;
  /** Write calls on client sockets per second by the server's own counter (tsim: tsim_comet_socket_writes_total); null when it has none. */
  socketWritesPerSec: number | null;
  /** Read events per second at the clients (TCP data callbacks / WS messages). */
  clientReadsPerSec: number;
  serverCpuPct: number;
  serverRss: number;
  /**
   * CPU of the comet processes alone (tsim-cluster: primary and workers), % of one core;
   * null for servers without separate comet processes.
   */
  cometCpuPct: number | null;
  /** Socket writes per CPU-second of the server (comet processes when distributed): see writesPerCpuSecond. */
  writesPerCpuSec: number;
  /**
   * CPU, writes and RSS of each server process, labelled by role (one for embedded tsim and
   * the baselines; logic, job, comet primary and workers, redis and nats for tsim-cluster).
   */
  serverProcesses: ProcDelta[];
  /** tsim-cluster: the clients each comet process held once connected (measured before the rates). */
  clientsPerProcess?: ProcessConnections[];
  latency: LatencySummary;
  /** push = "comet": BroadcastRoom call → reply, every call to every comet (null otherwise). */
  reply: LatencySummary | null;
  /** Load workers and the pushing process, % of one core. */
  loadCpuPct: number;
  /** Whole machine, % of all cores. */
  machineBusyPct: number;
  /** Interrupt + softirq time (kernel loopback network work), % of one core; mostly inside the processes' CPU% too. */
  irqCpuPct: number;
  /** Busy time of anything else (other processes on the box), % of one core. */
  otherCpuPct: number;
  /** From the first push to the last message seen, s. */
  elapsedS: number;
  /** How long after the last push the last message arrived, s. */
  lagS: number;
  /**
   * Kept up: nothing lost, no client dropped, no push refused, and the last message arrived
   * within room.signal + SUSTAINED_LAG_S of the last push (not minutes late from a backlog).
   */
  sustained: boolean;
  errors: string[];
}

const WARMUP_RATE = 20;
/** A run's drain ends after this long without a new message (longer than a GC pause of a big heap). */
const DRAIN_QUIET_MS = 5000;
/** Lag past room.signal that still counts as keeping up, s. */
const SUSTAINED_LAG_S = 1;

interface Drained {
  frames: number;
  /** When the last new message was seen (performance.now()). */
  lastProgress: number;
  /** Server, load-worker and machine samples taken at that moment. */
  server: ProcSample[];
  load: ProcSample[];
  machine: MachineCpu;
}

/**
 * Waits until `want` messages arrived, nothing new came for `quietMs`, or `maxMs` passed.
 * The processes are sampled whenever messages arrive, so a run is measured up to its last
 * delivery and not over the quiet wait that follows.
 */
export async function drain(
  pool: LoadPool,
  want: number,
  quietMs: number,
  maxMs: number,
  serverPids: number[],
  loadPids: number[],
): Promise<Drained> {
  const start = performance.now();
  let last = await pool.poll();
  const d: Drained = {
    frames: last.frames,
    lastProgress: performance.now(),
    server: sampleGroup(serverPids),
    load: sampleGroup(loadPids),
    machine: sampleMachineCpu(),
  };
  while (last.frames < want) {
    const now = performance.now();
    if (now - d.lastProgress > quietMs || now - start > maxMs) break;
    await sleep(50);
    const c = await pool.poll();
    if (c.frames > last.frames) {
      d.lastProgress = performance.now();
      d.server = sampleGroup(serverPids);
      d.load = sampleGroup(loadPids);
      d.machine = sampleMachineCpu();
    }
    last = c;
  }
  d.frames = last.frames;
  return d;
}

export async function runRate(server: RunningServer, pool: LoadPool, o: FanoutOptions, rate: number, clients: number): Promise<FanoutRow> {
  await pool.reset();
  const open0 = (await pool.poll()).open;
  const serverProcs = server.processes();
  const serverPids = serverProcs.map((p) => p.pid);
  // The load: the workers, and this process (it pushes over HTTP, or into NATS, for tsim).
  const loadPids = [process.pid, ...pool.pids()];
  const sw0 = (await server.socketWrites?.()) ?? undefined;
  const s0 = sampleGroup(serverPids);
  const l0 = sampleGroup(loadPids);
  const m0 = sampleMachineCpu();
  const start = performance.now();
  const run = server.push(rate, o.durationS * 1000, o.size);
  let shown = 0;
  const ticker = setInterval(() => {
    void pool.poll().then(
      (c) => {
        const t = (performance.now() - start) / 1000;
        const want = run.expectedPerClient() * open0;
        progress(
          `  ${server.label} rate=${rate}/s ${t.toFixed(0)}s: delivered ${fmtInt(c.frames)} of ${fmtInt(want)} sent, ${fmtInt(c.frames - shown)} msgs/s`,
        );
        shown = c.frames;
      },
      () => {},
    );
  }, 1000);
  let pushed;
  try {
    pushed = await run.done;
  } finally {
    clearInterval(ticker);
  }
  const expected = pushed.messagesPerClient * open0;
  const d = await drain(pool, expected, DRAIN_QUIET_MS, o.drainS * 1000, serverPids, loadPids);
  const report = await pool.report();
  const sw1 = sw0 === undefined ? undefined : await server.socketWrites?.();
  const elapsedS = Math.max(o.durationS, (d.lastProgress - start) / 1000);
  const srv = groupDelta(s0, d.server, serverProcs);
  const load = groupDelta(l0, d.load);
  const delivered = report.frames;
  const lost = Math.max(0, expected - delivered);
  return {
    server: server.label,
    transport: server.client.kind,
    clients,
    rate,
    messagesPerWrite: pushed.messagesPerWrite,
    pushesSent: pushed.sent,
    pushesFailed: pushed.failed,
    expected,
    delivered,
    lost,
    lossPct: expected > 0 ? (lost / expected) * 100 : 0,
    clientsLost: report.lost,
    deliveredPerSec: delivered / elapsedS,
    serverWritesPerSec: srv.writesPerSec,
    socketWritesPerSec: sw0 !== undefined && sw1 !== undefined ? (sw1 - sw0) / elapsedS : null,
    clientReadsPerSec: report.reads / elapsedS,
    serverCpuPct: srv.cpuPct,
    serverRss: srv.rss,
    cometCpuPct: cometCpuPct(srv.perProcess),
    writesPerCpuSec: writesPerCpuSecond(srv.perProcess),
    serverProcesses: srv.perProcess,
    latency: report.latency,
    reply: pushed.reply ?? null,
    loadCpuPct: load.cpuPct,
    machineBusyPct: machineBusyPct(m0, d.machine),
    ...splitCpu(m0, d.machine, srv.cpuPct + load.cpuPct),
    elapsedS,
    lagS: elapsedS - o.durationS,
    sustained: lost === 0 && report.lost === 0 && pushed.failed === 0 && elapsedS - o.durationS <= o.signalMs / 1000 + SUSTAINED_LAG_S,
    errors: pushed.errors,
  };
}

async function runServer(kind: ServerKind, o: FanoutOptions, rows: FanoutRow[]): Promise<void> {
  const server = await launchServer(kind, {
    transport: o.transport,
    batch: o.batch,
    signalMs: o.signalMs,
    cpuProfDir: o.cpuProfDir,
    cometWorkers: o.cometWorkers,
    push: o.push,
  });
  const pool = LoadPool.start(o.workers);
  try {
    progress(`${server.label}: opening ${fmtInt(o.clients)} clients over ${o.workers} workers`);
    const c = await openClients(server, pool, o);
    progress(
      `${server.label}: ${fmtInt(c.ok)} ready, ${fmtInt(c.failed)} failed in ${(c.ms / 1000).toFixed(1)} s (${fmtInt(c.ok / (c.ms / 1000))}/s)${c.errors.length ? ` — ${c.errors.join('; ')}` : ''}`,
    );
    if (c.ok === 0) throw new Error(`${server.label}: no client could connect`);
    const split = await clientSplit(server);
    // Warm-up: the path works end to end and the JIT has seen it before measuring.
    await pool.reset();
    const warm = await server.push(WARMUP_RATE, 1000, o.size).done;
    const got = await drain(pool, warm.messagesPerClient * c.ok, 3000, 15_000, [], []);
    if (got.frames === 0) throw new Error(`${server.label}: warm-up delivered nothing (${warm.errors.join('; ') || 'no push error'})`);
    progress(`${server.label}: warm-up delivered ${fmtInt(got.frames)} of ${fmtInt(warm.messagesPerClient * c.ok)}`);
    for (const rate of o.rates) {
      const row = await runRate(server, pool, o, rate, c.ok);
      if (split) row.clientsPerProcess = split;
      rows.push(row);
      progress(
        `${server.label} rate=${rate}/s: ${fmtInt(row.delivered)} of ${fmtInt(row.expected)} delivered (lost ${fmtInt(row.lost)}), ${fmtInt(row.deliveredPerSec)} msgs/s, cpu ${fmtNum(row.serverCpuPct, 0)}%, p99 ${fmtMs(row.latency.p99Ms)} ms`,
      );
      if (o.stopOnLoss && !row.sustained) break;
    }
  } finally {
    await pool.close();
    await server.stop();
  }
}

/** Delivered messages per socket write: by the server's own write counter when it has one, else per write syscall. */
function messagesPerWrite(r: FanoutRow): number {
  const writes = r.socketWritesPerSec ?? r.serverWritesPerSec;
  return writes > 0 ? r.deliveredPerSec / writes : Number.NaN;
}

function fanoutTable(rows: readonly FanoutRow[]): string {
  return formatTable(
    [
      'server',
      'clients',
      'rate/s',
      'batch',
      'msg/write',
      'expected',
      'delivered',
      'lost',
      'lag s',
      'msgs/s',
      'srv writes/s',
      'sock writes/s',
      'writes/cpu-s',
      'cli reads/s',
      'srv cpu%',
      'comet cpu%',
      'srv MB',
      'p50 ms',
      'p99 ms',
      'max ms',
      'reply p50 ms',
      'reply p99 ms',
      'load cpu%',
      'irq cpu%',
      'other cpu%',
      'machine%',
    ],
    rows.map((r) => [
      r.server,
      r.clients,
      r.rate,
      r.messagesPerWrite,
      fmtNum(messagesPerWrite(r)),
      r.expected,
      r.delivered,
      r.lost,
      fmtNum(r.lagS),
      r.deliveredPerSec,
      r.serverWritesPerSec,
      r.socketWritesPerSec,
      r.writesPerCpuSec,
      r.clientReadsPerSec,
      fmtNum(r.serverCpuPct),
      fmtNum(r.cometCpuPct),
      fmtMb(r.serverRss),
      fmtMs(r.latency.p50Ms),
      fmtMs(r.latency.p99Ms),
      fmtMs(r.latency.maxMs),
      fmtMs(r.reply?.p50Ms),
      fmtMs(r.reply?.p99Ms),
      fmtNum(r.loadCpuPct),
      fmtNum(r.irqCpuPct),
      fmtNum(r.otherCpuPct),
      fmtNum(r.machineBusyPct),
    ]),
  );
}

/** Per server, the run with the most msgs/s among those that kept up (see FanoutRow.sustained). */
function bestRates(rows: readonly FanoutRow[]): Array<{ server: string; rate: number; deliveredPerSec: number; serverWritesPerSec: number }> {
  const best = new Map<string, FanoutRow>();
  for (const r of rows) {
    if (!r.sustained) continue;
    const b = best.get(r.server);
    if (!b || r.deliveredPerSec > b.deliveredPerSec) best.set(r.server, r);
  }
  return [...best.values()].map((r) => ({
    server: r.server,
    rate: r.rate,
    deliveredPerSec: r.deliveredPerSec,
    serverWritesPerSec: r.serverWritesPerSec,
  }));
}

export async function runFanout(o: FanoutOptions): Promise<FanoutRow[]> {
  // Refused before anything starts, not after the first servers ran.
  for (const kind of o.servers) {
    const problem = pushModeProblem(kind, o.push);
    if (problem) throw new Error(problem);
  }
  o.size = bodySize(o.size);
  checkServerFdLimit(o.clients, o.servers, o.cometWorkers);
  // Per server: start, connect, warm-up, every rate with its drain, stop — generously.
  // A cluster also starts and stops Redis, NATS and three roles.
  const perServer = (kind: ServerKind) => 60 + (kind === 'tsim-cluster' ? 60 : 0) + o.clients / 500 + o.rates.length * (o.durationS + o.drainS + 10);
  armDeadline((o.servers.reduce((s, k) => s + perServer(k), 0) + 60) * 1000, 'fanout');
  const rows: FanoutRow[] = [];
  const backgroundBusyPct = await backgroundBusy();
  try {
    for (const kind of o.servers) await runServer(kind, o, rows);
  } finally {
    disarmDeadline();
    if (rows.length > 0) {
      const best = bestRates(rows);
      const file = writeResults('fanout', o, { backgroundBusyPct, rows, best }, o.outDir);
      process.stdout.write(`\n${fanoutTable(rows)}\n\n`);
      const perProcess = processTable(rows.map((r) => ({ server: r.server, rate: r.rate, processes: r.serverProcesses })));
      if (perProcess) process.stdout.write(`${perProcess}\n\n`);
      if (best.length) {
        process.stdout.write(
          `${formatTable(
            ['server', 'best rate/s (kept up)', 'msgs/s', 'srv writes/s'],
            best.map((b) => [b.server, b.rate, b.deliveredPerSec, b.serverWritesPerSec]),
          )}\n\n`,
        );
      }
      progress(`results: ${file}`);
    }
  }
  return rows;
}

// scale: how distributed tsim's costs grow with the number of connections in one room. For each
// N of a list, a fresh tsim-cluster with comet.workers = ⌈N / clients-per-comet⌉ (every process
// under the open-file limit) and ⌈N / clients-per-load⌉ load processes:
//  1. connect + auth: connections/s, failures;
//  2. idle: every client heartbeats; after `idle` s the RSS growth per connection as an
//     operator sees it (no GC forced), then again after a full GC, and the CPU of heartbeats
//     and deadline sweeps over the idle period's second half;
//  3. fan-out: the rate list (pushes/s through logic's API) until a rate does not keep up —
//     delivered msgs/s, p50/p99, CPU per million delivered messages (whole cluster, comets).
// The JSON keeps every row; `bench chart` turns one or more of these files into an SVG.
import { LoadPool } from '../load/pool.js';
import { bodySize } from '../load/stamp.js';
import { sampleMachineCpu, type ProcDelta } from '../measure/proc.js';
import { writeResults } from '../measure/results.js';
import { fmtInt, fmtKb, fmtMs, fmtNum, formatTable } from '../measure/table.js';
import { armDeadline, disarmDeadline } from '../run/children.js';
import { launchServer } from '../servers/launch.js';
import type { MemorySettleEvent, ProcessConnections, Transport } from '../servers/server.js';
import {
  backgroundBusy,
  rssByPid,
  checkServerFdLimit,
  clientSplit,
  groupDelta,
  openClients,
  progress,
  sampleGroup,
  sleep,
  splitCpu,
  type LoadOptions,
  reportSettles,
} from './common.js';
import { drain, runRate, type FanoutOptions, type FanoutRow } from './fanout.js';

export interface ScaleOptions extends LoadOptions {
  outDir?: string;
  transport: Transport;
  /** Connection counts, one cluster each, in order. */
  counts: number[];
  clientsPerComet: number;
  clientsPerLoad: number;
  /** Client heartbeat interval during the idle phase, s (0: none). */
  heartbeatS: number;
  /** Source addresses per connection count; 0: one per CLIENTS_PER_SOURCE clients (at least 8). */
  sourcesAuto: boolean;
  /** Idle phase after the connect, s: RSS is read at its end. */
  idleS: number;
  rates: number[];
  durationS: number;
  drainS: number;
  batch: number;
  signalMs: number;
  size: number;
}

/** One process's memory at the points the scenario reads it, bytes. */
export interface ScaleProcessMemory {
  pid: number;
  role: string;
  /** Before any client, no GC forced. */
  rssStart: number;
  /** Before any client, after a full GC. */
  rssStartGc: number;
  /** `idle` s after the clients connected, no GC forced. */
  rssIdle: number;
  /** Right after that, after a full GC. */
  rssIdleGc: number;
  /** CPU over the idle period's second half, % of one core. */
  idleCpuPct: number;
}

export interface ScaleStep {
  clients: number;
  transport: Transport;
  cometWorkers: number;
  loadWorkers: number;
  connected: number;
  failed: number;
  connectSeconds: number;
  connectsPerSec: number;
  connectErrors: string[];
  /** CPU of each server process while connecting, % of one core. */
  connectCpu: ProcDelta[];
  clientsPerProcess?: ProcessConnections[];
  heartbeatsPerSec: number;
  processes: ScaleProcessMemory[];
  /** Comet workers' RSS growth per connection, no GC forced / after GC, bytes. */
  cometBytesPerConn: number;
  cometBytesPerConnGc: number;
  /** Every server process (logic, Redis, … too), after GC, bytes. */
  clusterBytesPerConnGc: number;
  idleCpuPct: number;
  idleCometCpuPct: number;
  /** Memory settles logged by the comets and logic by the end of the idle phase. */
  memorySettles?: MemorySettleEvent[];
  rows: FanoutRow[];
}

const WARMUP_RATE = 20;
/**
 * Clients per loopback source address when the count is chosen for N. A client bound to an
 * address with port 0 takes a port of its own on that address, and the kernel's search for a
 * free one slows down as the range fills: at 12,500 clients per address (100k over 8) the
 * load processes spent most of their time in the kernel and connected ~600/s.
 */
const CLIENTS_PER_SOURCE = 2000;
/** 127.0.0.2 … 127.0.0.254. */
const MAX_SOURCES = 253;

function sourcesFor(n: number): number {
  return Math.min(MAX_SOURCES, Math.max(8, Math.ceil(n / CLIENTS_PER_SOURCE)));
}
const isComet = (role: string): boolean => role.startsWith('comet');

/** CPU-seconds per million delivered messages: the whole cluster, and its comet processes. */
export function cpuPerMillion(r: FanoutRow): { all: number; comet: number } {
  const millions = r.delivered / 1e6;
  if (millions <= 0) return { all: Number.NaN, comet: Number.NaN };
  return { all: ((r.serverCpuPct / 100) * r.elapsedS) / millions, comet: (((r.cometCpuPct ?? 0) / 100) * r.elapsedS) / millions };
}

/** Comet CPU per socket write, µs: the unit cost of fan-out, whatever the batch size. */
export function cpuMicrosPerWrite(r: FanoutRow): number {
  const writes = r.socketWritesPerSec ?? 0;
  return writes > 0 ? (((r.cometCpuPct ?? 0) / 100) * 1e6) / writes : Number.NaN;
}

async function runStep(n: number, o: ScaleOptions): Promise<ScaleStep> {
  const cometWorkers = Math.max(1, Math.ceil(n / o.clientsPerComet));
  const loadWorkers = Math.max(2, Math.ceil(n / o.clientsPerLoad));
  const server = await launchServer('tsim-cluster', { transport: o.transport, batch: o.batch, signalMs: o.signalMs, cometWorkers });
  const pool = LoadPool.start(loadWorkers);
  try {
    await sleep(1000);
    const procs = server.processes();
    const pids = procs.map((p) => p.pid);
    const start = rssByPid(pids);
    await server.gc();
    const startGc = rssByPid(pids);
    progress(
      `${server.label}: opening ${fmtInt(n)} clients over ${loadWorkers} load workers from ${o.sourcesAuto ? sourcesFor(n) : o.sources} source addresses`,
    );
    const c0 = sampleGroup(pids);
    const sources = o.sourcesAuto ? sourcesFor(n) : o.sources;
    const c = await openClients(server, pool, { ...o, clients: n, sources });
    const connectCpu = groupDelta(c0, sampleGroup(pids), procs).perProcess;
    const seconds = c.ms / 1000;
    progress(
      `${server.label}: ${fmtInt(c.ok)} ready, ${fmtInt(c.failed)} failed in ${seconds.toFixed(1)} s (${fmtInt(c.ok / seconds)}/s)${c.errors.length ? ` — ${c.errors.join('; ')}` : ''}`,
    );
    if (c.ok === 0) throw new Error(`${server.label}: no client could connect`);
    const split = await clientSplit(server);

    const beating = o.heartbeatS > 0 ? await pool.heartbeat(o.heartbeatS * 1000) : 0;
    progress(`${server.label}: idle for ${o.idleS} s${beating ? `, ${fmtInt(beating)} clients heartbeating every ${o.heartbeatS} s` : ''}`);
    await sleep((o.idleS / 2) * 1000);
    const i0 = sampleGroup(pids);
    const m0 = sampleMachineCpu();
    await sleep((o.idleS / 2) * 1000);
    const idle = groupDelta(i0, sampleGroup(pids), procs);
    const idleSplit = splitCpu(m0, sampleMachineCpu(), idle.cpuPct);
    const idleRss = rssByPid(pids);
    await server.gc();
    const idleRssGc = rssByPid(pids);
    await pool.heartbeat(0);
    await sleep(1500); // the last heartbeat replies arrive before anything is counted

    const processes = procs.map((p) => ({
      pid: p.pid,
      role: p.role,
      rssStart: start.get(p.pid) ?? 0,
      rssStartGc: startGc.get(p.pid) ?? 0,
      rssIdle: idleRss.get(p.pid) ?? 0,
      rssIdleGc: idleRssGc.get(p.pid) ?? 0,
      idleCpuPct: idle.perProcess.find((d) => d.pid === p.pid)?.cpuPct ?? 0,
    }));
    const growth = (ps: readonly ScaleProcessMemory[], after: 'rssIdle' | 'rssIdleGc', before: 'rssStart' | 'rssStartGc') =>
      ps.reduce((s, p) => s + p[after] - p[before], 0) / c.ok;
    const comets = processes.filter((p) => isComet(p.role));
    const step: ScaleStep = {
      clients: n,
      transport: o.transport,
      cometWorkers,
      loadWorkers,
      connected: c.ok,
      failed: c.failed,
      connectSeconds: seconds,
      connectsPerSec: c.ok / seconds,
      connectErrors: c.errors,
      connectCpu,
      ...(split ? { clientsPerProcess: split } : {}),
      heartbeatsPerSec: o.heartbeatS > 0 ? beating / o.heartbeatS : 0,
      processes,
      cometBytesPerConn: growth(comets, 'rssIdle', 'rssStart'),
      cometBytesPerConnGc: growth(comets, 'rssIdleGc', 'rssStartGc'),
      clusterBytesPerConnGc: growth(processes, 'rssIdleGc', 'rssStartGc'),
      idleCpuPct: idle.cpuPct,
      idleCometCpuPct: idle.perProcess.filter((p) => isComet(p.role ?? '')).reduce((s, p) => s + p.cpuPct, 0),
      memorySettles: reportSettles(server),
      rows: [],
    };
    progress(
      `${server.label}: per connection ${fmtKb(step.cometBytesPerConn)} KB in the comets after ${o.idleS} s (no GC), ${fmtKb(step.cometBytesPerConnGc)} KB after GC; idle cpu ${fmtNum(step.idleCpuPct)}% (comets ${fmtNum(step.idleCometCpuPct)}%, other ${fmtNum(idleSplit.otherCpuPct)}%)`,
    );

    const fo: FanoutOptions = {
      ...o,
      clients: n,
      servers: ['tsim-cluster'],
      workers: loadWorkers,
      stopOnLoss: true,
      cometWorkers,
    };
    await pool.reset();
    const warm = await server.push(WARMUP_RATE, 1000, o.size).done;
    const got = await drain(pool, warm.messagesPerClient * c.ok, 3000, 30_000, [], []);
    progress(`${server.label}: warm-up delivered ${fmtInt(got.frames)} of ${fmtInt(warm.messagesPerClient * c.ok)}`);
    for (const rate of o.rates) {
      const row = await runRate(server, pool, fo, rate, c.ok);
      step.rows.push(row);
      const cpm = cpuPerMillion(row);
      progress(
        `${server.label} rate=${rate}/s: ${fmtInt(row.delivered)} of ${fmtInt(row.expected)} delivered, ${fmtInt(row.deliveredPerSec)} msgs/s, lag ${fmtNum(row.lagS)} s, p99 ${fmtMs(row.latency.p99Ms)} ms, ${fmtNum(cpm.all, 2)} cpu-s per million (comets ${fmtNum(cpm.comet, 2)})`,
      );
      if (!row.sustained) break;
    }
    return step;
  } finally {
    await pool.close();
    await server.stop();
  }
}

/** The highest rate that kept up (FanoutRow.sustained), if any. */
function bestRow(rows: readonly FanoutRow[]): FanoutRow | undefined {
  return rows
    .filter((r) => r.sustained)
    .reduce<FanoutRow | undefined>((b, r) => (b === undefined || r.deliveredPerSec > b.deliveredPerSec ? r : b), undefined);
}

function scaleTable(steps: readonly ScaleStep[]): string {
  return formatTable(
    [
      'clients',
      'comets',
      'connected',
      'failed',
      'conn/s',
      'KB/conn +idle',
      'KB/conn gc',
      'cluster KB/conn gc',
      'idle cpu%',
      'idle comet cpu%',
      'best rate/s',
      'msgs/s',
      'p50 ms',
      'p99 ms',
      'cpu-s/M msgs',
      'comet cpu-s/M',
      'at 40/s p50',
      'p99',
    ],
    steps.map((s) => {
      const best = bestRow(s.rows);
      const at40 = s.rows.find((r) => r.rate === 40);
      const cpm = best ? cpuPerMillion(best) : undefined;
      return [
        s.clients,
        s.cometWorkers,
        s.connected,
        s.failed,
        s.connectsPerSec,
        fmtKb(s.cometBytesPerConn),
        fmtKb(s.cometBytesPerConnGc),
        fmtKb(s.clusterBytesPerConnGc),
        fmtNum(s.idleCpuPct),
        fmtNum(s.idleCometCpuPct),
        best?.rate ?? '-',
        best?.deliveredPerSec ?? '-',
        fmtMs(best?.latency.p50Ms),
        fmtMs(best?.latency.p99Ms),
        fmtNum(cpm?.all, 2),
        fmtNum(cpm?.comet, 2),
        at40 ? fmtMs(at40.latency.p50Ms) : '-',
        at40 ? fmtMs(at40.latency.p99Ms) : '-',
      ];
    }),
  );
}

export async function runScale(o: ScaleOptions): Promise<ScaleStep[]> {
  o.size = bodySize(o.size);
  for (const n of o.counts) checkServerFdLimit(n, ['tsim-cluster'], Math.ceil(n / o.clientsPerComet));
  const perStep = (n: number) => 150 + n / 300 + o.idleS + o.rates.length * (o.durationS + o.drainS + 15);
  armDeadline(o.counts.reduce((s, n) => s + perStep(n), 60) * 1000, 'scale');
  const steps: ScaleStep[] = [];
  const backgroundBusyPct = await backgroundBusy();
  try {
    for (const n of o.counts) steps.push(await runStep(n, o));
  } finally {
    disarmDeadline();
    if (steps.length > 0) {
      const file = writeResults('scale', o, { backgroundBusyPct, steps }, o.outDir);
      process.stdout.write(`\n${scaleTable(steps)}\n\n`);
      progress(`results: ${file} (chart: npm run bench -- chart ${file})`);
    }
  }
  return steps;
}

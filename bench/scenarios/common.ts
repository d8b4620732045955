// Pieces every scenario uses: opening the clients, measuring a set of processes over an
// interval, progress lines on stderr.
import { availableParallelism } from 'node:os';
import { FD_RESERVE, type LoadPool, type PoolConnectResult } from '../load/pool.js';
import {
  machineBusyPct,
  machineIrqPct,
  openFileLimit,
  procDelta,
  sampleMachineCpu,
  sampleProc,
  type MachineCpu,
  type ProcDelta,
  type ProcSample,
} from '../measure/proc.js';
import { loopbackSources } from '../run/ports.js';
import { fmtMb, fmtNum, formatTable } from '../measure/table.js';
import type { MemorySettleEvent, ProcessConnections, RunningServer, ServerKind, ServerProcess } from '../servers/server.js';

export interface LoadOptions {
  clients: number;
  /** Handshakes in flight at once, over all workers. */
  concurrency: number;
  /** One client in this many records latency. */
  sampleEvery: number;
  /** Per-handshake timeout, ms. */
  timeoutMs: number;
  /** Source addresses 127.0.0.2 … 127.0.0.(1+n). */
  sources: number;
}

export function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Every client socket lives in one server process under the open-file limit it inherits from
 * this process — embedded tsim and the baselines hold them all, a tsim-cluster comet worker its
 * share (the primary hands connections out round-robin): refuse a count it cannot hold before
 * starting.
 */
export function checkServerFdLimit(clients: number, servers: readonly ServerKind[] = ['tsim'], cometWorkers = 1): void {
  const limit = openFileLimit() - FD_RESERVE;
  const single = servers.some((k) => k !== 'tsim-cluster');
  const perProcess = single ? clients : Math.ceil(clients / Math.max(1, cometWorkers));
  if (perProcess > limit) {
    const hint = single ? `use --clients ${limit} or fewer` : `use --comet-workers ${Math.ceil(clients / limit)} or more`;
    throw new Error(
      `${clients} clients exceed what ${single ? 'one server process' : 'the comet workers'} may hold under the open-file limit (${limit + FD_RESERVE} per process); ${hint}`,
    );
  }
}

/** Opens the clients; for the baselines also waits until the server holds them all. */
export async function openClients(server: RunningServer, pool: LoadPool, o: LoadOptions): Promise<PoolConnectResult> {
  const r = await pool.connect(o.clients, {
    ...server.client,
    sources: loopbackSources(o.sources),
    concurrency: o.concurrency,
    sampleEvery: o.sampleEvery,
    timeoutMs: o.timeoutMs,
  });
  const until = performance.now() + 10_000;
  for (;;) {
    const held = await server.connections();
    if (held === undefined || held >= r.ok || performance.now() > until) break;
    await sleep(100);
  }
  return r;
}

export function sampleGroup(pids: readonly number[]): ProcSample[] {
  return pids.map(sampleProc).filter((s): s is ProcSample => s !== undefined);
}

/** RSS of each process now, keyed by pid. */
export function rssByPid(pids: readonly number[]): Map<number, number> {
  return new Map(sampleGroup(pids).map((s) => [s.pid, s.rss]));
}

export interface GroupDelta {
  /** Summed over the processes, % of one core. */
  cpuPct: number;
  writesPerSec: number;
  writeMBps: number;
  /** Summed RSS at the end, bytes. */
  rss: number;
  perProcess: ProcDelta[];
}

/** Deltas of the processes present in both samples, labelled with their `roles` when given. */
export function groupDelta(a: readonly ProcSample[], b: readonly ProcSample[], roles?: readonly ServerProcess[]): GroupDelta {
  const perProcess: ProcDelta[] = [];
  for (const end of b) {
    const start = a.find((s) => s.pid === end.pid);
    if (!start) continue;
    const role = roles?.find((r) => r.pid === end.pid)?.role;
    perProcess.push(role === undefined ? procDelta(start, end) : { ...procDelta(start, end), role });
  }
  return {
    cpuPct: perProcess.reduce((s, p) => s + p.cpuPct, 0),
    writesPerSec: perProcess.reduce((s, p) => s + p.writesPerSec, 0),
    writeMBps: perProcess.reduce((s, p) => s + p.writeMBps, 0),
    rss: perProcess.reduce((s, p) => s + p.rss, 0),
    perProcess,
  };
}

/** The comet processes of a distributed server (primary and workers); none otherwise. */
function cometProcesses(perProcess: readonly ProcDelta[]): ProcDelta[] {
  return perProcess.filter((p) => p.role?.startsWith('comet'));
}

/**
 * CPU of the comet processes alone (a distributed comet's primary and workers), % of one
 * core; null when the server has no such processes (embedded tsim, the baselines).
 */
export function cometCpuPct(perProcess: readonly ProcDelta[]): number | null {
  const comets = cometProcesses(perProcess);
  return comets.length > 0 ? comets.reduce((s, p) => s + p.cpuPct, 0) : null;
}

/**
 * Socket writes per second of CPU: the write loop's efficiency, comparable between servers at
 * any rate (writes/s alone compares them only where both saturate a core). Counts the comet
 * processes when the server has them (their writes are the socket writes), else every process.
 */
export function writesPerCpuSecond(perProcess: readonly ProcDelta[]): number {
  const comets = cometProcesses(perProcess);
  const ps = comets.length > 0 ? comets : perProcess;
  const cpu = ps.reduce((s, p) => s + p.cpuPct, 0) / 100;
  return cpu > 0 ? ps.reduce((s, p) => s + p.writesPerSec, 0) / cpu : Number.NaN;
}

/** One line per server process (servers of more than one process only), for the report. */
export function processTable(rows: ReadonlyArray<{ server: string; rate?: number; processes: readonly ProcDelta[] }>): string | null {
  const many = rows.filter((r) => r.processes.length > 1);
  if (many.length === 0) return null;
  const withRate = many.some((r) => r.rate !== undefined);
  const headers = ['server', ...(withRate ? ['rate/s'] : []), 'process', 'pid', 'cpu%', 'writes/s', 'MB'];
  const lines = many.flatMap((r) =>
    r.processes.map((p) => [r.server, ...(withRate ? [r.rate] : []), p.role ?? '-', String(p.pid), fmtNum(p.cpuPct), p.writesPerSec, fmtMb(p.rss)]),
  );
  return formatTable(headers, lines);
}

/**
 * Connections per process for servers that spread them (tsim-cluster's comet workers),
 * with a progress line; undefined for the others.
 */
export async function clientSplit(server: RunningServer): Promise<ProcessConnections[] | undefined> {
  if (!server.connectionsByProcess) return undefined;
  const per = await server.connectionsByProcess();
  progress(
    `${server.label}: connections per process: ${per.map((p) => `${p.role} ${Number.isFinite(p.connections) ? p.connections.toLocaleString('en-US') : '?'}`).join(', ')}`,
  );
  return per;
}

/** Machine busy above this before a run (other work on the box) gets a warning. */
const BACKGROUND_WARN_PCT = 10;

/**
 * Machine CPU busy over one second before anything starts, % of all cores. Other processes
 * share the cores with the server and the load workers, so a busy machine lowers every
 * figure; the value is kept with the results and a warning printed above the threshold.
 */
export async function backgroundBusy(): Promise<number> {
  const a = sampleMachineCpu();
  await sleep(1000);
  const pct = machineBusyPct(a, sampleMachineCpu());
  if (pct > BACKGROUND_WARN_PCT) {
    progress(`warning: the machine is already ${pct.toFixed(0)}% busy before the benchmark; figures will be lower than on an idle machine`);
  }
  return pct;
}

export interface CpuSplit {
  /**
   * Interrupt + softirq time (on loopback, the kernel's network work), % of one core. The
   * kernel charges it to whichever process was running as well, so most of it is already
   * inside the server's and the load's CPU%: this says how much of theirs is the kernel's.
   */
  irqCpuPct: number;
  /** Busy time outside the measured processes: other processes on the box, % of one core. */
  otherCpuPct: number;
}

/** The machine's busy time over an interval beside `measuredPct` (% of one core). */
export function splitCpu(a: MachineCpu, b: MachineCpu, measuredPct: number): CpuSplit {
  return { irqCpuPct: machineIrqPct(a, b), otherCpuPct: Math.max(0, machineBusyPct(a, b) * availableParallelism() - measuredPct) };
}

/**
 * The memory settles the server logged so far (tsim-cluster only), printed as one progress
 * line: each process's pause and RSS before → after (docs/operations.md#memory-after-connect-storms).
 */
export function reportSettles(server: RunningServer): MemorySettleEvent[] {
  const events = server.memorySettles?.() ?? [];
  if (events.length > 0)
    progress(
      `${server.label}: memory settled — ${events.map((e) => `${e.role} ${fmtNum(e.pauseMs)} ms, cpu ${fmtNum(e.cpuMs)} ms (${fmtNum(e.rssBeforeMb)} → ${fmtNum(e.rssAfterMb)} MB)`).join(', ')}`,
    );
  return events;
}

// connect: N clients connect (and, on tsim, authenticate with op 7) as fast as the
// handshake concurrency allows; connections/s, failures, and the server's resident memory
// per idle connection, twice: `idleWait` seconds after the clients connected with no forced
// GC (what an operator sees: V8's young generation committed by the burst is still there),
// then after a full GC (RSS with the clients minus RSS before, over N).
import { LoadPool } from '../load/pool.js';
import { writeResults } from '../measure/results.js';
import { sampleMachineCpu } from '../measure/proc.js';
import { fmtKb, fmtMb, fmtNum, formatTable } from '../measure/table.js';
import { armDeadline, disarmDeadline } from '../run/children.js';
import { launchServer } from '../servers/launch.js';
import type { MemorySettleEvent, ProcessConnections, ServerKind, Transport } from '../servers/server.js';
import {
  backgroundBusy,
  rssByPid,
  checkServerFdLimit,
  clientSplit,
  groupDelta,
  openClients,
  splitCpu,
  progress,
  sampleGroup,
  sleep,
  type LoadOptions,
  reportSettles,
} from './common.js';

export interface ConnectOptions extends LoadOptions {
  /** Folder for the JSON results (default bench/results). */
  outDir?: string;
  transport: Transport;
  servers: ServerKind[];
  workers: number;
  /** tsim-cluster: comet.workers. */
  cometWorkers?: number;
  /** Run the server processes with --cpu-prof, profiles written here. */
  cpuProfDir?: string;
  /** Seconds the clients stay connected and idle before the no-GC sample (default 30). */
  idleWait?: number;
}

/** RSS of one server process before and after the clients, bytes, labelled by role. */
export interface ProcessRss {
  pid: number;
  role: string;
  /** Before any client, after a forced GC. */
  rssBefore: number;
  /** Before any client and before the forced GC. */
  rssBeforeNoGc: number;
  /** `idleWait` s after the clients connected, no GC forced. */
  rssIdle: number;
  /** After that, and a forced GC. */
  rssAfter: number;
}

export interface ConnectRow {
  server: string;
  clients: number;
  ok: number;
  failed: number;
  seconds: number;
  perSec: number;
  rssBefore: number;
  rssAfter: number;
  /** (rssAfter - rssBefore) / ok, bytes. */
  rssPerConnection: number;
  /** Seconds idle before rssIdle was sampled. */
  idleWait: number;
  rssBeforeNoGc: number;
  rssIdle: number;
  /** (rssIdle - rssBeforeNoGc) / ok, bytes: no forced GC on either side. */
  rssPerConnectionNoGc: number;
  /** While connecting: interrupt + softirq time (kernel network work), % of one core; mostly inside the processes' CPU% too. */
  irqCpuPct: number;
  /** While connecting: busy time of other processes on the box, % of one core. */
  otherCpuPct: number;
  /** Per server process (several for tsim-cluster: logic, job, comet primary and workers, redis, nats). */
  serverProcesses: ProcessRss[];
  /** tsim-cluster: the clients each comet process held. */
  clientsPerProcess?: ProcessConnections[];
  /** tsim-cluster: the memory settles logged by the end of the idle wait. */
  memorySettles?: MemorySettleEvent[];
  errors: string[];
}

function sum(rss: Map<number, number>): number {
  return [...rss.values()].reduce((a, b) => a + b, 0);
}

async function runServer(kind: ServerKind, o: ConnectOptions): Promise<ConnectRow> {
  const server = await launchServer(kind, {
    transport: o.transport,
    batch: 20,
    signalMs: 1000,
    cometWorkers: o.cometWorkers,
    cpuProfDir: o.cpuProfDir,
  });
  const pool = LoadPool.start(o.workers);
  try {
    await sleep(500); // let start-up allocations settle before the baseline
    const beforeNoGc = rssByPid(server.pids());
    await server.gc();
    const procs = server.processes();
    const before = rssByPid(procs.map((p) => p.pid));
    const rssBefore = sum(before);
    const rssBeforeNoGc = sum(beforeNoGc);
    progress(`${server.label}: ${fmtMb(rssBefore)} MB before; opening ${o.clients} clients over ${o.workers} workers`);
    const pids = [...server.pids(), process.pid, ...pool.pids()];
    const s0 = sampleGroup(pids);
    const m0 = sampleMachineCpu();
    const c = await openClients(server, pool, o);
    const seconds = c.ms / 1000;
    const split = splitCpu(m0, sampleMachineCpu(), groupDelta(s0, sampleGroup(pids)).cpuPct);
    progress(`${server.label}: ${c.ok} ready, ${c.failed} failed in ${seconds.toFixed(2)} s${c.errors.length ? ` — ${c.errors.join('; ')}` : ''}`);
    const clientsPerProcess = await clientSplit(server);
    const idleWait = o.idleWait ?? 30;
    progress(`${server.label}: idle ${idleWait} s, then RSS without a forced GC`);
    await sleep(Math.max(1, idleWait) * 1000);
    const idle = rssByPid(server.pids());
    const memorySettles = reportSettles(server);
    await server.gc();
    // Processes of the server now: a worker restarted meanwhile shows with no "before".
    const procsAfter = server.processes();
    const after = rssByPid(procsAfter.map((p) => p.pid));
    const rssAfter = sum(after);
    const rssIdle = sum(idle);
    const serverProcesses = procsAfter.map((p) => ({
      pid: p.pid,
      role: p.role,
      rssBefore: before.get(p.pid) ?? 0,
      rssBeforeNoGc: beforeNoGc.get(p.pid) ?? 0,
      rssIdle: idle.get(p.pid) ?? 0,
      rssAfter: after.get(p.pid) ?? 0,
    }));
    return {
      server: server.label,
      clients: o.clients,
      ok: c.ok,
      failed: c.failed,
      seconds,
      perSec: c.ok / seconds,
      rssBefore,
      rssAfter,
      rssPerConnection: c.ok > 0 ? (rssAfter - rssBefore) / c.ok : Number.NaN,
      idleWait,
      rssBeforeNoGc,
      rssIdle,
      rssPerConnectionNoGc: c.ok > 0 ? (rssIdle - rssBeforeNoGc) / c.ok : Number.NaN,
      ...split,
      serverProcesses,
      ...(memorySettles.length > 0 ? { memorySettles } : {}),
      ...(clientsPerProcess ? { clientsPerProcess } : {}),
      errors: c.errors,
    };
  } finally {
    await pool.close();
    await server.stop();
  }
}

function connectTable(rows: readonly ConnectRow[]): string {
  return formatTable(
    [
      'server',
      'clients',
      'ok',
      'failed',
      'seconds',
      'conn/s',
      'RSS before MB',
      'RSS +idle no GC MB',
      'KB/conn no GC',
      'RSS after GC MB',
      'KB/conn after GC',
      'irq cpu%',
      'other cpu%',
    ],
    rows.map((r) => [
      r.server,
      r.clients,
      r.ok,
      r.failed,
      r.seconds.toFixed(2),
      r.perSec,
      fmtMb(r.rssBefore),
      fmtMb(r.rssIdle),
      fmtKb(r.rssPerConnectionNoGc),
      fmtMb(r.rssAfter),
      fmtKb(r.rssPerConnection),
      fmtNum(r.irqCpuPct),
      fmtNum(r.otherCpuPct),
    ]),
  );
}

export async function runConnect(o: ConnectOptions): Promise<ConnectRow[]> {
  checkServerFdLimit(o.clients, o.servers, o.cometWorkers);
  const idleWait = o.idleWait ?? 30;
  armDeadline((o.servers.reduce((s, k) => s + 90 + idleWait + (k === 'tsim-cluster' ? 60 : 0) + o.clients / 200, 0) + 60) * 1000, 'connect');
  const rows: ConnectRow[] = [];
  const backgroundBusyPct = await backgroundBusy();
  try {
    for (const kind of o.servers) rows.push(await runServer(kind, o));
  } finally {
    disarmDeadline();
    if (rows.length > 0) {
      const file = writeResults('connect', o, { backgroundBusyPct, rows }, o.outDir);
      process.stdout.write(`\n${connectTable(rows)}\n\n`);
      const many = rows.filter((r) => r.serverProcesses.length > 1);
      if (many.length > 0) {
        // A comet worker's growth is over the connections it holds; the others' over all of them.
        const lines = many.flatMap((r) =>
          r.serverProcesses.map((p) => {
            const held = r.clientsPerProcess?.find((c) => c.pid === p.pid)?.connections ?? r.ok;
            const per = (grown: number) => fmtKb(held > 0 ? grown / held : Number.NaN);
            return [
              r.server,
              p.role,
              String(p.pid),
              held,
              fmtMb(p.rssBefore),
              fmtMb(p.rssIdle),
              per(p.rssIdle - p.rssBeforeNoGc),
              fmtMb(p.rssAfter),
              per(p.rssAfter - p.rssBefore),
            ];
          }),
        );
        const head = [
          'server',
          'process',
          'pid',
          'over conns',
          'RSS before MB',
          'RSS +idle no GC MB',
          'KB/conn no GC',
          'RSS after GC MB',
          'KB/conn after GC',
        ];
        process.stdout.write(`${formatTable(head, lines)}\n\n`);
      }
      progress(`results: ${file}`);
    }
  }
  return rows;
}

// connect: N clients connect (and, on tsim, authenticate with op 7) as fast as the
// handshake concurrency allows; connections/s, failures, and the server's resident memory
// per idle connection after a full GC (RSS with the clients minus RSS before, over N).
import { LoadPool } from '../load/pool.js';
import { writeResults } from '../measure/results.js';
import { sampleMachineCpu } from '../measure/proc.js';
import { fmtKb, fmtMb, fmtNum, formatTable } from '../measure/table.js';
import { armDeadline, disarmDeadline } from '../run/children.js';
import { launchServer } from '../servers/launch.js';
import type { ProcessConnections, ServerKind, Transport } from '../servers/server.js';
import {
  backgroundBusy,
  checkServerFdLimit,
  clientSplit,
  groupDelta,
  openClients,
  splitCpu,
  progress,
  sampleGroup,
  sleep,
  type LoadOptions,
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
}

/** RSS of one server process before and after the clients, bytes, labelled by role. */
export interface ProcessRss {
  pid: number;
  role: string;
  rssBefore: number;
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
  /** While connecting: interrupt + softirq time (kernel network work), % of one core; mostly inside the processes' CPU% too. */
  irqCpuPct: number;
  /** While connecting: busy time of other processes on the box, % of one core. */
  otherCpuPct: number;
  /** Per server process (several for tsim-cluster: logic, job, comet primary and workers, redis, nats). */
  serverProcesses: ProcessRss[];
  /** tsim-cluster: the clients each comet process held. */
  clientsPerProcess?: ProcessConnections[];
  errors: string[];
}

/** RSS of each process now, keyed by pid. */
function rssByPid(pids: readonly number[]): Map<number, number> {
  return new Map(sampleGroup(pids).map((s) => [s.pid, s.rss]));
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
    await server.gc();
    const procs = server.processes();
    const before = rssByPid(procs.map((p) => p.pid));
    const rssBefore = [...before.values()].reduce((a, b) => a + b, 0);
    progress(`${server.label}: ${fmtMb(rssBefore)} MB before; opening ${o.clients} clients over ${o.workers} workers`);
    const pids = [...server.pids(), process.pid, ...pool.pids()];
    const s0 = sampleGroup(pids);
    const m0 = sampleMachineCpu();
    const c = await openClients(server, pool, o);
    const seconds = c.ms / 1000;
    const split = splitCpu(m0, sampleMachineCpu(), groupDelta(s0, sampleGroup(pids)).cpuPct);
    progress(`${server.label}: ${c.ok} ready, ${c.failed} failed in ${seconds.toFixed(2)} s${c.errors.length ? ` — ${c.errors.join('; ')}` : ''}`);
    const clientsPerProcess = await clientSplit(server);
    await sleep(1000);
    await server.gc();
    // Processes of the server now: a worker restarted meanwhile shows with no "before".
    const procsAfter = server.processes();
    const after = rssByPid(procsAfter.map((p) => p.pid));
    const rssAfter = [...after.values()].reduce((a, b) => a + b, 0);
    const serverProcesses = procsAfter.map((p) => ({ pid: p.pid, role: p.role, rssBefore: before.get(p.pid) ?? 0, rssAfter: after.get(p.pid) ?? 0 }));
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
      ...split,
      serverProcesses,
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
    ['server', 'clients', 'ok', 'failed', 'seconds', 'conn/s', 'RSS before MB', 'RSS after MB', 'KB/conn', 'irq cpu%', 'other cpu%'],
    rows.map((r) => [
      r.server,
      r.clients,
      r.ok,
      r.failed,
      r.seconds.toFixed(2),
      r.perSec,
      fmtMb(r.rssBefore),
      fmtMb(r.rssAfter),
      fmtKb(r.rssPerConnection),
      fmtNum(r.irqCpuPct),
      fmtNum(r.otherCpuPct),
    ]),
  );
}

export async function runConnect(o: ConnectOptions): Promise<ConnectRow[]> {
  checkServerFdLimit(o.clients, o.servers, o.cometWorkers);
  armDeadline((o.servers.reduce((s, k) => s + 90 + (k === 'tsim-cluster' ? 60 : 0) + o.clients / 200, 0) + 60) * 1000, 'connect');
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
            return [
              r.server,
              p.role,
              String(p.pid),
              held,
              fmtMb(p.rssBefore),
              fmtMb(p.rssAfter),
              fmtKb(held > 0 ? (p.rssAfter - p.rssBefore) / held : Number.NaN),
            ];
          }),
        );
        process.stdout.write(`${formatTable(['server', 'process', 'pid', 'over conns', 'RSS before MB', 'RSS after MB', 'KB/conn'], lines)}\n\n`);
      }
      progress(`results: ${file}`);
    }
  }
  return rows;
}

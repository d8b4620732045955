// push-api: HTTP push throughput and latency — `concurrency` keep-alive loops posting room
// pushes to logic for D seconds (optionally with clients in the room, so each push also
// fans out).
import { LoadPool } from '../load/pool.js';
import { pushClosedLoop } from '../load/pusher.js';
import { bodySize } from '../load/stamp.js';
import type { LatencySummary } from '../measure/histogram.js';
import { writeResults } from '../measure/results.js';
import { sampleMachineCpu } from '../measure/proc.js';
import { fmtInt, fmtMb, fmtMs, fmtNum, formatTable } from '../measure/table.js';
import { armDeadline, disarmDeadline } from '../run/children.js';
import { BENCH_OP, BENCH_ROOM } from '../servers/bench-room.js';
import type { ProcDelta } from '../measure/proc.js';
import { launchTsimCluster } from '../servers/tsim-cluster.js';
import { launchTsim } from '../servers/tsim.js';
import type { Transport } from '../servers/server.js';
import {
  backgroundBusy,
  checkServerFdLimit,
  cometCpuPct,
  groupDelta,
  openClients,
  processTable,
  splitCpu,
  progress,
  sampleGroup,
  type LoadOptions,
} from './common.js';

export interface PushApiOptions extends LoadOptions {
  /** Folder for the JSON results (default bench/results). */
  outDir?: string;
  transport: Transport;
  durationS: number;
  /** Requests in flight at once. */
  httpConcurrency: number;
  size: number;
  batch: number;
  signalMs: number;
  workers: number;
  cpuProfDir?: string;
  /** Embedded tsim, or distributed with `cometWorkers` comet workers. */
  server: 'tsim' | 'tsim-cluster';
  cometWorkers?: number;
}

export interface PushApiRow {
  server: string;
  clients: number;
  concurrency: number;
  requests: number;
  accepted: number;
  failed: number;
  perSec: number;
  latency: LatencySummary;
  serverCpuPct: number;
  /** tsim-cluster: CPU of the comet processes alone, % of one core; null otherwise. */
  cometCpuPct: number | null;
  serverRss: number;
  /** Per server process, labelled by role. */
  serverProcesses: ProcDelta[];
  /** The pushing process (this one), % of one core. */
  clientCpuPct: number;
  /** Interrupt + softirq time (kernel network work), % of one core; mostly inside the processes' CPU% too. */
  irqCpuPct: number;
  /** Busy time of other processes on the box, % of one core. */
  otherCpuPct: number;
  errors: string[];
}

function pushApiTable(rows: readonly PushApiRow[]): string {
  return formatTable(
    [
      'server',
      'clients',
      'concurrency',
      'requests',
      'failed',
      'req/s',
      'p50 ms',
      'p99 ms',
      'max ms',
      'srv cpu%',
      'comet cpu%',
      'srv MB',
      'client cpu%',
      'irq cpu%',
      'other cpu%',
    ],
    rows.map((r) => [
      r.server,
      r.clients,
      r.concurrency,
      r.requests,
      r.failed,
      r.perSec,
      fmtMs(r.latency.p50Ms),
      fmtMs(r.latency.p99Ms),
      fmtMs(r.latency.maxMs),
      fmtNum(r.serverCpuPct),
      fmtNum(r.cometCpuPct),
      fmtMb(r.serverRss),
      fmtNum(r.clientCpuPct),
      fmtNum(r.irqCpuPct),
      fmtNum(r.otherCpuPct),
    ]),
  );
}

export async function runPushApi(o: PushApiOptions): Promise<PushApiRow> {
  o.size = bodySize(o.size);
  checkServerFdLimit(o.clients, [o.server], o.cometWorkers);
  const cluster = o.server === 'tsim-cluster';
  armDeadline((120 + (cluster ? 60 : 0) + o.durationS + o.clients / 200) * 1000, 'push-api');
  const backgroundBusyPct = await backgroundBusy();
  const serverOptions = { transport: o.transport, batch: o.batch, signalMs: o.signalMs, cpuProfDir: o.cpuProfDir, cometWorkers: o.cometWorkers };
  const server = cluster ? await launchTsimCluster(serverOptions) : await launchTsim(serverOptions);
  const pool = o.clients > 0 ? LoadPool.start(o.workers) : null;
  let row: PushApiRow | undefined;
  try {
    if (pool) {
      const c = await openClients(server, pool, o);
      progress(`${server.label}: ${c.ok} clients ready, ${c.failed} failed`);
    }
    const target = {
      host: '127.0.0.1',
      port: server.httpPort,
      path: `/goim/push/room?operation=${BENCH_OP}&type=${BENCH_ROOM.type}&room=${BENCH_ROOM.id}`,
    };
    const procs = server.processes();
    const pids = procs.map((p) => p.pid);
    const s0 = sampleGroup(pids);
    const c0 = process.cpuUsage();
    const m0 = sampleMachineCpu();
    let shown = 0;
    const r = await pushClosedLoop(target, o.httpConcurrency, o.durationS * 1000, o.size, (t) => {
      progress(`  push-api: ${fmtInt(t.accepted)} accepted, ${fmtInt(t.failed)} failed, ${fmtInt(t.sent - shown)} req/s`);
      shown = t.sent;
    });
    const srv = groupDelta(s0, sampleGroup(pids), procs);
    const c1 = process.cpuUsage(c0);
    const clientCpuPct = ((c1.user + c1.system) / 1000 / r.ms) * 100;
    const split = splitCpu(m0, sampleMachineCpu(), srv.cpuPct + clientCpuPct);
    row = {
      server: cluster ? server.label : 'tsim',
      clients: o.clients,
      concurrency: o.httpConcurrency,
      requests: r.sent,
      accepted: r.accepted,
      failed: r.failed,
      perSec: r.sent / (r.ms / 1000),
      latency: r.latency,
      serverCpuPct: srv.cpuPct,
      cometCpuPct: cometCpuPct(srv.perProcess),
      serverRss: srv.rss,
      serverProcesses: srv.perProcess,
      clientCpuPct,
      ...split,
      errors: r.errors,
    };
    return row;
  } finally {
    disarmDeadline();
    if (pool) await pool.close();
    await server.stop();
    if (row) {
      const file = writeResults('push-api', o, { backgroundBusyPct, rows: [row] }, o.outDir);
      process.stdout.write(`\n${pushApiTable([row])}\n\n`);
      const perProcess = processTable([{ server: row.server, processes: row.serverProcesses }]);
      if (perProcess) process.stdout.write(`${perProcess}\n\n`);
      progress(`results: ${file}`);
    }
  }
}

// `npm run bench -- recovery`: the recovery storm (docs/history.md#replay, docs/client.md).
// Distributed tsim (logic, job, one comet over a private redis-server and nats-server -js) with
// `[roomTypes.live] history = true` in a throwaway PostgreSQL database. N clients in one room
// live://storm, opted in to history, reconnect as the SDK does (load/recovery-worker.ts); a
// pusher pushes room messages at a steady rate through the whole run. After the warm-up the
// comet is SIGKILLed and started again at once on the same ports: the time until every client
// is connected again and until every client has recovered what it missed, the joins not
// recovered (by reason), and at the end, per client, the room's offsets never received (lost)
// and received twice (duplicated); the CPU and RSS of every server process.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { RecoveryCommand, RecoveryOpened, RecoveryReply, RecoveryReport, RecoveryStatus } from '../load/recovery-worker.js';
import { RECOVERY_OP } from '../load/recovery-worker.js';
import { FD_RESERVE } from '../load/pool.js';
import { post as postPush, type PushTally } from '../load/pusher.js';
import { clockMs, stampBody } from '../load/stamp.js';
import { mergeHistograms, newHistogram, recordMs, summarize, type LatencySummary } from '../measure/histogram.js';
import { openFileLimit, procDelta, sampleProc, type ProcDelta, type ProcSample } from '../measure/proc.js';
import { writeResults } from '../measure/results.js';
import { fmtInt, fmtMb, fmtMs, fmtNum, formatTable } from '../measure/table.js';
import { armDeadline, disarmDeadline, onExitCleanup, stopChild, track } from '../run/children.js';
import { findBinary } from '../run/services.js';
import { loopbackSources } from '../run/ports.js';
import { every } from '../run/schedule.js';
import type { ServerProcess } from '../servers/server.js';
import { backgroundBusy, checkServerFdLimit, progress, sleep } from './common.js';
import { launchRecoveryCluster, type RecoveryCluster } from './recovery-cluster.js';

const WORKER = fileURLToPath(new URL('../load/recovery-worker.js', import.meta.url));
const ROOM = { type: 'live', id: 'storm', key: 'live://storm' };

export interface RecoveryOptions {
  clients: number;
  /** Room pushes per second, through the whole run. */
  rate: number;
  /** Seconds between the last client connected and the kill. */
  warmupS: number;
  /** Longest wait, from the kill, for every client to recover (or be told it did not). */
  recoverTimeoutS: number;
  /** Seconds of pushes after the storm settled. */
  afterS: number;
  cometWorkers: number;
  workers: number;
  concurrency: number;
  sources: number;
  timeoutMs: number;
  /** `[roomTypes.live] replayMax`: most records one join replays. */
  replayMax: number;
  /** The SDK's gapWaitMs. */
  gapWaitMs: number;
  /** PostgreSQL server; a database tsim_bench_recovery_<random> is created there and dropped. */
  postgresUrl: string;
  outDir?: string;
}

/** room.batch and room.signal as in the other scenarios. */
const BATCH = 20;
const SIGNAL_MS = 1000;

class Worker {
  private readonly waiters = new Map<string, { resolve: (m: RecoveryReply) => void; reject: (e: Error) => void }>();

  constructor(readonly child: ChildProcess) {
    child.on('message', (m: RecoveryReply) => {
      const w = this.waiters.get(m.t);
      if (w) {
        this.waiters.delete(m.t);
        w.resolve(m);
      }
    });
    child.once('exit', (code, signal) => {
      for (const w of this.waiters.values()) w.reject(new Error(`recovery worker ${child.pid} exited (${signal ?? code})`));
      this.waiters.clear();
    });
  }

  call<T extends RecoveryReply['t']>(msg: RecoveryCommand, t: T): Promise<Extract<RecoveryReply, { t: T }>> {
    return new Promise((resolve, reject) => {
      this.waiters.set(t, { resolve: resolve as (m: RecoveryReply) => void, reject });
      this.child.send(msg);
    });
  }
}

function sum<T>(xs: readonly T[], f: (x: T) => number): number {
  return xs.reduce((s, x) => s + f(x), 0);
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** Room pushes through logic's HTTP API at a steady rate until stopped. */
function startPusher(port: number, rate: number): { tally: PushTally; stop(): Promise<PushTally> } {
  // Idle keep-alive sockets are closed after 10 s, before logic's 30 s idle limit does it.
  const agent = new Agent({ keepAlive: true, maxSockets: 16, timeout: 10_000 });
  const path = `/goim/push/room?operation=${RECOVERY_OP}&type=${ROOM.type}&room=${ROOM.id}`;
  const tally: PushTally = { sent: 0, accepted: 0, failed: 0, errors: [] };
  let answered = 0;
  const post = (body: string): void => {
    const done = (err: string | null): void => {
      answered++;
      if (err === null) tally.accepted++;
      else {
        tally.failed++;
        if (tally.errors.length < 5) tally.errors.push(err);
      }
    };
    postPush(agent, { host: '127.0.0.1', port, path }, body, done);
  };
  // Bounded by the deadline anyway: a day's worth of events.
  const schedule = every(rate, 86_400_000, () => {
    tally.sent++;
    post(stampBody(clockMs()));
  });
  return {
    tally,
    async stop() {
      schedule.stop();
      const until = performance.now() + 15_000;
      while (answered < tally.sent && performance.now() < until) await sleep(50);
      agent.destroy();
      return tally;
    },
  };
}

/** The room's epoch and newest stored offset, through the history API. */
async function storedLast(httpPort: number): Promise<{ epoch: string; last: number }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/tsim/history/room?type=${ROOM.type}&room=${ROOM.id}&since=0&limit=1`);
  const doc = (await res.json()) as { code: number; message?: string; data?: { epoch: string; last: number } };
  if (doc.code !== 0 || doc.data === undefined) throw new Error(`history API: ${doc.message ?? res.status}`);
  return doc.data;
}

/**
 * Times a read of the room's newest 100 records through logic's history API every 500 ms until
 * stopped: the same store (and connection pool) the replays of joining clients read from.
 */
function probeHistory(httpPort: number): { stop(): Promise<LatencySummary> } {
  const h = newHistogram();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t0 = performance.now();
      try {
        const { last } = await storedLast(httpPort);
        await fetch(
          `http://127.0.0.1:${httpPort}/tsim/history/room?type=${ROOM.type}&room=${ROOM.id}&since=${Math.max(0, last - 100)}&limit=100`,
        ).then((r) => r.arrayBuffer());
        recordMs(h, performance.now() - t0);
      } catch {
        // counted by its absence
      }
      await sleep(500);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return summarize(h);
    },
  };
}

/** The comet's tsim_comet_replays_total by result, summed over its metrics listeners. */
async function cometReplays(ports: readonly number[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const port of ports) {
    try {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      for (const line of text.split('\n')) {
        const m = /^tsim_comet_replays_total\{result="([^"]*)"\} (\S+)$/.exec(line);
        if (m) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
      }
    } catch {
      // not answering: left out
    }
  }
  return out;
}

interface Snapshot {
  samples: ProcSample[];
  roles: ServerProcess[];
}

function snapshot(cluster: RecoveryCluster): Snapshot {
  const roles = cluster.processes();
  return { roles, samples: roles.map((r) => sampleProc(r.pid)).filter((s): s is ProcSample => s !== undefined) };
}

/**
 * Per process over a phase. A process started during it (the restarted comet) is counted from
 * `startedAt` (performance.now()) with no CPU used before.
 */
function phase(a: Snapshot, b: Snapshot, startedAt: number): ProcDelta[] {
  return b.samples.map((end) => {
    const start = a.samples.find((s) => s.pid === end.pid) ?? { pid: end.pid, at: startedAt, cpuMs: 0, rss: 0, rssPeak: 0, writes: 0, writeBytes: 0 };
    return { ...procDelta(start, end), role: b.roles.find((r) => r.pid === end.pid)?.role };
  });
}

interface ProcessRow {
  role: string;
  pid: number;
  warmupCpuPct: number | null;
  recoveryCpuPct: number | null;
  afterCpuPct: number | null;
  rss: number;
  rssPeak: number;
}

function processRows(phases: ProcDelta[][]): ProcessRow[] {
  const rows = new Map<number, ProcessRow>();
  phases.forEach((ps, i) => {
    for (const p of ps) {
      let r = rows.get(p.pid);
      if (!r)
        rows.set(p.pid, (r = { role: p.role ?? '?', pid: p.pid, warmupCpuPct: null, recoveryCpuPct: null, afterCpuPct: null, rss: 0, rssPeak: 0 }));
      if (i === 0) r.warmupCpuPct = p.cpuPct;
      else if (i === 1) r.recoveryCpuPct = p.cpuPct;
      else r.afterCpuPct = p.cpuPct;
      r.rss = p.rss;
      r.rssPeak = Math.max(r.rssPeak, p.rssPeak);
    }
  });
  // The comet killed after the warm-up.
  for (const r of rows.values()) if (r.role.startsWith('comet') && r.warmupCpuPct !== null && r.recoveryCpuPct === null) r.role += ' (killed)';
  return [...rows.values()];
}

/** "3-5 ×12, 9 ×1": lost offsets with the clients that lost each, runs merged when the count is equal. */
function lostRanges(lost: Map<number, number>, max = 12): string {
  const offsets = [...lost.keys()].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < offsets.length && out.length < max;) {
    let j = i;
    while (j + 1 < offsets.length && offsets[j + 1] === offsets[j] + 1 && lost.get(offsets[j + 1]) === lost.get(offsets[i])) j++;
    out.push(`${i === j ? offsets[i] : `${offsets[i]}-${offsets[j]}`} ×${lost.get(offsets[i])}`);
    i = j + 1;
  }
  return out.join(', ') + (out.length === max ? ', …' : '');
}

export interface RecoveryResult {
  clients: number;
  connected: number;
  connectFailed: number;
  connectSeconds: number;
  pushes: PushTally;
  rate: number;
  stored: { epoch: string; last: number };
  /** ms from the kill: comet gone, comet serving again. */
  cometGoneMs: number;
  cometUpMs: number;
  /** Clients authenticated when the comet was killed. */
  openAtKill: number;
  dropped: number;
  reconnected: number;
  recovered: number;
  notRecovered: number;
  /** Neither recovered nor told why within the timeout. */
  pending: number;
  notRecoveredByReason: Record<string, number>;
  /** ms from the kill until the last client reconnected / recovered (null when not all did). */
  allReconnectedMs: number | null;
  allRecoveredMs: number | null;
  drop: LatencySummary;
  reconnect: LatencySummary;
  /** op 7 → op 8 of the reconnections. */
  auth: LatencySummary;
  recover: LatencySummary;
  failedAttempts: Record<string, number>;
  rejoinedAgain: number;
  replayedRecords: number;
  lost: number;
  lostNotRecovered: number;
  clientsWithLoss: number;
  lostOffsets: string;
  lostExamples: string[];
  wireDuplicates: number;
  clientsWithWireDuplicates: number;
  deliveredDuplicates: number;
  undelivered: number;
  unnumbered: number;
  outOfOrder: number;
  unpositioned: number;
  received: number;
  notRecoveredAllByReason: Record<string, number>;
  epochs: string[];
  epochAnnouncements: number;
  /** Reads of 100 records through the history API every 500 ms: during the warm-up, and from the kill until recovered. */
  historyReadWarmup: LatencySummary;
  historyReadStorm: LatencySummary;
  cometReplays: Record<string, number>;
  jobCometEvents: string[];
  processes: ProcessRow[];
  loadCpuPct: { warmup: number; recovery: number; after: number };
  warnings: Record<string, Record<string, number>>;
}

async function createDatabase(url: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `tsim_bench_recovery_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  const dropSql = `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`;
  await admin(`CREATE DATABASE ${name}`);
  // Ctrl-C or the deadline end the process without the clean-up below: psql, when installed, drops it then.
  const dropAtExit = onExitCleanup(() => {
    const psql = findBinary('psql');
    if (psql) spawnSync(psql, [url, '-c', dropSql], { stdio: 'ignore', timeout: 10_000 });
  });
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    url: u.href,
    drop: async () => {
      await admin(dropSql);
      dropAtExit();
    },
  };
}

function historyToml(o: RecoveryOptions, databaseUrl: string): string {
  return [
    '',
    `[roomTypes.${ROOM.type}]`,
    'history = true',
    `replayMax = ${o.replayMax}`,
    '[history]',
    'engine = "postgres"',
    `postgresUrl = ${JSON.stringify(databaseUrl)}`,
    '',
  ].join('\n');
}

async function run(o: RecoveryOptions): Promise<RecoveryResult> {
  const db = await createDatabase(o.postgresUrl);
  let cluster: RecoveryCluster | null = null;
  const workers: Worker[] = [];
  let pusher: ReturnType<typeof startPusher> | null = null;
  try {
    progress(`recovery: distributed tsim (logic, job, comet with ${o.cometWorkers} worker(s)), history in PostgreSQL ${db.url}`);
    cluster = await launchRecoveryCluster({
      cometWorkers: o.cometWorkers,
      batch: BATCH,
      signalMs: SIGNAL_MS,
      historyToml: historyToml(o, db.url),
      databaseUrl: db.url,
    });
    const c = cluster;
    for (let i = 0; i < o.workers; i++) {
      workers.push(new Worker(track(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' }))));
    }
    const all = <T extends RecoveryReply['t']>(msg: RecoveryCommand, t: T) => Promise.all(workers.map((w) => w.call(msg, t)));
    const status = async () => {
      const ss: RecoveryStatus[] = await all({ t: 'status' }, 'status');
      return {
        clients: sum(ss, (s) => s.clients),
        open: sum(ss, (s) => s.open),
        dropped: sum(ss, (s) => s.dropped),
        reconnected: sum(ss, (s) => s.reconnected),
        recovered: sum(ss, (s) => s.recovered),
        notRecovered: sum(ss, (s) => s.notRecovered),
        lastReconnectAt: Math.max(...ss.map((s) => s.lastReconnectAt)),
        lastRecoveredAt: Math.max(...ss.map((s) => s.lastRecoveredAt)),
        minPosition: Math.min(...ss.map((s) => s.minPosition)),
        positioned: sum(ss, (s) => s.positioned),
      };
    };

    progress(`recovery: pushing ${o.rate} room messages/s to ${ROOM.key}`);
    pusher = startPusher(c.ports.http, o.rate);
    await sleep(1000);

    const per = Math.ceil(o.clients / o.workers);
    progress(`recovery: opening ${o.clients} clients over ${o.workers} workers`);
    const opened: RecoveryOpened[] = await Promise.all(
      workers.map((w, i) =>
        w.call(
          {
            t: 'open',
            host: '127.0.0.1',
            port: c.ports.tcp,
            room: ROOM.key,
            firstMid: 1 + i * per,
            count: Math.max(0, Math.min(per, o.clients - i * per)),
            concurrency: Math.max(1, Math.ceil(o.concurrency / o.workers)),
            timeoutMs: o.timeoutMs,
            sources: loopbackSources(o.sources),
            gapWaitMs: o.gapWaitMs,
          },
          'opened',
        ),
      ),
    );
    const connected = sum(opened, (r) => r.ok);
    const connectFailed = sum(opened, (r) => r.failed);
    const connectSeconds = Math.max(...opened.map((r) => r.ms)) / 1000;
    const errs = opened.flatMap((r) => r.errors).slice(0, 3);
    progress(
      `recovery: ${connected} connected, ${connectFailed} failed in ${connectSeconds.toFixed(2)} s${errs.length ? ` — ${errs.join('; ')}` : ''}`,
    );

    // Warm-up: every client positioned (op 18 seen) and receiving.
    const loadPids = workers.map((w) => w.child.pid!);
    const loadSample = () => loadPids.map(sampleProc).filter((s): s is ProcSample => s !== undefined);
    const loadCpu = (a: ProcSample[], b: ProcSample[]) =>
      sum(b, (e) => {
        const s = a.find((x) => x.pid === e.pid);
        return s ? procDelta(s, e).cpuPct : 0;
      });
    const w0 = snapshot(c);
    const l0 = loadSample();
    const warmProbe = probeHistory(c.ports.http);
    await sleep(o.warmupS * 1000);
    const historyReadWarmup = await warmProbe.stop();
    for (const until = performance.now() + 10_000; performance.now() < until; await sleep(200)) {
      const s = await status();
      if (s.positioned >= connected && s.minPosition > 0) break;
    }
    const before = await status();
    progress(`recovery: warm-up done: ${before.open} open, ${before.positioned} positioned, lowest position ${before.minPosition}`);

    // The storm.
    const w1 = snapshot(c);
    const l1 = loadSample();
    const killAt = clockMs();
    await all({ t: 'mark', killAt }, 'marked');
    const killed = await c.killComet();
    const goneAt = clockMs();
    const restartAt = performance.now();
    progress(`recovery: comet SIGKILLed (pid ${killed.pids.join(', ')}), gone after ${fmtMs(goneAt - killAt)} ms; starting it again`);
    const stormProbe = probeHistory(c.ports.http);
    const up = await c.startComet();
    progress(`recovery: comet pid ${up.pid} serving ${fmtMs(up.startedAt - killAt)} ms after the kill`);
    let s = await status();
    const deadline = performance.now() + o.recoverTimeoutS * 1000;
    let lastLine = 0;
    while (s.recovered + s.notRecovered < before.open && performance.now() < deadline) {
      await sleep(250);
      s = await status();
      if (performance.now() - lastLine > 2000) {
        lastLine = performance.now();
        progress(
          `recovery: +${((clockMs() - killAt) / 1000).toFixed(1)} s: ${s.dropped} dropped, ${s.reconnected} reconnected, ${s.recovered} recovered, ${s.notRecovered} not recovered`,
        );
      }
    }
    const w2 = snapshot(c);
    const l2 = loadSample();
    const historyReadStorm = await stormProbe.stop();
    const allReconnectedMs = s.reconnected >= before.open ? s.lastReconnectAt - killAt : null;
    const allRecoveredMs = s.recovered >= before.open ? s.lastRecoveredAt - killAt : null;
    progress(
      `recovery: ${s.reconnected}/${before.open} reconnected${allReconnectedMs !== null ? ` (all after ${fmtMs(allReconnectedMs)} ms)` : ''}, ${s.recovered} recovered${allRecoveredMs !== null ? ` (all after ${fmtMs(allRecoveredMs)} ms)` : ''}, ${s.notRecovered} not recovered`,
    );

    progress(`recovery: ${o.afterS} s more of pushes`);
    await sleep(o.afterS * 1000);
    const w3 = snapshot(c);
    const l3 = loadSample();
    const pushes = await pusher.stop();
    pusher = null;
    // The store has every accepted push (the writer runs behind fan-out), then the clients do.
    let stored = await storedLast(c.ports.http);
    for (const until = performance.now() + 15_000; stored.last < pushes.accepted && performance.now() < until; await sleep(200)) {
      stored = await storedLast(c.ports.http);
    }
    for (const until = performance.now() + 15_000; performance.now() < until; await sleep(200)) {
      if ((await status()).minPosition >= stored.last) break;
    }
    const reports: RecoveryReport[] = await all({ t: 'final', lastOffset: stored.last }, 'final');
    const lost = new Map<number, number>();
    for (const r of reports) for (const [off, n] of r.lostOffsets) lost.set(off, (lost.get(off) ?? 0) + n);
    const notRecoveredByReason: Record<string, number> = {};
    const notRecoveredAllByReason: Record<string, number> = {};
    const failedAttempts: Record<string, number> = {};
    for (const r of reports) {
      addCounts(failedAttempts, r.failedAttempts);
      addCounts(notRecoveredByReason, r.notRecoveredByReason);
      addCounts(notRecoveredAllByReason, r.notRecoveredAllByReason);
    }
    const jobCometEvents = c
      .jobLog((l) => typeof l.msg === 'string' && /comet/.test(l.msg))
      .filter((l) => l.at >= killAt)
      .map((l) => `+${fmtMs(l.at - killAt)} ms ${l.msg}`);
    const upStartedAt = restartAt;
    return {
      clients: o.clients,
      connected,
      connectFailed,
      connectSeconds,
      pushes,
      rate: o.rate,
      stored,
      cometGoneMs: goneAt - killAt,
      cometUpMs: up.startedAt - killAt,
      openAtKill: before.open,
      dropped: s.dropped,
      reconnected: s.reconnected,
      recovered: s.recovered,
      notRecovered: s.notRecovered,
      pending: before.open - s.recovered - s.notRecovered,
      notRecoveredByReason,
      allReconnectedMs,
      allRecoveredMs,
      drop: summarize(mergeHistograms(reports.map((r) => r.dropMs))),
      reconnect: summarize(mergeHistograms(reports.map((r) => r.reconnectMs))),
      auth: summarize(mergeHistograms(reports.map((r) => r.authMs))),
      recover: summarize(mergeHistograms(reports.map((r) => r.recoverMs))),
      failedAttempts,
      rejoinedAgain: sum(reports, (r) => r.rejoinedAgain),
      replayedRecords: sum(reports, (r) => r.replayedRecords),
      lost: sum(reports, (r) => r.lost),
      lostNotRecovered: sum(reports, (r) => r.lostNotRecovered),
      clientsWithLoss: sum(reports, (r) => r.clientsWithLoss),
      lostOffsets: lostRanges(lost),
      lostExamples: reports.flatMap((r) => r.lostExamples).slice(0, 5),
      wireDuplicates: sum(reports, (r) => r.wireDuplicates),
      clientsWithWireDuplicates: sum(reports, (r) => r.clientsWithWireDuplicates),
      deliveredDuplicates: sum(reports, (r) => r.deliveredDuplicates),
      undelivered: sum(reports, (r) => r.undelivered),
      unnumbered: sum(reports, (r) => r.unnumbered),
      outOfOrder: sum(reports, (r) => r.outOfOrder),
      unpositioned: sum(reports, (r) => r.unpositioned),
      received: sum(reports, (r) => r.received),
      notRecoveredAllByReason,
      epochs: [...new Set(reports.flatMap((r) => r.epochs))],
      epochAnnouncements: sum(reports, (r) => r.epochAnnouncements),
      historyReadWarmup,
      historyReadStorm,
      cometReplays: await cometReplays(c.cometMetricsPorts),
      jobCometEvents,
      processes: processRows([phase(w0, w1, 0), phase(w1, w2, upStartedAt), phase(w2, w3, upStartedAt)]),
      loadCpuPct: { warmup: loadCpu(l0, l1), recovery: loadCpu(l1, l2), after: loadCpu(l2, l3) },
      warnings: c.warnings(),
    };
  } finally {
    await pusher?.stop();
    await Promise.all(
      workers.map(async (w) => {
        await Promise.race([w.call({ t: 'close' }, 'closed').catch(() => {}), sleep(10_000)]);
        await stopChild(w.child, 'SIGTERM', 3000);
      }),
    );
    await cluster?.stop();
    await db.drop().catch((e: unknown) => progress(`recovery: dropping the database failed: ${(e as Error).message}`));
  }
}

function report(r: RecoveryResult): string {
  const ms = (n: number | null) => (n === null ? '-' : fmtMs(n));
  const reasons = (x: Record<string, number>) =>
    Object.keys(x).length === 0
      ? '-'
      : Object.entries(x)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ');
  const lines: string[] = [];
  lines.push(
    `\nrecovery storm: ${fmtInt(r.connected)} clients in ${ROOM.key} (TCP, history on, PostgreSQL), ${r.rate} pushes/s; comet SIGKILLed and restarted`,
  );
  lines.push(
    formatTable(
      ['', 'value'],
      [
        ['clients connected / failed', `${fmtInt(r.connected)} / ${r.connectFailed} (${fmtNum(r.connectSeconds, 2)} s)`],
        ['pushes sent / accepted / failed', `${fmtInt(r.pushes.sent)} / ${fmtInt(r.pushes.accepted)} / ${r.pushes.failed}`],
        ['stored: epoch, last offset', `${r.stored.epoch}, ${fmtInt(r.stored.last)}`],
        ['kill → comet gone / serving again, ms', `${ms(r.cometGoneMs)} / ${ms(r.cometUpMs)}`],
        ['open at the kill / dropped', `${fmtInt(r.openAtKill)} / ${fmtInt(r.dropped)}`],
        ['kill → dropped seen, p50 / max ms', `${ms(r.drop.p50Ms)} / ${ms(r.drop.maxMs)}`],
        ['reconnected', fmtInt(r.reconnected)],
        ['kill → reconnected, p50 / p99 / all ms', `${ms(r.reconnect.p50Ms)} / ${ms(r.reconnect.p99Ms)} / ${ms(r.allReconnectedMs)}`],
        ['reconnections: op 7 → op 8, p50 / p99 / max ms', `${ms(r.auth.p50Ms)} / ${ms(r.auth.p99Ms)} / ${ms(r.auth.maxMs)}`],
        ['failed connection attempts, by why', reasons(r.failedAttempts)],
        ['dropped again after reconnecting', fmtInt(r.rejoinedAgain)],
        ['recovered (op 18 recovered, range received)', fmtInt(r.recovered)],
        ['kill → recovered, p50 / p99 / all ms', `${ms(r.recover.p50Ms)} / ${ms(r.recover.p99Ms)} / ${ms(r.allRecoveredMs)}`],
        ['not recovered, by reason', `${r.notRecovered}: ${reasons(r.notRecoveredByReason)}`],
        ['neither within the timeout', fmtInt(r.pending)],
        ['records replayed (sum of op-18 ranges)', fmtInt(r.replayedRecords)],
        [
          'lost offsets (clients with loss) / of which by clients not recovered',
          `${fmtInt(r.lost)} (${r.clientsWithLoss}) / ${fmtInt(r.lostNotRecovered)}`,
        ],
        [
          'duplicated: on the wire (clients) / delivered by the SDK rule',
          `${fmtInt(r.wireDuplicates)} (${r.clientsWithWireDuplicates}) / ${r.deliveredDuplicates}`,
        ],
        ['received not delivered / without offset / first receipt out of order', `${r.undelivered} / ${r.unnumbered} / ${r.outOfOrder}`],
        ['clients without a position (no op 18)', fmtInt(r.unpositioned)],
        ['not recovered over the whole run, by reason', reasons(r.notRecoveredAllByReason)],
        ['comet replays by result (restarted comet)', reasons(r.cometReplays)],
        [
          'history API read of 100 records, p50 / max ms: warm-up, storm',
          `${ms(r.historyReadWarmup.p50Ms)} / ${ms(r.historyReadWarmup.maxMs)}, ${ms(r.historyReadStorm.p50Ms)} / ${ms(r.historyReadStorm.maxMs)}`,
        ],
        ['epochs seen', r.epochs.join(', ') || '-'],
      ],
    ),
  );
  if (r.lost > 0) lines.push(`lost offsets (×clients): ${r.lostOffsets}`, ...r.lostExamples.map((e) => `  ${e}`));
  if (r.jobCometEvents.length > 0) lines.push(`job after the kill: ${r.jobCometEvents.slice(0, 8).join('; ')}`);
  lines.push(
    formatTable(
      ['process', 'pid', 'cpu% warm-up', 'cpu% kill→recovered', 'cpu% after', 'RSS MB', 'peak MB'],
      [
        ...r.processes.map((p) => [
          p.role,
          p.pid,
          fmtNum(p.warmupCpuPct),
          fmtNum(p.recoveryCpuPct),
          fmtNum(p.afterCpuPct),
          fmtMb(p.rss),
          fmtMb(p.rssPeak),
        ]),
        ['load workers', '-', fmtNum(r.loadCpuPct.warmup), fmtNum(r.loadCpuPct.recovery), fmtNum(r.loadCpuPct.after), '-', '-'],
      ],
    ),
  );
  const warned = Object.entries(r.warnings).flatMap(([role, ws]) => Object.entries(ws).map(([msg, n]) => `${role}: ${msg} ×${n}`));
  if (warned.length > 0) lines.push(`warnings logged: ${warned.slice(0, 10).join('; ')}`);
  return `${lines.join('\n')}\n`;
}

export async function runRecovery(o: RecoveryOptions): Promise<void> {
  checkServerFdLimit(Math.ceil(o.clients / o.cometWorkers));
  const per = Math.ceil(o.clients / o.workers);
  if (per > openFileLimit() - FD_RESERVE) throw new Error(`${per} clients per load worker exceed the open-file limit; use more --workers`);
  armDeadline((120 + o.clients / 100 + o.warmupS + o.recoverTimeoutS + o.afterS + 60) * 1000, 'recovery');
  const backgroundBusyPct = await backgroundBusy();
  let result: RecoveryResult | undefined;
  try {
    result = await run(o);
  } finally {
    disarmDeadline();
  }
  const file = writeResults('recovery', o, { backgroundBusyPct, ...result }, o.outDir);
  process.stdout.write(report(result));
  progress(`results: ${file}`);
}

// `npm run bench -- danmaku`: danmaku and room history end to end on embedded tsim
// (docs/history.md), one room live://bench over TCP, every client opted in (token history):
//  1. send loop: V viewers, the first S of them also sending one danmaku a second on op 4
//     for D seconds — sends, accepted/refused (op 5), persisted (the history API), room
//     messages per viewer, send→viewer latency, server CPU and RSS; once with
//     `[roomTypes.live] history = true` (engine sqlite or memory) and once with history off;
//  2. join storm (history on): J new clients join with history {"last":100} — joins/s,
//     auth→first replayed record, auth→replay complete, records per client.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DanmakuCommand, DanmakuOpened, DanmakuReport, DanmakuSent } from '../load/danmaku-worker.js';
import { FD_RESERVE } from '../load/pool.js';
import { mergeHistograms, summarize } from '../measure/histogram.js';
import { clockMs } from '../load/stamp.js';
import { openFileLimit } from '../measure/proc.js';
import { writeResults } from '../measure/results.js';
import { fmtInt, fmtMb, fmtMs, fmtNum, formatTable } from '../measure/table.js';
import { armDeadline, disarmDeadline, stopChild, track } from '../run/children.js';
import { loopbackSources } from '../run/ports.js';
import { launchTsim, type TsimServer } from '../servers/tsim.js';
import { backgroundBusy, checkServerFdLimit, groupDelta, progress, sampleGroup, sleep } from './common.js';

const WORKER = fileURLToPath(new URL('../load/danmaku-worker.js', import.meta.url));
const ROOM = { type: 'live', id: 'bench', key: 'live://bench' };

export type HistoryEngine = 'sqlite' | 'memory';

export interface DanmakuOptions {
  viewers: number;
  senders: number;
  durationS: number;
  joiners: number;
  /** Records each joiner asks for (history.last). */
  last: number;
  engine: HistoryEngine;
  workers: number;
  concurrency: number;
  sampleEvery: number;
  timeoutMs: number;
  sources: number;
  /** Skip the history-off run. */
  noBaseline: boolean;
  outDir?: string;
  /** Run the server with --cpu-prof, profiles written here. */
  cpuProfDir?: string;
}

/** The configuration tables the scenario adds to the benchmark's tsim configuration. */
export function danmakuConfig(history: boolean, engine: HistoryEngine, dataDir: string): string {
  return [
    `[roomTypes.${ROOM.type}]`,
    'send = true',
    `history = ${history}`,
    // Senders send one a second; the limits are out of the way (the bench measures the path, not the policy).
    'rate = 1000',
    'burst = 1000',
    '[history]',
    `engine = "${engine}"`,
    `dataDir = ${JSON.stringify(dataDir)}`,
    '',
  ].join('\n');
}

type Reply = DanmakuOpened | DanmakuSent | DanmakuReport | { t: 'closed' };

class DanmakuWorker {
  private readonly waiters = new Map<string, { resolve: (m: Reply) => void; reject: (e: Error) => void }>();

  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Reply) => {
      const w = this.waiters.get(m.t);
      if (w) {
        this.waiters.delete(m.t);
        w.resolve(m);
      }
    });
    child.once('exit', (code, signal) => {
      for (const w of this.waiters.values()) w.reject(new Error(`danmaku worker ${child.pid} exited (${signal ?? code})`));
      this.waiters.clear();
    });
  }

  call<T extends Reply['t']>(msg: DanmakuCommand, t: T): Promise<Extract<Reply, { t: T }>> {
    return new Promise((resolve, reject) => {
      this.waiters.set(t, { resolve: resolve as (m: Reply) => void, reject });
      this.child.send(msg);
    });
  }
}

/** Load workers for one group of clients (viewers, or joiners). */
class Group {
  private constructor(private readonly workers: DanmakuWorker[]) {}

  static start(n: number): Group {
    return new Group(
      Array.from(
        { length: n },
        () => new DanmakuWorker(track(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' }))),
      ),
    );
  }

  pids(): number[] {
    return this.workers.map((w) => w.child.pid).filter((p): p is number => p !== undefined);
  }

  async open(
    server: TsimServer,
    o: DanmakuOptions,
    count: number,
    firstMid: number,
    senders: number,
    history: Record<string, number>,
  ): Promise<{ ok: number; failed: number; errors: string[]; ms: number }> {
    const n = this.workers.length;
    const per = Math.ceil(count / n);
    if (per > openFileLimit() - FD_RESERVE) throw new Error(`${per} clients per load worker exceed the open-file limit; use more --workers`);
    const perSenders = Math.ceil(senders / n);
    const replies = await Promise.all(
      this.workers.map((w, i) =>
        w.call(
          {
            t: 'open',
            host: '127.0.0.1',
            port: server.client.port,
            room: ROOM.key,
            firstMid: firstMid + i * per,
            count: Math.max(0, Math.min(per, count - i * per)),
            history,
            senders: Math.max(0, Math.min(perSenders, senders - i * perSenders)),
            concurrency: Math.max(1, Math.ceil(o.concurrency / n)),
            sampleEvery: o.sampleEvery,
            timeoutMs: o.timeoutMs,
            sources: loopbackSources(o.sources),
          },
          'opened',
        ),
      ),
    );
    return {
      ok: replies.reduce((s, r) => s + r.ok, 0),
      failed: replies.reduce((s, r) => s + r.failed, 0),
      errors: replies.flatMap((r) => r.errors).slice(0, 5),
      ms: Math.max(...replies.map((r) => r.ms)),
    };
  }

  async send(durationMs: number): Promise<{ sends: number; accepted: number; refused: number; codes: Record<string, number> }> {
    const rs = await Promise.all(this.workers.map((w) => w.call({ t: 'send', durationMs, perSecond: 1 }, 'sent')));
    const codes: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.codes)) codes[k] = (codes[k] ?? 0) + v;
    return {
      sends: rs.reduce((s, r) => s + r.sends, 0),
      accepted: rs.reduce((s, r) => s + r.accepted, 0),
      refused: rs.reduce((s, r) => s + r.refused, 0),
      codes,
    };
  }

  report(): Promise<DanmakuReport[]> {
    return Promise.all(this.workers.map((w) => w.call({ t: 'report' }, 'report')));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        await Promise.race([w.call({ t: 'close' }, 'closed').catch(() => {}), sleep(10_000)]);
        await stopChild(w.child, 'SIGTERM', 3000);
      }),
    );
  }
}

export interface SendLoopRow {
  history: string;
  viewers: number;
  viewersOk: number;
  senders: number;
  sends: number;
  accepted: number;
  refused: number;
  refusedByCode: Record<string, number>;
  /** Records stored in the room (the history API's newest offset); null with history off. */
  persisted: number | null;
  minPerViewer: number;
  maxPerViewer: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencySamples: number;
  /** Server process over the send loop, % of one core. */
  serverCpuPct: number;
  serverRss: number;
  loadCpuPct: number;
}

export interface JoinRow {
  joiners: number;
  ok: number;
  failed: number;
  /** Joins (op-8 replies) per second over the storm. */
  joinsPerSec: number;
  authP99Ms: number;
  firstRecordP50Ms: number;
  firstRecordP99Ms: number;
  replayDoneP99Ms: number;
  /** Seconds from the first auth to the last client's replay complete. */
  allReplayedS: number;
  replayedClients: number;
  roomStates: number;
  recoveredFalse: number;
  recordsMin: number;
  recordsMax: number;
  serverCpuPct: number;
  serverRss: number;
}

/** The room's newest stored offset, through the history API. */
async function storedLast(server: TsimServer): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/tsim/history/room?type=${ROOM.type}&room=${ROOM.id}&since=0&limit=1`);
  const doc = (await res.json()) as { code: number; message?: string; data?: { last: number } };
  if (doc.code !== 0 || doc.data === undefined) throw new Error(`history API: ${doc.message ?? res.status}`);
  return doc.data.last;
}

interface RunResult {
  sendLoop: SendLoopRow;
  join?: JoinRow;
}

async function runOnce(o: DanmakuOptions, history: boolean): Promise<RunResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tsim-bench-danmaku-'));
  const label = history ? `on (${o.engine})` : 'off';
  const server = await launchTsim({
    transport: 'tcp',
    batch: 20,
    signalMs: 1000,
    extraConfig: danmakuConfig(history, o.engine, dataDir),
    cpuProfDir: o.cpuProfDir,
  });
  const viewers = Group.start(o.workers);
  let joiners: Group | null = null;
  try {
    progress(`history ${label}: opening ${o.viewers} viewers (${o.senders} of them sending) over ${o.workers} workers`);
    const v = await viewers.open(server, o, o.viewers, 1, o.senders, {});
    progress(
      `history ${label}: ${v.ok} ready, ${v.failed} failed in ${(v.ms / 1000).toFixed(2)} s${v.errors.length ? ` — ${v.errors.join('; ')}` : ''}`,
    );
    await sleep(1000);
    await viewers.report(); // zero the latency samples of the connect phase
    const spids = server.pids();
    const lpids = viewers.pids();
    const s0 = sampleGroup(spids);
    const l0 = sampleGroup(lpids);
    const w0 = await server.socketWrites?.();
    progress(`history ${label}: ${o.senders} senders × 1/s for ${o.durationS} s`);
    const sent = await viewers.send(o.durationS * 1000);
    // Let the last batches (room.signal) reach every viewer.
    await sleep(2000);
    const s1 = sampleGroup(spids);
    const l1 = sampleGroup(lpids);
    const w1 = await server.socketWrites?.();
    const server0 = groupDelta(s0, s1);
    const reps = await viewers.report();
    const lat = summarize(mergeHistograms(reps.map((r) => r.latency)));
    let persisted: number | null = null;
    if (history) {
      // The writer stores in the background: wait until it has everything accepted (at most 10 s).
      const until = performance.now() + 10_000;
      for (;;) {
        persisted = await storedLast(server);
        if (persisted >= sent.accepted || performance.now() > until) break;
        await sleep(200);
      }
    }
    const sendLoop: SendLoopRow = {
      history: label,
      viewers: o.viewers,
      viewersOk: reps.reduce((s, r) => s + r.open, 0),
      senders: o.senders,
      sends: sent.sends,
      accepted: sent.accepted,
      refused: sent.refused,
      refusedByCode: sent.codes,
      persisted,
      minPerViewer: Math.min(...reps.map((r) => r.minMessages)),
      maxPerViewer: Math.max(...reps.map((r) => r.maxMessages)),
      latencyP50Ms: lat.p50Ms,
      latencyP99Ms: lat.p99Ms,
      latencySamples: lat.count,
      serverCpuPct: server0.cpuPct,
      serverRss: server0.rss,
      loadCpuPct: groupDelta(l0, l1).cpuPct,
    };
    progress(
      `history ${label}: ${sent.accepted}/${sent.sends} accepted, ${sendLoop.minPerViewer}–${sendLoop.maxPerViewer} per viewer, server ${fmtNum(server0.cpuPct)}% CPU, ${w0 !== undefined && w1 !== undefined ? w1 - w0 : '?'} socket writes`,
    );
    if (!history || o.joiners === 0) return { sendLoop };

    joiners = Group.start(o.workers);
    const j0 = sampleGroup(spids);
    const t0 = clockMs();
    progress(`join storm: ${o.joiners} clients with history {"last":${o.last}}`);
    const j = await joiners.open(server, o, o.joiners, 1_000_000, 0, { last: o.last });
    // Replays finish after the op-8 replies: wait until every joiner has its range (at most 20 s).
    const until = performance.now() + 20_000;
    let jr = await joiners.report();
    while (jr.reduce((s, r) => s + r.replayed, 0) < j.ok && performance.now() < until) {
      await sleep(200);
      jr = await joiners.report();
    }
    const j1 = sampleGroup(spids);
    const joinCpu = groupDelta(j0, j1);
    const lastDone = Math.max(...jr.map((r) => r.lastDoneAt));
    const first = summarize(mergeHistograms(jr.map((r) => r.firstRecord)));
    const done = summarize(mergeHistograms(jr.map((r) => r.replayDone)));
    const auth = summarize(mergeHistograms(jr.map((r) => r.authMs)));
    const join: JoinRow = {
      joiners: o.joiners,
      ok: j.ok,
      failed: j.failed,
      joinsPerSec: j.ms > 0 ? j.ok / (j.ms / 1000) : Number.NaN,
      authP99Ms: auth.p99Ms,
      firstRecordP50Ms: first.p50Ms,
      firstRecordP99Ms: first.p99Ms,
      replayDoneP99Ms: done.p99Ms,
      allReplayedS: lastDone > 0 ? (lastDone - t0) / 1000 : Number.NaN,
      replayedClients: jr.reduce((s, r) => s + r.replayed, 0),
      roomStates: jr.reduce((s, r) => s + r.roomStates, 0),
      recoveredFalse: jr.reduce((s, r) => s + r.recoveredFalse, 0),
      recordsMin: Math.min(...jr.map((r) => r.minMessages)),
      recordsMax: Math.max(...jr.map((r) => r.maxMessages)),
      serverCpuPct: joinCpu.cpuPct,
      serverRss: joinCpu.rss,
    };
    return { sendLoop, join };
  } finally {
    await joiners?.close();
    await viewers.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function sendTable(rows: readonly SendLoopRow[]): string {
  return formatTable(
    [
      'history',
      'viewers',
      'senders',
      'sends',
      'accepted',
      'refused',
      'persisted',
      'per viewer min',
      'max',
      'latency p50 ms',
      'p99 ms',
      'server cpu%',
      'server RSS MB',
      'load cpu%',
    ],
    rows.map((r) => [
      r.history,
      r.viewersOk,
      r.senders,
      r.sends,
      r.accepted,
      r.refused,
      r.persisted === null ? '-' : r.persisted,
      r.minPerViewer,
      r.maxPerViewer,
      fmtMs(r.latencyP50Ms),
      fmtMs(r.latencyP99Ms),
      fmtNum(r.serverCpuPct),
      fmtMb(r.serverRss),
      fmtNum(r.loadCpuPct),
    ]),
  );
}

function joinTable(j: JoinRow): string {
  return formatTable(
    [
      'joiners',
      'ok',
      'failed',
      'joins/s',
      'auth p99 ms',
      'first record p50 ms',
      'p99 ms',
      'replay done p99 ms',
      'all replayed s',
      'records/client min',
      'max',
      'not recovered',
      'server cpu%',
      'server RSS MB',
    ],
    [
      [
        j.joiners,
        j.ok,
        j.failed,
        fmtInt(Math.round(j.joinsPerSec)),
        fmtMs(j.authP99Ms),
        fmtMs(j.firstRecordP50Ms),
        fmtMs(j.firstRecordP99Ms),
        fmtMs(j.replayDoneP99Ms),
        fmtNum(j.allReplayedS, 2),
        j.recordsMin,
        j.recordsMax,
        j.recoveredFalse,
        fmtNum(j.serverCpuPct),
        fmtMb(j.serverRss),
      ],
    ],
  );
}

export async function runDanmaku(o: DanmakuOptions): Promise<void> {
  if (o.senders > o.viewers) throw new Error(`--senders ${o.senders} exceeds --viewers ${o.viewers} (senders are viewers)`);
  checkServerFdLimit(o.viewers + o.joiners);
  const runs = o.noBaseline ? 1 : 2;
  armDeadline((runs * (60 + o.durationS + o.viewers / 200) + 60 + o.joiners / 100 + 60) * 1000, 'danmaku');
  const backgroundBusyPct = await backgroundBusy();
  const rows: SendLoopRow[] = [];
  let join: JoinRow | undefined;
  try {
    const on = await runOnce(o, true);
    rows.push(on.sendLoop);
    join = on.join;
    if (!o.noBaseline) rows.push((await runOnce(o, false)).sendLoop);
  } finally {
    disarmDeadline();
    if (rows.length > 0) {
      const file = writeResults('danmaku', o, { backgroundBusyPct, sendLoop: rows, join }, o.outDir);
      process.stdout.write(`\nsend loop: ${o.senders} senders × 1 danmaku/s for ${o.durationS} s, room ${ROOM.key}, TCP\n${sendTable(rows)}\n`);
      if (rows.length === 2) {
        const [a, b] = rows;
        process.stdout.write(
          `server CPU history ${a.history} vs off: ${fmtNum(a.serverCpuPct)}% vs ${fmtNum(b.serverCpuPct)}% of one core (${fmtNum(a.serverCpuPct - b.serverCpuPct)} points)\n`,
        );
      }
      if (join) process.stdout.write(`\njoin storm: history {"last":${o.last}}\n${joinTable(join)}\n`);
      process.stdout.write('\n');
      progress(`results: ${file}`);
    }
  }
}

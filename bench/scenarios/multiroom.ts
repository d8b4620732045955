// `npm run bench -- multiroom`: several rooms per connection (docs/protocol.md#several-rooms).
// C connections, each in R of K rooms `multi://1 … multi://K` (its token's room, then one op 19
// with the others in the list form), room pushes at a fixed rate going round all K rooms for D
// s: delivered messages/s, loss, lag, push→client latency, and the RSS the server gained per
// connection once connected and joined. Then the same with single-room connections (R = 1, no
// op 19: goim's bytes) on a new server, side by side — by default at R times the push rate, so
// that both deliver the same messages per second and their CPU per message compares.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MultiroomCommand, MultiroomCount, MultiroomOpened, MultiroomReport } from '../load/multiroom-worker.js';
import { roomsOf } from '../load/multiroom-rooms.js';
import { FD_RESERVE } from '../load/pool.js';
import { pushRoomsHttp } from '../load/room-pusher.js';
import { bodySize } from '../load/stamp.js';
import { mergeHistograms, summarize, type LatencySummary } from '../measure/histogram.js';
import { openFileLimit, sampleMachineCpu, type ProcDelta } from '../measure/proc.js';
import { writeResults } from '../measure/results.js';
import { fmtInt, fmtKb, fmtMs, fmtNum, formatTable } from '../measure/table.js';
import { armDeadline, disarmDeadline, stopChild, track } from '../run/children.js';
import { IpcWorker } from '../run/ipc-worker.js';
import { loopbackSources } from '../run/ports.js';
import type { ServerProcess } from '../servers/server.js';
import type { TsimServer } from '../servers/tsim.js';
import { launchTsim } from '../servers/tsim.js';
import { launchTsimCluster } from '../servers/tsim-cluster.js';
import { backgroundBusy, checkServerFdLimit, groupDelta, processTable, progress, sampleGroup, sleep, splitCpu } from './common.js';

const WORKER = fileURLToPath(new URL('../load/multiroom-worker.js', import.meta.url));
const ROOM_TYPE = 'multi';
const OP = 1000;
/** Delivery is waited for until nothing arrived for this long (or --drain ran out). */
const STALL_MS = 5000;
/** Settling before the RSS is read, after the connections are in. */
const SETTLE_MS = 2000;

export interface MultiroomOptions {
  server: 'tsim' | 'tsim-cluster';
  clients: number;
  /** Rooms per connection (the multi-room variant). */
  perConn: number;
  /** Rooms in all. */
  rooms: number;
  /** Room pushes per second, over all rooms. */
  rate: number;
  durationS: number;
  size: number;
  inFlight: number;
  /** Also run single-room connections, at this rate (pushes/s); null: rate × perConn, the same deliveries per second. */
  single: boolean;
  singleRate: number | null;
  drainS: number;
  cometWorkers: number;
  workers: number;
  concurrency: number;
  sampleEvery: number;
  timeoutMs: number;
  sources: number;
  outDir?: string;
}

/** Why the options cannot run, or null. */
export function multiroomOptionProblem(o: Pick<MultiroomOptions, 'perConn' | 'rooms'>): string | null {
  if (o.perConn > o.rooms) return `--rooms-per-conn ${o.perConn} exceeds --rooms ${o.rooms}`;
  if (o.perConn > 128) return `--rooms-per-conn ${o.perConn}: a connection is in at most limits.maxRooms (128) rooms`;
  return null;
}

/** Members of each room when every one of `clients` connections is in `perConn` of `rooms`. */
export function roomMembers(clients: number, perConn: number, rooms: number): number[] {
  const members = new Array<number>(rooms).fill(0);
  for (let g = 0; g < clients; g++) for (const r of roomsOf(g, perConn, rooms)) members[r]++;
  return members;
}

export interface MultiroomRow {
  server: string;
  roomsPerConn: number;
  rooms: number;
  clients: number;
  clientsOk: number;
  connectSeconds: number;
  /** Connections closed after they were ready. */
  clientsLost: number;
  /** Server RSS gained once the connections are in and joined, per connection (comet processes when distributed), bytes. */
  rssPerConn: number;
  rssBefore: number;
  rssAfter: number;
  rate: number;
  pushed: number;
  accepted: number;
  unsent: number;
  failed: number;
  expected: number;
  delivered: number;
  lost: number;
  deliveredPerSec: number;
  envelopes: number;
  lagS: number;
  latency: LatencySummary;
  serverCpuPct: number;
  /** Server CPU ms per 1,000 delivered messages. */
  cpuMsPer1kMsgs: number;
  loadCpuPct: number;
  otherCpuPct: number;
  processes: ProcDelta[];
}

type Reply = MultiroomOpened | MultiroomCount | MultiroomReport | { t: 'closed' };

class Conns {
  private readonly workers: Array<IpcWorker<MultiroomCommand, Reply>>;

  constructor(n: number) {
    this.workers = Array.from(
      { length: n },
      () =>
        new IpcWorker<MultiroomCommand, Reply>(track(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' }))),
    );
  }

  pids(): number[] {
    return this.workers.map((w) => w.child.pid).filter((p): p is number => p !== undefined);
  }

  async open(port: number, o: MultiroomOptions, perConn: number): Promise<{ ok: number; failed: number; errors: string[]; ms: number }> {
    const n = this.workers.length;
    const per = Math.ceil(o.clients / n);
    if (per > openFileLimit() - FD_RESERVE) throw new Error(`${per} connections per load worker exceed the open-file limit; use more --workers`);
    const rs = await Promise.all(
      this.workers.map((w, i) =>
        w.call(
          {
            t: 'open',
            host: '127.0.0.1',
            port,
            roomType: ROOM_TYPE,
            rooms: o.rooms,
            perConn,
            op: OP,
            first: i * per,
            count: Math.max(0, Math.min(per, o.clients - i * per)),
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
      ok: rs.reduce((s, r) => s + r.ok, 0),
      failed: rs.reduce((s, r) => s + r.failed, 0),
      errors: rs.flatMap((r) => r.errors).slice(0, 5),
      ms: Math.max(...rs.map((r) => r.ms)),
    };
  }

  async messages(): Promise<number> {
    return (await Promise.all(this.workers.map((w) => w.call({ t: 'count' }, 'count')))).reduce((s, r) => s + r.messages, 0);
  }

  report(): Promise<MultiroomReport[]> {
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

/** The processes holding the connections: the comets of a cluster, else every server process. */
function connectionHolders(procs: readonly ServerProcess[]): number[] {
  const comets = procs.filter((p) => p.role.startsWith('comet'));
  return (comets.length > 0 ? comets : procs).map((p) => p.pid);
}

const rssOf = (pids: readonly number[]): number => sampleGroup(pids).reduce((s, p) => s + p.rss, 0);

async function runVariant(o: MultiroomOptions, perConn: number, rate: number): Promise<MultiroomRow> {
  const label = perConn > 1 ? `${perConn} rooms per connection` : 'single-room';
  const base = { transport: 'tcp' as const, batch: 20, signalMs: 1000 };
  const server: TsimServer = o.server === 'tsim' ? await launchTsim(base) : await launchTsimCluster({ ...base, cometWorkers: o.cometWorkers });
  const conns = new Conns(Math.min(o.workers, o.clients));
  try {
    const roles = server.processes();
    const holders = connectionHolders(roles);
    await sleep(SETTLE_MS);
    const rssBefore = rssOf(holders);
    progress(`${label}: opening ${fmtInt(o.clients)} connections${perConn > 1 ? `, each joining ${perConn - 1} more rooms with one op 19` : ''}`);
    const c = await conns.open(server.client.port, o, perConn);
    progress(
      `${label}: ${fmtInt(c.ok)} ready, ${fmtInt(c.failed)} failed in ${(c.ms / 1000).toFixed(1)} s${c.errors.length ? ` — ${c.errors.join('; ')}` : ''}`,
    );
    if (c.ok === 0) throw new Error(`${label}: no connection ready`);
    await sleep(SETTLE_MS);
    const rssAfter = rssOf(holders);

    const spids = roles.map((p) => p.pid);
    const lpids = [process.pid, ...conns.pids()];
    const s0 = sampleGroup(spids);
    const l0 = sampleGroup(lpids);
    const m0 = sampleMachineCpu();
    const t0 = performance.now();
    progress(`${label}: ${fmtInt(rate)} room pushes/s over ${o.rooms} rooms for ${o.durationS} s`);
    const run = pushRoomsHttp(server.httpPort, {
      roomType: ROOM_TYPE,
      operation: OP,
      rooms: o.rooms,
      rate,
      durationMs: o.durationS * 1000,
      bodySize: o.size,
      inFlight: o.inFlight,
    });
    const ticker = setInterval(() => {
      void conns.messages().then(
        (n) => progress(`  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${fmtInt(run.tally.accepted)} pushes accepted, ${fmtInt(n)} delivered`),
        () => {},
      );
    }, 1000);
    let tally;
    try {
      tally = await run.done;
    } finally {
      clearInterval(ticker);
    }
    const pushedAt = performance.now();
    const members = roomMembers(o.clients, perConn, o.rooms);
    const expected = run.acceptedByRoom.reduce((s, n, r) => s + n * members[r], 0);
    // Until everything arrived, nothing arrived for STALL_MS, or --drain ran out; sampled at the last arrival.
    let got = await conns.messages();
    let lastAt = performance.now();
    let s1 = sampleGroup(spids);
    let l1 = sampleGroup(lpids);
    let m1 = sampleMachineCpu();
    while (got < expected && performance.now() - lastAt < STALL_MS && performance.now() - pushedAt < o.drainS * 1000) {
      await sleep(50);
      const n = await conns.messages();
      if (n > got) {
        lastAt = performance.now();
        s1 = sampleGroup(spids);
        l1 = sampleGroup(lpids);
        m1 = sampleMachineCpu();
      }
      got = n;
    }
    const rs = await conns.report();
    const delivered = rs.reduce((s, r) => s + r.messages, 0);
    const elapsedS = Math.max(o.durationS, (lastAt - t0) / 1000);
    const srv = groupDelta(s0, s1, roles);
    const load = groupDelta(l0, l1);
    return {
      server: server.label,
      roomsPerConn: perConn,
      rooms: o.rooms,
      clients: o.clients,
      clientsOk: c.ok,
      connectSeconds: c.ms / 1000,
      clientsLost: rs.reduce((s, r) => s + r.lost, 0),
      rssPerConn: (rssAfter - rssBefore) / c.ok,
      rssBefore,
      rssAfter,
      rate,
      pushed: tally.sent,
      accepted: tally.accepted,
      unsent: tally.unsent,
      failed: tally.failed,
      expected,
      delivered,
      lost: Math.max(0, expected - delivered),
      deliveredPerSec: delivered / elapsedS,
      envelopes: rs.reduce((s, r) => s + r.envelopes, 0),
      lagS: Math.max(0, (lastAt - pushedAt) / 1000),
      latency: summarize(mergeHistograms(rs.map((r) => r.latency))),
      serverCpuPct: srv.cpuPct,
      cpuMsPer1kMsgs: delivered > 0 ? (srv.cpuPct * 10 * elapsedS) / (delivered / 1000) : Number.NaN,
      loadCpuPct: load.cpuPct,
      otherCpuPct: splitCpu(m0, m1, srv.cpuPct + load.cpuPct).otherCpuPct,
      processes: srv.perProcess,
    };
  } finally {
    await conns.close();
    await server.stop();
  }
}

function table(rows: readonly MultiroomRow[]): string {
  return formatTable(
    [
      'rooms/conn',
      'conns',
      'ready',
      'connect s',
      'KB/conn',
      'rate/s',
      'accepted',
      'expected',
      'delivered',
      'lost',
      'msgs/s',
      'envelopes',
      'lag s',
      'p50 ms',
      'p99 ms',
      'srv cpu%',
      'cpu ms/1k msgs',
      'load cpu%',
      'other cpu%',
    ],
    rows.map((r) => [
      String(r.roomsPerConn),
      r.clients,
      r.clientsOk,
      fmtNum(r.connectSeconds, 2),
      fmtKb(r.rssPerConn),
      r.rate,
      r.accepted,
      r.expected,
      r.delivered,
      r.lost,
      r.deliveredPerSec,
      r.envelopes,
      fmtNum(r.lagS),
      fmtMs(r.latency.p50Ms),
      fmtMs(r.latency.p99Ms),
      fmtNum(r.serverCpuPct),
      fmtNum(r.cpuMsPer1kMsgs, 2),
      fmtNum(r.loadCpuPct),
      fmtNum(r.otherCpuPct),
    ]),
  );
}

export async function runMultiroom(o: MultiroomOptions): Promise<MultiroomRow[]> {
  const problem = multiroomOptionProblem(o);
  if (problem) throw new Error(problem);
  o.size = bodySize(o.size);
  checkServerFdLimit(o.clients, [o.server], o.cometWorkers);
  const variants: Array<[number, number]> = [[o.perConn, o.rate]];
  if (o.single && o.perConn > 1) variants.push([1, o.singleRate ?? o.rate * o.perConn]);
  const per = 60 + (o.server === 'tsim-cluster' ? 60 : 0) + o.clients / 200 + o.durationS + o.drainS + 10;
  armDeadline((variants.length * per + 60) * 1000, 'multiroom');
  const backgroundBusyPct = await backgroundBusy();
  const rows: MultiroomRow[] = [];
  try {
    for (const [perConn, rate] of variants) rows.push(await runVariant(o, perConn, rate));
  } finally {
    disarmDeadline();
    if (rows.length > 0) {
      const file = writeResults('multiroom', o, { backgroundBusyPct, rows }, o.outDir);
      process.stdout.write(
        `\nmultiroom: ${rows[0].server}, ${fmtInt(o.clients)} connections, ${o.rooms} rooms, ${o.size}-byte bodies\n${table(rows)}\n\n`,
      );
      const perProcess = processTable(rows.map((r) => ({ server: `${r.roomsPerConn} rooms/conn`, processes: r.processes })));
      if (perProcess) process.stdout.write(`${perProcess}\n\n`);
      progress(`results: ${file}`);
    }
  }
  return rows;
}

// `npm run bench -- persist`: persisted room messages per second (docs/history.md). Room
// pushes at a fixed rate to R rooms `live://1 … live://R` of a room type with history on,
// V viewers spread over the rooms (live fan-out), on embedded tsim (SQLite, or memory) or
// distributed tsim (PostgreSQL, a throwaway database per run): pushed, accepted, delivered
// per viewer, persisted (counted in the store), persisted/s, server CPU and RSS; then the same
// run with history off on a new server, the CPU side by side.
import { mkdtempSync, rmSync } from 'node:fs';
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { NatsPushQueue } from '../../src/adapters/nats/push-queue.js';
import { HISTORY_FILE } from '../../src/adapters/sqlite/history-store.js';
import {
  PERSIST_OP,
  type PersistCommand,
  type PersistCount,
  type PersistOpened,
  type PersistReport,
  type PersistSent,
} from '../load/persist-worker.js';
import { FD_RESERVE } from '../load/pool.js';
import { openQueuePusher } from '../load/queue-pusher.js';
import { pushRoomsHttp, pushRoomsQueue, type RoomPushOptions, type RoomPushRun, type RoomPushTally } from '../load/room-pusher.js';
import { mergeHistograms, summarize } from '../measure/histogram.js';
import { openFileLimit, sampleMachineCpu, sampleThreads, threadsDelta, type ProcDelta, type ProcSample } from '../measure/proc.js';
import { writeResults } from '../measure/results.js';
import { fmtInt, fmtMb, fmtMs, fmtNum, formatTable } from '../measure/table.js';
import { armDeadline, disarmDeadline, onExitCleanup, stopChild, track } from '../run/children.js';
import { loopbackSources } from '../run/ports.js';
import type { TsimServer } from '../servers/tsim.js';
import { launchTsim } from '../servers/tsim.js';
import { launchTsimCluster, type TsimClusterServer } from '../servers/tsim-cluster.js';
import { backgroundBusy, checkServerFdLimit, cometCpuPct, groupDelta, processTable, progress, sampleGroup, sleep, splitCpu } from './common.js';

const WORKER = fileURLToPath(new URL('../load/persist-worker.js', import.meta.url));
const ROOM_TYPE = 'live';
/** Records kept per room: above anything a run pushes, so that retention deletes nothing the count needs. */
const KEEP = 100_000_000;
/**
 * push = danmaku: unanswered danmaku per sender, the most a connection may have awaiting
 * replies with the default protocol.cliProto (5, rounded up to a ring of 8); comet closes a
 * connection with more.
 */
const SENDER_IN_FLIGHT = 8;
/** Delivery and storage are waited for until neither grew for this long (or --drain ran out). */
const STALL_MS = 5000;

export type PersistServer = 'tsim' | 'tsim-cluster';
export type PersistEngine = 'sqlite' | 'memory' | 'postgres';
export type PersistPush = 'http' | 'queue' | 'danmaku';

export interface PersistOptions {
  server: PersistServer;
  engine: PersistEngine;
  rooms: number;
  viewers: number;
  /** Pushes per second, over all rooms. */
  rate: number;
  durationS: number;
  size: number;
  push: PersistPush;
  /** Pushes in flight at most (http, queue; danmaku: SENDER_IN_FLIGHT per sender). */
  inFlight: number;
  /** push = danmaku: viewers that send (the first ones, so spread over the rooms like them). */
  senders: number;
  cometWorkers: number;
  /** PostgreSQL server where each run's database is created (and dropped). */
  postgresUrl: string;
  /** Longest wait after the pushes for delivery and storage, s. */
  drainS: number;
  noBaseline: boolean;
  workers: number;
  concurrency: number;
  sampleEvery: number;
  timeoutMs: number;
  sources: number;
  cpuProfDir?: string;
  outDir?: string;
}

/** Why the options cannot run, or null. */
export function persistOptionProblem(o: Pick<PersistOptions, 'server' | 'engine' | 'push' | 'rooms' | 'viewers' | 'senders'>): string | null {
  if (o.server === 'tsim' && o.push === 'queue')
    return "--push queue needs --server tsim-cluster: embedded tsim's queue is in memory inside its process";
  if (o.server === 'tsim' && o.engine === 'postgres') return '--engine postgres is for --server tsim-cluster (embedded: sqlite or memory)';
  if (o.server === 'tsim-cluster' && o.engine !== 'postgres') return '--server tsim-cluster stores history in PostgreSQL only (--engine postgres)';
  if (o.viewers < o.rooms) return `--viewers ${o.viewers} leaves rooms without a viewer (--rooms ${o.rooms})`;
  if (o.push === 'danmaku' && (o.senders < o.rooms || o.senders > o.viewers))
    return `--push danmaku needs a sender in every room, senders being viewers: --rooms ${o.rooms} ≤ --senders ${o.senders} ≤ --viewers ${o.viewers}`;
  return null;
}

/**
 * The configuration tables the scenario adds (to embedded tsim; to the cluster's logic and
 * job). With `danmaku` the room type takes op-4 sends, the per-user limits out of the way.
 */
export function persistConfig(history: boolean, engine: PersistEngine, where: { dataDir: string; postgresUrl: string }, danmaku = false): string {
  return [
    `[roomTypes.${ROOM_TYPE}]`,
    `history = ${history}`,
    `keep = ${KEEP}`,
    ...(danmaku ? ['send = true', 'rate = 1000000', 'burst = 1000000'] : []),
    '[history]',
    `engine = "${engine}"`,
    `dataDir = ${JSON.stringify(where.dataDir)}`,
    `postgresUrl = ${JSON.stringify(where.postgresUrl)}`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The viewers

type Reply = PersistOpened | PersistCount | PersistSent | PersistReport | { t: 'closed' };

class ViewerWorker {
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
      for (const w of this.waiters.values()) w.reject(new Error(`viewer worker ${child.pid} exited (${signal ?? code})`));
      this.waiters.clear();
    });
  }

  call<T extends Reply['t']>(msg: PersistCommand, t: T): Promise<Extract<Reply, { t: T }>> {
    return new Promise((resolve, reject) => {
      this.waiters.set(t, { resolve: resolve as (m: Reply) => void, reject });
      this.child.send(msg);
    });
  }
}

class Viewers {
  private readonly workers: ViewerWorker[];

  constructor(n: number) {
    this.workers = Array.from(
      { length: n },
      () => new ViewerWorker(track(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' }))),
    );
  }

  pids(): number[] {
    return this.workers.map((w) => w.child.pid).filter((p): p is number => p !== undefined);
  }

  async open(port: number, o: PersistOptions): Promise<{ ok: number; failed: number; errors: string[]; ms: number }> {
    const n = this.workers.length;
    const per = Math.ceil(o.viewers / n);
    if (per > openFileLimit() - FD_RESERVE) throw new Error(`${per} viewers per load worker exceed the open-file limit; use more --workers`);
    const replies = await Promise.all(
      this.workers.map((w, i) =>
        w.call(
          {
            t: 'open',
            host: '127.0.0.1',
            port,
            roomType: ROOM_TYPE,
            rooms: o.rooms,
            first: i * per,
            count: Math.max(0, Math.min(per, o.viewers - i * per)),
            senders: o.push === 'danmaku' ? o.senders : 0,
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

  async count(): Promise<{ total: number; sent: number; accepted: number }> {
    const rs = await Promise.all(this.workers.map((w) => w.call({ t: 'count' }, 'count')));
    return { total: rs.reduce((s, r) => s + r.total, 0), sent: rs.reduce((s, r) => s + r.sent, 0), accepted: rs.reduce((s, r) => s + r.accepted, 0) };
  }

  async total(): Promise<number> {
    return (await this.count()).total;
  }

  /** Every sender sends `perSender` danmaku a second for `durationMs`; the answers merged. */
  async send(durationMs: number, perSender: number, inFlight: number): Promise<{ tally: RoomPushTally; acceptedByRoom: number[] }> {
    const rs = await Promise.all(this.workers.map((w) => w.call({ t: 'send', durationMs, perSender, inFlight }, 'sent')));
    const codes: Record<string, number> = {};
    for (const r of rs) for (const [k, n] of Object.entries(r.codes)) codes[k] = (codes[k] ?? 0) + n;
    const acceptedByRoom = rs[0].acceptedByRoom.map((_, i) => rs.reduce((s, r) => s + (r.acceptedByRoom[i] ?? 0), 0));
    return {
      tally: {
        sent: rs.reduce((s, r) => s + r.sent, 0),
        unsent: rs.reduce((s, r) => s + r.unsent, 0),
        accepted: rs.reduce((s, r) => s + r.accepted, 0),
        failed: rs.reduce((s, r) => s + r.failed, 0),
        errors: Object.entries(codes).map(([code, n]) => `${n} × code ${code}`),
      },
      acceptedByRoom,
    };
  }

  report(): Promise<PersistReport[]> {
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

/** Viewers of room index r: g = r, r + rooms, r + 2 × rooms, … below `viewers`. */
function viewersOfRoom(r: number, rooms: number, viewers: number): number {
  return r < viewers ? Math.floor((viewers - 1 - r) / rooms) + 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Counting what the store holds

interface RoomStored {
  count: number;
  min: number;
  max: number;
}

interface StoreCounter {
  /** What is counted ("records in history.db", …). */
  what: string;
  /** Records stored so far, all rooms. */
  total(): Promise<number>;
  /** Per room key: records, lowest and highest offset. */
  rooms(): Promise<Map<string, RoomStored>>;
  close(): Promise<void>;
}

/** Counts the records in the SQLite file the server writes (read-only, WAL: the server's writes are not held up). */
function sqliteCounter(dataDir: string): StoreCounter {
  let db: DatabaseSync | null = null;
  const open = (): DatabaseSync | null => {
    if (db === null) {
      try {
        db = new DatabaseSync(join(dataDir, HISTORY_FILE), { readOnly: true });
      } catch {
        return null; // not created yet
      }
    }
    return db;
  };
  return {
    what: `records in ${HISTORY_FILE} (SQLite, read-only connection)`,
    total: () => {
      const d = open();
      if (d === null) return Promise.resolve(0);
      try {
        return Promise.resolve(Number((d.prepare('SELECT count(*) AS n FROM records').get() as { n: number }).n));
      } catch {
        return Promise.resolve(0); // the table is not there yet
      }
    },
    rooms: () => {
      const out = new Map<string, RoomStored>();
      const d = open();
      if (d === null) return Promise.resolve(out);
      const rows = d.prepare('SELECT room, count(*) AS n, min("offset") AS lo, max("offset") AS hi FROM records GROUP BY room').all() as Array<{
        room: string;
        n: number;
        lo: number;
        hi: number;
      }>;
      for (const r of rows) out.set(r.room, { count: Number(r.n), min: Number(r.lo), max: Number(r.hi) });
      return Promise.resolve(out);
    },
    close: () => {
      db?.close();
      db = null;
      return Promise.resolve();
    },
  };
}

/** Counts the records in the run's PostgreSQL database. */
function postgresCounter(url: string): StoreCounter {
  let client: pg.Client | null = null;
  const connect = async (): Promise<pg.Client> => {
    if (client === null) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      client = c;
    }
    return client;
  };
  return {
    what: 'records in the run database (PostgreSQL)',
    async total() {
      const c = await connect();
      try {
        return Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM records')).rows[0].n);
      } catch (err) {
        if ((err as { code?: string }).code === '42P01') return 0; // no table yet
        throw err;
      }
    },
    async rooms() {
      const c = await connect();
      const res = await c.query<{ room: string; n: string; lo: string; hi: string }>(
        'SELECT room, count(*) AS n, min("offset") AS lo, max("offset") AS hi FROM records GROUP BY room',
      );
      return new Map(res.rows.map((r) => [r.room, { count: Number(r.n), min: Number(r.lo), max: Number(r.hi) }]));
    },
    async close() {
      await client?.end().catch(() => {});
      client = null;
    },
  };
}

/** The history API per room (engine memory: the store is inside the server): its newest offset and range. */
function apiCounter(httpPort: number, rooms: number): StoreCounter {
  const readRooms = async (): Promise<Map<string, RoomStored>> => {
    const out = new Map<string, RoomStored>();
    let next = 0;
    const one = async (): Promise<void> => {
      while (next < rooms) {
        const id = String(1 + next++);
        const res = await fetch(`http://127.0.0.1:${httpPort}/tsim/history/room?type=${ROOM_TYPE}&room=${id}&since=0&limit=1`);
        const doc = (await res.json()) as { code: number; message?: string; data?: { first: number; last: number } };
        if (doc.code !== 0 || doc.data === undefined) throw new Error(`history API: ${doc.message ?? res.status}`);
        const { first, last } = doc.data;
        if (last >= first) out.set(`${ROOM_TYPE}://${id}`, { count: last - first + 1, min: first, max: last });
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, rooms) }, one));
    return out;
  };
  return {
    what: 'newest offset per room (history API; offsets from 1)',
    total: async () => [...(await readRooms()).values()].reduce((s, r) => s + r.count, 0),
    rooms: readRooms,
    close: () => Promise.resolve(),
  };
}

// ---------------------------------------------------------------------------------------------
// A throwaway PostgreSQL database

interface RunDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** `node -e DROP_SCRIPT <url> <statement>`: runs one statement with pg. */
const DROP_SCRIPT = `const pg = require(${JSON.stringify(createRequire(import.meta.url).resolve('pg'))});
const c = new pg.Client({ connectionString: process.argv[1] });
c.connect().then(() => c.query(process.argv[2])).catch(() => {}).finally(() => c.end());`;

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A database `<prefix>_<random>` on the server of `adminUrl`, dropped by `drop()` or at the bench's exit. */
export async function createDatabase(adminUrl: string, prefix = 'tsim_bench_persist'): Promise<RunDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const drop = `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`;
  // Ctrl-C or the deadline: the servers are killed first, then this (best effort; exit
  // handlers are synchronous, so a short-lived node process runs the statement with pg).
  const dropAtExit = onExitCleanup(() => {
    spawnSync(process.execPath, ['-e', DROP_SCRIPT, adminUrl, drop], { stdio: 'ignore', timeout: 10_000 });
  });
  return {
    name,
    url: u.href,
    drop: async () => {
      await adminQuery(adminUrl, drop);
      dropAtExit();
    },
  };
}

/** The database's backend processes (the server's connections), other than the one asking. */
async function backendPids(adminUrl: string, db: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const res = await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db]);
    return res.rows.map((r) => r.pid);
  } finally {
    await c.end();
  }
}

/** CPU of the backends over an interval: those that started meanwhile count from zero. */
function backendCpuPct(start: readonly ProcSample[], end: readonly ProcSample[], seconds: number): number {
  let ms = 0;
  for (const e of end) ms += e.cpuMs - (start.find((s) => s.pid === e.pid)?.cpuMs ?? 0);
  return seconds > 0 ? ms / 10 / seconds : Number.NaN;
}

// ---------------------------------------------------------------------------------------------
// One run

export interface PersistRow {
  server: string;
  history: string;
  /** The run's PostgreSQL database (dropped at the end), or null. */
  database: string | null;
  rooms: number;
  viewers: number;
  viewersOk: number;
  rate: number;
  /** Pushes sent, and due but not sent (the source had --in-flight unanswered). */
  pushed: number;
  unsent: number;
  accepted: number;
  failed: number;
  pushErrors: string[];
  /** accepted ÷ push window. */
  acceptedPerSec: number;
  /** Seconds from the first push to the last answer. */
  pushWindowS: number;
  /** Room messages per viewer, fewest and most (every viewer should have all of its room's). */
  perViewerMin: number;
  perViewerMax: number;
  /** What a viewer's room accepted, fewest and most over the rooms. */
  roomAcceptedMin: number;
  roomAcceptedMax: number;
  /** Rooms where a viewer got fewer (more) room messages than the room accepted. */
  roomsShort: number;
  roomsOver: number;
  /** Seconds after the last push answer until the last viewer had everything (or stopped receiving). */
  deliveredAfterS: number;
  /** Messages without an offset, and offsets not following the viewer's previous one. */
  unnumbered: number;
  offsetBreaks: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Records stored at the end of the push window, and in all (null: history off). */
  persistedAtPushEnd: number | null;
  persisted: number | null;
  /** Rooms whose records are not exactly 1 … accepted (null: history off). */
  roomsNotStored: number | null;
  /** persisted at the push end ÷ push window. */
  persistedPerSecWindow: number | null;
  /** persisted ÷ (first push → last record stored). */
  persistedPerSecToLast: number | null;
  /** Seconds after the last push answer until the last record was stored. */
  storedAfterS: number | null;
  /** Server (tsim processes) over the push window, % of one core. */
  serverCpuPct: number;
  /** Embedded: % of one core by kind of thread over the push window (MainThread = the event loop). */
  threadsCpuPct: Record<string, number> | null;
  /** The comet processes alone (cluster). */
  cometCpuPct: number | null;
  /** Server CPU-seconds from the first push until delivery and storage settled. */
  serverCpuS: number;
  /** serverCpuS per 1,000 accepted messages, ms: the cost of a message whatever rate was reached. */
  serverCpuMsPer1k: number;
  serverRss: number;
  /** PostgreSQL backends of the run database over the push window, % of one core (null: none). */
  postgresCpuPct: number | null;
  loadCpuPct: number;
  irqCpuPct: number;
  otherCpuPct: number;
  processes: ProcDelta[];
}

interface Launched {
  server: TsimServer;
  queue: NatsPushQueue | null;
}

async function launch(o: PersistOptions, extraConfig: string): Promise<Launched> {
  // Danmaku senders send hundreds a second each: the per-connection frame rate (50/s by default) is off.
  const limits = o.push === 'danmaku' ? { upstreamFramesPerSecond: 0 } : undefined;
  const base = { transport: 'tcp' as const, batch: 20, signalMs: 1000, cpuProfDir: o.cpuProfDir, extraConfig, limits };
  if (o.server === 'tsim') return { server: await launchTsim(base), queue: null };
  const server: TsimClusterServer = await launchTsimCluster({ ...base, cometWorkers: o.cometWorkers });
  if (o.push !== 'queue') return { server, queue: null };
  try {
    return { server, queue: await openQueuePusher(server.logicConfig, server.natsUrl, 30_000) };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

async function runOnce(o: PersistOptions, history: boolean): Promise<PersistRow> {
  const label = history ? `on (${o.engine})` : 'off';
  const dataDir = mkdtempSync(join(tmpdir(), 'tsim-bench-persist-'));
  let db: RunDatabase | null = null;
  let launched: Launched | null = null;
  let viewers: Viewers | null = null;
  let counter: StoreCounter | null = null;
  const savedDatabaseUrl = process.env.DATABASE_URL;
  try {
    if (history && o.engine === 'postgres') {
      db = await createDatabase(o.postgresUrl);
      // DATABASE_URL overrides history.postgresUrl in the server: make it this run's database.
      process.env.DATABASE_URL = db.url;
    }
    progress(`history ${label}: starting ${o.server}${db ? ` (database ${db.name})` : ''}`);
    launched = await launch(o, persistConfig(history, o.engine, { dataDir, postgresUrl: db?.url ?? o.postgresUrl }, o.push === 'danmaku'));
    if (savedDatabaseUrl === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = savedDatabaseUrl;
    const { server, queue } = launched;
    if (history) {
      counter =
        o.engine === 'sqlite' ? sqliteCounter(dataDir) : o.engine === 'postgres' ? postgresCounter(db!.url) : apiCounter(server.httpPort, o.rooms);
    }

    viewers = new Viewers(Math.min(o.workers, o.viewers));
    progress(`history ${label}: opening ${o.viewers} viewers over ${o.rooms} room${o.rooms === 1 ? '' : 's'}`);
    const v = await viewers.open(server.client.port, o);
    progress(
      `history ${label}: ${v.ok} ready, ${v.failed} failed in ${(v.ms / 1000).toFixed(2)} s${v.errors.length ? ` — ${v.errors.join('; ')}` : ''}`,
    );
    if (v.ok === 0) throw new Error('no viewer connected');
    await sleep(1000);

    const roles = server.processes();
    const spids = roles.map((p) => p.pid);
    const lpids = [process.pid, ...viewers.pids()];
    const pgPids0 = db ? await backendPids(o.postgresUrl, db.name) : [];
    const pg0 = sampleGroup(pgPids0);
    const s0 = sampleGroup(spids);
    // Embedded: one process; its event loop is what live fan-out runs on.
    const th0 = spids.length === 1 ? sampleThreads(spids[0]) : null;
    const l0 = sampleGroup(lpids);
    const m0 = sampleMachineCpu();
    const t0 = performance.now();
    const po: RoomPushOptions = {
      roomType: ROOM_TYPE,
      operation: PERSIST_OP,
      rooms: o.rooms,
      rate: o.rate,
      durationMs: o.durationS * 1000,
      bodySize: o.size,
      inFlight: o.inFlight,
    };
    progress(`history ${label}: ${fmtInt(o.rate)} pushes/s over ${o.rooms} room${o.rooms === 1 ? '' : 's'} for ${o.durationS} s (${o.push})`);
    let source: { done: Promise<{ tally: RoomPushTally; acceptedByRoom: number[] }>; tick: () => Promise<string> };
    if (o.push === 'danmaku') {
      const vs = viewers;
      source = {
        done: vs.send(o.durationS * 1000, o.rate / o.senders, SENDER_IN_FLIGHT),
        tick: async () => {
          const c = await vs.count();
          return `${fmtInt(c.sent)} sent, ${fmtInt(c.accepted)} accepted`;
        },
      };
    } else {
      const run: RoomPushRun = queue ? pushRoomsQueue(queue, po) : pushRoomsHttp(server.httpPort, po);
      source = {
        done: run.done.then((tally) => ({ tally, acceptedByRoom: run.acceptedByRoom })),
        tick: () => {
          const t = run.tally;
          return Promise.resolve(
            `${fmtInt(t.sent)} pushed, ${fmtInt(t.accepted)} accepted, ${fmtInt(t.failed)} failed, ${fmtInt(t.unsent)} not sent`,
          );
        },
      };
    }
    const ticker = setInterval(() => {
      const at = ((performance.now() - t0) / 1000).toFixed(0);
      void source.tick().then(
        (line) => progress(`  ${at} s: ${line}`),
        () => {},
      );
    }, 1000);
    let tally: RoomPushTally;
    let acceptedByRoom: number[];
    try {
      ({ tally, acceptedByRoom } = await source.done);
    } finally {
      clearInterval(ticker);
    }
    const tEnd = performance.now();
    const s1 = sampleGroup(spids);
    const th1 = th0 === null ? null : sampleThreads(spids[0]);
    const l1 = sampleGroup(lpids);
    const m1 = sampleMachineCpu();
    const pg1 = db ? sampleGroup(await backendPids(o.postgresUrl, db.name)) : [];
    const persistedAtPushEnd = counter ? await counter.total() : null;
    const pushWindowS = (tEnd - t0) / 1000;
    const threads = th0 === null || th1 === null ? null : threadsDelta(th0, th1, pushWindowS);

    // Drain: until every viewer has its room's messages and the store everything accepted,
    // or neither grew for STALL_MS, or --drain ran out.
    const expected = acceptedByRoom.reduce((s, a, r) => s + a * viewersOfRoom(r, o.rooms, o.viewers), 0);
    const until = tEnd + o.drainS * 1000;
    let delivered = await viewers.total();
    let deliveredAt = delivered >= expected ? tEnd : performance.now();
    let stored = persistedAtPushEnd ?? 0;
    let storedAt = tEnd;
    const storePollMs = o.engine === 'memory' ? 1000 : 200;
    let nextStorePoll = performance.now() + storePollMs;
    for (;;) {
      const now = performance.now();
      const deliveryDone = delivered >= expected || now - deliveredAt > STALL_MS;
      const storeDone = counter === null || stored >= tally.accepted || now - storedAt > STALL_MS;
      if ((deliveryDone && storeDone) || now > until) break;
      await sleep(100);
      if (!deliveryDone) {
        const d = await viewers.total();
        if (d > delivered) {
          delivered = d;
          deliveredAt = performance.now();
        }
      }
      if (!storeDone && performance.now() >= nextStorePoll) {
        const s = await counter!.total();
        if (s > stored) {
          stored = s;
          storedAt = performance.now();
        }
        nextStorePoll = performance.now() + storePollMs;
      }
    }
    const s2 = sampleGroup(spids);
    const settledS = (performance.now() - t0) / 1000;

    const window = groupDelta(s0, s1, roles);
    const toSettled = groupDelta(s0, s2, roles);
    const load = groupDelta(l0, l1);
    const pgCpu = db ? backendCpuPct(pg0, pg1, pushWindowS) : null;
    const split = splitCpu(m0, m1, window.cpuPct + load.cpuPct + (pgCpu ?? 0));

    const reps = await viewers.report();
    const lat = summarize(mergeHistograms(reps.map((r) => r.latency)));
    // Per room: the fewest and most its viewers got, against what the room accepted.
    let perViewerMin = Number.POSITIVE_INFINITY;
    let perViewerMax = 0;
    let roomsShort = 0;
    let roomsOver = 0;
    for (let r = 0; r < o.rooms; r++) {
      const mins = reps.map((x) => x.roomMin[r]).filter((n) => n >= 0);
      if (mins.length === 0) continue;
      const lo = Math.min(...mins);
      const hi = Math.max(...reps.map((x) => x.roomMax[r]));
      perViewerMin = Math.min(perViewerMin, lo);
      perViewerMax = Math.max(perViewerMax, hi);
      if (lo < acceptedByRoom[r]) roomsShort++;
      if (hi > acceptedByRoom[r]) roomsOver++;
    }

    let persisted: number | null = null;
    let roomsNotStored: number | null = null;
    if (counter) {
      const perRoom = await counter.rooms();
      persisted = [...perRoom.values()].reduce((s, r) => s + r.count, 0);
      roomsNotStored = 0;
      for (let r = 0; r < o.rooms; r++) {
        const got = perRoom.get(`${ROOM_TYPE}://${r + 1}`);
        const want = acceptedByRoom[r];
        const exact = want === 0 ? got === undefined : got !== undefined && got.count === want && got.min === 1 && got.max === want;
        if (!exact) roomsNotStored++;
      }
    }
    const storedAfterS = counter ? Math.max(0, (storedAt - tEnd) / 1000) : null;
    const row: PersistRow = {
      server: server.label,
      history: label,
      database: db?.name ?? null,
      rooms: o.rooms,
      viewers: o.viewers,
      viewersOk: reps.reduce((s, r) => s + r.open, 0),
      rate: o.rate,
      pushed: tally.sent,
      unsent: tally.unsent,
      accepted: tally.accepted,
      failed: tally.failed,
      pushErrors: tally.errors,
      acceptedPerSec: tally.accepted / pushWindowS,
      pushWindowS,
      perViewerMin: Number.isFinite(perViewerMin) ? perViewerMin : 0,
      perViewerMax,
      roomAcceptedMin: Math.min(...acceptedByRoom),
      roomAcceptedMax: Math.max(...acceptedByRoom),
      roomsShort,
      roomsOver,
      deliveredAfterS: Math.max(0, (deliveredAt - tEnd) / 1000),
      unnumbered: reps.reduce((s, r) => s + r.unnumbered, 0),
      offsetBreaks: reps.reduce((s, r) => s + r.offsetBreaks, 0),
      latencyP50Ms: lat.p50Ms,
      latencyP99Ms: lat.p99Ms,
      persistedAtPushEnd,
      persisted,
      roomsNotStored,
      persistedPerSecWindow: persistedAtPushEnd === null ? null : persistedAtPushEnd / pushWindowS,
      persistedPerSecToLast: persisted === null ? null : persisted / ((storedAt - t0) / 1000),
      storedAfterS,
      serverCpuPct: window.cpuPct,
      cometCpuPct: cometCpuPct(window.perProcess),
      serverCpuS: (toSettled.cpuPct / 100) * settledS,
      serverCpuMsPer1k: tally.accepted > 0 ? ((toSettled.cpuPct / 100) * settledS * 1e6) / tally.accepted : Number.NaN,
      serverRss: toSettled.rss,
      postgresCpuPct: pgCpu,
      loadCpuPct: load.cpuPct,
      irqCpuPct: split.irqCpuPct,
      otherCpuPct: split.otherCpuPct,
      processes: window.perProcess,
      threadsCpuPct: threads,
    };
    progress(
      `history ${label}: ${fmtInt(row.accepted)}/${fmtInt(row.pushed)} accepted, per viewer ${row.perViewerMin}–${row.perViewerMax}` +
        (persisted === null ? '' : `, persisted ${fmtInt(persisted)} (${fmtInt(row.persistedPerSecToLast)}/s)`) +
        `, server ${fmtNum(row.serverCpuPct)}% CPU`,
    );
    return row;
  } finally {
    if (savedDatabaseUrl === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = savedDatabaseUrl;
    await counter?.close();
    await viewers?.close();
    await launched?.queue?.close().catch(() => {});
    await launched?.server.stop();
    await db?.drop().catch((err: unknown) => progress(`could not drop database ${db?.name}: ${(err as Error).message}`));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function deliveryTable(rows: readonly PersistRow[]): string {
  return formatTable(
    [
      'history',
      'pushed',
      'not sent',
      'accepted',
      'failed',
      'accepted/s',
      'per viewer min–max',
      'room accepted',
      'rooms short',
      'delivered after s',
      'p50 ms',
      'p99 ms',
    ],
    rows.map((r) => [
      r.history,
      r.pushed,
      r.unsent,
      r.accepted,
      r.failed,
      r.acceptedPerSec,
      `${fmtInt(r.perViewerMin)}–${fmtInt(r.perViewerMax)}`,
      r.roomAcceptedMin === r.roomAcceptedMax ? fmtInt(r.roomAcceptedMin) : `${fmtInt(r.roomAcceptedMin)}–${fmtInt(r.roomAcceptedMax)}`,
      r.roomsShort,
      fmtNum(r.deliveredAfterS),
      fmtMs(r.latencyP50Ms),
      fmtMs(r.latencyP99Ms),
    ]),
  );
}

function costTable(rows: readonly PersistRow[]): string {
  return formatTable(
    [
      'history',
      'persisted',
      'at push end',
      'persisted/s window',
      'to last',
      'stored after s',
      'rooms not stored',
      'srv cpu%',
      'comet cpu%',
      'pg cpu%',
      'srv cpu ms/1k',
      'srv MB',
      'load cpu%',
      'irq cpu%',
      'other cpu%',
    ],
    rows.map((r) => [
      r.history,
      r.persisted,
      r.persistedAtPushEnd,
      r.persistedPerSecWindow,
      r.persistedPerSecToLast,
      r.storedAfterS === null ? '-' : fmtNum(r.storedAfterS),
      r.roomsNotStored,
      fmtNum(r.serverCpuPct),
      r.cometCpuPct === null ? '-' : fmtNum(r.cometCpuPct),
      r.postgresCpuPct === null ? '-' : fmtNum(r.postgresCpuPct),
      fmtNum(r.serverCpuMsPer1k),
      fmtMb(r.serverRss),
      fmtNum(r.loadCpuPct),
      fmtNum(r.irqCpuPct),
      fmtNum(r.otherCpuPct),
    ]),
  );
}

function problems(r: PersistRow): string[] {
  const out: string[] = [];
  if (r.viewersOk < r.viewers) out.push(`${r.viewers - r.viewersOk} viewers not connected at the end`);
  if (r.unsent > 0)
    out.push(`${fmtInt(r.unsent)} pushes not sent: as many as --in-flight were unanswered when they were due (the source or the server fell behind)`);
  if (r.failed > 0) out.push(`${fmtInt(r.failed)} pushes failed (${r.pushErrors.join('; ')})`);
  if (r.roomsShort > 0) out.push(`${r.roomsShort} rooms have a viewer short of the room's messages`);
  if (r.roomsOver > 0) out.push(`${r.roomsOver} rooms have a viewer with more messages than the room accepted`);
  if (r.history !== 'off' && r.unnumbered > 0) out.push(`${fmtInt(r.unnumbered)} room messages arrived without an offset`);
  if (r.offsetBreaks > 0) out.push(`${fmtInt(r.offsetBreaks)} offsets did not follow the viewer's previous one`);
  if (r.roomsNotStored !== null && r.roomsNotStored > 0) out.push(`${r.roomsNotStored} rooms do not hold exactly offsets 1 … accepted in the store`);
  return out;
}

export async function runPersist(o: PersistOptions): Promise<void> {
  const problem = persistOptionProblem(o);
  if (problem) throw new Error(problem);
  checkServerFdLimit(o.server === 'tsim' ? o.viewers : Math.ceil(o.viewers / o.cometWorkers));
  const runs = o.noBaseline ? 1 : 2;
  armDeadline(runs * (120 + o.durationS + o.drainS + o.viewers / 200) * 1000, 'persist');
  const backgroundBusyPct = await backgroundBusy();
  const rows: PersistRow[] = [];
  try {
    rows.push(await runOnce(o, true));
    if (!o.noBaseline) rows.push(await runOnce(o, false));
  } finally {
    disarmDeadline();
    if (rows.length > 0) {
      const file = writeResults('persist', o, { backgroundBusyPct, rows }, o.outDir);
      const shape = `${rows[0].server}, ${o.rooms} room${o.rooms === 1 ? '' : 's'} live://1…, ${o.viewers} viewers, ${fmtInt(o.rate)} pushes/s for ${o.durationS} s (${o.push}), ${o.size}-byte bodies`;
      process.stdout.write(`\npersist: ${shape}\n${deliveryTable(rows)}\n\n${costTable(rows)}\n`);
      const per = processTable(rows.map((r) => ({ server: `history ${r.history}`, processes: r.processes })));
      if (per) process.stdout.write(`\nserver processes over the push window\n${per}\n`);
      for (const r of rows)
        if (r.threadsCpuPct) process.stdout.write(`history ${r.history}, server threads over the push window: ${threadsLine(r.threadsCpuPct)}\n`);
      for (const r of rows) for (const p of problems(r)) process.stdout.write(`history ${r.history}: ${p}\n`);
      if (rows.length === 2) {
        const [a, b] = rows;
        const comet =
          a.cometCpuPct !== null && b.cometCpuPct !== null
            ? `; comets ${fmtNum(a.cometCpuPct)}% vs ${fmtNum(b.cometCpuPct)}% (× ${fmtNum(a.cometCpuPct / b.cometCpuPct, 2)})`
            : '';
        process.stdout.write(
          `server CPU history ${a.history} vs off, push window: ${fmtNum(a.serverCpuPct)}% vs ${fmtNum(b.serverCpuPct)}% of one core (× ${fmtNum(a.serverCpuPct / b.serverCpuPct, 2)})${comet}; ` +
            `CPU ms per 1,000 messages until settled ${fmtNum(a.serverCpuMsPer1k)} vs ${fmtNum(b.serverCpuMsPer1k)} (× ${fmtNum(a.serverCpuMsPer1k / b.serverCpuMsPer1k, 2)})\n`,
        );
        const ma = a.threadsCpuPct?.MainThread;
        const mb = b.threadsCpuPct?.MainThread;
        if (ma !== undefined && mb !== undefined) {
          // Per message: the two runs may reach different rates.
          const per = (pct: number, r: PersistRow): number => (pct * 10 * r.pushWindowS) / Math.max(1, r.accepted / 1000);
          process.stdout.write(
            `event loop (live fan-out) history ${a.history} vs off: ${fmtNum(ma)}% vs ${fmtNum(mb)}% of one core; ` +
              `ms per 1,000 messages ${fmtNum(per(ma, a))} vs ${fmtNum(per(mb, b))} (× ${fmtNum(per(ma, a) / per(mb, b), 2)})\n`,
          );
        }
      }
      process.stdout.write('\n');
      progress(`results: ${file}`);
    }
  }
}

/** `MainThread 61.2%, WorkerThread 9.8%, …`, busiest first, threads under 0.5% left out. */
function threadsLine(t: Record<string, number>): string {
  return Object.entries(t)
    .filter(([, pct]) => pct >= 0.5)
    .sort((x, y) => y[1] - x[1])
    .map(([name, pct]) => `${name} ${fmtNum(pct)}%`)
    .join(', ');
}

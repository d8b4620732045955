// `npm run bench -- history-store`: appends of history records through the HistoryStore port,
// 1,000 records per call (`history.writeBatch`), into SQLite (a temporary directory) and
// PostgreSQL (a throwaway database tsim_bench_<random>, dropped at the end): records/s, and
// how long each call holds the event loop — node:sqlite is synchronous, so for SQLite that is
// the whole write (docs/deployment.md#history-storage).
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { silentLogger } from '../../src/log.js';
import type { AppendBatch, HistoryStore } from '../../src/ports/index.js';
import { PostgresHistoryStore } from '../../src/adapters/postgres/history-store.js';
import { SqliteHistoryStore } from '../../src/adapters/sqlite/history-store.js';
import { fmtInt, fmtNum, formatTable } from '../measure/table.js';

export interface HistoryBenchOptions {
  url: string;
  batches: number;
  batchSize: number;
  bodyBytes: number;
  rooms: number;
  engine: 'sqlite' | 'postgres' | 'both';
}

interface Figures {
  engine: string;
  recordsPerSecond: number;
  /** Synchronous part of one append call (ms): for SQLite the whole write. */
  blockMedianMs: number;
  blockMaxMs: number;
  /** Event-loop delay seen by a 1 ms timer during the appends (ms): what anything else on the loop waited. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

async function measure(engine: string, store: HistoryStore, o: HistoryBenchOptions): Promise<Figures> {
  const rooms = Array.from({ length: o.rooms }, (_, i) => `bench://${i}`);
  const epochs = new Map<string, string>();
  const last = new Map<string, number>();
  for (const r of rooms) {
    const s = await store.open(r, 0);
    epochs.set(r, s.epoch);
    last.set(r, s.last);
  }
  const body = randomBytes(o.bodyBytes);
  const call = (): AppendBatch[] => {
    const per = new Map<string, AppendBatch>();
    for (let i = 0; i < o.batchSize; i++) {
      const room = rooms[i % rooms.length];
      const offset = last.get(room)! + 1;
      last.set(room, offset);
      let b = per.get(room);
      if (b === undefined) per.set(room, (b = { room, epoch: epochs.get(room)!, records: [] }));
      b.records.push({ offset, id: randomBytes(8).toString('base64url'), op: 1000, body, mid: 123456789n, time: Date.now(), progress: i * 10 });
    }
    return [...per.values()];
  };
  await store.append(call()); // warm-up: statements prepared, pool connected
  const calls = Array.from({ length: o.batches }, call);
  const blocks: number[] = [];
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const t0 = performance.now();
  for (const c of calls) {
    const s = performance.now();
    const p = store.append(c);
    blocks.push(performance.now() - s);
    await p;
    // Let timers run between calls (a writer does), so the delay monitor sees each call's block.
    await new Promise<void>((resolve) => setTimeout(resolve, 1));
  }
  const seconds = (performance.now() - t0) / 1000;
  loop.disable();
  blocks.sort((a, b) => a - b);
  return {
    engine,
    recordsPerSecond: (o.batches * o.batchSize) / seconds,
    blockMedianMs: blocks[Math.floor(blocks.length / 2)],
    blockMaxMs: blocks[blocks.length - 1],
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
  };
}

async function sqlite(o: HistoryBenchOptions): Promise<Figures> {
  const dir = await mkdtemp(join(tmpdir(), 'tsim-bench-history-'));
  const store = new SqliteHistoryStore({ dataDir: dir });
  try {
    return await measure('sqlite (WAL, synchronous=NORMAL)', store, o);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function postgres(o: HistoryBenchOptions): Promise<Figures> {
  const name = `tsim_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: o.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(o.url);
    url.pathname = `/${name}`;
    const store = await PostgresHistoryStore.connect({ url: url.href, log: silentLogger });
    try {
      return await measure('postgres (pg)', store, o);
    } finally {
      await store.close();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

export async function runHistoryStoreBench(o: HistoryBenchOptions): Promise<void> {
  const results: Figures[] = [];
  if (o.engine !== 'postgres') results.push(await sqlite(o));
  if (o.engine !== 'sqlite') results.push(await postgres(o));
  process.stdout.write(
    `${o.batches} appends of ${o.batchSize} records over ${o.rooms} room(s), ${o.bodyBytes}-byte bodies\n` +
      `${formatTable(
        ['engine', 'records/s', 'append call blocks: median ms', 'max ms', 'loop delay: p99 ms', 'max ms'],
        results.map((r) => [
          r.engine,
          fmtInt(Math.round(r.recordsPerSecond)),
          fmtNum(r.blockMedianMs, 2),
          fmtNum(r.blockMaxMs, 2),
          fmtNum(r.loopDelayP99Ms, 2),
          fmtNum(r.loopDelayMaxMs, 2),
        ]),
      )}\n`,
  );
}

// `npm run bench -- persist`: its configuration (history on a `live` room type, records kept,
// the engine), its room pusher (pushes spread over the rooms, the PushMsg logic publishes, a
// bound on pushes in flight), and tiny runs end to end — embedded with SQLite, and distributed
// with PostgreSQL when the services are there: every push delivered to every viewer of its room
// and stored, the run database dropped, nothing left running.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { parse } from 'smol-toml';
import { pushRoomsQueue, type RoomPushOptions } from '../../bench/load/room-pusher.js';
import { parseStamp } from '../../bench/load/stamp.js';
import { persistConfig, persistOptionProblem, type PersistRow } from '../../bench/scenarios/persist.js';
import { clusterConfigs } from '../../bench/servers/tsim-cluster.js';
import { MemoryRegistry } from '../../src/adapters/memory/registry.js';
import { MemorySessionStore } from '../../src/adapters/memory/session-store.js';
import { buildConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { Logic } from '../../src/logic/logic.js';
import type { PushMsg } from '../../src/ports/index.js';
import { encodePushMsg } from '../../src/rpc/push-msg.js';
import { logicConfig, RecordingQueue, testConfig } from '../logic/fixtures.js';
import { clusterGate } from '../support/cluster.js';
import { serviceGate, serviceUrl } from '../support/services.js';
import { benchChild } from '../support/bench-child.js';

/** The bench as a child process; its processes carry a mark so leftovers can be found. */
const { run: bench, leftovers } = benchChild('TSIM_BENCH_PERSIST_TEST_MARK', 150_000);

/** The cluster run needs redis-server, nats-server and a PostgreSQL server. */
const clusterSkip = (await clusterGate()) || (await serviceGate('postgres'));

const where = { dataDir: '/tmp/tsim-bench-persist-x', postgresUrl: 'postgres://postgres@127.0.0.1:5432/tsim_bench_persist_x' };

describe('persist benchmark configuration', () => {
  it('keeps history for live rooms with the chosen engine, and more records per room than a run pushes', () => {
    const c = buildConfig(parse(persistConfig(true, 'sqlite', where)), 'persist.toml');
    assert.equal(c.roomTypes.live.history, true);
    assert.equal(c.roomTypes.live.send, false);
    assert.ok(c.roomTypes.live.keep >= 10_000_000);
    assert.equal(c.history.engine, 'sqlite');
    assert.equal(c.history.dataDir, where.dataDir);
    assert.equal(c.history.postgresUrl, where.postgresUrl);
  });

  it('turns history off for the comparison run', () => {
    const c = buildConfig(parse(persistConfig(false, 'sqlite', where)), 'persist.toml');
    assert.equal(c.roomTypes.live.history, false);
  });

  it('takes danmaku with the per-user limits out of the way when the source is op 4', () => {
    const c = buildConfig(parse(persistConfig(true, 'sqlite', where, true)), 'persist.toml');
    assert.equal(c.roomTypes.live.send, true);
    assert.ok(c.roomTypes.live.rate >= 100_000);
    assert.ok(c.roomTypes.live.burst >= 100_000);
  });

  it("reaches the cluster's logic and job (which number, store and read history); limits reach its comet", () => {
    const texts = clusterConfigs(
      { redis: 16379, nats: 14222, http: 13111, tcp: 13101, ws: 13102 },
      {
        transport: 'tcp',
        batch: 20,
        signalMs: 1000,
        cometWorkers: 2,
        extraConfig: persistConfig(true, 'postgres', where),
        limits: { upstreamFramesPerSecond: 0 },
      },
    );
    for (const role of ['logic', 'job'] as const) {
      const c = buildConfig(parse(texts[role]), `${role}.toml`);
      assert.equal(c.roomTypes.live?.history, true, role);
      assert.equal(c.history.engine, 'postgres', role);
      assert.equal(c.history.postgresUrl, where.postgresUrl, role);
    }
    const comet = buildConfig(parse(texts.comet), 'comet.toml');
    assert.equal(comet.roomTypes.live, undefined);
    assert.equal(comet.limits.upstreamFramesPerSecond, 0, 'the limits go to the comet');
    assert.equal(comet.limits.maxConnections, 0);
  });

  it('refuses shapes it cannot run', () => {
    const ok = { server: 'tsim', engine: 'sqlite', push: 'http', rooms: 10, viewers: 20, senders: 20 } as const;
    assert.equal(persistOptionProblem(ok), null);
    assert.equal(persistOptionProblem({ ...ok, server: 'tsim-cluster', engine: 'postgres', push: 'queue' }), null);
    assert.match(persistOptionProblem({ ...ok, push: 'queue' }) ?? '', /tsim-cluster/);
    assert.match(persistOptionProblem({ ...ok, engine: 'postgres' }) ?? '', /tsim-cluster/);
    assert.match(persistOptionProblem({ ...ok, server: 'tsim-cluster', push: 'queue' }) ?? '', /PostgreSQL/);
    assert.match(persistOptionProblem({ ...ok, viewers: 9, senders: 9 }) ?? '', /without a viewer/);
    assert.equal(persistOptionProblem({ ...ok, push: 'danmaku', senders: 10 }), null);
    assert.match(persistOptionProblem({ ...ok, push: 'danmaku', senders: 9 }) ?? '', /a sender in every room/);
    assert.match(persistOptionProblem({ ...ok, push: 'danmaku', senders: 21 }) ?? '', /a sender in every room/);
  });
});

describe('persist room pusher', () => {
  const options = (o: Partial<RoomPushOptions>): RoomPushOptions => ({
    roomType: 'live',
    operation: 1000,
    rooms: 3,
    rate: 1000,
    durationMs: 60,
    bodySize: 100,
    inFlight: 256,
    ...o,
  });

  it("spreads the pushes over the rooms in turn, each the PushMsg logic's pushRoom publishes, and counts what each room accepted", async () => {
    const published: PushMsg[] = [];
    let calls = 0;
    const queue = {
      publish: async (msg: PushMsg) => {
        if (++calls === 5) throw new Error('stream not ready'); // the 5th push: room index 1
        published.push(msg);
      },
    };
    const run = pushRoomsQueue(queue, options({}));
    const tally = await run.done;
    assert.equal(tally.sent, 60);
    assert.equal(tally.unsent, 0);
    assert.equal(tally.accepted, 59);
    assert.equal(tally.failed, 1);
    assert.deepEqual(tally.errors, ['stream not ready']);
    assert.deepEqual(run.acceptedByRoom, [20, 19, 20]);
    assert.deepEqual(
      published.slice(0, 6).map((m) => m.room),
      ['live://1', 'live://2', 'live://3', 'live://1', 'live://3', 'live://1'],
    );
    for (const m of published) assert.ok(Number.isFinite(parseStamp(m.msg, 0, m.msg.length)), 'every body carries its send stamp');
    assert.equal(published[0].msg.length, 100);

    // The same push through logic: the same bytes but for its own id and accept time.
    const recorded = new RecordingQueue();
    const logic = new Logic({
      ...logicConfig(testConfig()),
      store: new MemorySessionStore(),
      queue: recorded,
      registry: new MemoryRegistry(),
      log: silentLogger,
    });
    await logic.pushRoom(1000, 'live', '1', published[0].msg);
    await logic.close();
    const theirs = recorded.published[0];
    assert.match(published[0].id ?? '', /^[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(encodePushMsg({ ...published[0], id: theirs.id, time: theirs.time }), encodePushMsg(theirs));
  });

  it('does not send a push that is due while --in-flight pushes are unanswered, and counts it', async () => {
    const waiting: Array<() => void> = [];
    const queue = { publish: () => new Promise<void>((resolve) => waiting.push(resolve)) };
    const run = pushRoomsQueue(queue, options({ inFlight: 5 }));
    await new Promise((r) => setTimeout(r, 150)); // the schedule (60 ms) is over
    assert.equal(run.tally.sent, 5);
    assert.equal(run.tally.unsent, 55);
    for (const w of waiting) w();
    const tally = await run.done;
    assert.equal(tally.accepted, 5);
    assert.deepEqual(run.acceptedByRoom, [2, 2, 1]);
  });
});

// ---------------------------------------------------------------------------------------------

async function rowsOf(dir: string): Promise<PersistRow[]> {
  const files = (await readdir(dir)).filter((f) => f.startsWith('persist-') && f.endsWith('.json'));
  assert.equal(files.length, 1, 'one result file');
  return (JSON.parse(await readFile(join(dir, files[0]), 'utf8')) as { results: { rows: PersistRow[] } }).results.rows;
}

/** Every accepted push reached every viewer of its room and (history on) was stored as offsets 1 … n of its room. */
function assertComplete(row: PersistRow, history: boolean): void {
  assert.ok(row.accepted > 0, `${row.history}: pushes accepted`);
  assert.equal(row.accepted + row.failed, row.pushed, `${row.history}: every push answered`);
  assert.equal(row.failed, 0, `${row.history}: ${row.pushErrors.join('; ')}`);
  assert.equal(row.viewersOk, row.viewers);
  assert.equal(row.roomsShort, 0, `${row.history}: every viewer got every message of its room`);
  assert.equal(row.roomsOver, 0);
  assert.equal(row.offsetBreaks, 0);
  if (history) {
    assert.equal(row.unnumbered, 0, 'every message carried its offset');
    assert.equal(row.persisted, row.accepted, 'every accepted push stored');
    assert.equal(row.roomsNotStored, 0);
    assert.ok((row.persistedPerSecToLast ?? 0) > 0);
  } else {
    assert.equal(row.persisted, null);
  }
}

describe('persist (tiny runs)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsim-bench-persist-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('embedded, SQLite, HTTP pushes: history on then off, every push delivered and stored', async () => {
    const out = join(dir, 'embedded');
    const r = await bench([
      'persist',
      '--push',
      'http',
      '--rooms',
      '3',
      '--viewers',
      '6',
      '--rate',
      '200',
      '--duration',
      '1',
      '--workers',
      '1',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /server CPU history on \(sqlite\) vs off/);
    const rows = await rowsOf(out);
    assert.deepEqual(
      rows.map((x) => x.history),
      ['on (sqlite)', 'off'],
    );
    assertComplete(rows[0], true);
    assertComplete(rows[1], false);
    assert.equal(await leftovers(), 0, 'no server or load worker left running');
  });

  it('embedded, danmaku on op 4 from the viewers: every danmaku accepted, delivered and stored', async () => {
    const out = join(dir, 'danmaku');
    const r = await bench([
      'persist',
      '--push',
      'danmaku',
      '--rooms',
      '2',
      '--viewers',
      '4',
      '--rate',
      '200',
      '--duration',
      '1',
      '--workers',
      '1',
      '--no-baseline',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rows = await rowsOf(out);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].unsent, 0);
    assertComplete(rows[0], true);
    assert.equal(rows[0].accepted, 200, '4 senders × 50/s for 1 s, each answered with code 0');
    assert.equal(await leftovers(), 0, 'no server or load worker left running');
  });

  describe('distributed, PostgreSQL', { skip: clusterSkip }, () => {
    it('every push delivered and stored in a database of its own, dropped at the end', async () => {
      const out = join(dir, 'cluster');
      const r = await bench([
        'persist',
        '--server',
        'tsim-cluster',
        '--comet-workers',
        '1',
        '--rooms',
        '2',
        '--rate',
        '100',
        '--duration',
        '1',
        '--workers',
        '1',
        '--no-baseline',
        '--postgres-url',
        serviceUrl('postgres'),
        '--out',
        out,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const rows = await rowsOf(out);
      assert.equal(rows.length, 1);
      assert.equal(rows[0].history, 'on (postgres)');
      assertComplete(rows[0], true);
      const name = rows[0].database;
      assert.match(name ?? '', /^tsim_bench_persist_/);
      const c = new pg.Client({ connectionString: serviceUrl('postgres') });
      await c.connect();
      try {
        const left = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        assert.equal(left.rowCount, 0, 'the run database was dropped');
      } finally {
        await c.end();
      }
      assert.equal(await leftovers(), 0, 'no server or load worker left running');
    });
  });
});

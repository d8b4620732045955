// `npm run bench -- inbox`: its configuration (new devices receive the stored backlog, no
// retention during a run, the PostgreSQL database of the cluster run) and tiny runs end to end —
// embedded with SQLite, and distributed with PostgreSQL when the services are there: every
// stored message drained by every client once, every watermark read back at the last seq,
// durable and non-durable pushes delivered, the run database dropped, nothing left running.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { parse } from 'smol-toml';
import { inboxConfig, inboxOptionProblem, type InboxResult } from '../../bench/scenarios/inbox.js';
import { clusterConfigs } from '../../bench/servers/tsim-cluster.js';
import { buildConfig } from '../../src/config/load.js';
import { benchChild } from '../support/bench-child.js';
import { clusterGate } from '../support/cluster.js';
import { serviceGate, serviceUrl } from '../support/services.js';

const { run: bench, leftovers } = benchChild('TSIM_BENCH_INBOX_TEST_MARK', 150_000);

/** The cluster run needs redis-server, nats-server and a PostgreSQL server. */
const clusterSkip = (await clusterGate()) || (await serviceGate('postgres'));

describe('inbox benchmark configuration', () => {
  it('gives a new device the messages stored before it came, keeps more than a run stores, and runs no retention', () => {
    const c = buildConfig(parse(inboxConfig(100, { dataDir: '/tmp/tsim-bench-inbox-x', postgresUrl: null })), 'inbox.toml');
    assert.equal(c.inbox.newDeviceRecent, 100);
    assert.ok(c.inbox.keep >= 1000);
    assert.equal(c.inbox.pruneEvery, 0);
    assert.equal(c.inbox.dataDir, '/tmp/tsim-bench-inbox-x');
  });

  it("puts the cluster's inboxes in the run's PostgreSQL database, for logic", () => {
    const url = 'postgres://postgres@127.0.0.1:5432/tsim_bench_inbox_x';
    const texts = clusterConfigs(
      { redis: 16379, nats: 14222, http: 13111, tcp: 13101, ws: 13102 },
      { transport: 'tcp', batch: 20, signalMs: 1000, cometWorkers: 1, extraConfig: inboxConfig(50, { dataDir: '/tmp/x', postgresUrl: url }) },
    );
    const logic = buildConfig(parse(texts.logic), 'logic.toml');
    assert.equal(logic.inbox.engine, 'postgres');
    assert.equal(logic.inbox.postgresUrl, url);
    assert.equal(logic.inbox.newDeviceRecent, 50);
  });

  it('refuses shapes it cannot run', () => {
    const ok = { users: 100, messages: 100, midsPerPush: 100, onlineMids: 1 };
    assert.equal(inboxOptionProblem(ok), null);
    assert.match(inboxOptionProblem({ ...ok, messages: 10_001 }) ?? '', /newDeviceRecent/);
    assert.match(inboxOptionProblem({ ...ok, midsPerPush: 101 }) ?? '', /--users/);
  });
});

async function resultOf(dir: string): Promise<InboxResult> {
  const files = (await readdir(dir)).filter((f) => f.startsWith('inbox-') && f.endsWith('.json'));
  assert.equal(files.length, 1, 'one result file');
  return (JSON.parse(await readFile(join(dir, files[0]), 'utf8')) as { results: InboxResult }).results;
}

function assertComplete(r: InboxResult, users: number, messages: number): void {
  assert.equal(r.store.failed, 0);
  assert.equal(r.store.stored, users * messages);
  assert.ok(r.store.storedPerSec > 0);
  const d = r.drain;
  assert.equal(d.clientsOk, users);
  assert.equal(d.clientsLost, 0);
  assert.equal(d.drained, users, 'every client drained and acknowledged');
  assert.equal(d.expected, users * messages);
  assert.equal(d.received, users * messages);
  assert.equal(d.lost, 0);
  assert.equal(d.duplicates, 0);
  assert.equal(d.gaps, 0);
  assert.equal(d.ackRefused, 0);
  assert.equal(d.watermarksChecked, users);
  assert.equal(d.watermarksWrong, 0, 'every device acknowledged its last seq, read back through the inbox API');
  assert.ok(d.drainSeconds > 0 && d.messagesPerSec > 0);
  assert.deepEqual(
    r.online.map((x) => x.durable),
    [true, false],
  );
  for (const x of r.online) {
    assert.ok(x.accepted > 0, 'pushes accepted');
    assert.equal(x.failed, 0, x.errors.join('; '));
    assert.equal(x.expected, x.accepted * x.midsPerPush);
    assert.equal(x.delivered, x.expected, `${x.durable ? 'durable' : 'non-durable'}: every push delivered`);
    assert.equal(x.lost + x.duplicates + x.gaps, 0);
  }
  assert.ok(r.durableRatio !== null && r.durableRatio > 0);
}

describe('inbox (tiny runs)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsim-bench-inbox-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const args = (out: string) =>
    ['inbox', '--users', '20', '--messages', '30', '--mids-per-push', '7', '--ack-every', '8', '--push-seconds', '1', '--online-mids', '3'].concat([
      '--in-flight',
      '4',
      '--workers',
      '2',
      '--drain',
      '30',
      '--out',
      out,
    ]);

  it('embedded, SQLite: every stored message drained once and acknowledged, then durable and non-durable pushes delivered', async () => {
    const out = join(dir, 'embedded');
    const r = await bench(args(out));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /durable ÷ non-durable pushes\/s/);
    assertComplete(await resultOf(out), 20, 30);
    assert.equal(await leftovers(), 0, 'no server or load worker left running');
  });

  describe('distributed, PostgreSQL', { skip: clusterSkip }, () => {
    it('the same in a database of its own, dropped at the end', async () => {
      const out = join(dir, 'cluster');
      const r = await bench([...args(out), '--server', 'tsim-cluster', '--comet-workers', '1', '--postgres-url', serviceUrl('postgres')]);
      assert.equal(r.code, 0, r.stderr);
      const result = await resultOf(out);
      assertComplete(result, 20, 30);
      assert.match(result.database ?? '', /^tsim_bench_inbox_/);
      const c = new pg.Client({ connectionString: serviceUrl('postgres') });
      await c.connect();
      try {
        const left = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [result.database]);
        assert.equal(left.rowCount, 0, 'the run database was dropped');
      } finally {
        await c.end();
      }
      assert.equal(await leftovers(), 0, 'no server or load worker left running');
    });
  });
});

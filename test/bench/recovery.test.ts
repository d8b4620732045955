// `npm run bench -- recovery`, kept tiny (20 clients): distributed tsim with history in a
// throwaway PostgreSQL database, the comet SIGKILLed and restarted under clients that reconnect
// as the SDK does. Every client recovers with every offset once; with a replay cap of 0 the
// same storm is not recoverable and the instrument says so (reason, lost offsets). Nothing is
// left running, and the database is dropped.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { RecoveryResult } from '../../bench/scenarios/recovery.js';
import { clusterGate } from '../support/cluster.js';
import { freshPostgresDatabase } from '../support/postgres.js';
import { serviceUrl } from '../support/services.js';
import { benchChild } from '../support/bench-child.js';

/** The bench as a child process; its processes carry a mark so leftovers can be found. */
const { run: bench, leftovers } = benchChild('TSIM_BENCH_TEST_MARK', 150_000);

const skip = (await clusterGate()) || (await freshPostgresDatabase.gate());

async function databaseExists(name: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: serviceUrl('postgres') });
  await c.connect();
  try {
    return (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  } finally {
    await c.end();
  }
}

async function storm(out: string, extra: string[]): Promise<{ result: RecoveryResult; database: string }> {
  const r = await bench([
    'recovery',
    '--clients',
    '20',
    '--workers',
    '1',
    '--rate',
    '20',
    '--warmup',
    '1',
    '--after',
    '1',
    '--recover-timeout',
    '40',
    '--postgres',
    serviceUrl('postgres'),
    '--out',
    out,
    ...extra,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /recovery storm: 20 clients/);
  const files = (await readdir(out)).filter((f) => f.startsWith('recovery-') && f.endsWith('.json'));
  assert.equal(files.length, 1, 'one result file');
  const result = (JSON.parse(await readFile(join(out, files[0]), 'utf8')) as { results: RecoveryResult }).results;
  const database = /PostgreSQL postgres:\/\/\S+\/(tsim_bench_recovery_[0-9a-f]+)/.exec(r.stderr)?.[1];
  assert.ok(database !== undefined, `the database is named on stderr:\n${r.stderr}`);
  return { result, database };
}

describe('bench recovery (tiny runs)', { skip }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsim-bench-recovery-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('every client reconnects and recovers: every offset once, none lost', async () => {
    const { result: r, database } = await storm(join(dir, 'ok'), []);
    assert.equal(r.connected, 20);
    assert.equal(r.openAtKill, 20);
    assert.equal(r.dropped, 20, 'the kill dropped every connection');
    assert.equal(r.reconnected, 20);
    assert.equal(r.recovered, 20, JSON.stringify(r.notRecoveredByReason));
    assert.equal(r.notRecovered, 0);
    assert.ok(r.replayedRecords > 0, 'what the clients missed while the comet was down was replayed');
    assert.equal(r.pushes.failed, 0);
    assert.equal(r.stored.last, r.pushes.accepted, 'every accepted push stored, numbered 1 … n');
    assert.equal(r.unpositioned, 0);
    assert.equal(r.lost, 0, r.lostOffsets);
    assert.equal(r.deliveredDuplicates, 0);
    assert.equal(r.undelivered, 0);
    assert.deepEqual(r.cometReplays, { recovered: 20 });
    assert.ok(r.processes.some((p) => p.role === 'comet (killed)') && r.processes.some((p) => p.role === 'comet'));
    assert.equal(await leftovers(), 0, 'no server or load worker left running');
    assert.equal(await databaseExists(database), false, `${database} dropped`);
  });

  it('with a replay cap of 0 the clients are told they were not recovered, and their losses are counted', async () => {
    const { result: r } = await storm(join(dir, 'capped'), ['--replay-max', '0']);
    assert.equal(r.reconnected, 20);
    assert.equal(r.recovered, 0);
    assert.deepEqual(r.notRecoveredByReason, { 'gap too large': 20 });
    // Missed offsets never arrive (lost), or arrive with the calls the job held for the comet
    // after the position moved past them (received, dropped by the SDK's rule).
    assert.ok(r.lost + r.undelivered >= 20, `lost ${r.lost}, undelivered ${r.undelivered}`);
    assert.equal(r.lostNotRecovered, r.lost, 'only the clients not recovered lost offsets');
    assert.equal(await leftovers(), 0, 'no server or load worker left running');
  });
});

// openHistoryStore builds the engine its settings name, and fails with the engine's reason;
// PostgreSQL gets the pool size and connect timeout of the settings.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { openHistoryStore } from '../../src/adapters/open-history-store.js';
import { MemoryHistoryStore } from '../../src/adapters/memory/history-store.js';
import { SqliteThreadHistoryStore } from '../../src/adapters/sqlite/history-thread.js';
import pg from 'pg';
import { serviceGate, serviceUrl, uniqueName } from '../support/services.js';

const none = 'postgres://postgres@127.0.0.1:1/none';
const pool = { postgresMaxConnections: 4, postgresConnectTimeoutMs: 5000 };

test('memory', async () => {
  const s = await openHistoryStore({ engine: 'memory', dataDir: '/nonexistent', postgresUrl: none, ...pool }, silentLogger);
  assert.ok(s instanceof MemoryHistoryStore);
  await s.close();
});

test('sqlite: history.db in dataDir, created with its directory', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tsim-open-history-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dataDir = join(root, 'data');
  const s = await openHistoryStore({ engine: 'sqlite', dataDir, postgresUrl: none, ...pool }, silentLogger);
  try {
    assert.ok(s instanceof SqliteThreadHistoryStore);
    const { epoch } = await s.open('live://1', 0);
    await s.append([
      { room: 'live://1', epoch, records: [{ offset: 1, id: 'a', op: 1000, body: Buffer.from('x'), mid: 1n, time: 1, progress: null }] },
    ]);
    assert.ok((await stat(join(dataDir, 'history.db'))).isFile());
  } finally {
    await s.close();
  }
});

test('postgres: an unreachable server does not stop start-up; each call rejects with the context, like an outage', async () => {
  const s = await openHistoryStore({ engine: 'postgres', dataDir: './data', postgresUrl: none, ...pool }, silentLogger);
  try {
    await assert.rejects(s.state('live://1'), /history: postgres connect failed \(127\.0\.0\.1:1\/none\)/);
    await assert.rejects(s.open('live://1', 0), /history: postgres connect failed/);
  } finally {
    await s.close();
  }
});

test('postgres: the pool has postgresMaxConnections connections, and a call waits postgresConnectTimeoutMs for one', async (t) => {
  const skip = await serviceGate('postgres');
  if (skip !== false) return t.skip(skip);
  const name = uniqueName('tsim_test_');
  const admin = new pg.Client({ connectionString: serviceUrl('postgres') });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serviceUrl('postgres'));
  url.pathname = `/${name}`;
  const locker = new pg.Client({ connectionString: url.href });
  const s = await openHistoryStore(
    { engine: 'postgres', dataDir: './data', postgresUrl: url.href, postgresMaxConnections: 1, postgresConnectTimeoutMs: 300 },
    silentLogger,
  );
  try {
    const { epoch } = await s.open('live://1', 0);
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query(`SELECT room FROM rooms WHERE room = 'live://1' FOR UPDATE`);
    // The one connection waits for the lock inside an append; a read finds none free.
    const blocked = s.append([
      { room: 'live://1', epoch, records: [{ offset: 1, id: 'a', op: 1000, body: Buffer.from('x'), mid: 1n, time: 1, progress: null }] },
    ]);
    await assert.rejects(s.state('live://1'), /history: postgres state failed .*timeout exceeded when trying to connect/);
    await locker.query('COMMIT');
    await blocked;
    assert.equal((await s.state('live://1'))?.last, 1);
  } finally {
    await s.close();
    await locker.end().catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
});

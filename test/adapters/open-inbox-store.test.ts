// openInboxStore builds the engine its settings name, and fails with the engine's reason.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { openInboxStore } from '../../src/adapters/open-inbox-store.js';
import { MemoryInboxStore } from '../../src/adapters/memory/inbox-store.js';
import { SqliteThreadInboxStore } from '../../src/adapters/sqlite/inbox-thread.js';
import { PostgresInboxStore } from '../../src/adapters/postgres/inbox-store.js';

const none = 'postgres://postgres@127.0.0.1:1/none';
const pool = { postgresMaxConnections: 4, postgresConnectTimeoutMs: 5000 };
const item = { id: 'a', op: 1000, body: Buffer.from('x'), time: 1 };

test('memory', async () => {
  const s = await openInboxStore({ engine: 'memory', dataDir: '/nonexistent', postgresUrl: none, ...pool }, silentLogger);
  assert.ok(s instanceof MemoryInboxStore);
  await s.close();
});

test('the limits of the settings reach the store: maxDevices, maxBodyBytes', async () => {
  const s = await openInboxStore(
    { engine: 'memory', dataDir: '/nonexistent', postgresUrl: none, ...pool, maxDevices: 1, maxBodyBytes: 1 },
    silentLogger,
  );
  try {
    await assert.rejects(s.append([1n], { ...item, body: Buffer.from('xy') }), /at most 1/);
    await s.append([1n], item);
    await s.device(1n, 'a', 0, 1);
    await s.device(1n, 'b', 0, 2);
    assert.deepEqual(
      (await s.devices(1n)).map((d) => d.key),
      ['b'],
    );
  } finally {
    await s.close();
  }
});

test('sqlite: inbox.db in dataDir, created with its directory; a directory that cannot be made rejects', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tsim-open-inbox-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dataDir = join(root, 'data');
  const s = await openInboxStore({ engine: 'sqlite', dataDir, postgresUrl: none, ...pool }, silentLogger);
  try {
    assert.ok(s instanceof SqliteThreadInboxStore);
    assert.deepEqual(await s.append([1n], item), [1]);
    assert.ok((await stat(join(dataDir, 'inbox.db'))).isFile());
  } finally {
    await s.close();
  }
  await writeFile(join(root, 'file'), 'x');
  await assert.rejects(
    openInboxStore({ engine: 'sqlite', dataDir: join(root, 'file', 'd'), postgresUrl: none, ...pool }, silentLogger),
    /inbox: cannot open SQLite/,
  );
});

test('postgres: an unreachable server does not stop start-up; an append rejects with the context, as in an outage', async () => {
  const s = await openInboxStore({ engine: 'postgres', dataDir: './data', postgresUrl: none, ...pool }, silentLogger);
  try {
    assert.ok(s instanceof PostgresInboxStore);
    await assert.rejects(s.append([1n], item), /inbox: postgres connect failed \(127\.0\.0\.1:1\/none\)/);
  } finally {
    await s.close();
  }
});

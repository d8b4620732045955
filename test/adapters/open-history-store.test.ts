// openHistoryStore builds the engine its settings name, and fails with the engine's reason.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { openHistoryStore } from '../../src/adapters/open-history-store.js';
import { MemoryHistoryStore } from '../../src/adapters/memory/history-store.js';
import { SqliteThreadHistoryStore } from '../../src/adapters/sqlite/history-thread.js';

const none = 'postgres://postgres@127.0.0.1:1/none';

test('memory', async () => {
  const s = await openHistoryStore({ engine: 'memory', dataDir: '/nonexistent', postgresUrl: none }, silentLogger);
  assert.ok(s instanceof MemoryHistoryStore);
  await s.close();
});

test('sqlite: history.db in dataDir, created with its directory', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tsim-open-history-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dataDir = join(root, 'data');
  const s = await openHistoryStore({ engine: 'sqlite', dataDir, postgresUrl: none }, silentLogger);
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
  const s = await openHistoryStore({ engine: 'postgres', dataDir: './data', postgresUrl: none }, silentLogger);
  try {
    await assert.rejects(s.state('live://1'), /history: postgres connect failed \(127\.0\.0\.1:1\/none\)/);
    await assert.rejects(s.open('live://1', 0), /history: postgres connect failed/);
  } finally {
    await s.close();
  }
});

// The inbox is kept where history is unless [inbox] says otherwise; retention from [inbox]; the
// [inbox] delivery keys: defaults, what logic and comet take, and the reserved ops.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cometInboxSettings, inboxSettings, logicInboxSettings } from '../../src/config/inbox-settings.js';
import { configSchema } from '../../src/config/schema.js';

test('defaults: the history engine by mode, its directory and server; keep 1000, 7 days, dropAcked, 30-day devices, every minute', () => {
  const config = configSchema.parse({});
  assert.deepEqual(inboxSettings(config, 'embedded', {}), {
    store: {
      engine: 'sqlite',
      dataDir: './data',
      postgresUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
      postgresMaxConnections: 4,
      postgresConnectTimeoutMs: 5000,
      maxDevices: 32,
      maxBodyBytes: 256 * 1024,
    },
    retention: { keep: 1000, maxAgeMs: 7 * 86_400_000, dropAcked: true, deviceTtlMs: 30 * 86_400_000 },
    pruneEvery: 60_000,
  });
  assert.equal(inboxSettings(config, 'distributed', {}).store.engine, 'postgres');
});

test('history settings carry over: history.engine, dataDir, DATABASE_URL and the pool', () => {
  const config = configSchema.parse({ history: { engine: 'memory', dataDir: '/var/lib/tsim', postgresMaxConnections: 8 } });
  const { store } = inboxSettings(config, 'distributed', { DATABASE_URL: 'postgres://env/db' });
  assert.deepEqual(store, {
    engine: 'memory',
    dataDir: '/var/lib/tsim',
    postgresUrl: 'postgres://env/db',
    postgresMaxConnections: 8,
    postgresConnectTimeoutMs: 5000,
    maxDevices: 32,
    maxBodyBytes: 256 * 1024,
  });
});

test('[inbox] engine, dataDir and postgresUrl win over the history and DATABASE_URL', () => {
  const config = configSchema.parse({
    history: { engine: 'memory', dataDir: '/h' },
    inbox: { engine: 'postgres', dataDir: '/i', postgresUrl: 'postgres://inbox/db' },
  });
  const { store } = inboxSettings(config, 'embedded', { DATABASE_URL: 'postgres://env/db' });
  assert.equal(store.engine, 'postgres');
  assert.equal(store.dataDir, '/i');
  assert.equal(store.postgresUrl, 'postgres://inbox/db');
});

test('inbox.maxDevices and push.maxBytes in effect are the store limits; 24 days is the longest pruneEvery', () => {
  const config = configSchema.parse({ inbox: { maxDevices: 5, pruneEvery: '576h' }, push: { maxBytes: 4096 } });
  const { store, pruneEvery } = inboxSettings(config, 'embedded', {});
  assert.equal(store.maxDevices, 5);
  assert.equal(store.maxBodyBytes, 4096);
  assert.equal(pruneEvery, 24 * 86_400_000);
});

test('retention keys as written; out-of-range values are refused with the key named', () => {
  const config = configSchema.parse({ inbox: { keep: 50, maxAge: '36h', dropAcked: false, deviceTtl: '2h', pruneEvery: '0' } });
  assert.deepEqual(inboxSettings(config, 'embedded', {}).retention, { keep: 50, maxAgeMs: 36 * 3_600_000, dropAcked: false, deviceTtlMs: 7_200_000 });
  assert.equal(inboxSettings(config, 'embedded', {}).pruneEvery, 0);
  for (const [inbox, message] of [
    [{ keep: 0 }, /keep/],
    [{ keep: 1.5 }, /keep/],
    [{ maxAge: '500ms' }, /inbox.maxAge must be at least 1s/],
    [{ deviceTtl: '30s' }, /inbox.deviceTtl must be at least 1m/],
    [{ pruneEvery: '10ms' }, /inbox.pruneEvery must be "0" or at least 1s/],
    [{ pruneEvery: '577h' }, /inbox.pruneEvery must be at most 24 days \("576h"\)/],
    [{ pruneEvery: '600h' }, /inbox.pruneEvery: inbox.pruneEvery must be at most 24 days/],
    [{ maxDevices: 0 }, /maxDevices/],
    [{ maxDevices: 10_001 }, /maxDevices/],
    [{ engine: 'redis' }, /engine/],
    [{ nope: 1 }, /nope/],
  ] as const) {
    const r = configSchema.safeParse({ inbox });
    assert.equal(r.success, false, JSON.stringify(inbox));
    assert.match(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'), message);
  }
});

test('defaults: nothing durable unless asked, new devices from now on, pages of 100 / 64 KiB, holds of 256 / 256 KiB', () => {
  const config = configSchema.parse({});
  assert.deepEqual(logicInboxSettings(config), { durableOps: [], newDeviceRecent: 0 });
  assert.deepEqual(cometInboxSettings(config), { pageMessages: 100, pageBytes: 65536, holdMessages: 256, holdBytes: 262144 });
  const set = configSchema.parse({ inbox: { durableOps: [1000, 2000], newDeviceRecent: 20, pageMessages: 5 } });
  assert.deepEqual(logicInboxSettings(set), { durableOps: [1000, 2000], newDeviceRecent: 20 });
  assert.equal(cometInboxSettings(set).pageMessages, 5);
});

test('ops 24 to 29 cannot be durable ops nor a room type op; bounds are checked', () => {
  for (const input of [
    { inbox: { durableOps: [27] } },
    { roomTypes: { live: { op: 24 } } },
    { inbox: { newDeviceRecent: 10_001 } },
    { inbox: { pageMessages: 0 } },
    { inbox: { pageBytes: 100 } },
    { inbox: { durableOps: Array.from({ length: 257 }, (_, i) => 1000 + i) } },
    { inbox: { unknown: 1 } },
  ]) {
    assert.equal(configSchema.safeParse(input).success, false, JSON.stringify(input).slice(0, 80));
  }
  assert.equal(configSchema.safeParse({ inbox: { durableOps: [23, 30] }, roomTypes: { live: { op: 30 } } }).success, true);
});

// The history engine by mode, history.engine over it, DATABASE_URL over history.postgresUrl.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { historyStoreSettings } from '../../src/config/history-settings.js';
import { configSchema } from '../../src/config/schema.js';

test('embedded defaults to sqlite in ./data, distributed to postgres', () => {
  const config = configSchema.parse({});
  assert.deepEqual(historyStoreSettings(config, 'embedded', {}), {
    engine: 'sqlite',
    dataDir: './data',
    postgresUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
    postgresMaxConnections: 4,
    postgresConnectTimeoutMs: 5000,
  });
  assert.equal(historyStoreSettings(config, 'distributed', {}).engine, 'postgres');
});

test('history.engine and history.dataDir / postgresUrl are taken as written', () => {
  const config = configSchema.parse({ history: { engine: 'memory', dataDir: '/var/lib/tsim', postgresUrl: 'postgres://h/db' } });
  assert.deepEqual(historyStoreSettings(config, 'distributed', {}), {
    engine: 'memory',
    dataDir: '/var/lib/tsim',
    postgresUrl: 'postgres://h/db',
    postgresMaxConnections: 4,
    postgresConnectTimeoutMs: 5000,
  });
  assert.equal(historyStoreSettings(configSchema.parse({ history: { engine: 'sqlite' } }), 'distributed', {}).engine, 'sqlite');
});

test('DATABASE_URL overrides history.postgresUrl; blank is unset', () => {
  const config = configSchema.parse({ history: { postgresUrl: 'postgres://from-config/db' } });
  assert.equal(historyStoreSettings(config, 'distributed', { DATABASE_URL: ' postgres://env/db ' }).postgresUrl, 'postgres://env/db');
  assert.equal(historyStoreSettings(config, 'distributed', { DATABASE_URL: '  ' }).postgresUrl, 'postgres://from-config/db');
});

test('history.postgresMaxConnections and postgresConnectTimeout size the PostgreSQL pool; a pool of 0 or a timeout under 100ms is refused', () => {
  const config = configSchema.parse({ history: { postgresMaxConnections: 8, postgresConnectTimeout: '750ms' } });
  const s = historyStoreSettings(config, 'distributed', {});
  assert.equal(s.postgresMaxConnections, 8);
  assert.equal(s.postgresConnectTimeoutMs, 750);
  assert.throws(() => configSchema.parse({ history: { postgresMaxConnections: 0 } }), /postgresMaxConnections/);
  assert.throws(() => configSchema.parse({ history: { postgresMaxConnections: 2.5 } }), /postgresMaxConnections/);
  assert.throws(() => configSchema.parse({ history: { postgresConnectTimeout: '0' } }), /history.postgresConnectTimeout must be at least 100ms/);
});

test('history.pruneEvery: "0" turns retention off; more than 24 days is refused (Node would run it every millisecond)', () => {
  assert.equal(configSchema.parse({ history: { pruneEvery: '0' } }).history.pruneEvery, 0);
  assert.equal(configSchema.parse({ history: { pruneEvery: '576h' } }).history.pruneEvery, 576 * 3_600_000);
  const r = configSchema.safeParse({ history: { pruneEvery: '577h' } });
  assert.equal(r.success, false);
  assert.match(r.error?.issues[0]?.message ?? '', /history.pruneEvery must be at most 24 days/);
});

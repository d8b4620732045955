// The [inbox] delivery keys: defaults, what logic and comet take, and the reserved ops.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cometInboxSettings, logicInboxSettings } from '../../src/config/inbox-settings.js';
import { configSchema } from '../../src/config/schema.js';

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

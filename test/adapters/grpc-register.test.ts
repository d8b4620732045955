import { test } from 'node:test';
import assert from 'node:assert/strict';
import { advertisedAddr } from '../../src/adapters/grpc/address.js';
import { registerLogic } from '../../src/adapters/grpc/logic-registration.js';
import { configSchema } from '../../src/config/schema.js';
import { AppId, type Instance, type Registry } from '../../src/ports/index.js';

test('registerLogic registers goim.logic with its grpc:// address and weight, and deregisters', async () => {
  const registered: Instance[] = [];
  const deregistered: string[] = [];
  const registry: Registry = {
    async register(i) {
      registered.push(i);
    },
    async deregister(appid, hostname) {
      deregistered.push(`${appid}/${hostname}`);
    },
    async list() {
      return registered;
    },
    watch() {
      return () => {};
    },
    async close() {},
  };
  const config = configSchema.parse({ env: { host: 'logic01', region: 'sh', zone: 'sh001', deployEnv: 'dev', weight: 7 } });
  const deregister = await registerLogic(registry, config.env, '10.0.0.5:3119');
  assert.equal(registered.length, 1);
  const i = registered[0];
  assert.deepEqual(
    { ...i, latestTimestamp: 0 },
    {
      region: 'sh',
      zone: 'sh001',
      env: 'dev',
      appid: AppId.Logic,
      hostname: 'logic01',
      addrs: ['grpc://10.0.0.5:3119'],
      version: '',
      latestTimestamp: 0,
      metadata: { weight: '7' },
    },
  );
  assert.ok(i.latestTimestamp > 0);
  await deregister();
  assert.deepEqual(deregistered, ['goim.logic/logic01']);
});

test('advertisedAddr keeps a bound host and finds an IPv4 for a wildcard listener', () => {
  assert.equal(advertisedAddr('127.0.0.1', 3119), '127.0.0.1:3119');
  assert.equal(advertisedAddr('::1', 3119), '[::1]:3119');
  for (const host of [undefined, '0.0.0.0', '::']) {
    assert.match(advertisedAddr(host, 3119), /^\d+\.\d+\.\d+\.\d+:3119$/);
  }
});

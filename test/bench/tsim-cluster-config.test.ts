// The configuration files the benchmark writes for distributed tsim: valid for the
// configuration schema, each role pointed at the private Redis/NATS and the chosen ports.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { clusterConfigs, cometIds, HOSTS } from '../../bench/servers/tsim-cluster.js';
import { buildConfig } from '../../src/config/load.js';

const ports = { redis: 16379, nats: 14222, http: 13111, tcp: 13101, ws: 13102 };

describe('tsim-cluster benchmark configuration', () => {
  const texts = clusterConfigs(ports, { transport: 'tcp', batch: 20, signalMs: 1000, cometWorkers: 2 });
  const config = Object.fromEntries(Object.entries(texts).map(([role, text]) => [role, buildConfig(parse(text), `${role}.toml`)])) as Record<
    keyof typeof texts,
    ReturnType<typeof buildConfig>
  >;

  it('is valid for every role, each on the private Redis and NATS', () => {
    for (const c of Object.values(config)) assert.equal(c.redis.url, 'redis://127.0.0.1:16379');
    assert.equal(config.logic.nats.url, 'nats://127.0.0.1:14222');
    assert.equal(config.job.nats.url, 'nats://127.0.0.1:14222');
    assert.deepEqual([config.logic.env.host, config.comet.env.host, config.job.env.host], [HOSTS.logic, HOSTS.comet, HOSTS.job]);
  });

  it('puts each setting where the role reads it', () => {
    assert.equal(config.comet.comet.workers, 2);
    assert.deepEqual(config.comet.tcp.bind, ['127.0.0.1:13101']);
    assert.deepEqual(config.comet.websocket.bind, ['127.0.0.1:13102']);
    assert.deepEqual(config.comet.env.addrs, ['127.0.0.1']);
    assert.equal(config.comet.rpcServer.addr, '127.0.0.1:0', 'a free gRPC port per worker');
    assert.equal(config.logic.httpServer.addr, '127.0.0.1:13111');
    assert.equal(config.logic.api.auth, 'off');
    assert.equal(config.job.room.batch, 20);
    assert.equal(config.job.room.signal, 1000);
  });

  it('names the comet ids the job and logic must list', () => {
    assert.deepEqual(cometIds(2), ['bench-comet-0', 'bench-comet-1']);
    assert.deepEqual(cometIds(1), ['bench-comet']);
  });
});

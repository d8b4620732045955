// RedisRegistry against the Registry contract (test/contracts/registry.contract.ts), then what
// only Redis has: several processes sharing it, goim discovery's JSON, expiry, outages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { silentLogger } from '../../src/log.js';
import type { Instance } from '../../src/ports/index.js';
import { closeRedis, createRedis, redisReady } from '../../src/adapters/redis/connection.js';
import { RedisRegistry } from '../../src/adapters/redis/registry.js';
import { OutageProxy, serviceGate, serviceUrl, uniqueName } from '../support/services.js';
import { deleteKeysUnder } from '../support/redis-keys.js';
import { registryContract } from '../contracts/registry.contract.js';

const skip = await serviceGate('redis');

registryContract(
  'RedisRegistry (real Redis)',
  async () => {
    const prefix = `${uniqueName('tsimtest:registry:')}:`;
    const registry = new RedisRegistry(createRedis(serviceUrl('redis'), { dialTimeoutMs: 500 }), {
      ttlMs: 10_000,
      refreshMs: 1000,
      prefix,
      log: silentLogger,
      ownsClient: true,
    });
    return {
      subject: registry,
      dispose: async () => {
        await registry.close();
        await deleteKeysUnder(prefix);
      },
    };
  },
  { skip },
);

function instance(hostname: string, appid = 'goim.comet', metadata: Record<string, string> = { weight: '10' }): Instance {
  return {
    region: 'sh',
    zone: 'sh001',
    env: 'dev',
    appid,
    hostname,
    addrs: [`grpc://127.0.0.1:${3109}`],
    version: '1',
    latestTimestamp: 1_700_000_000_000_000_000,
    metadata,
  };
}

/** Collects a watcher's lists and resolves waits on the first list matching a predicate. */
class WatchLog {
  readonly lists: Instance[][] = [];
  private waiters: Array<{ match: (l: Instance[]) => boolean; resolve: (l: Instance[]) => void }> = [];
  readonly onChange = (l: Instance[]): void => {
    this.lists.push(l);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(l)) return true;
      w.resolve(l);
      return false;
    });
  };

  /** The latest list if it matches, else the next one that does; fails after `ms`. */
  until(match: (l: Instance[]) => boolean, what: string, ms = 10_000): Promise<Instance[]> {
    const last = this.lists.at(-1);
    if (last && match(last)) return Promise.resolve(last);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`watch: no list with ${what} within ${ms} ms; got ${JSON.stringify(this.lists.map(hosts))}`)),
        ms,
      );
      this.waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }
}

const hosts = (l: Instance[]): string[] => l.map((i) => i.hostname).sort();

describe("RedisRegistry: several connections, goim's JSON, expiry and outages (real Redis)", { skip }, () => {
  const prefix = `${uniqueName('tsimtest:registry:')}:`;
  const url = serviceUrl('redis');
  const open: RedisRegistry[] = [];
  let raw: Redis;

  function registry(opts: { ttlMs?: number; refreshMs?: number; redisUrl?: string } = {}): RedisRegistry {
    const client = createRedis(opts.redisUrl ?? url, { dialTimeoutMs: 500 });
    const r = new RedisRegistry(client, {
      ttlMs: opts.ttlMs ?? 1000,
      refreshMs: opts.refreshMs ?? 300,
      prefix,
      log: silentLogger,
      ownsClient: true,
    });
    open.push(r);
    return r;
  }

  before(async () => {
    raw = createRedis(url);
    await redisReady(raw, 5000);
  });

  after(async () => {
    await Promise.all(open.map((r) => r.close()));
    const keys = await raw.keys(`${prefix}*`);
    if (keys.length > 0) await raw.del(...keys);
    await closeRedis(raw);
  });

  test('two registries on separate connections see each other; deregister notifies', async () => {
    const a = registry();
    const b = registry();
    const seen = new WatchLog();
    const stop = b.watch('goim.comet', seen.onChange);
    await seen.until((l) => l.length === 0, 'the initial empty list');

    await a.register(instance('comet-a'));
    const l1 = await seen.until((l) => hosts(l).join() === 'comet-a', 'comet-a');
    assert.deepEqual(l1[0], instance('comet-a'));
    assert.deepEqual(hosts(await b.list('goim.comet')), ['comet-a']);

    await b.register(instance('comet-b'));
    await seen.until((l) => hosts(l).join() === 'comet-a,comet-b', 'both comets');

    await a.deregister('goim.comet', 'comet-a');
    await seen.until((l) => hosts(l).join() === 'comet-b', 'comet-a gone');
    await b.deregister('goim.comet', 'comet-b');
    await seen.until((l) => l.length === 0, 'nothing left');
    stop();
  });

  test('stored as goim discovery instance JSON', async () => {
    const a = registry();
    await a.register(instance('json-host', 'goim.logic'));
    const stored = JSON.parse((await raw.hget(`${prefix}{goim.logic}:instances`, 'json-host')) as string) as unknown;
    assert.deepEqual(stored, {
      region: 'sh',
      zone: 'sh001',
      env: 'dev',
      appid: 'goim.logic',
      hostname: 'json-host',
      addrs: ['grpc://127.0.0.1:3109'],
      version: '1',
      latest_timestamp: 1_700_000_000_000_000_000,
      metadata: { weight: '10' },
    });
    await a.deregister('goim.logic', 'json-host');
  });

  test('metadata changes reach watchers; unchanged re-registration does not', async () => {
    const a = registry();
    const b = registry();
    const seen = new WatchLog();
    const stop = b.watch('meta.app', seen.onChange);
    await a.register(instance('m1', 'meta.app', { conn_count: '1' }));
    await seen.until((l) => l[0]?.metadata.conn_count === '1', 'conn_count 1');
    const before = seen.lists.length;
    await a.register(instance('m1', 'meta.app', { conn_count: '1' }));
    await a.register(instance('m1', 'meta.app', { conn_count: '2' }));
    await seen.until((l) => l[0]?.metadata.conn_count === '2', 'conn_count 2');
    assert.equal(seen.lists.length, before + 1, 'one change, one call');
    stop();
    await a.deregister('meta.app', 'm1');
  });

  test('a failed re-registration is tried again within a second, not a whole refresh later', async () => {
    // A busy process reads Redis's reply late and its command times out: here the client's
    // first two re-registrations fail, and the refresh interval is longer than the TTL's share
    // left after them, so only the quick retry keeps the instance alive.
    const client = createRedis(url, { dialTimeoutMs: 500 });
    const r = new RedisRegistry(client, { ttlMs: 3500, refreshMs: 2000, prefix, log: silentLogger, ownsClient: true });
    open.push(r);
    const b = registry();
    await r.register(instance('flaky', 'retry.app'));
    assert.deepEqual(hosts(await b.list('retry.app')), ['flaky']);
    const real = client.evalsha.bind(client);
    let failures = 0;
    (client as unknown as { evalsha: (...a: unknown[]) => Promise<unknown> }).evalsha = (...a: unknown[]) => {
      if (failures < 2) {
        failures++;
        return Promise.reject(new Error('Command timed out'));
      }
      return (real as (...x: unknown[]) => Promise<unknown>)(...a);
    };
    // Refresh at 2 s fails, the retry at 3 s fails, the next at 4 s succeeds: without the
    // retries the next attempt would be at 4 s and then 6 s, after the 3.5 s TTL.
    await new Promise((res) => setTimeout(res, 5000));
    assert.equal(failures, 2, 'both failures happened');
    assert.deepEqual(hosts(await b.list('retry.app')), ['flaky'], 'still registered');
  });

  test('a crashed instance (no more refreshes) drops out after the TTL', async () => {
    const crashing = registry({ ttlMs: 1000, refreshMs: 200 });
    const b = registry();
    const seen = new WatchLog();
    const stop = b.watch('crash.app', seen.onChange);
    await crashing.register(instance('doomed', 'crash.app'));
    await crashing.register(instance('survivor', 'crash.app'));
    await seen.until((l) => hosts(l).join() === 'doomed,survivor', 'both');
    // the registry keeps its own instances alive past the TTL while it runs…
    const survivorKeeper = registry({ ttlMs: 1000, refreshMs: 200 });
    await survivorKeeper.register(instance('survivor', 'crash.app'));
    // …and they expire once it stops (close() does not deregister: it is a crash here)
    await crashing.close();
    const l = await seen.until((x) => hosts(x).join() === 'survivor', 'doomed expired');
    assert.deepEqual(hosts(l), ['survivor']);
    assert.deepEqual(hosts(await b.list('crash.app')), ['survivor']);
    stop();
  });

  test('watchers resume after their Redis connection comes back, with what changed meanwhile', async () => {
    const proxy = await OutageProxy.start('redis');
    try {
      const a = registry();
      const b = registry({ redisUrl: proxy.url('redis') });
      const seen = new WatchLog();
      const stop = b.watch('outage.app', seen.onChange);
      await a.register(instance('o1', 'outage.app'));
      await seen.until((l) => hosts(l).join() === 'o1', 'o1');
      await proxy.cut();
      await a.register(instance('o2', 'outage.app')); // published while b cannot hear it
      await proxy.restore();
      await seen.until((l) => hosts(l).join() === 'o1,o2', 'o2 after the outage');
      // pub/sub works again after the re-subscribe
      await a.deregister('outage.app', 'o1');
      await seen.until((l) => hosts(l).join() === 'o2', 'o1 gone');
      stop();
      await a.deregister('outage.app', 'o2');
    } finally {
      await proxy.close();
    }
  });

  test('register with Redis unreachable rejects fast with a clear error', async () => {
    const r = registry({ redisUrl: 'redis://127.0.0.1:1' });
    await assert.rejects(r.register(instance('x')), /redis 127\.0\.0\.1:1: register goim\.comet x failed: not connected/);
    await assert.rejects(r.list('goim.comet'), /not connected/);
  });
});

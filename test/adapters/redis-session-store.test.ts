// RedisSessionStore against the SessionStore contract (test/contracts/session-store.contract.ts),
// then what only Redis has: goim's keys byte for byte, TTLs, scripts, outages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { silentLogger } from '../../src/log.js';
import { closeRedis, createRedis, redisReady } from '../../src/adapters/redis/connection.js';
import { onlineField, RedisSessionStore } from '../../src/adapters/redis/session-store.js';
import { LuaScript } from '../../src/adapters/redis/lua-script.js';
import { OutageProxy, serviceGate, serviceUrl, uniqueName } from '../support/services.js';
import { deleteKeysUnder } from '../support/redis-keys.js';
import { sessionStoreContract } from '../contracts/session-store.contract.js';
import { eventually } from '../support/eventually.js';

const skip = await serviceGate('redis');

sessionStoreContract(
  'RedisSessionStore (real Redis)',
  async () => {
    const prefix = `${uniqueName('tsimtest:store:')}:`;
    const client = createRedis(serviceUrl('redis'), { keyPrefix: prefix });
    const store = new RedisSessionStore(client, { expireSeconds: 1800, log: silentLogger, ownsClient: true });
    await redisReady(client, 5000).catch(async (e: unknown) => {
      await store.close();
      throw e;
    });
    return {
      subject: store,
      dispose: async () => {
        await store.close();
        await deleteKeysUnder(prefix);
      },
    };
  },
  { skip },
);

/** Rejects if `p` does not settle within `ms` (a generous bound, not a timing assertion). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

describe("RedisSessionStore: goim's key schema and outages (real Redis)", { skip }, () => {
  const prefix = `${uniqueName('tsimtest:store:')}:`;
  let redis: Redis; // keys prefixed, as the store sees them
  let raw: Redis; // no prefix: reads what is really stored
  let store: RedisSessionStore;
  const k = (key: string): string => prefix + key;

  before(async () => {
    redis = createRedis(serviceUrl('redis'), { keyPrefix: prefix });
    raw = createRedis(serviceUrl('redis'));
    await Promise.all([redisReady(redis, 5000), redisReady(raw, 5000)]);
    store = new RedisSessionStore(redis, { expireSeconds: 1800, log: silentLogger });
  });

  after(async () => {
    if (raw) {
      const keys = await raw.keys(`${prefix}*`);
      if (keys.length > 0) await raw.del(...keys);
    }
    await store?.close();
    if (redis) await closeRedis(redis);
    if (raw) await closeRedis(raw);
  });

  test("connect mapping is goim's schema byte for byte (docs/goim-test-vectors.md, Redis values)", async () => {
    await store.addMapping({ mid: 123n, key: 'abc', server: 'comet01' });
    assert.deepEqual(await raw.hgetall(k('mid_123')), { abc: 'comet01' });
    assert.equal(await raw.ttl(k('mid_123')), 1800);
    assert.equal(await raw.get(k('key_abc')), 'comet01');
    assert.equal(await raw.ttl(k('key_abc')), 1800);
    assert.equal(await raw.type(k('mid_123')), 'hash');
    assert.equal(await raw.type(k('key_abc')), 'string');
  });

  test('a connect is two commands, one for mid 0; an existing mid hash keeps its other devices and gets the full TTL', async () => {
    await raw.hset(k('mid_77'), 'other-device', 'comet09');
    await raw.expire(k('mid_77'), 5);
    await raw.set(k('key_seventy'), 'comet-old'); // a stale routing without TTL
    const commands = await commandsOf(async () => {
      await store.addMapping({ mid: 77n, key: 'seventy', server: 'comet01' });
      await store.addMapping({ mid: 0n, key: 'guest-77', server: 'comet01' });
    });
    assert.deepEqual(commands.sort(), ['evalsha', 'set', 'set'], `commands sent: ${commands.join(' ')}`);
    assert.deepEqual(await raw.hgetall(k('mid_77')), { 'other-device': 'comet09', seventy: 'comet01' });
    assert.equal(await raw.ttl(k('mid_77')), 1800);
    assert.equal(await raw.get(k('key_seventy')), 'comet01');
    assert.equal(await raw.ttl(k('key_seventy')), 1800);
    assert.equal(await raw.ttl(k('key_guest-77')), 1800);
  });

  /** Top-level commands on this test's keys while `run` runs (MONITOR; a script's inner calls not counted). */
  async function commandsOf(run: () => Promise<void>): Promise<string[]> {
    const monitor = await raw.monitor();
    const seen: string[] = [];
    const marker = (name: string): Promise<void> =>
      new Promise<void>((resolve) => {
        const onCommand = (_t: string, args: string[]) => {
          if (args[1] === k(name)) {
            monitor.off('monitor', onCommand);
            resolve();
          }
        };
        monitor.on('monitor', onCommand);
        void raw.get(k(name));
      });
    try {
      await within(marker('monitor-start'), 5000, 'MONITOR start');
      const onCommand = (_t: string, args: string[], source: string) => {
        if (source !== 'lua' && args.slice(1).some((a) => a.startsWith(prefix))) seen.push(args[0].toLowerCase());
      };
      monitor.on('monitor', onCommand);
      await run();
      await within(marker('monitor-end'), 5000, 'MONITOR end');
      monitor.off('monitor', onCommand);
      return seen.filter((c) => c !== 'get');
    } finally {
      monitor.disconnect();
    }
  }

  test('mid 0 writes only the key', async () => {
    await store.addMapping({ mid: 0n, key: 'guest-key', server: 'comet01' });
    assert.equal(await raw.get(k('key_guest-key')), 'comet01');
    assert.equal(await raw.exists(k('mid_0')), 0);
  });

  test("an old connection's disconnect keeps the newer connection's routing", async () => {
    const old = { mid: 7n, key: 'roam', server: 'comet01' };
    const now = { mid: 7n, key: 'roam', server: 'comet02' };
    await store.addMapping(old);
    await store.addMapping(now); // reconnect on another comet
    assert.equal(await store.delMapping(old), false);
    assert.equal(await raw.get(k('key_roam')), 'comet02');
    assert.deepEqual(await raw.hgetall(k('mid_7')), { roam: 'comet02' });
    assert.deepEqual(await store.serversByKeys(['roam']), ['comet02']);

    assert.equal(await store.delMapping(now), true);
    assert.equal(await raw.exists(k('key_roam')), 0);
    assert.equal(await raw.exists(k('mid_7')), 0); // hash gone with its last field
    assert.equal(await store.delMapping(now), false);
  });

  test('delMapping removes only its own field of a mid with several keys', async () => {
    await store.addMapping({ mid: 8n, key: 'd1', server: 's1' });
    await store.addMapping({ mid: 8n, key: 'd2', server: 's2' });
    assert.equal(await store.delMapping({ mid: 8n, key: 'd1', server: 's1' }), true);
    assert.deepEqual(await raw.hgetall(k('mid_8')), { d2: 's2' });
  });

  test('expireMapping refreshes TTLs and reports a lapsed key', async () => {
    assert.equal(await store.expireMapping({ mid: 9n, key: 'never-added', server: 's' }), false);
    const ref = { mid: 9n, key: 'hb', server: 's1' };
    await store.addMapping(ref);
    await raw.expire(k('key_hb'), 5);
    await raw.expire(k('mid_9'), 5);
    assert.equal(await store.expireMapping(ref), true);
    assert.equal(await raw.ttl(k('key_hb')), 1800);
    assert.equal(await raw.ttl(k('mid_9')), 1800);
    await raw.del(k('key_hb')); // the routing lapsed
    assert.equal(await store.expireMapping(ref), false);
  });

  test('online shard "43" holds goim JSON; other rooms get their own field', async () => {
    await store.addServerOnline({ server: 'comet01', roomCount: { 'live://1000': 3 }, updated: 1700000000 });
    const key = k('ol_comet01');
    assert.deepEqual(await raw.hkeys(key), ['43']);
    assert.equal(await raw.hget(key, '43'), '{"server":"comet01","room_count":{"live://1000":3},"updated":1700000000}');
    assert.equal(await raw.ttl(key), 1800);

    assert.equal(onlineField('test://1'), '28');
    await store.addServerOnline({ server: 'comet01', roomCount: { 'live://1000': 3, 'test://1': 2 }, updated: 1700000010 });
    assert.deepEqual((await raw.hkeys(key)).sort(), ['28', '43']);
    assert.equal(await raw.hget(key, '28'), '{"server":"comet01","room_count":{"test://1":2},"updated":1700000010}');
    assert.deepEqual(await store.serverOnline('comet01'), {
      server: 'comet01',
      roomCount: { 'live://1000': 3, 'test://1': 2 },
      updated: 1700000010,
    });
  });

  test('rooms in one shard are sorted like Go map keys', async () => {
    // live://1000 and test://1 are in different shards; find two rooms sharing one
    const rooms: string[] = [];
    for (let i = 0; rooms.length < 2; i++) if (onlineField(`r://${i}`) === '5') rooms.push(`r://${i}`);
    const [a, b] = rooms.sort().reverse(); // insert in reverse order
    await store.addServerOnline({ server: 'sorted', roomCount: { [a]: 1, [b]: 2 }, updated: 1 });
    assert.equal(await raw.hget(k('ol_sorted'), '5'), `{"server":"sorted","room_count":{"${b}":2,"${a}":1},"updated":1}`);
  });

  test('shards that became empty are cleared (docs/internal-protocol.md, Session store)', async () => {
    const key = k('ol_comet02');
    await store.addServerOnline({ server: 'comet02', roomCount: { 'live://1000': 3, 'test://1': 2 }, updated: 100 });
    await store.addServerOnline({ server: 'comet02', roomCount: { 'test://1': 5 }, updated: 110 });
    assert.deepEqual(await raw.hkeys(key), ['28']);
    assert.deepEqual(await store.serverOnline('comet02'), { server: 'comet02', roomCount: { 'test://1': 5 }, updated: 110 });
    await store.addServerOnline({ server: 'comet02', roomCount: {}, updated: 120 });
    assert.equal(await raw.exists(key), 0);
    assert.equal(await store.serverOnline('comet02'), null);
  });

  test('serverOnline merges shards written by others; newest updated wins', async () => {
    const key = k('ol_goim');
    await raw.hset(key, '43', '{"server":"goim","room_count":{"live://1000":4},"updated":50}');
    await raw.hset(key, '28', '{"server":"goim","room_count":{"test://1":1},"updated":70}');
    await raw.hset(key, '7', 'not json');
    assert.deepEqual(await store.serverOnline('goim'), {
      server: 'goim',
      roomCount: { 'live://1000': 4, 'test://1': 1 },
      updated: 70,
    });
    await store.delServerOnline('goim');
    assert.equal(await raw.exists(key), 0);
    assert.equal(await store.serverOnline('missing'), null);
  });

  test('a script the server does not know yet is loaded on first use, then run by SHA', async () => {
    const script = new LuaScript(`-- ${prefix} ${Date.now()}\nreturn redis.call('INCR', KEYS[1])`, 1);
    assert.deepEqual(await raw.script('EXISTS', script.sha), [0]);
    assert.equal(await script.run(redis, ['counter'], []), 1);
    assert.deepEqual(await raw.script('EXISTS', script.sha), [1]);
    assert.equal(await script.run(redis, ['counter'], []), 2);
    assert.equal(await raw.get(k('counter')), '2'); // the key prefix applies to script keys
  });

  test('with Redis unreachable, calls fail fast with a clear error', async () => {
    const dead = createRedis('redis://127.0.0.1:1', { dialTimeoutMs: 200 });
    const s = new RedisSessionStore(dead, { expireSeconds: 60, log: silentLogger, ownsClient: true });
    try {
      await assert.rejects(
        within(s.addMapping({ mid: 1n, key: 'x', server: 'c' }), 3000, 'addMapping'),
        /redis 127\.0\.0\.1:1: addMapping key=x mid=1 failed: not connected/,
      );
      await assert.rejects(within(s.serversByKeys(['x']), 3000, 'serversByKeys'), /redis 127\.0\.0\.1:1: serversByKeys .* not connected/);
      await assert.rejects(within(s.addServerOnline({ server: 'c', roomCount: { r: 1 }, updated: 1 }), 3000, 'addServerOnline'), /not connected/);
    } finally {
      await s.close();
    }
  });

  test('an outage fails calls fast, and service resumes by itself', async () => {
    const proxy = await OutageProxy.start('redis');
    const c = createRedis(proxy.url('redis'), { keyPrefix: prefix, dialTimeoutMs: 500 });
    const s = new RedisSessionStore(c, { expireSeconds: 60, log: silentLogger, ownsClient: true });
    try {
      await redisReady(c, 5000);
      await s.addMapping({ mid: 0n, key: 'outage', server: 'c1' });
      await proxy.cut();
      await eventually(() => c.status !== 'ready', 'the client to notice the outage');
      await assert.rejects(within(s.serversByKeys(['outage']), 3000, 'serversByKeys'), /not connected/);
      await proxy.restore();
      await redisReady(c, 10_000);
      assert.deepEqual(await s.serversByKeys(['outage']), ['c1']);
    } finally {
      await s.close();
      await proxy.close();
    }
  });
});

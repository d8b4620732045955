import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { MemoryRegistry } from '../../src/adapters/memory/registry.js';
import { MemorySessionStore } from '../../src/adapters/memory/session-store.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { instancesJson, nodesReplyJson, onlineTotalJson, roomTopJson } from '../../src/logic/http/goim-json-shapes.js';
import { Logic } from '../../src/logic/logic.js';
import { TokenError } from '../../src/protocol/token.js';
import { PushType, type SessionRef } from '../../src/ports/index.js';
import { comet, logicConfig, RecordingQueue, testConfig } from './fixtures.js';
import { eventually } from '../support/eventually.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const enc = (s: string) => new TextEncoder().encode(s);

interface Setup {
  logic: Logic;
  store: MemorySessionStore;
  registry: MemoryRegistry;
  queue: RecordingQueue;
}

const running: Logic[] = [];
afterEach(async () => {
  for (const l of running.splice(0)) await l.close();
});

async function setup(input: ConfigInput = {}, store = new MemorySessionStore(), registry = new MemoryRegistry()): Promise<Setup> {
  const queue = new RecordingQueue();
  const logic = new Logic({ ...logicConfig(testConfig(input)), store, queue, registry, log: silentLogger });
  running.push(logic);
  await logic.start();
  return { logic, store, registry, queue };
}

// Online and nodes answers as the HTTP API shapes them (goim's JSON), which the assertions spell out.
const total = (logic: Logic) => onlineTotalJson(logic.onlineTotal());
const top = (logic: Logic, type: string, limit: number) => roomTopJson(logic.onlineTop(type, limit));
const rooms = (logic: Logic, type: string, list: string[]) => Object.fromEntries(logic.onlineRooms(type, list));
const instances = (logic: Logic) => instancesJson(logic.comets());
const weighted = async (logic: Logic, platform: string, clientIp: string) => nodesReplyJson(await logic.nodes(platform, clientIp));

function connect(logic: Logic, token: string, server = 'comet01') {
  return logic.connect({ server, cookie: '', token: enc(token) });
}

describe('logic: connect, disconnect, heartbeat', () => {
  test('connect decodes the token, generates a key and stores the routing', async () => {
    const { logic, store } = await setup();
    const reply = await connect(logic, '{"mid":123, "room_id":"live://1000", "platform":"web", "accepts":[1000,1001,1002]}');
    assert.equal(reply.mid, 123n);
    assert.match(reply.key, UUID_V4);
    assert.equal(reply.roomId, 'live://1000');
    assert.deepEqual(reply.accepts, [1000, 1001, 1002]);
    assert.equal(reply.heartbeatMs, 4 * 60_000 * 2); // node.heartbeat × node.heartbeatMax
    assert.deepEqual(await store.serversByKeys([reply.key]), ['comet01']);
    assert.deepEqual([...(await store.keysByMids([123n]))], [[reply.key, 'comet01']]);
  });

  test('a client key is kept; anonymous mids get no mid routing', async () => {
    const { logic, store } = await setup({ node: { heartbeat: '30s', heartbeatMax: 3 } });
    const reply = await connect(logic, '{"mid":0,"key":"abc"}', 'c2');
    assert.equal(reply.key, 'abc');
    assert.equal(reply.heartbeatMs, 90_000);
    assert.deepEqual(await store.serversByKeys(['abc']), ['c2']);
    assert.equal((await store.keysByMids([0n])).size, 0);
  });

  test('a bad token rejects with a TokenError and stores nothing', async () => {
    const { logic, store } = await setup();
    await assert.rejects(connect(logic, '{"mid":"1","key":"k"}'), (err: unknown) => {
      assert.ok(err instanceof TokenError);
      assert.equal(err.message, 'auth token: mid must be an integer');
      return true;
    });
    assert.deepEqual(await store.serversByKeys(['k']), ['']);
  });

  test('a store failure during connect is logged and the connection still succeeds', async () => {
    const store = new MemorySessionStore();
    store.addMapping = async () => {
      throw new Error('redis down');
    };
    const { logic } = await setup({}, store);
    const reply = await connect(logic, '{"mid":5,"key":"k5"}');
    assert.equal(reply.key, 'k5');
  });

  test('disconnect removes only the routing that still points at the caller', async () => {
    const { logic, store } = await setup();
    await connect(logic, '{"mid":7,"key":"k7"}', 'old');
    await connect(logic, '{"mid":7,"key":"k7"}', 'new'); // reconnected elsewhere
    assert.equal(await logic.disconnect({ mid: 7n, key: 'k7', server: 'old' }), false);
    assert.deepEqual(await store.serversByKeys(['k7']), ['new']);
    assert.equal(await logic.disconnect({ mid: 7n, key: 'k7', server: 'new' }), true);
    assert.deepEqual(await store.serversByKeys(['k7']), ['']);
    assert.equal((await store.keysByMids([7n])).size, 0);
  });

  test('heartbeat re-adds a routing that lapsed', async () => {
    const { logic, store } = await setup();
    const ref: SessionRef = { mid: 9n, key: 'k9', server: 'c9' };
    await logic.heartbeat(ref);
    assert.deepEqual(await store.serversByKeys(['k9']), ['c9']);
    assert.deepEqual([...(await store.keysByMids([9n]))], [['k9', 'c9']]);
    await logic.heartbeat(ref); // still routed: only refreshed
    assert.deepEqual(await store.serversByKeys(['k9']), ['c9']);
  });

  test('receive and nodes answer without side effects', async () => {
    const { logic } = await setup();
    assert.deepEqual(await logic.receive({ mid: 1n, key: 'k', room: '', proto: { ver: 1, op: 4, seq: 1, body: enc('hi') } }), { handled: false });
    const n = await logic.nodes('web', '1.2.3.4');
    assert.deepEqual(n, {
      domain: 'conn.goim.io',
      tcpPort: 3101,
      wsPort: 3102,
      wssPort: 0,
      heartbeat: 240,
      nodes: ['conn.goim.io'],
      backoff: { maxDelay: 300, baseDelay: 3, factor: 1.8, jitter: 0.3 },
      heartbeatMax: 2,
    });
  });
});

describe('logic: push API', () => {
  test('keys are grouped by comet; unknown and empty keys are dropped', async () => {
    const { logic, queue } = await setup();
    await connect(logic, '{"key":"k1"}', 'A');
    await connect(logic, '{"key":"k2"}', 'B');
    await connect(logic, '{"key":"k3"}', 'A');
    const msg = enc('hello');
    await logic.pushKeys(1000, ['k1', 'k2', 'nope', '', 'k3'], msg);
    assert.deepEqual(queue.published, [
      { type: PushType.PUSH, operation: 1000, speed: 0, server: 'A', room: '', keys: ['k1', 'k3'], msg },
      { type: PushType.PUSH, operation: 1000, speed: 0, server: 'B', room: '', keys: ['k2'], msg },
    ]);
  });

  test('mids reach every device of every mid, grouped by comet', async () => {
    const { logic, queue } = await setup();
    await connect(logic, '{"mid":1,"key":"a1"}', 'A');
    await connect(logic, '{"mid":1,"key":"b1"}', 'B');
    await connect(logic, '{"mid":2,"key":"a2"}', 'A');
    await connect(logic, '{"mid":3,"key":"c3"}', 'C');
    const msg = enc('m');
    await logic.pushMids(-1, [1n, 2n, 99n], msg);
    assert.deepEqual(queue.published, [
      { type: PushType.PUSH, operation: -1, speed: 0, server: 'A', room: '', keys: ['a1', 'a2'], msg },
      { type: PushType.PUSH, operation: -1, speed: 0, server: 'B', room: '', keys: ['b1'], msg },
    ]);
    queue.published.length = 0;
    await logic.pushMids(1, [], msg);
    await logic.pushKeys(1, [], msg);
    assert.deepEqual(queue.published, []);
  });

  test('room and broadcast pushes are one message each', async () => {
    const { logic, queue } = await setup();
    const msg = enc('x');
    const before = Date.now();
    await logic.pushRoom(1000, 'live', '1000', msg);
    await logic.pushAll(1001, 100, msg);
    // A room push carries an id and its accept time (docs/history.md#the-queue-message).
    const { id, time, ...room } = queue.published[0];
    assert.match(id ?? '', /^[A-Za-z0-9_-]{22}$/);
    assert.ok(time !== undefined && time >= before && time <= Date.now(), `time ${time}`);
    assert.deepEqual(room, { type: PushType.ROOM, operation: 1000, speed: 0, server: '', room: 'live://1000', keys: [], msg });
    assert.deepEqual(queue.published[1], { type: PushType.BROADCAST, operation: 1001, speed: 100, server: '', room: '', keys: [], msg });
    await logic.pushRoom(1000, 'live', '1000', msg);
    assert.notEqual(queue.published[2].id, id, 'every room push gets its own id');
  });

  test('queue and store failures reject', async () => {
    const store = new MemorySessionStore();
    const { logic, queue } = await setup({}, store);
    await connect(logic, '{"key":"k"}', 'A');
    queue.failWith = new Error('queue full');
    await assert.rejects(logic.pushKeys(1, ['k'], enc('x')), /queue full/);
    await assert.rejects(logic.pushRoom(1, 't', 'r', enc('x')), /queue full/);
    await assert.rejects(logic.pushAll(1, 0, enc('x')), /queue full/);
    store.keysByMids = async () => {
      throw new Error('store down');
    };
    await assert.rejects(logic.pushMids(1, [1n], enc('x')), /store down/);
  });
});

describe('logic: online counting', () => {
  const meta = (conns: number, ips: number) => ({ weight: '10', offline: 'false', conn_count: String(conns), ip_count: String(ips) });

  test('room counts are summed over registered comets; totals come from their metadata', async () => {
    const { logic, registry } = await setup();
    await registry.register(comet('c1', meta(3, 2)));
    await registry.register(comet('c2', meta(5, 4)));
    await eventually(() => total(logic).conn_count === 8, 'registry totals');
    assert.deepEqual(total(logic), { conn_count: 8, ip_count: 6 });

    assert.deepEqual(await logic.renewOnline('c1', { 'live://1000': 2, 'live://1001': 1 }), {});
    await logic.renewOnline('c2', { 'live://1000': 1, 'liveshow://7': 4, 'test://1': 9 });
    await logic.renewOnline('unregistered', { 'live://1000': 100 });
    await logic.reloadOnline();

    assert.deepEqual(
      { ...(await logic.renewOnline('c1', { 'live://1000': 2, 'live://1001': 1 })) },
      {
        'live://1000': 3,
        'live://1001': 1,
        'liveshow://7': 4,
        'test://1': 9,
      },
    );
    // type is a plain prefix: "live" also matches liveshow://
    assert.deepEqual(top(logic, 'live', 10), [
      { room_id: '7', count: 4 },
      { room_id: '1000', count: 3 },
      { room_id: '1001', count: 1 },
    ]);
    assert.deepEqual(top(logic, 'live', 2), [
      { room_id: '7', count: 4 },
      { room_id: '1000', count: 3 },
    ]);
    assert.deepEqual(top(logic, 'none', 2), []);
    assert.deepEqual(rooms(logic, 'live', ['1000', '2000', '1000']), { '1000': 3, '2000': 0 });
  });

  test('stale and missing snapshots are deleted and not counted', async () => {
    const { logic, registry, store } = await setup();
    await registry.register(comet('fresh', meta(1, 1)));
    await registry.register(comet('stale', meta(1, 1)));
    await registry.register(comet('silent', meta(1, 1)));
    await eventually(() => total(logic).conn_count === 3, 'registry totals');
    const now = Math.floor(Date.now() / 1000);
    await store.addServerOnline({ server: 'fresh', roomCount: { 'live://1': 1 }, updated: now - 200 });
    await store.addServerOnline({ server: 'stale', roomCount: { 'live://1': 5, 'live://2': 5 }, updated: now - 301 });
    await logic.reloadOnline();
    assert.deepEqual(rooms(logic, 'live', ['1', '2']), { '1': 1, '2': 0 });
    assert.equal(await store.serverOnline('stale'), null);
    assert.notEqual(await store.serverOnline('fresh'), null);
  });

  test('a store failure during reload keeps the previous counts', async () => {
    const store = new MemorySessionStore();
    const { logic, registry } = await setup({}, store);
    await registry.register(comet('c1', meta(1, 1)));
    await eventually(() => total(logic).conn_count === 1, 'registry totals');
    await logic.renewOnline('c1', { 'live://1': 4 });
    await logic.reloadOnline();
    store.serverOnline = async () => {
      throw new Error('redis down');
    };
    await logic.reloadOnline();
    assert.deepEqual(rooms(logic, 'live', ['1']), { '1': 4 });
  });

  test('the reload loop rebuilds the counts every logic.onlineReload', async () => {
    const { logic, registry } = await setup({ logic: { onlineReload: '10ms' } });
    await registry.register(comet('c1', meta(1, 1)));
    await eventually(() => total(logic).conn_count === 1, 'registry totals');
    await logic.renewOnline('c1', { 'live://1': 6 });
    await eventually(() => rooms(logic, 'live', ['1'])['1'] === 6, 'a periodic reload');
  });

  test('start loads the counts of comets already registered', async () => {
    const store = new MemorySessionStore();
    const registry = new MemoryRegistry();
    await registry.register(comet('c1', meta(2, 1)));
    await store.addServerOnline({ server: 'c1', roomCount: { 'live://1': 2 }, updated: Math.floor(Date.now() / 1000) });
    const { logic } = await setup({}, store, registry);
    assert.deepEqual(total(logic), { conn_count: 2, ip_count: 1 });
    assert.deepEqual(rooms(logic, 'live', ['1']), { '1': 2 });
  });

  test('close stops following the registry', async () => {
    const { logic, registry } = await setup();
    await logic.close();
    await registry.register(comet('c1', meta(2, 1)));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(total(logic), { conn_count: 0, ip_count: 0 });
  });
});

describe('logic: nodes', () => {
  test('instances are the comets passing the metadata filter, or null', async () => {
    const { logic, registry } = await setup();
    assert.equal(instances(logic), null);
    await registry.register(comet('ok', { weight: '10', offline: 'false', conn_count: '1', ip_count: '1', addrs: '1.1.1.1' }));
    await registry.register(comet('offline', { weight: '10', offline: 'true', conn_count: '1', ip_count: '1' }));
    await registry.register(comet('nooffline', { weight: '10', conn_count: '1', ip_count: '1' }));
    await registry.register(comet('badcount', { weight: '10', offline: 'false', conn_count: '1.5', ip_count: '1' }));
    await registry.register(comet('badips', { weight: '10', offline: 'F', conn_count: '1', ip_count: '' }));
    await eventually(() => (instances(logic)?.length ?? 0) === 1 && total(logic).conn_count === 1, 'registry update');
    await registry.register(comet('ok2', { weight: '10', offline: '0', conn_count: '2', ip_count: '2', addrs: '2.2.2.2,3.3.3.3' }));
    await eventually(() => instances(logic)?.length === 2, 'second comet');
    assert.deepEqual(
      instances(logic)!.map((i) => i.hostname),
      ['ok', 'ok2'],
    );
    assert.deepEqual(total(logic), { conn_count: 3, ip_count: 3 });

    const web = await weighted(logic, 'web', '10.0.0.1');
    assert.deepEqual(web.nodes, ['ok.goim.io', 'ok2.goim.io']);
    const app = await weighted(logic, 'android', '10.0.0.1');
    assert.deepEqual(app.nodes, ['1.1.1.1', '2.2.2.2', '3.3.3.3']);
    assert.deepEqual((await weighted(logic, 'ios', '')).backoff, { max_delay: 300, base_delay: 3, factor: 1.8, jitter: 0.3 });
  });

  test('the weighted reply leaves out zero fields, as goim’s omitempty does', async () => {
    const { logic } = await setup({ node: { wssPort: 0, tcpPort: 0 }, backoff: { jitter: 0 } });
    assert.deepEqual(await weighted(logic, 'web', ''), {
      domain: 'conn.goim.io',
      tcp_port: undefined,
      ws_port: 3102,
      wss_port: undefined,
      heartbeat: 240,
      nodes: ['conn.goim.io'],
      backoff: { max_delay: 300, base_delay: 3, factor: 1.8, jitter: undefined },
      heartbeat_max: 2,
    });
  });
});

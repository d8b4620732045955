// `comet.workers = 2`: one comet process forks two workers (node:cluster), each a comet of
// its own (id suffix, own gRPC port) sharing the client ports. Both register, clients on
// the shared ports land on both and get every push kind, a crashed worker is restarted,
// and SIGTERM stops the whole group cleanly.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisRegistry } from '../../src/adapters/redis/registry.js';
import { silentLogger } from '../../src/log.js';
import { AppId } from '../../src/ports/index.js';
import {
  api,
  Cluster,
  clusterGate,
  cometConfig,
  jobConfig,
  logicConfig,
  portOf,
  waitGone,
  type CometClusterStarted,
  type LogicStarted,
  type TsimProcess,
} from '../support/cluster.js';
import { GoimTestClient } from '../support/goim-client.js';
import { eventually } from '../support/eventually.js';

const skip = await clusterGate();

describe('distributed tsim: a comet with 2 workers', { skip }, () => {
  let h: Cluster;
  let base: string;
  let comet: TsimProcess;
  let started: CometClusterStarted;
  let redis: Redis;
  let registry: RedisRegistry;
  const clients: GoimTestClient[] = [];

  const connect = async (n: number, room: string, prefix: string) => {
    const out: GoimTestClient[] = [];
    for (let i = 0; i < n; i++) {
      const cl = i % 2 ? await GoimTestClient.ws(portOf(started.websocket[0])) : await GoimTestClient.tcp(portOf(started.tcp[0]));
      clients.push(cl);
      await cl.auth({ mid: 500 + clients.length, key: `${prefix}${i}`, room_id: room, accepts: [1000] });
      out.push(cl);
    }
    return out;
  };

  const hostnames = async () =>
    ((await api(base, '/goim/nodes/instances')).body?.data as Array<{ hostname: string }> | null)?.map((i) => i.hostname).sort() ?? [];

  before(async () => {
    h = await Cluster.start('tsim-workers-');
    redis = new Redis(h.redis.url);
    registry = new RedisRegistry(new Redis(h.redis.url), { ttlMs: 3000, refreshMs: 500, log: silentLogger, ownsClient: true });
    const logic = await h.spawn('logic', 'logic', logicConfig('logic-1'));
    comet = await h.spawn('comet', 'comet-w', cometConfig('comet-w', { comet: { workers: 2 } }));
    const job = await h.spawn('job', 'job-1', jobConfig('job-1'));
    const [l, c] = await Promise.all([logic.started, comet.started, job.started]);
    base = `http://127.0.0.1:${portOf((l as LogicStarted).http)}`;
    started = c as CometClusterStarted;
  });

  after(async () => {
    for (const c of clients) c.close();
    redis?.disconnect();
    await registry?.close();
    await h?.cleanup();
    // the workers exit with their primary
    for (const w of started?.workers ?? []) await waitGone(w.pid, `comet worker ${w.worker}`).catch(() => {});
  });

  it('starts two workers, each registered with its own id and gRPC port', async () => {
    assert.deepEqual(
      started.workers.map((w) => w.serverId),
      ['comet-w-0', 'comet-w-1'],
    );
    const ports = started.workers.map((w) => portOf(w.rpcAddr));
    assert.equal(new Set(ports).size, 2, `distinct gRPC ports: ${ports.join()}`);
    const metricsPorts = started.workers.map((w) => portOf(w.metrics!));
    assert.equal(new Set(metricsPorts).size, 2, `distinct metrics ports: ${metricsPorts.join()}`);
    for (const port of metricsPorts) assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 200);
    assert.notEqual(started.workers[0].pid, started.workers[1].pid);
    await eventually(async () => JSON.stringify(await hostnames()) === '["comet-w-0","comet-w-1"]', 'both workers in /goim/nodes/instances');
    const registered = await registry.list(AppId.Comet);
    assert.deepEqual(
      registered.map((i) => i.addrs[0]),
      started.workers.map((w) => w.rpcAddr),
    );
  });

  it('spreads clients of the shared ports over both workers; room, key and broadcast pushes reach them', async () => {
    const members = await connect(6, 'live://w', 'w');
    const servers = new Set(await Promise.all(members.map((_, i) => redis.get(`key_w${i}`))));
    assert.deepEqual([...servers].sort(), ['comet-w-0', 'comet-w-1'], 'connections landed on both workers');

    assert.equal((await api(base, '/goim/push/room?operation=1000&type=live&room=w', 'to the room')).text, '{"code":0,"message":""}');
    for (const cl of members) assert.equal((await cl.next()).body.toString(), 'to the room');

    // a key lives on one worker: logic routes it there by server id
    const keys = members.map((_, i) => `keys=w${i}`).join('&');
    assert.equal((await api(base, `/goim/push/keys?operation=1000&${keys}`, 'to every key')).text, '{"code":0,"message":""}');
    for (const cl of members) assert.equal((await cl.next()).body.toString(), 'to every key');

    assert.equal((await api(base, '/goim/push/all?operation=1000', 'to all')).text, '{"code":0,"message":""}');
    for (const cl of members) assert.equal((await cl.next()).body.toString(), 'to all');
  });

  it('restarts a crashed worker, which registers again and serves', async () => {
    const victim = started.workers[1];
    process.kill(victim.pid, 'SIGKILL');
    const restarted = await comet.waitForLog((r) => r.msg === 'comet worker restarted' && r.worker === 1, 'worker 1 to be restarted');
    assert.notEqual(restarted.workerPid, victim.pid);
    assert.equal(restarted.serverId, 'comet-w-1');
    started.workers[1] = { ...victim, pid: restarted.workerPid as number };
    await eventually(async () => JSON.stringify(await hostnames()) === '["comet-w-0","comet-w-1"]', 'both workers listed after the restart');

    const members = await connect(4, 'live://w2', 'r');
    await eventually(async () => {
      const servers = new Set(await Promise.all(members.map((_, i) => redis.get(`key_r${i}`))));
      return servers.size === 2;
    }, 'new connections on both workers');
    assert.equal((await api(base, '/goim/push/room?operation=1000&type=live&room=w2', 'after restart')).text, '{"code":0,"message":""}');
    // (a push in flight when the worker died may come again: delivery is at least once)
    for (const cl of members) assert.equal((await cl.nextWhere((f) => f.body.toString() === 'after restart')).op, 1000);
  });

  it('stops the primary and both workers on SIGTERM, exit 0, both deregistered', async () => {
    for (const c of clients) c.close();
    const { code } = await comet.stop();
    assert.equal(code, 0, comet.diagnostics());
    for (const w of started.workers) await waitGone(w.pid, `comet worker ${w.worker}`);
    assert.deepEqual(await registry.list(AppId.Comet), []);
  });
});

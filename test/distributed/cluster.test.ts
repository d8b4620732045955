// Distributed mode end to end: 2 comets, 2 logics and 2 jobs as separate `tsim` processes on
// a private Redis and NATS. Every push kind, through either logic, reaches clients of both
// comets; online counts are
// summed across comets; comets register and expire; a job killed mid-load loses nothing; a
// killed comet's clients move to the other comet; every role stops cleanly on SIGTERM.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisRegistry } from '../../src/adapters/redis/registry.js';
import { silentLogger } from '../../src/log.js';
import { AppId } from '../../src/ports/index.js';
import { Op } from '../../src/protocol/ops.js';
import {
  api,
  Cluster,
  clusterGate,
  cometConfig,
  jobConfig,
  logicConfig,
  portOf,
  type CometStarted,
  type JobStarted,
  type LogicStarted,
  type TsimProcess,
} from '../support/cluster.js';
import { GoimTestClient } from '../support/goim-client.js';
import { eventually } from '../support/eventually.js';

const skip = await clusterGate();

interface CometHandle {
  proc: TsimProcess;
  started: CometStarted;
  tcp: number;
  ws: number;
}

describe('distributed tsim: 2 comets, 2 logics, 2 jobs as processes', { skip }, () => {
  let h: Cluster;
  let logic: TsimProcess;
  let logic2: TsimProcess;
  let base: string;
  /** The second logic's HTTP API. */
  let base2: string;
  let registry: RedisRegistry;
  let redis: Redis;
  const comets = new Map<string, CometHandle>();
  const jobs: TsimProcess[] = [];
  const clients: GoimTestClient[] = [];

  const startComet = async (host: string): Promise<CometHandle> => {
    const proc = await h.spawn('comet', host, cometConfig(host));
    const started = (await proc.started) as CometStarted;
    const c = { proc, started, tcp: portOf(started.tcp[0]), ws: portOf(started.websocket[0]) };
    comets.set(host, c);
    return c;
  };

  /** A client of comet `host` (TCP or WebSocket), authenticated with the token fields given. */
  const client = async (host: string, transport: 'tcp' | 'ws', token: { mid: number; key: string; room_id: string }) => {
    const c = comets.get(host)!;
    const cl = transport === 'tcp' ? await GoimTestClient.tcp(c.tcp) : await GoimTestClient.ws(c.ws);
    clients.push(cl);
    const reply = await cl.auth({ ...token, accepts: [1000] });
    assert.equal(reply.op, Op.AuthReply);
    return cl;
  };

  const push = async (path: string, body: string, via = base) => {
    const r = await api(via, path, body);
    assert.equal(r.text, '{"code":0,"message":""}', `POST ${path}`);
  };

  const instances = async (): Promise<Array<{ hostname: string; addrs: string[]; metadata: Record<string, string> }>> => {
    const r = await api(base, '/goim/nodes/instances');
    return (r.body?.data as Array<{ hostname: string; addrs: string[]; metadata: Record<string, string> }> | null) ?? [];
  };

  before(async () => {
    h = await Cluster.start('tsim-dist-');
    registry = new RedisRegistry(new Redis(h.redis.url), { ttlMs: 3000, refreshMs: 500, log: silentLogger, ownsClient: true });
    redis = new Redis(h.redis.url);
    logic = await h.spawn('logic', 'logic', logicConfig('logic-1'));
    logic2 = await h.spawn('logic', 'logic-2', logicConfig('logic-2'));
    const [, , , , j1, j2] = await Promise.all([
      logic.started,
      logic2.started,
      startComet('comet-a'),
      startComet('comet-b'),
      h.spawn('job', 'job-1', jobConfig('job-1')),
      h.spawn('job', 'job-2', jobConfig('job-2')),
    ]);
    jobs.push(j1, j2);
    await Promise.all(jobs.map((j) => j.started));
    base = `http://127.0.0.1:${portOf(((await logic.started) as LogicStarted).http)}`;
    base2 = `http://127.0.0.1:${portOf(((await logic2.started) as LogicStarted).http)}`;
  });

  after(async () => {
    for (const c of clients) c.close();
    await registry?.close();
    redis?.disconnect();
    await h?.cleanup();
  });

  it('registers every comet with its bound gRPC address, and each logic with its own', async () => {
    await eventually(async () => (await instances()).length === 2, 'logic to list both comets');
    const list = await instances();
    for (const host of ['comet-a', 'comet-b']) {
      const ins = list.find((i) => i.hostname === host);
      assert.ok(ins, `${host} listed`);
      assert.deepEqual(ins.addrs, [comets.get(host)!.started.rpcAddr]);
      assert.match(comets.get(host)!.started.rpcAddr, /^grpc:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(portOf(comets.get(host)!.started.rpcAddr), 0);
      assert.deepEqual(Object.keys(ins.metadata).sort(), ['addrs', 'conn_count', 'ip_count', 'offline', 'weight']);
      assert.equal(ins.metadata.addrs, '127.0.0.1');
    }
    const logics = await registry.list(AppId.Logic);
    assert.deepEqual(
      logics.map((l) => [l.hostname, l.addrs]),
      [
        ['logic-1', [((await logic.started) as LogicStarted).rpcAddr]],
        ['logic-2', [((await logic2.started) as LogicStarted).rpcAddr]],
      ],
    );
  });

  it('delivers every push kind to TCP and WebSocket clients of both comets', async () => {
    const a1 = await client('comet-a', 'tcp', { mid: 101, key: 'a1', room_id: 'live://1' });
    const a2 = await client('comet-a', 'ws', { mid: 102, key: 'a2', room_id: 'live://1' });
    const b1 = await client('comet-b', 'tcp', { mid: 103, key: 'b1', room_id: 'live://1' });
    const b2 = await client('comet-b', 'ws', { mid: 104, key: 'b2', room_id: 'live://1' });
    const all = [a1, a2, b1, b2];
    const next = async (cl: GoimTestClient) => {
      const f = await cl.next();
      assert.equal(f.op, 1000);
      return f.body.toString();
    };

    for (const [name, via] of [
      ['logic-1', base],
      ['logic-2', base2],
    ]) {
      await push('/goim/push/room?operation=1000&type=live&room=1', `room message via ${name}`, via);
      assert.deepEqual(await Promise.all(all.map(next)), Array(4).fill(`room message via ${name}`));

      await push('/goim/push/all?operation=1000', `broadcast via ${name}`, via);
      assert.deepEqual(await Promise.all(all.map(next)), Array(4).fill(`broadcast via ${name}`));

      await push('/goim/push/keys?operation=1000&keys=a2&keys=b1', `to keys via ${name}`, via);
      assert.deepEqual(await Promise.all([a2, b1].map(next)), Array(2).fill(`to keys via ${name}`));

      await push('/goim/push/mids?operation=1000&mids=101&mids=104', `to mids via ${name}`, via);
      assert.deepEqual(await Promise.all([a1, b2].map(next)), Array(2).fill(`to mids via ${name}`));
    }

    // nothing else arrived: the keys and mids pushes reached only their targets
    await push('/goim/push/room?operation=1000&type=live&room=1', 'marker');
    assert.deepEqual(await Promise.all(all.map(next)), Array(4).fill('marker'));
  });

  it('serves Prometheus metrics on every role', async () => {
    const scrape = async (addr: string) => {
      const res = await fetch(`http://127.0.0.1:${portOf(addr)}/metrics`);
      assert.equal(res.status, 200);
      return res.text();
    };
    for (const host of ['comet-a', 'comet-b']) {
      const addr = comets.get(host)!.started.metrics;
      assert.ok(addr, `${host} reports its metrics address`);
      assert.match(await scrape(addr), /^tsim_comet_connections \d+$/m);
    }
    let roomMessages = 0;
    for (const j of jobs) {
      const addr = ((await j.started) as JobStarted).metrics;
      assert.ok(addr, `${j.name} reports its metrics address`);
      const m = /^tsim_job_messages_total\{kind="room"\} (\d+)$/m.exec(await scrape(addr));
      assert.ok(m, `${j.name} exports tsim_job_messages_total`);
      roomMessages += Number(m[1]);
    }
    assert.ok(roomMessages > 0, 'the jobs counted the room messages');
    assert.match(await scrape(((await logic.started) as LogicStarted).http), /^tsim_logic_pushes_total\{kind="room"\} [1-9]\d*$/m);
  });

  it('sums online counts across comets: rooms, top, totals, heartbeat replies', async () => {
    const a = await client('comet-a', 'tcp', { mid: 201, key: 'on-a1', room_id: 'live://2' });
    await client('comet-a', 'ws', { mid: 202, key: 'on-a2', room_id: 'live://2' });
    const b = await client('comet-b', 'tcp', { mid: 203, key: 'on-b1', room_id: 'live://2' });

    for (const via of [base, base2]) {
      await eventually(async () => {
        const r = await api(via, '/goim/online/room?type=live&rooms=2');
        return JSON.stringify(r.body?.data) === '{"2":3}';
      }, 'online/room to count 3 in live://2 (2 on comet-a + 1 on comet-b) on each logic');
    }

    const top = await api(base, '/goim/online/top?type=live&limit=10');
    assert.ok(
      (top.body?.data as Array<{ room_id: string; count: number }>).some((r) => r.room_id === '2' && r.count === 3),
      top.text,
    );

    // every connection of this suite so far: 4 + 3, from both comets' registry metadata
    await eventually(async () => {
      const t = await api(base, '/goim/online/total');
      return (t.body?.data as { conn_count: number }).conn_count === clients.length;
    }, `online/total conn_count to reach ${clients.length}`);

    // comets learn the global count through RenewOnline and answer heartbeats with it
    for (const cl of [a, b]) {
      await eventually(async () => {
        cl.send(Op.Heartbeat);
        const f = await cl.nextWhere((x) => x.op === Op.HeartbeatReply);
        return f.body.readInt32BE(0) === 3;
      }, 'a heartbeat reply to carry the room count 3');
    }
  });

  it('uses a comet started later as soon as it registers', async () => {
    await startComet('comet-c');
    const c1 = await client('comet-c', 'tcp', { mid: 301, key: 'c1', room_id: 'live://3' });
    const a1 = await client('comet-a', 'tcp', { mid: 302, key: 'c-a1', room_id: 'live://3' });
    // the jobs hear of comet-c by the registry's notification or, at the latest, its next scan
    let n = 0;
    await eventually(async () => {
      await push('/goim/push/room?operation=1000&type=live&room=3', `late ${n++}`);
      await new Promise((r) => setTimeout(r, 100));
      return c1.queued > 0;
    }, 'a room push to reach the client of comet-c');
    assert.match((await c1.next()).body.toString(), /^late \d+$/);
    await push('/goim/push/keys?operation=1000&keys=c1', 'key on comet-c');
    assert.equal((await c1.nextWhere((f) => f.body.toString() === 'key on comet-c')).op, 1000);
    assert.ok(a1.queued > 0);
  });

  it('delivers every message at least once when a job is SIGKILLed with 5,000 room and key pushes in flight', async () => {
    // Rooms and keys spread over every queue partition, so both jobs carry part of the load.
    const ROOMS = 8;
    const KEYS = 8;
    const roomMembers: GoimTestClient[][] = [];
    for (let r = 0; r < ROOMS; r++) {
      roomMembers.push([
        await client('comet-a', r % 2 ? 'ws' : 'tcp', { mid: 1000 + r, key: `ra${r}`, room_id: `live://load${r}` }),
        await client('comet-b', r % 2 ? 'tcp' : 'ws', { mid: 2000 + r, key: `rb${r}`, room_id: `live://load${r}` }),
      ]);
    }
    const keyClients: GoimTestClient[] = [];
    for (let k = 0; k < KEYS; k++) {
      keyClients.push(await client(k % 2 ? 'comet-b' : 'comet-a', k % 4 < 2 ? 'tcp' : 'ws', { mid: 3000 + k, key: `load-key${k}`, room_id: '' }));
    }

    const TOTAL = 5000;
    const expected = new Map<GoimTestClient, Set<string>>();
    const expect = (cl: GoimTestClient, body: string) => {
      let s = expected.get(cl);
      if (!s) expected.set(cl, (s = new Set()));
      s.add(body);
    };
    const requests: Array<{ path: string; body: string }> = [];
    for (let i = 0; i < TOTAL; i++) {
      if (i % 2 === 0) {
        const r = (i / 2) % ROOMS;
        const body = `room-${r}-${i}`;
        requests.push({ path: `/goim/push/room?operation=1000&type=live&room=load${r}`, body });
        for (const cl of roomMembers[r]) expect(cl, body);
      } else {
        const k = ((i - 1) / 2) % KEYS;
        const body = `key-${k}-${i}`;
        requests.push({ path: `/goim/push/keys?operation=1000&keys=load-key${k}`, body });
        expect(keyClients[k], body);
      }
    }

    const victim = jobs[0];
    let answered = 0;
    let killed = false;
    let killedAt = 0;
    let nextReq = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (nextReq < requests.length) {
        const { path, body } = requests[nextReq++];
        const r = await api(base, path, body);
        if (r.text !== '{"code":0,"message":""}') failures.push(`${path} ${body}: ${r.text}`);
        if (++answered === Math.floor(TOTAL / 3) && !killed) {
          killed = true;
          killedAt = Date.now();
          victim.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    assert.deepEqual(failures, []);
    assert.ok(killed);
    assert.equal((await victim.exited).signal, 'SIGKILL');

    // Drains what each client received into a set of bodies (duplicates are allowed).
    const seen = new Map<GoimTestClient, Set<string>>();
    const missing = async () => {
      let n = 0;
      for (const [cl, bodies] of expected) {
        let got = seen.get(cl);
        if (!got) seen.set(cl, (got = new Set()));
        for (const f of await cl.collect(cl.queued)) got.add(f.body.toString());
        for (const b of bodies) if (!got.has(b)) n++;
      }
      return n;
    };
    await eventually(async () => (await missing()) === 0, 'every pushed message to reach its clients', 90_000).catch(async (err: Error) => {
      throw new Error(`${err.message}; ${await missing()} deliveries missing\n${h.diagnostics()}`);
    });

    // the survivor took the dead job's partitions over (after its lease TTL)
    await jobs[1].waitForLog(
      (r) => r.msg === 'nats: partition taken' && (r.time as number) > killedAt,
      'job-2 to take a partition of the killed job',
    );
    // a restarted job joins again
    const restarted = await h.spawn('job', 'job-1b', jobConfig('job-1'));
    await restarted.started;
    jobs[0] = restarted;
  });

  it('after a comet is SIGKILLed: its clients reconnect to another, jobs drop it after the TTL, its sessions expire', async () => {
    const stay = await client('comet-c', 'tcp', { mid: 401, key: 'dead-c1', room_id: 'live://4' });
    const mover = await client('comet-c', 'ws', { mid: 402, key: 'dead-c2', room_id: 'live://4' });
    const watcher = await client('comet-b', 'tcp', { mid: 403, key: 'dead-b1', room_id: 'live://4' });
    assert.equal(await redis.get('key_dead-c1'), 'comet-c');

    const c = comets.get('comet-c')!;
    c.proc.kill('SIGKILL');
    await c.proc.exited;
    await Promise.all([stay.closed, mover.closed]);

    // until the registry drops comet-c, calls to it fail and the queue redelivers: a room push
    // of this window still reaches the live comets (at least once)
    await push('/goim/push/room?operation=1000&type=live&room=4', 'in the window');
    assert.equal((await watcher.nextWhere((f) => f.body.toString() === 'in the window', 20_000)).op, 1000);

    // the client reconnects to comet-a with the same key and gets its pushes there
    comets.delete('comet-c');
    const moved = await client('comet-a', 'ws', { mid: 402, key: 'dead-c2', room_id: 'live://4' });
    await eventually(async () => (await redis.get('key_dead-c2')) === 'comet-a', 'key_dead-c2 to point at comet-a');
    await push('/goim/push/keys?operation=1000&keys=dead-c2', 'found again');
    assert.equal((await moved.next()).body.toString(), 'found again');

    // registry TTL: logic and the jobs drop comet-c
    await eventually(async () => !(await instances()).some((i) => i.hostname === 'comet-c'), 'comet-c to leave /goim/nodes/instances', 20_000);
    for (const j of jobs) {
      await j.waitForLog((r) => r.msg === 'job: comet removed' && r.comet === 'comet-c', `${j.name} to drop comet-c`);
    }
    await push('/goim/push/room?operation=1000&type=live&room=4', 'still flowing');
    assert.equal((await watcher.nextWhere((f) => f.body.toString() === 'still flowing')).op, 1000);
    assert.equal((await moved.nextWhere((f) => f.body.toString() === 'still flowing')).op, 1000);

    // redis.expire: the sessions nobody refreshes any more vanish
    await eventually(async () => (await redis.exists('key_dead-c1')) === 0, 'key_dead-c1 to expire', 20_000);
    // mid_401 gets its TTL from a separate command, a moment apart from key_dead-c1's
    await eventually(async () => (await redis.hget('mid_401', 'dead-c1')) === null, 'mid_401 to expire', 5_000);
    assert.equal(await redis.get('key_dead-c2'), 'comet-a', 'the moved session is kept alive by comet-a');
  });

  it('stops every role cleanly on SIGTERM (exit 0), deregistering at once', async () => {
    for (const cl of clients) cl.close();
    const results = await Promise.all(
      [...jobs, ...[...comets.values()].map((c) => c.proc), logic, logic2].map(async (p) => [p.name, (await p.stop()).code]),
    );
    assert.deepEqual(
      results,
      results.map(([name]) => [name, 0]),
    );
    // gone before registry.ttl ran out: they deregistered
    assert.deepEqual(await registry.list(AppId.Comet), []);
    assert.deepEqual(await registry.list(AppId.Logic), []);
  });
});

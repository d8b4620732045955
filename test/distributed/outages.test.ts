// Distributed mode when Redis or NATS goes away (our private instances, stopped and started
// again on the same port): clients stay connected, what can still work keeps working, what
// cannot answers -500 (never a silent drop), and everything recovers on its own.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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
  type LogicStarted,
  type TsimProcess,
} from '../support/cluster.js';
import { GoimTestClient } from '../support/goim-client.js';
import { eventually } from '../support/eventually.js';

const skip = await clusterGate();

const OK = '{"code":0,"message":""}';

describe('distributed tsim: Redis and NATS outages', { skip }, () => {
  let h: Cluster;
  let base: string;
  let a: GoimTestClient;
  let b: GoimTestClient;
  const procs: TsimProcess[] = [];

  const push = (path: string, body: string) => api(base, path, body);

  /** Heartbeat answered: the connection is alive and served. */
  const heartbeat = async (cl: GoimTestClient) => {
    cl.send(Op.Heartbeat);
    assert.equal((await cl.nextWhere((f) => f.op === Op.HeartbeatReply)).op, Op.HeartbeatReply);
  };

  const body = (cl: GoimTestClient, text: string) => cl.nextWhere((f) => f.op === 1000 && f.body.toString() === text);

  /**
   * Pushes (a fresh body each time) until `cl` receives one: the path works end to end again.
   * Resolves with every body `cl` received meanwhile.
   */
  const untilDelivered = async (cl: GoimTestClient, path: string, what: string): Promise<string[]> => {
    let n = 0;
    const sent = new Set<string>();
    const got: string[] = [];
    await eventually(
      async () => {
        const text = `${what} ${n++}`;
        const r = await push(path, text);
        if (r.text === OK) sent.add(text);
        await new Promise((res) => setTimeout(res, 100));
        let hit = false;
        for (const f of await cl.collect(cl.queued)) {
          got.push(f.body.toString());
          hit ||= sent.has(f.body.toString());
        }
        return hit;
      },
      `${what} to work again`,
      30_000,
    );
    return got;
  };

  before(async () => {
    h = await Cluster.start('tsim-outage-');
    const logic = await h.spawn('logic', 'logic', logicConfig('logic-1'));
    const cometA = await h.spawn('comet', 'comet-a', cometConfig('comet-a'));
    const cometB = await h.spawn('comet', 'comet-b', cometConfig('comet-b'));
    const job = await h.spawn('job', 'job-1', jobConfig('job-1'));
    procs.push(logic, cometA, cometB, job);
    const [l, ca, cb] = (await Promise.all(procs.map((p) => p.started))) as [LogicStarted, CometStarted, CometStarted];
    base = `http://127.0.0.1:${portOf(l.http)}`;
    a = await GoimTestClient.tcp(portOf(ca.tcp[0]));
    b = await GoimTestClient.ws(portOf(cb.websocket[0]));
    await a.auth({ mid: 1, key: 'ka', room_id: 'live://o', accepts: [1000] });
    await b.auth({ mid: 2, key: 'kb', room_id: 'live://o', accepts: [1000] });
    await eventually(async () => ((await api(base, '/goim/nodes/instances')).body?.data as unknown[] | null)?.length === 2, 'both comets registered');
  });

  after(async () => {
    a?.close();
    b?.close();
    await h?.cleanup();
  });

  it('Redis down: connections stay, room and broadcast pushes flow, key/mid pushes fail with a message; all recovers', async () => {
    await untilDelivered(a, '/goim/push/keys?operation=1000&keys=ka', 'key push before the outage');

    await h.redis.kill();

    // key and mid pushes need the session store: an error with the reason, nothing dropped silently
    const mids = await push('/goim/push/mids?operation=1000&mids=1', 'x');
    assert.equal(mids.body?.code, -500, mids.text);
    assert.match(mids.body.message, /redis 127\.0\.0\.1:\d+: .* failed/);
    const keys = await push('/goim/push/keys?operation=1000&keys=ka', 'x');
    assert.equal(keys.body?.code, -500, keys.text);
    assert.match(keys.body.message, /redis 127\.0\.0\.1:\d+: .* failed/);

    // room and broadcast pushes go logic → NATS → job → comets without Redis
    assert.equal((await push('/goim/push/room?operation=1000&type=live&room=o', 'room while redis is down')).text, OK);
    await Promise.all([body(a, 'room while redis is down'), body(b, 'room while redis is down')]);
    assert.equal((await push('/goim/push/all?operation=1000', 'all while redis is down')).text, OK);
    await Promise.all([body(a, 'all while redis is down'), body(b, 'all while redis is down')]);

    // past the registry TTL the comets are still known (an unreachable registry is not an empty one)
    await new Promise((r) => setTimeout(r, 3500)); // registry.ttl is 3 s: outlive it on purpose
    assert.equal((await push('/goim/push/room?operation=1000&type=live&room=o', 'room past the ttl')).text, OK);
    await Promise.all([body(a, 'room past the ttl'), body(b, 'room past the ttl')]);
    await Promise.all([heartbeat(a), heartbeat(b)]);
    assert.equal(a.isClosed || b.isClosed, false);

    // Redis returns empty (no persistence): comets re-register, routing is refreshed back in
    await h.redis.start();
    await untilDelivered(a, '/goim/push/keys?operation=1000&keys=ka', 'key push after Redis returned');
    await untilDelivered(b, '/goim/push/mids?operation=1000&mids=2', 'mid push after Redis returned');
    await eventually(
      async () => ((await api(base, '/goim/nodes/instances')).body?.data as unknown[] | null)?.length === 2,
      'both comets registered again',
    );
  });

  it('NATS down: every push answers -500 with the reason; logic and job reconnect by themselves', async () => {
    await h.nats.kill();

    for (const [path, code] of [
      ['/goim/push/room?operation=1000&type=live&room=o', -500],
      ['/goim/push/all?operation=1000', -500],
      ['/goim/push/mids?operation=1000&mids=1', -500],
      ['/goim/push/keys?operation=1000&keys=ka', -500],
    ] as const) {
      const r = await push(path, 'while nats is down');
      assert.equal(r.body?.code, code, `${path}: ${r.text}`);
      assert.match(r.body.message, /nats nats:\/\/127\.0\.0\.1:\d+: publish .*failed/, `${path}: ${r.text}`);
    }
    await Promise.all([heartbeat(a), heartbeat(b)]);

    await h.nats.start();
    const got = [
      ...(await untilDelivered(a, '/goim/push/room?operation=1000&type=live&room=o', 'room push after NATS returned')),
      ...(await untilDelivered(b, '/goim/push/keys?operation=1000&keys=kb', 'key push after NATS returned')),
      ...(await untilDelivered(b, '/goim/push/all?operation=1000', 'broadcast after NATS returned')),
    ];
    // a refused push is not sent later behind the caller's back
    assert.equal(got.includes('while nats is down'), false);
    assert.equal(a.isClosed || b.isClosed, false);
  });
});

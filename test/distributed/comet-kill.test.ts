// A comet SIGKILLed under steady room pushes, with a registry TTL long enough that the dead
// comet stays listed for the whole test: the job marks it down within a few failed calls,
// and the clients of the surviving comet get every message exactly once, in order — the
// failed calls to the dead comet are not redelivered to them (docs/deployment.md, failures).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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
} from '../support/cluster.js';
import { GoimTestClient } from '../support/goim-client.js';
import { eventually } from '../support/eventually.js';

const skip = await clusterGate();

/** Longer than the test: the dead comet is never dropped from the registry meanwhile. */
const registry = { refresh: '500ms', ttl: '60s' };
const BEFORE_KILL = 30;
const AFTER_KILL = 300;
const PUSH_EVERY_MS = 10;

describe('distributed tsim: a comet SIGKILLed under steady room pushes', { skip }, () => {
  let h: Cluster;
  const clients: GoimTestClient[] = [];

  before(async () => {
    h = await Cluster.start('tsim-comet-kill-');
  });

  after(async () => {
    for (const c of clients) c.close();
    await h?.cleanup();
  });

  it('the job marks the dead comet down; the surviving comet’s clients get every message once, in order', async (t) => {
    const logic = await h.spawn('logic', 'logic', logicConfig('logic-1', { registry }));
    const cometA = await h.spawn('comet', 'comet-a', cometConfig('comet-a', { registry }));
    const cometB = await h.spawn('comet', 'comet-b', cometConfig('comet-b', { registry }));
    const job = await h.spawn('job', 'job-1', jobConfig('job-1', { registry }));
    const [l, a, b, j] = (await Promise.all([logic.started, cometA.started, cometB.started, job.started])) as [
      LogicStarted,
      CometStarted,
      CometStarted,
      JobStarted,
    ];
    const base = `http://127.0.0.1:${portOf(l.http)}`;
    await eventually(async () => ((await api(base, '/goim/nodes/instances')).body?.data as unknown[] | null)?.length === 2, 'both comets registered');
    await job.waitForLog((r) => r.msg === 'job: comet added' && r.comet === 'comet-b', 'the job to know comet-b');

    const survivors = [await GoimTestClient.tcp(portOf(a.tcp[0])), await GoimTestClient.ws(portOf(a.websocket[0]))];
    const victimClient = await GoimTestClient.tcp(portOf(b.tcp[0]));
    clients.push(...survivors, victimClient);
    for (const [i, c] of [...survivors, victimClient].entries()) await c.auth({ mid: i + 1, key: `k${i}`, room_id: 'live://kill', accepts: [1000] });

    const seqs = new Map<GoimTestClient, number[]>(clients.map((c) => [c, []]));
    for (const c of clients) {
      c.socket.on('data', () => {
        void c.collect(c.queued).then((frames) => {
          for (const f of frames) if (f.op === 1000) seqs.get(c)!.push(Number(f.body.toString()));
        });
      });
    }
    const push = async (seq: number) => {
      const r = await api(base, '/goim/push/room?operation=1000&type=live&room=kill', String(seq));
      assert.equal(r.text, '{"code":0,"message":""}', `push ${seq}`);
      await new Promise((res) => setTimeout(res, PUSH_EVERY_MS));
    };

    let seq = 0;
    for (; seq < BEFORE_KILL; seq++) await push(seq);
    await eventually(() => seqs.get(victimClient)!.length > 0, 'comet-b delivering before the kill');

    const killedAt = Date.now();
    cometB.kill('SIGKILL');
    for (; seq < BEFORE_KILL + AFTER_KILL; seq++) await push(seq);

    const down = await job.waitForLog((r) => r.msg.startsWith('job: comet down') && r.comet === 'comet-b', 'the job to mark comet-b down', 15_000);
    t.diagnostic(`comet-b marked down about ${Number(down.time) - killedAt} ms after the kill (registry.ttl ${registry.ttl})`);

    const all = Array.from({ length: seq }, (_, i) => i);
    for (const c of survivors) {
      await eventually(() => seqs.get(c)!.length >= seq, `${c.transport} client of comet-a to get all ${seq}`, 20_000);
    }
    // give late duplicates, if any, the time a redelivery would take (nats.retryDelay 200 ms in tests)
    await new Promise((res) => setTimeout(res, 1500));
    for (const c of survivors) {
      const got = seqs.get(c)!;
      const dups = got.length - new Set(got).size;
      assert.equal(dups, 0, `${c.transport} client of comet-a: ${dups} duplicates`);
      assert.deepEqual(got, all, `${c.transport} client of comet-a: every message once, in order`);
    }

    // the job's own account: comet-b down, its calls held, nothing redelivered by the queue
    const metrics = await (await fetch(`http://${j.metrics}/metrics`)).text();
    assert.match(metrics, /^tsim_job_comets_down 1$/m);
    assert.match(metrics, /^tsim_queue_redeliveries_total 0$/m);
    const held = Number(/^tsim_job_comet_held_calls (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(held > 0 && held <= AFTER_KILL, `calls held for comet-b: ${held}`);
  });
});

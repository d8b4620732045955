// The durable inbox in distributed mode (docs/protocol.md#durable-inbox): logic stores, the
// seqs ride the NATS queue and the comet's gRPC PushMsg, the comet reads backlogs with the
// Inbox rpc. A comet and then a job are SIGKILLed while durable pushes go on: nothing the
// API accepted is lost, and each connection sees every seq once, in order. The inboxes are
// kept in PostgreSQL (a database of the suite's own), as a distributed logic keeps them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeFrame, type Frame } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import {
  api,
  Cluster,
  clusterGate,
  cometConfig,
  freePort,
  jobConfig,
  logicConfig,
  portOf,
  type LogicStarted,
  type TsimProcess,
} from '../support/cluster.js';
import { GoimTestClient } from '../support/goim-client.js';
import { freshPostgresDatabase, type FreshDatabase } from '../support/postgres.js';

const skip = (await clusterGate()) || (await freshPostgresDatabase.gate());

function inboxMessage(f: Frame): { seq: number; op: number; body: string } {
  assert.equal(f.op, Op.InboxMessage, `op ${f.op} is not an inbox message`);
  return { seq: Number(f.body.readBigUInt64BE(0)), op: f.body.readInt32BE(8), body: f.body.subarray(12).toString() };
}

describe('distributed tsim: durable inbox', { skip }, () => {
  let h: Cluster;
  let db: FreshDatabase;
  const clients: GoimTestClient[] = [];

  before(async () => {
    db = await freshPostgresDatabase('tsim_inbox');
    h = await Cluster.start('tsim-inbox-');
  });

  after(async () => {
    for (const c of clients) c.close();
    await h?.cleanup();
    await db?.drop();
  });

  it('delivers through the queue and gRPC, and loses nothing when a comet and then a job are SIGKILLed', async (t) => {
    const logic = await h.spawn('logic', 'logic', logicConfig('logic-1', { inbox: { engine: 'postgres', postgresUrl: db.url } }));
    let job: TsimProcess = await h.spawn('job', 'job-1', jobConfig('job-1'));
    const [tcpPort, wsPort, rpcPort] = [await freePort(), await freePort(), await freePort()];
    const cometCfg = cometConfig('comet-a', {
      tcp: { bind: [`127.0.0.1:${tcpPort}`] },
      websocket: { bind: [`127.0.0.1:${wsPort}`] },
      rpcServer: { addr: `127.0.0.1:${rpcPort}` },
    });
    let comet = await h.spawn('comet', 'comet-a', cometCfg);
    const [l] = (await Promise.all([logic.started, job.started, comet.started])) as [LogicStarted, unknown, unknown];
    const base = `http://127.0.0.1:${portOf(l.http)}`;
    await job.waitForLog((r) => r.msg === 'job: comet added' && r.comet === 'comet-a', 'the job to know comet-a');

    const connect = async (key: string, inbox: boolean) => {
      const c = await GoimTestClient.tcp(tcpPort, '127.0.0.1');
      clients.push(c);
      await c.auth({ mid: 7, key, accepts: [1000], ...(inbox ? { inbox: true } : {}) });
      if (inbox) assert.equal((await c.next()).op, Op.InboxState);
      return c;
    };
    let pushed = 0;
    const push = async () => {
      const n = ++pushed;
      const r = await api(base, '/goim/push/mids?operation=1000&mids=7&durable=1', `n${n}`);
      assert.equal(r.text, '{"code":0,"message":""}', `push ${n}`);
    };

    // The bytes: op 27 to the inbox device, goim's frame to the goim device of the same user.
    let device = await connect('phone', true);
    const goim = await connect('legacy', false);
    await push();
    const first = await device.next();
    assert.deepEqual(inboxMessage(first), { seq: 1, op: 1000, body: 'n1' });
    assert.equal((await goim.next()).op, 1000);
    assert.deepEqual(goim.rawBytes().subarray(-18), encodeFrame(1000, Buffer.from('n1')));

    // A comet SIGKILLed mid-stream: the device acknowledged part of what it got, reconnects to
    // the restarted comet and receives everything above its watermark.
    const seen: number[] = [1];
    for (let i = 0; i < 40; i++) await push();
    for (const f of await device.collect(40)) seen.push(inboxMessage(f).seq);
    assert.deepEqual(
      seen,
      Array.from({ length: 41 }, (_, i) => i + 1),
    );
    device.send(Op.InboxAck, '{"seq":30}', 1, 2);
    assert.equal((await device.nextWhere((f) => f.op === Op.InboxAckReply)).body.toString(), '{"code":0,"acked":30}');
    comet.kill('SIGKILL');
    await comet.exited;
    for (let i = 0; i < 40; i++) await push(); // accepted while no comet is up: stored, routed nowhere
    comet = await h.spawn('comet', 'comet-a2', cometCfg);
    await comet.started;
    device = await connect('phone', true);
    const resumed: number[] = [];
    const pushing = (async () => {
      for (let i = 0; i < 40; i++) await push();
    })();
    await pushing;
    for (const f of await device.collect(pushed - 30, 30_000)) resumed.push(inboxMessage(f).seq);
    assert.deepEqual(
      resumed,
      Array.from({ length: pushed - 30 }, (_, i) => 31 + i),
      'after the comet restart: everything above the watermark, once, in order',
    );

    // A job SIGKILLed while pushes go on: its unacknowledged queue messages go to the next job,
    // and a seq that skips ahead meanwhile is read from the inbox.
    const before = pushed;
    const jobKilled = (async () => {
      for (let i = 0; i < 60; i++) {
        await push();
        if (i === 20) {
          job.kill('SIGKILL');
          await job.exited;
          job = await h.spawn('job', 'job-2', jobConfig('job-2'));
        }
      }
    })();
    await jobKilled;
    await job.started;
    const tail = (await device.collect(pushed - before, 60_000)).map((f) => inboxMessage(f).seq);
    assert.deepEqual(
      tail,
      Array.from({ length: pushed - before }, (_, i) => before + 1 + i),
      'after the job restart: every seq once, in order',
    );
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(device.queued, 0, 'no late duplicate');
    t.diagnostic(`${pushed} durable pushes, the comet and the job killed once each`);
  });
});

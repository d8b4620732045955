// The operations console in distributed mode: 2 comets, 1 logic and 2 jobs as `tsim`
// processes on a private Redis and NATS. The logic's overview lists every comet, logic and job
// from their node snapshots in Redis, with live numbers; a job stopped with SIGTERM leaves the
// list at once; a lookup finds a user's connection on its comet (tsim.comet.Admin), a disconnect
// closes it; the console is refused
// without the admin key, and not served at all by a logic with none.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Overview } from '../../src/logic/admin/cluster-view.js';
import { Op } from '../../src/protocol/ops.js';
import type { ConnectionInfo } from '../../src/ports/comet-admin.js';
import { Cluster, clusterGate, cometConfig, jobConfig, logicConfig, portOf, type LogicStarted, type TsimProcess } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { GoimTestClient } from '../support/goim-client.js';

const skip = await clusterGate();
const ADMIN_KEY = 'cluster-admin-0123456789';

describe('operations console over a cluster of processes', { skip }, () => {
  let h: Cluster;
  let base: string;
  let bare: string;
  const jobs: TsimProcess[] = [];
  const clients: GoimTestClient[] = [];
  let cometTcp = 0;
  let logic: TsimProcess;

  const admin = async (path: string, key = ADMIN_KEY): Promise<{ status: number; body: { code: number; message: string; data?: unknown } }> => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
    return { status: res.status, body: (await res.json()) as { code: number; message: string; data?: unknown } };
  };
  const overview = async (): Promise<Overview> => (await admin('/admin/api/overview')).body.data as Overview;

  before(async () => {
    h = await Cluster.start('tsim-console-');
    const interval = { admin: { statsInterval: '200ms' } };
    logic = await h.spawn('logic', 'logic', logicConfig('logic-1', { ...interval, admin: { statsInterval: '200ms', keys: [`ops:${ADMIN_KEY}`] } }));
    // A logic without admin keys: the console is off there.
    const logic2 = await h.spawn('logic', 'logic-2', logicConfig('logic-2', interval));
    const a = await h.spawn('comet', 'comet-a', cometConfig('comet-a', interval));
    const b = await h.spawn('comet', 'comet-b', cometConfig('comet-b', interval));
    jobs.push(await h.spawn('job', 'job-1', jobConfig('job-1', interval)), await h.spawn('job', 'job-2', jobConfig('job-2', interval)));
    const [l1, l2, ca] = await Promise.all([logic.started, logic2.started, a.started, b.started, ...jobs.map((j) => j.started)]);
    base = `http://127.0.0.1:${portOf((l1 as LogicStarted).http)}`;
    bare = `http://127.0.0.1:${portOf((l2 as LogicStarted).http)}`;
    cometTcp = portOf((ca as unknown as { tcp: string[] }).tcp[0]);
  });

  after(async () => {
    for (const c of clients) c.close();
    await h?.cleanup();
  });

  it('lists every comet, logic and job with its version, uptime, addresses and health', async () => {
    const want = [
      'comet/comet-a',
      'comet/comet-b',
      'logic/logic-1',
      'logic/logic-2',
      ...jobs.map((j) => `job/job-${jobs.indexOf(j) + 1}:${j.pid}`),
    ].sort();
    let o = {} as Overview;
    await eventually(async () => {
      o = await overview();
      return JSON.stringify(o.nodes.map((n) => `${n.role}/${n.id}`).sort()) === JSON.stringify(want);
    }, 'every node in the overview');
    for (const n of o.nodes) {
      assert.equal(n.health, 'ok', `${n.role}/${n.id}`);
      assert.match(n.version, /^\d+\.\d+\.\d+/);
      assert.ok(n.uptimeS >= 0);
    }
    const comet = o.nodes.find((n) => n.id === 'comet-a')!;
    assert.ok(comet.addrs.some((x) => x.startsWith('tcp 127.0.0.1:')));
    assert.ok(comet.addrs.some((x) => x.startsWith('grpc grpc://')));
    assert.ok(o.nodes.find((n) => n.id === 'logic-1')!.addrs.some((x) => x.startsWith('http ')));
  });

  it('counts a client on a comet and shows where it is routed', async () => {
    const c = await GoimTestClient.tcp(cometTcp);
    clients.push(c);
    assert.equal((await c.auth({ mid: 9001, key: 'dist-console-key', room_id: 'live://5', accepts: [1000] })).op, Op.AuthReply);
    await eventually(async () => (await overview()).totals.connections === 1, 'the connection in the cluster totals');
    const r = await admin('/admin/api/lookup?mid=9001');
    assert.equal(r.status, 200);
    const [conn, ...more] = (r.body.data as { connections: ConnectionInfo[] }).connections;
    assert.deepEqual(more, []);
    assert.match(conn.remote, /^127\.0\.0\.1:\d+$/);
    assert.ok(conn.since > Date.now() - 60_000);
    assert.deepEqual(
      { ...conn, remote: '', since: 0 },
      { key: 'dist-console-key', mid: '9001', comet: 'comet-a', remote: '', rooms: ['live://5'], since: 0, transport: 'tcp', tls: false },
    );
  });

  it("lists a room's members from every comet", async () => {
    const r = await admin(`/admin/api/room?room=${encodeURIComponent('live://5')}`);
    assert.equal(r.status, 200);
    const room = r.body.data as { total: number; comets: { comet: string; total: number }[]; members: ConnectionInfo[] };
    assert.equal(room.total, 1);
    assert.deepEqual(
      room.comets.sort((x, y) => x.comet.localeCompare(y.comet)),
      [
        { comet: 'comet-a', total: 1 },
        { comet: 'comet-b', total: 0 },
      ],
    );
    assert.deepEqual(
      room.members.map((m) => m.key),
      ['dist-console-key'],
    );
  });

  it('disconnects a client on a comet through tsim.comet.Admin, and logs who did it', async () => {
    const c = await GoimTestClient.tcp(cometTcp);
    clients.push(c);
    await c.auth({ mid: 9002, key: 'dist-kick-me', room_id: 'live://5', accepts: [1000] });
    const res = await fetch(`${base}/admin/api/disconnect?key=dist-kick-me`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { code: 0, message: '', data: { closed: true } });
    await c.closed;
    const line = await logic.waitForLog((l) => l.action === 'disconnect', 'the audit line');
    assert.equal(line.admin, 'ops');
    assert.equal(line.key, 'dist-kick-me');
    assert.equal(line.comet, 'comet-a');
  });

  it('drops a job that stops', async () => {
    const [job] = jobs.splice(0, 1);
    job.child.kill('SIGTERM');
    await job.exited;
    // Removed at stop (not left to expire): gone by the console's next reading.
    await eventually(async () => !(await overview()).nodes.some((n) => n.id === `job-1:${job.pid}`), 'the stopped job to leave', 2000);
    assert.ok((await overview()).nodes.some((n) => n.role === 'job'));
  });

  it('is refused without the admin key, and off on a logic with none', async () => {
    assert.equal((await admin('/admin/api/overview', 'wrong-key-0123456789')).status, 401);
    assert.equal((await fetch(`${base}/admin`)).status, 401);
    assert.equal((await fetch(`${bare}/admin/api/overview`)).status, 404);
    assert.equal((await fetch(`${bare}/admin`)).status, 404);
  });
});

// Recovery after reconnect (docs/history.md#replay, docs/client.md#danmaku-and-history): a comet
// holding SDK clients in a busy room is SIGKILLed and restarted on the same ports while pushes
// go on; every client reconnects, asks for what it missed, and ends with every message once, in
// order. Distributed mode with PostgreSQL history.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TcpClient, TsimClient, type ClientSession, type PushMessage } from 'tsim-client';
import { api, Cluster, clusterGate, cometConfig, freePort, jobConfig, logicConfig, portOf, type LogicStarted } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { freshPostgresDatabase, type FreshDatabase } from '../support/postgres.js';

const skip = (await clusterGate()) || (await freshPostgresDatabase.gate());

const CLIENTS = 24;
const TOTAL = 600;
const KILL_AT = 150;
const PUSH_EVERY_MS = 8;
const ROOM = { live: { send: true, history: true, replayMax: 2000 } };

describe('distributed tsim: clients recover what a comet restart made them miss', { skip }, () => {
  let h: Cluster;
  let db: FreshDatabase;
  const clients: ClientSession[] = [];

  before(async () => {
    h = await Cluster.start('tsim-recovery-');
    db = await freshPostgresDatabase('tsim_recovery');
  });

  after(async () => {
    for (const c of clients) await c.close();
    await h?.cleanup();
    await db?.drop();
  });

  it('0 lost, 0 duplicated, order kept', async (t) => {
    const history = { engine: 'postgres', postgresUrl: db.url };
    const logic = await h.spawn('logic', 'logic', logicConfig('logic-1', { roomTypes: ROOM, history }));
    const job = await h.spawn('job', 'job-1', jobConfig('job-1', { roomTypes: ROOM, history }));
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

    const got = new Map<ClientSession, number[]>();
    const lost: string[] = [];
    const states: string[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const token = { mid: i + 1, key: `rec-${i}`, room_id: 'live://busy' };
      const opts = { token, history: { last: 0 }, reconnect: { baseMs: 100, maxMs: 400, jitter: 0 } };
      const c: ClientSession =
        i % 2 === 0 ? new TcpClient({ url: `127.0.0.1:${tcpPort}`, ...opts }) : new TsimClient({ url: `ws://127.0.0.1:${wsPort}/sub`, ...opts });
      clients.push(c);
      got.set(c, []);
      c.on('message', (m: PushMessage) => {
        if (m.op === 1000) got.get(c)!.push(Number(m.text()));
      });
      c.on('notRecovered', (s) => lost.push(`${i}: ${s.reason}`));
      c.on('roomState', (s) => states.push(`${i}@${got.get(c)!.length}: ${JSON.stringify(s)}`));
    }
    await eventually(() => clients.every((c) => c.state === 'open'), 'every client authenticated');

    const push = async (n: number) => {
      const r = await api(base, '/goim/push/room?operation=1000&type=live&room=busy', String(n));
      assert.equal(r.text, '{"code":0,"message":""}', `push ${n}`);
      await new Promise((res) => setTimeout(res, PUSH_EVERY_MS));
    };
    let n = 0;
    for (; n < KILL_AT; n++) await push(n);
    await eventually(() => [...got.values()].every((g) => g.length > 0), 'every client receiving before the kill');

    comet.kill('SIGKILL');
    await comet.exited;
    const downAt = Date.now();
    for (; n < KILL_AT + 100; n++) await push(n);
    comet = await h.spawn('comet', 'comet-a2', cometCfg);
    await comet.started;
    t.diagnostic(`comet down for ${Date.now() - downAt} ms while ${100} messages were pushed`);
    for (; n < TOTAL; n++) await push(n);

    const all = Array.from({ length: TOTAL }, (_, i) => i);
    try {
      await eventually(() => [...got.values()].every((g) => g.length >= TOTAL), `every client to hold all ${TOTAL} messages`, 30_000);
    } catch (err) {
      const ranges = (g: number[]) => {
        const have = new Set(g);
        const out: string[] = [];
        for (let x = 0; x < TOTAL; x++) if (!have.has(x) && have.has(x - 1)) out.push(`${x}..`);
        for (let x = 0; x < TOTAL; x++) if (!have.has(x) && (have.has(x + 1) || x === TOTAL - 1)) out.push(`..${x}`);
        return out.join(' ');
      };
      const summary = [...got.values()].map((g, i) => `${i}:${g.length} missing ${ranges(g)} states=${clients[i].state}`).join('\n');
      throw new Error(
        `${(err as Error).message}\n${summary}\nlost=${lost.join(',')}\nstates=${states
          .filter((x) => !x.includes('@0:'))
          .slice(0, 8)
          .join('\n')}\n${h.diagnostics()}`,
        { cause: err },
      );
    }
    // Late duplicates, if any, would come with a redelivery (nats.retryDelay 200 ms here).
    await new Promise((res) => setTimeout(res, 1000));
    let dups = 0;
    let missing = 0;
    for (const g of got.values()) {
      dups += g.length - new Set(g).size;
      missing += all.filter((x) => !g.includes(x)).length;
    }
    t.diagnostic(`${CLIENTS} clients × ${TOTAL} messages: ${missing} lost, ${dups} duplicated`);
    assert.deepEqual(lost, [], 'every reconnect recovered');
    for (const [i, g] of [...got.values()].entries()) assert.deepEqual(g, all, `client ${i}: every message once, in order`);
  });
});

// A job SIGKILLed while rooms are pushed steadily: the other job takes its partitions over,
// every client gets every message of its room, first deliveries in push order, and the
// pause at the clients is printed (not asserted: docs/deployment.md, failures, records it).
// The jobs run with the default nats.leaseTtl and nats.ackWait, so the figure is the one a
// deployment sees.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { partitionOfKey } from '../../src/adapters/nats/partition.js';
import { configSchema } from '../../src/config/schema.js';
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
  type LogRecord,
  type TsimProcess,
} from '../support/cluster.js';
import { GoimTestClient } from '../support/goim-client.js';
import { eventually } from '../support/eventually.js';

const skip = await clusterGate();

const DEFAULTS = configSchema.parse({}).nats;
const PARTITIONS = DEFAULTS.partitions;
/** Pause between two pushes of one room (each room is pushed by one sequential worker). */
const PUSH_EVERY_MS = 10;
/** Pushes per room before the kill, and after every room flows again. */
const BEFORE_KILL = 40;
const AFTER_RESUME = 40;

/** One room per partition, so both jobs carry rooms and the killed one leaves some behind. */
function roomsCoveringPartitions(): string[] {
  const byPartition = new Map<number, string>();
  for (let i = 0; byPartition.size < PARTITIONS; i++) {
    const room = `f${i}`;
    const p = partitionOfKey(`live://${room}`, PARTITIONS);
    if (!byPartition.has(p)) byPartition.set(p, room);
  }
  return [...byPartition.entries()].sort((a, b) => a[0] - b[0]).map(([, room]) => room);
}

/** Which partitions `job` reads now, from its "partition taken" / "partition left" log lines. */
function ownedBy(job: TsimProcess, owner: string): Set<number> {
  const owned = new Set<number>();
  for (const r of job.logs() as LogRecord[]) {
    if (r.owner !== owner || typeof r.partition !== 'number') continue;
    if (r.msg === 'nats: partition taken') owned.add(r.partition);
    if (r.msg === 'nats: partition left') owned.delete(r.partition);
  }
  return owned;
}

interface Arrival {
  seq: number;
  at: number;
}

describe('distributed tsim: a job SIGKILLed under steady room pushes', { skip }, () => {
  let h: Cluster;
  let base: string;
  const clients: GoimTestClient[] = [];

  before(async () => {
    h = await Cluster.start('tsim-failover-');
  });

  after(async () => {
    for (const c of clients) c.close();
    await h?.cleanup();
  });

  it('the survivor takes over within seconds; every client gets every message once first, in order', async (t) => {
    // the defaults, not the short test settings: the pause measured is a deployment's
    const nats = { leaseTtl: `${DEFAULTS.leaseTtl}ms`, ackWait: `${DEFAULTS.ackWait}ms` };
    const logic = await h.spawn('logic', 'logic', logicConfig('logic-1'));
    const comet = await h.spawn('comet', 'comet-a', cometConfig('comet-a'));
    const jobA = await h.spawn('job', 'job-a', jobConfig('job-a', { nats }));
    const jobB = await h.spawn('job', 'job-b', jobConfig('job-b', { nats }));
    const [l, c, ja, jb] = (await Promise.all([logic.started, comet.started, jobA.started, jobB.started])) as [
      LogicStarted,
      CometStarted,
      JobStarted,
      JobStarted,
    ];
    base = `http://127.0.0.1:${portOf(l.http)}`;
    await eventually(
      () => ownedBy(jobA, ja.owner).size === PARTITIONS / 2 && ownedBy(jobB, jb.owner).size === PARTITIONS / 2,
      'the jobs to split the partitions',
      30_000,
    );

    // two clients per room (TCP and WebSocket), each recording when every message arrived
    const rooms = roomsCoveringPartitions();
    const arrivals = new Map<GoimTestClient, Arrival[]>();
    const roomOf = new Map<GoimTestClient, string>();
    for (const room of rooms) {
      for (const transport of ['tcp', 'ws'] as const) {
        const cl = transport === 'tcp' ? await GoimTestClient.tcp(portOf(c.tcp[0])) : await GoimTestClient.ws(portOf(c.websocket[0]));
        clients.push(cl);
        await cl.auth({ mid: clients.length, key: `${room}-${transport}`, room_id: `live://${room}`, accepts: [1000] });
        const list: Arrival[] = [];
        arrivals.set(cl, list);
        roomOf.set(cl, room);
        // after the client's own listener has queued the frames of this chunk
        cl.socket.on('data', () => {
          const at = performance.now();
          void cl.collect(cl.queued).then((frames) => {
            for (const f of frames) if (f.op === 1000) list.push({ seq: Number(f.body.toString().split(':')[1]), at });
          });
        });
      }
    }

    const victim = jobA;
    const victimRooms = new Set(rooms.filter((r) => ownedBy(jobA, ja.owner).has(partitionOfKey(`live://${r}`, PARTITIONS))));
    assert.equal(victimRooms.size, PARTITIONS / 2);

    const pushed = new Map<string, number>(rooms.map((r) => [r, 0]));
    const failures: string[] = [];
    let killAt = 0;
    let killAtWall = 0;
    let stopAt = Infinity; // pushes per room to stop at, set once delivery resumed everywhere
    const worker = async (room: string) => {
      for (let seq = 0; seq < stopAt && seq < 20_000; seq++) {
        const r = await api(base, `/goim/push/room?operation=1000&type=live&room=${room}`, `${room}:${seq}`);
        if (r.text !== '{"code":0,"message":""}') failures.push(`${room}:${seq}: ${r.text}`);
        pushed.set(room, seq + 1);
        await new Promise((res) => setTimeout(res, PUSH_EVERY_MS));
      }
    };
    const pushing = Promise.all(rooms.map(worker));

    // steady state, then kill -9 one job
    await eventually(() => clients.every((cl) => arrivals.get(cl)!.length >= BEFORE_KILL), 'every room to flow', 30_000);
    killAt = performance.now();
    killAtWall = Date.now();
    victim.kill('SIGKILL');
    assert.equal((await victim.exited).signal, 'SIGKILL');

    // every client of the victim's rooms receives again: the hand-over is done
    const pushedAtKill = new Map(pushed);
    await eventually(
      () => clients.every((cl) => arrivals.get(cl)!.some((a) => a.seq >= pushedAtKill.get(roomOf.get(cl)!)! && a.at > killAt)),
      'every room to flow again after the kill',
      90_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${h.diagnostics()}`);
    });
    const resumedAt = performance.now();
    stopAt = Math.max(...pushed.values()) + AFTER_RESUME;
    await pushing;
    assert.deepEqual(failures, []);

    // every message reaches every client of its room; first deliveries in push order
    const firsts = (cl: GoimTestClient): number[] => {
      const seen = new Set<number>();
      const order: number[] = [];
      for (const a of arrivals.get(cl)!) {
        if (seen.has(a.seq)) continue;
        seen.add(a.seq);
        order.push(a.seq);
      }
      return order;
    };
    await eventually(
      () => clients.every((cl) => firsts(cl).length === pushed.get(roomOf.get(cl)!)),
      'every message to reach every client of its room',
      60_000,
    ).catch((err: Error) => {
      const short = clients.map((cl) => `${roomOf.get(cl)}: ${firsts(cl).length}/${pushed.get(roomOf.get(cl)!)}`).join(', ');
      throw new Error(`${err.message} (${short})\n${h.diagnostics()}`);
    });
    let duplicates = 0;
    for (const cl of clients) {
      const room = roomOf.get(cl)!;
      assert.deepEqual(
        firsts(cl),
        Array.from({ length: pushed.get(room)! }, (_, i) => i),
        `live://${room}: every message, first deliveries in order`,
      );
      duplicates += arrivals.get(cl)!.length - pushed.get(room)!;
    }

    // the pause: the longest wait between two deliveries at one client, around the kill
    /** The longest gap ending after the kill, and when it ended (ms after the kill). */
    const longestGap = (cl: GoimTestClient): { gap: number; end: number } => {
      let gap = 0;
      let end = 0;
      const list = arrivals.get(cl)!;
      for (let i = 1; i < list.length; i++) {
        if (list[i].at > killAt && list[i].at - list[i - 1].at > gap) {
          gap = list[i].at - list[i - 1].at;
          end = list[i].at - killAt;
        }
      }
      return { gap, end };
    };
    const longest = (victims: boolean) =>
      clients
        .filter((cl) => victimRooms.has(roomOf.get(cl)!) === victims)
        .map(longestGap)
        .reduce((a, b) => (b.gap > a.gap ? b : a));
    const victimGap = longest(true);
    const survivorGap = longest(false);
    const taken = (jobB.logs() as LogRecord[]).filter((r) => r.msg === 'nats: partition taken' && (r.time as number) >= killAtWall);
    const firstTaken = taken.length > 0 ? Math.min(...taken.map((r) => r.time as number)) - killAtWall : NaN;
    const restarted = (jobB.logs() as LogRecord[]).filter(
      (r) => r.msg === 'nats: unacked messages of a holder that is gone; restarting the consumer to get them now' && (r.time as number) >= killAtWall,
    ).length;
    t.diagnostic(
      `job SIGKILL (nats.leaseTtl ${DEFAULTS.leaseTtl} ms, nats.ackWait ${DEFAULTS.ackWait} ms, ${rooms.length} rooms pushed every ${PUSH_EVERY_MS} ms, ` +
        `${clients.length} clients): longest gap at a client of the killed job's rooms ${Math.round(victimGap.gap)} ms ` +
        `(other rooms ${Math.round(survivorGap.gap)} ms, ending ${Math.round(survivorGap.end)} ms after the kill); first partition taken ${firstTaken} ms after the kill; ` +
        `${restarted} partition consumer(s) restarted; all rooms flowing again ${Math.round(resumedAt - killAt)} ms after the kill; ` +
        `${[...pushed.values()].reduce((s, n) => s + n, 0)} pushes, ${duplicates} duplicate deliveries`,
    );
  });
});

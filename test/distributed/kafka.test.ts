// Distributed mode on Kafka (queue.engine = "kafka"): logic, comet and job as separate
// `tsim` processes, the push queue on librdkafka's mock cluster (test/support/kafka-mock.ts).
// Two jobs share the topic's partitions; every push kind reaches a client; a job SIGKILLed
// while pushes go on loses nothing: once the group notices (kafka.sessionTimeout), the other
// job gets its partitions and the records it had not committed.
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
  type LogicStarted,
  type TsimProcess,
} from '../support/cluster.js';
import { GoimTestClient } from '../support/goim-client.js';
import { eventually } from '../support/eventually.js';
import { KafkaMock, kafkaMockGate } from '../support/kafka-mock.js';

const skip = (await clusterGate()) || kafkaMockGate();

describe('distributed tsim on Kafka (librdkafka mock cluster)', { skip }, () => {
  let h: Cluster;
  let mock: KafkaMock;
  let base: string;
  let comet: CometStarted;
  let kafka: Record<string, unknown>;
  const clients: GoimTestClient[] = [];

  const push = async (path: string, body: string) => {
    const r = await api(base, path, body);
    assert.equal(r.text, '{"code":0,"message":""}', `POST ${path}`);
  };

  const client = async (token: { mid: number; key: string; room_id: string }) => {
    const cl = await GoimTestClient.tcp(portOf(comet.tcp[0]));
    clients.push(cl);
    await cl.auth({ ...token, accepts: [1000] });
    return cl;
  };

  const startJob = (name: string): Promise<TsimProcess> => h.spawn('job', name, jobConfig(name, { queue: { engine: 'kafka' }, kafka }));

  before(async () => {
    h = await Cluster.start('tsim-kafka-');
    mock = await KafkaMock.start(3);
    const topic = await mock.uniqueTopic(4);
    kafka = {
      brokers: mock.brokers,
      topic,
      initialOffset: 'oldest',
      sessionTimeout: '6s',
      heartbeatInterval: '500ms',
      retryDelay: '200ms',
      retryMaxDelay: '1s',
    };
    const logic = await h.spawn('logic', 'logic', logicConfig('logic-1', { queue: { engine: 'kafka' }, kafka }));
    const cometProc = await h.spawn('comet', 'comet-a', cometConfig('comet-a'));
    const jobs = [await startJob('job-1'), await startJob('job-2')];
    const [l, c] = await Promise.all([logic.started, cometProc.started, ...jobs.map((j) => j.started)]);
    base = `http://127.0.0.1:${portOf((l as LogicStarted).http)}`;
    comet = c as CometStarted;
  });

  after(async () => {
    for (const c of clients) c.close();
    await h?.cleanup();
    await mock?.stop();
  });

  it('delivers every push kind through Kafka', async () => {
    const c1 = await client({ mid: 201, key: 'k1', room_id: 'live://1' });
    const c2 = await client({ mid: 202, key: 'k2', room_id: 'live://1' });
    const next = async (cl: GoimTestClient) => {
      const f = await cl.next(30_000);
      assert.equal(f.op, 1000);
      return f.body.toString();
    };
    // the job joins the group in the background: the first push may wait for it
    await push('/goim/push/room?operation=1000&type=live&room=1', 'room');
    assert.deepEqual(await Promise.all([c1, c2].map(next)), ['room', 'room']);
    await push('/goim/push/all?operation=1000', 'broadcast');
    assert.deepEqual(await Promise.all([c1, c2].map(next)), ['broadcast', 'broadcast']);
    await push('/goim/push/keys?operation=1000&keys=k2', 'to k2');
    assert.equal(await next(c2), 'to k2');
    await push('/goim/push/mids?operation=1000&mids=201', 'to 201');
    assert.equal(await next(c1), 'to 201');
  });

  /** The partitions `job` holds now, from its last "kafka: partitions assigned" log line. */
  const held = (job: TsimProcess): number[] => {
    const last = job
      .logs()
      .filter((r) => r.msg === 'kafka: partitions assigned')
      .at(-1);
    return (last?.partitions as number[] | undefined) ?? [];
  };

  it('a job SIGKILLed mid-load loses nothing: the other job of the group gets what it had not committed', async () => {
    const [job1, job2] = ['job-1', 'job-2'].map((n) => h.processes.find((p) => p.name === n)!);
    await eventually(() => held(job1).length > 0 && held(job2).length > 0, 'both jobs holding partitions', 30_000);
    // clients whose keys land in partitions of both jobs
    const cls = await Promise.all(Array.from({ length: 8 }, (_, i) => client({ mid: 300 + i, key: `kill-${i}`, room_id: 'live://9' })));
    const got = cls.map(() => new Set<string>());
    for (let i = 0; i < 40; i++) {
      await Promise.all(cls.map((_, c) => push(`/goim/push/keys?operation=1000&keys=kill-${c}`, `m${i}`)));
      if (i === 15) job1.kill('SIGKILL');
    }
    await job1.exited;
    await eventually(
      async () => {
        for (const [c, cl] of cls.entries()) while (cl.queued > 0) got[c].add((await cl.next()).body.toString());
        return got.every((g) => g.size === 40);
      },
      'all 40 pushes delivered to each client',
      60_000,
    );
    for (const g of got) assert.deepEqual([...g].sort(), Array.from({ length: 40 }, (_, i) => `m${i}`).sort());
    assert.deepEqual([...held(job2)].sort(), [0, 1, 2, 3], 'the surviving job holds every partition');
  });

  it('stops the job, logic and comet cleanly on SIGTERM (exit 0)', async () => {
    for (const cl of clients) cl.close();
    const running = h.processes.filter((p) => p.alive);
    const results = await Promise.all(running.map(async (p) => [p.name, (await p.stop()).code]));
    assert.deepEqual(
      results,
      results.map(([name]) => [name, 0]),
    );
  });
});

// The benchmark instrument's commands (entry: bench/main.ts, `npm run bench -- …`). Scenario
// code is imported only when its command runs.
import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { int, positive } from './args.js';
import type { PushMode, ServerKind, Transport } from './servers/server.js';

function rateList(v: string): number[] {
  const rates = v.split(',').map((s) => Number(s.trim()));
  if (rates.length === 0 || rates.some((r) => !(r > 0))) throw new InvalidArgumentError('expected rates > 0, e.g. 40 or 40,80,160');
  return rates;
}

const BASELINES = ['raw-net', 'socket.io'] as const;

function baselineList(v: string): ServerKind[] {
  if (v === 'none' || v === '') return [];
  const list = v.split(',').map((s) => s.trim());
  for (const b of list) {
    if (!(BASELINES as readonly string[]).includes(b)) throw new InvalidArgumentError(`unknown baseline "${b}" (raw-net, socket.io or none)`);
  }
  return list as ServerKind[];
}

function serverChoice(v: string): ServerKind | null {
  if (v === 'tsim' || v === 'tsim-cluster') return v;
  if (v === 'none') return null;
  throw new InvalidArgumentError(`unknown server "${v}" (tsim, tsim-cluster or none)`);
}

const SERVER_HELP =
  'server under test: tsim (embedded, one process), tsim-cluster (logic, job and comet with --comet-workers workers over a private redis-server and nats-server -js), or none for baselines only';

function cometWorkersOption(): Option {
  return new Option('--comet-workers <n>', 'tsim-cluster: comet.workers (comet worker processes sharing the client ports)')
    .argParser(int(1))
    .default(2);
}

const defaultWorkers = Math.max(2, Math.min(4, availableParallelism()));

/** Options every scenario with clients shares. */
function clientOptions(cmd: Command, defaults: { clients: number }): Command {
  return cmd
    .addOption(new Option('--clients <n>', 'clients (connections) to open').argParser(int(0)).default(defaults.clients))
    .addOption(new Option('--transport <t>', 'client transport for tsim and raw-net').choices(['tcp', 'ws']).default('tcp'))
    .addOption(
      new Option('--workers <n>', 'load-generator processes the clients are spread over (each under the open-file limit)')
        .argParser(int(1))
        .default(defaultWorkers),
    )
    .addOption(new Option('--connect-concurrency <n>', 'handshakes in flight at once, over all workers').argParser(int(1)).default(256))
    .addOption(new Option('--sources <n>', 'client source addresses 127.0.0.2 … 127.0.0.(1+n), round-robin').argParser(int(1)).default(8))
    .addOption(
      new Option('--handshake-timeout <s>', 'a client not connected (and authenticated) in this time counts as failed')
        .argParser(positive)
        .default(30),
    )
    .addOption(new Option('--out <dir>', 'folder for the JSON results').default(undefined, 'bench/results'));
}

interface ClientFlags {
  clients: number;
  transport: Transport;
  workers: number;
  connectConcurrency: number;
  sources: number;
  handshakeTimeout: number;
  out?: string;
}

function loadOptions(f: ClientFlags, sampleEvery = 50) {
  return {
    clients: f.clients,
    concurrency: f.connectConcurrency,
    sampleEvery,
    timeoutMs: f.handshakeTimeout * 1000,
    sources: f.sources,
    outDir: f.out,
  };
}

function onError(err: unknown): never {
  // The message says what went wrong; the stack only with BENCH_DEBUG=1.
  const text = err instanceof Error ? (process.env.BENCH_DEBUG === '1' ? (err.stack ?? err.message) : err.message) : String(err);
  process.stderr.write(`bench: ${text}\n`);
  process.exit(1);
}

/** Adds the scenarios (fanout, connect, push-api, history-store, danmaku, persist, inbox, multiroom, profile) to the bench command line. */
export function registerScenarios(bench: Command): void {
  clientOptions(
    bench.command('fanout').description('N clients in one room, R pushes/s through the push API: delivery, msgs/s, writes/s, CPU, RSS, latency'),
    { clients: 10_000 },
  )
    .addOption(
      new Option('--rate <list>', 'pushes (messages) per second; a comma list runs each rate in turn on the same clients')
        .argParser(rateList)
        .default([40], '40'),
    )
    .addOption(new Option('--duration <s>', 'seconds each rate runs').argParser(positive).default(10))
    .addOption(
      new Option('--batch <n>', 'tsim room.batch (most messages per room batch); baselines write the same number per write')
        .argParser(int(1))
        .default(20),
    )
    .addOption(new Option('--signal <ms>', 'tsim room.signal in ms (longest a batch waits for companions)').argParser(int(1)).default(1000))
    .addOption(new Option('--size <bytes>', 'message body size (min 23: the send stamp)').argParser(int(1)).default(23))
    .addOption(new Option('--server <kind>', SERVER_HELP).argParser(serverChoice).default('tsim'))
    .addOption(cometWorkersOption())
    .addOption(
      new Option(
        '--push <how>',
        "tsim-cluster: http through logic's push API, queue straight into its NATS JetStream from this process (logic and HTTP out of the path), or comet: batches of --batch into every comet's gRPC BroadcastRoom, as a job does (logic, NATS and job out of the path; reply times reported)",
      )
        .choices(['http', 'queue', 'comet'])
        .default('http'),
    )
    .addOption(
      new Option('--baseline <list>', 'baselines run after tsim: raw-net, socket.io, or none')
        .argParser(baselineList)
        .default(['raw-net', 'socket.io'], 'raw-net,socket.io'),
    )
    .addOption(new Option('--sample-every <n>', 'one client in n records latency').argParser(int(1)).default(50))
    .addOption(
      new Option(
        '--stop-on-loss',
        "stop a server's rate list at the first rate it does not keep up with (messages lost, or arriving > room.signal + 1 s late)",
      ),
    )
    .addOption(new Option('--drain <s>', 'longest wait for late messages after each rate').argParser(positive).default(15))
    .addOption(new Option('--cpu-prof <dir>', 'run the servers with --cpu-prof, profiles written to <dir> when they stop'))
    .action(
      async (
        f: ClientFlags & {
          rate: number[];
          duration: number;
          batch: number;
          signal: number;
          size: number;
          server: ServerKind | null;
          cometWorkers: number;
          push: PushMode;
          baseline: ServerKind[];
          sampleEvery: number;
          stopOnLoss?: boolean;
          drain: number;
          cpuProf?: string;
        },
      ) => {
        try {
          const { runFanout } = await import('./scenarios/fanout.js');
          const servers = [...(f.server ? [f.server] : []), ...f.baseline];
          if (servers.length === 0) throw new Error('nothing to run: --server none and --baseline none');
          await runFanout({
            ...loadOptions(f, f.sampleEvery),
            transport: f.transport,
            rates: f.rate,
            durationS: f.duration,
            servers,
            workers: f.workers,
            size: f.size,
            batch: f.batch,
            signalMs: f.signal,
            stopOnLoss: f.stopOnLoss === true,
            drainS: f.drain,
            cpuProfDir: f.cpuProf,
            cometWorkers: f.cometWorkers,
            push: f.push,
          });
          process.exit(0);
        } catch (err) {
          onError(err);
        }
      },
    );

  clientOptions(
    bench
      .command('connect')
      .description('N clients connect and authenticate: connections/s, failures, RSS per idle connection without a forced GC and after one'),
    { clients: 10_000 },
  )
    .addOption(new Option('--server <kind>', SERVER_HELP).argParser(serverChoice).default('tsim'))
    .addOption(cometWorkersOption())
    .addOption(
      new Option('--idle-wait <s>', 'seconds the clients stay idle before RSS is read without a forced GC (then again after one)')
        .argParser(int(1))
        .default(30),
    )
    .addOption(
      new Option('--baseline <list>', 'baselines run after tsim: raw-net, socket.io, or none')
        .argParser(baselineList)
        .default([] as ServerKind[], 'none'),
    )
    .addOption(new Option('--cpu-prof <dir>', 'run the server processes with --cpu-prof, profiles written to <dir> when they stop'))
    .action(
      async (f: ClientFlags & { server: ServerKind | null; cometWorkers: number; idleWait: number; baseline: ServerKind[]; cpuProf?: string }) => {
        try {
          const { runConnect } = await import('./scenarios/connect.js');
          const servers = [...(f.server ? [f.server] : []), ...f.baseline];
          if (servers.length === 0) throw new Error('nothing to run: --server none and --baseline none');
          await runConnect({
            ...loadOptions(f),
            transport: f.transport,
            servers,
            workers: f.workers,
            cometWorkers: f.cometWorkers,
            cpuProfDir: f.cpuProf,
            idleWait: f.idleWait,
          });
          process.exit(0);
        } catch (err) {
          onError(err);
        }
      },
    );

  clientOptions(bench.command('push-api').description('HTTP push API throughput (requests/s) and latency at a fixed concurrency'), { clients: 0 })
    .addOption(new Option('--duration <s>', 'seconds to push').argParser(positive).default(10))
    .addOption(new Option('--concurrency <n>', 'requests in flight (keep-alive connections)').argParser(int(1)).default(64))
    .addOption(new Option('--size <bytes>', 'message body size (min 23)').argParser(int(1)).default(23))
    .addOption(new Option('--batch <n>', 'tsim room.batch').argParser(int(1)).default(20))
    .addOption(new Option('--signal <ms>', 'tsim room.signal in ms').argParser(int(1)).default(1000))
    .addOption(new Option('--cpu-prof <dir>', 'run tsim with --cpu-prof, profile written to <dir> when it stops'))
    .addOption(
      new Option('--server <kind>', 'tsim (embedded) or tsim-cluster (logic, job and comet over a private redis-server and nats-server -js)')
        .choices(['tsim', 'tsim-cluster'])
        .default('tsim'),
    )
    .addOption(cometWorkersOption())
    .action(
      async (
        f: ClientFlags & {
          duration: number;
          concurrency: number;
          size: number;
          batch: number;
          signal: number;
          cpuProf?: string;
          server: 'tsim' | 'tsim-cluster';
          cometWorkers: number;
        },
      ) => {
        try {
          const { runPushApi } = await import('./scenarios/push-api.js');
          await runPushApi({
            ...loadOptions(f),
            transport: f.transport,
            durationS: f.duration,
            httpConcurrency: f.concurrency,
            size: f.size,
            batch: f.batch,
            signalMs: f.signal,
            workers: f.workers,
            cpuProfDir: f.cpuProf,
            server: f.server,
            cometWorkers: f.cometWorkers,
          });
          process.exit(0);
        } catch (err) {
          onError(err);
        }
      },
    );

  bench
    .command('history-store')
    .description(
      'room history storage: 1,000-record appends into SQLite and PostgreSQL through the HistoryStore port: records/s, event-loop block per append',
    )
    .addOption(
      new Option('--url <url>', 'PostgreSQL server (a throwaway database is created there)').default('postgres://postgres@127.0.0.1:5432/postgres'),
    )
    .addOption(new Option('--batches <n>', 'append calls measured').argParser(int(1)).default(20))
    .addOption(new Option('--batch-size <n>', 'records per append call (one transaction; history.writeBatch)').argParser(int(1)).default(1000))
    .addOption(new Option('--body-bytes <n>', 'bytes per record body').argParser(int(0)).default(120))
    .addOption(new Option('--rooms <n>', 'rooms each append spreads its records over').argParser(int(1)).default(1))
    .addOption(new Option('--engine <e>', 'which engines').choices(['sqlite', 'postgres', 'both']).default('both'))
    .action(
      async (f: { url: string; batches: number; batchSize: number; bodyBytes: number; rooms: number; engine: 'sqlite' | 'postgres' | 'both' }) => {
        try {
          const { runHistoryStoreBench } = await import('./scenarios/history-store.js');
          await runHistoryStoreBench(f);
        } catch (err) {
          onError(err);
        }
      },
    );

  bench
    .command('danmaku')
    .description(
      'danmaku end to end on embedded tsim (room live://bench, TCP): V viewers, S of them sending 1 danmaku/s over op 4 for D s, history on vs off; then a join storm replaying history',
    )
    .addOption(new Option('--viewers <n>', 'clients in the room').argParser(int(1)).default(2000))
    .addOption(new Option('--senders <n>', 'viewers that also send one danmaku a second').argParser(int(0)).default(200))
    .addOption(new Option('--duration <s>', 'seconds the senders send').argParser(positive).default(10))
    .addOption(
      new Option('--joiners <n>', 'clients joining after the send loop with history {"last": --last}; 0 = no join storm')
        .argParser(int(0))
        .default(2000),
    )
    .addOption(new Option('--last <n>', 'records each joiner asks for (room type replayMax is 100)').argParser(int(0)).default(100))
    .addOption(new Option('--engine <e>', 'history.engine of the history-on run').choices(['sqlite', 'memory']).default('sqlite'))
    .addOption(new Option('--no-baseline', 'skip the run with history off'))
    .addOption(new Option('--workers <n>', 'load-generator processes').argParser(int(1)).default(defaultWorkers))
    .addOption(new Option('--connect-concurrency <n>', 'handshakes in flight at once, over all workers').argParser(int(1)).default(256))
    .addOption(new Option('--sources <n>', 'client source addresses 127.0.0.2 … 127.0.0.(1+n), round-robin').argParser(int(1)).default(8))
    .addOption(new Option('--sample-every <n>', 'one viewer in n records latency').argParser(int(1)).default(50))
    .addOption(new Option('--handshake-timeout <s>', 'a client not authenticated in this time counts as failed').argParser(positive).default(30))
    .addOption(new Option('--out <dir>', 'folder for the JSON results').default(undefined, 'bench/results'))
    .addOption(new Option('--cpu-prof <dir>', 'run tsim with --cpu-prof, profiles written to <dir> when it stops'))
    .action(
      async (f: {
        cpuProf?: string;
        viewers: number;
        senders: number;
        duration: number;
        joiners: number;
        last: number;
        engine: 'sqlite' | 'memory';
        baseline: boolean;
        workers: number;
        connectConcurrency: number;
        sources: number;
        sampleEvery: number;
        handshakeTimeout: number;
        out?: string;
      }) => {
        try {
          const { runDanmaku } = await import('./scenarios/danmaku.js');
          await runDanmaku({
            viewers: f.viewers,
            senders: f.senders,
            durationS: f.duration,
            joiners: f.joiners,
            last: f.last,
            engine: f.engine,
            workers: f.workers,
            concurrency: f.connectConcurrency,
            sampleEvery: f.sampleEvery,
            timeoutMs: f.handshakeTimeout * 1000,
            sources: f.sources,
            noBaseline: !f.baseline,
            outDir: f.out,
            cpuProfDir: f.cpuProf,
          });
          process.exit(0);
        } catch (err) {
          onError(err);
        }
      },
    );

  bench
    .command('persist')
    .description(
      'persisted room messages per second: R pushes/s over N rooms of a room type with history on, V viewers spread over the rooms, embedded (SQLite) or distributed (PostgreSQL); history on vs off',
    )
    .addOption(
      new Option(
        '--server <kind>',
        'tsim (embedded, one process) or tsim-cluster (logic, job, comet over a private redis-server and nats-server -js)',
      )
        .choices(['tsim', 'tsim-cluster'])
        .default('tsim'),
    )
    .addOption(
      new Option('--engine <e>', 'history.engine of the history-on run (tsim: sqlite or memory; tsim-cluster: postgres)')
        .choices(['sqlite', 'memory', 'postgres'])
        .default(undefined, 'sqlite for tsim, postgres for tsim-cluster'),
    )
    .addOption(new Option('--rooms <n>', 'rooms live://1 … live://n the pushes go round').argParser(int(1)).default(1))
    .addOption(
      new Option('--viewers <n>', 'viewers in all, viewer i in room 1 + i mod rooms')
        .argParser(int(1))
        .default(undefined, '20 for one room, else 2 per room'),
    )
    .addOption(new Option('--rate <n>', 'pushes (room messages) per second, over all rooms').argParser(positive).default(20_000))
    .addOption(new Option('--duration <s>', 'seconds to push').argParser(positive).default(10))
    .addOption(new Option('--size <bytes>', 'message body size (min 23: the send stamp)').argParser(int(1)).default(100))
    .addOption(
      new Option(
        '--push <how>',
        "http through logic's push API (keep-alive), queue straight into tsim-cluster's NATS JetStream from this process, or danmaku sent on op 4 by --senders of the viewers",
      )
        .choices(['http', 'queue', 'danmaku'])
        .default(undefined, 'danmaku for tsim, queue for tsim-cluster'),
    )
    .addOption(
      new Option('--senders <n>', '--push danmaku: viewers that send, rate ÷ senders each (viewer i in room 1 + i mod rooms, so at least --rooms)')
        .argParser(int(1))
        .default(undefined, 'every viewer'),
    )
    .addOption(
      new Option(
        '--in-flight <n>',
        'http, queue: pushes unanswered at most (HTTP: keep-alive connections); danmaku: 8 per sender, what a connection may have awaiting replies',
      )
        .argParser(int(1))
        .default(256),
    )
    .addOption(cometWorkersOption())
    .addOption(
      new Option('--postgres-url <url>', 'tsim-cluster: PostgreSQL server where each run creates (and drops) its database').default(
        'postgres://postgres@127.0.0.1:5432/postgres',
      ),
    )
    .addOption(new Option('--drain <s>', 'longest wait after the pushes for delivery and storage').argParser(positive).default(60))
    .addOption(new Option('--no-baseline', 'skip the run with history off'))
    .addOption(new Option('--workers <n>', 'load-generator processes for the viewers').argParser(int(1)).default(defaultWorkers))
    .addOption(new Option('--connect-concurrency <n>', 'handshakes in flight at once, over all workers').argParser(int(1)).default(256))
    .addOption(new Option('--sources <n>', 'client source addresses 127.0.0.2 … 127.0.0.(1+n), round-robin').argParser(int(1)).default(8))
    .addOption(new Option('--sample-every <n>', 'one viewer in n records latency').argParser(int(1)).default(5))
    .addOption(new Option('--handshake-timeout <s>', 'a viewer not authenticated in this time counts as failed').argParser(positive).default(30))
    .addOption(new Option('--cpu-prof <dir>', 'run the server processes with --cpu-prof, profiles written to <dir> when they stop'))
    .addOption(new Option('--out <dir>', 'folder for the JSON results').default(undefined, 'bench/results'))
    .action(
      async (f: {
        server: 'tsim' | 'tsim-cluster';
        engine?: 'sqlite' | 'memory' | 'postgres';
        rooms: number;
        viewers?: number;
        rate: number;
        duration: number;
        size: number;
        push?: 'http' | 'queue' | 'danmaku';
        senders?: number;
        inFlight: number;
        cometWorkers: number;
        postgresUrl: string;
        drain: number;
        baseline: boolean;
        workers: number;
        connectConcurrency: number;
        sources: number;
        sampleEvery: number;
        handshakeTimeout: number;
        cpuProf?: string;
        out?: string;
      }) => {
        try {
          const { runPersist } = await import('./scenarios/persist.js');
          const cluster = f.server === 'tsim-cluster';
          const viewers = f.viewers ?? (f.rooms === 1 ? 20 : 2 * f.rooms);
          await runPersist({
            server: f.server,
            engine: f.engine ?? (cluster ? 'postgres' : 'sqlite'),
            rooms: f.rooms,
            viewers,
            rate: f.rate,
            durationS: f.duration,
            size: f.size,
            push: f.push ?? (cluster ? 'queue' : 'danmaku'),
            inFlight: f.inFlight,
            senders: f.senders ?? viewers,
            cometWorkers: f.cometWorkers,
            postgresUrl: f.postgresUrl,
            drainS: f.drain,
            noBaseline: !f.baseline,
            workers: f.workers,
            concurrency: f.connectConcurrency,
            sources: f.sources,
            sampleEvery: f.sampleEvery,
            timeoutMs: f.handshakeTimeout * 1000,
            cpuProfDir: f.cpuProf,
            outDir: f.out,
          });
          process.exit(0);
        } catch (err) {
          onError(err);
        }
      },
    );

  bench
    .command('inbox')
    .description(
      'durable inbox: N users × M durable messages stored while offline, then all N reconnect at once (time until drained and acknowledged, lost / duplicated); then durable vs non-durable mid pushes/s with them online',
    )
    .addOption(
      new Option(
        '--server <kind>',
        'tsim (embedded, SQLite) or tsim-cluster (logic, job, comet over a private redis-server and nats-server -js; PostgreSQL)',
      )
        .choices(['tsim', 'tsim-cluster'])
        .default('tsim'),
    )
    .addOption(new Option('--users <n>', 'users (mids 1 … n), one inbox client each').argParser(int(1)).default(10_000))
    .addOption(new Option('--messages <n>', 'durable messages stored per user before they connect (at most 10000)').argParser(int(1)).default(100))
    .addOption(new Option('--mids-per-push <n>', 'users named by one storing push (one transaction)').argParser(int(1)).default(100))
    .addOption(new Option('--size <bytes>', 'message body size (min 23: the send stamp)').argParser(int(23)).default(64))
    .addOption(
      new Option('--ack-every <n>', 'a client acknowledges every n messages, and once it has its whole backlog').argParser(int(1)).default(100),
    )
    .addOption(
      new Option('--push-seconds <s>', 'seconds of durable, then of non-durable mid pushes with the users online (0: skip)')
        .argParser(int(0))
        .default(10),
    )
    .addOption(new Option('--online-mids <n>', 'users named by one push of the online phase').argParser(int(1)).default(1))
    .addOption(new Option('--in-flight <n>', 'HTTP pushes unanswered at most (keep-alive connections)').argParser(int(1)).default(64))
    .addOption(new Option('--drain <s>', 'longest wait for the drain, and for the deliveries after the pushes').argParser(positive).default(300))
    .addOption(cometWorkersOption())
    .addOption(
      new Option('--postgres-url <url>', 'tsim-cluster: PostgreSQL server where the run creates (and drops) its database').default(
        'postgres://postgres@127.0.0.1:5432/postgres',
      ),
    )
    .addOption(new Option('--workers <n>', 'load-generator processes for the clients').argParser(int(1)).default(defaultWorkers))
    .addOption(new Option('--connect-concurrency <n>', 'handshakes in flight at once, over all workers').argParser(int(1)).default(256))
    .addOption(new Option('--sources <n>', 'client source addresses 127.0.0.2 … 127.0.0.(1+n), round-robin').argParser(int(1)).default(8))
    .addOption(new Option('--handshake-timeout <s>', 'a client not authenticated in this time counts as failed').argParser(positive).default(60))
    .addOption(new Option('--out <dir>', 'folder for the JSON results').default(undefined, 'bench/results'))
    .action(
      async (f: {
        server: 'tsim' | 'tsim-cluster';
        users: number;
        messages: number;
        midsPerPush: number;
        size: number;
        ackEvery: number;
        pushSeconds: number;
        onlineMids: number;
        inFlight: number;
        drain: number;
        cometWorkers: number;
        postgresUrl: string;
        workers: number;
        connectConcurrency: number;
        sources: number;
        handshakeTimeout: number;
        out?: string;
      }) => {
        try {
          const { runInbox } = await import('./scenarios/inbox.js');
          await runInbox({
            server: f.server,
            users: f.users,
            messages: f.messages,
            midsPerPush: f.midsPerPush,
            size: f.size,
            ackEvery: f.ackEvery,
            pushSeconds: f.pushSeconds,
            onlineMids: f.onlineMids,
            inFlight: f.inFlight,
            drainS: f.drain,
            cometWorkers: f.cometWorkers,
            postgresUrl: f.postgresUrl,
            workers: f.workers,
            concurrency: f.connectConcurrency,
            timeoutMs: f.handshakeTimeout * 1000,
            sources: f.sources,
            outDir: f.out,
          });
          process.exit(0);
        } catch (err) {
          onError(err);
        }
      },
    );

  bench
    .command('multiroom')
    .description(
      'several rooms per connection: C connections each in R of K rooms (op 19, list form), room pushes at a rate over all K rooms: delivered msgs/s, loss, lag, RSS per connection; then single-room connections on a new server',
    )
    .addOption(
      new Option('--server <kind>', 'tsim (embedded) or tsim-cluster (logic, job, comet over a private redis-server and nats-server -js)')
        .choices(['tsim', 'tsim-cluster'])
        .default('tsim'),
    )
    .addOption(new Option('--clients <n>', 'connections').argParser(int(1)).default(10_000))
    .addOption(
      new Option('--rooms-per-conn <n>', 'rooms each connection is in (its token room and op 19 for the rest)').argParser(int(2)).default(10),
    )
    .addOption(
      new Option('--rooms <n>', 'rooms multi://1 … multi://n; connection g is in rooms g × R … g × R + R − 1 (mod n)')
        .argParser(int(1))
        .default(1000),
    )
    .addOption(new Option('--rate <n>', 'room pushes per second, going round all rooms').argParser(positive).default(200))
    .addOption(new Option('--duration <s>', 'seconds to push').argParser(positive).default(10))
    .addOption(new Option('--size <bytes>', 'message body size (min 23: the send stamp)').argParser(int(1)).default(23))
    .addOption(
      new Option('--in-flight <n>', 'HTTP pushes unanswered at most (a push due beyond it is counted, not sent)').argParser(int(1)).default(64),
    )
    .addOption(new Option('--no-single', 'skip the run with single-room connections'))
    .addOption(
      new Option('--single-rate <n>', 'pushes per second of the single-room run')
        .argParser(positive)
        .default(undefined, '--rate × --rooms-per-conn: the same deliveries per second'),
    )
    .addOption(new Option('--drain <s>', 'longest wait for late messages after the pushes').argParser(positive).default(30))
    .addOption(cometWorkersOption())
    .addOption(new Option('--workers <n>', 'load-generator processes').argParser(int(1)).default(defaultWorkers))
    .addOption(new Option('--connect-concurrency <n>', 'handshakes in flight at once, over all workers').argParser(int(1)).default(256))
    .addOption(new Option('--sources <n>', 'client source addresses 127.0.0.2 … 127.0.0.(1+n), round-robin').argParser(int(1)).default(8))
    .addOption(new Option('--sample-every <n>', 'one connection in n records latency').argParser(int(1)).default(50))
    .addOption(
      new Option('--handshake-timeout <s>', 'a connection not authenticated and joined in this time counts as failed')
        .argParser(positive)
        .default(30),
    )
    .addOption(new Option('--out <dir>', 'folder for the JSON results').default(undefined, 'bench/results'))
    .action(
      async (f: {
        server: 'tsim' | 'tsim-cluster';
        clients: number;
        roomsPerConn: number;
        rooms: number;
        rate: number;
        duration: number;
        size: number;
        inFlight: number;
        single: boolean;
        singleRate?: number;
        drain: number;
        cometWorkers: number;
        workers: number;
        connectConcurrency: number;
        sources: number;
        sampleEvery: number;
        handshakeTimeout: number;
        out?: string;
      }) => {
        try {
          const { runMultiroom } = await import('./scenarios/multiroom.js');
          await runMultiroom({
            server: f.server,
            clients: f.clients,
            perConn: f.roomsPerConn,
            rooms: f.rooms,
            rate: f.rate,
            durationS: f.duration,
            size: f.size,
            inFlight: f.inFlight,
            single: f.single,
            singleRate: f.singleRate ?? null,
            drainS: f.drain,
            cometWorkers: f.cometWorkers,
            workers: f.workers,
            concurrency: f.connectConcurrency,
            sampleEvery: f.sampleEvery,
            timeoutMs: f.handshakeTimeout * 1000,
            sources: f.sources,
            outDir: f.out,
          });
          process.exit(0);
        } catch (err) {
          onError(err);
        }
      },
    );

  bench
    .command('profile <file>')
    .description('top functions by self time in a .cpuprofile (e.g. from fanout --cpu-prof)')
    .addOption(new Option('--top <n>', 'how many functions').argParser(int(1)).default(15))
    .action(async (file: string, f: { top: number }) => {
      try {
        const { readProfile, profileTable, topSelfTime } = await import('./measure/profile.js');
        const top = topSelfTime(await readProfile(file), f.top);
        process.stdout.write(`${profileTable(top)}\n`);
      } catch (err) {
        onError(err);
      }
    });
}

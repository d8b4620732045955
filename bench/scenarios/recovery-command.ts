// The `recovery` command of the benchmark (`npm run bench -- recovery …`); the scenario's code
// is imported only when it runs.
import { availableParallelism } from 'node:os';
import { type Command, Option } from 'commander';
import { int, positive } from '../args.js';

interface Flags {
  clients: number;
  rate: number;
  warmup: number;
  recoverTimeout: number;
  after: number;
  cometWorkers: number;
  workers: number;
  connectConcurrency: number;
  sources: number;
  handshakeTimeout: number;
  replayMax: number;
  gapWait: number;
  postgres: string;
  out?: string;
}

export function registerRecovery(bench: Command): void {
  bench
    .command('recovery')
    .description(
      'recovery storm on distributed tsim with history in PostgreSQL: N clients in live://storm, pushes at a steady rate, the comet SIGKILLed and restarted: time until every client reconnected and recovered, not recovered by reason, lost and duplicated offsets, CPU/RSS per process',
    )
    .addOption(
      new Option('--clients <n>', 'clients in the room (opted in to history, reconnecting as the SDK does)').argParser(int(1)).default(10_000),
    )
    .addOption(new Option('--rate <n>', 'room pushes per second through the whole run').argParser(positive).default(50))
    .addOption(new Option('--warmup <s>', 'seconds between the last client connected and the kill').argParser(positive).default(5))
    .addOption(
      new Option('--recover-timeout <s>', 'longest wait from the kill for every client to recover or be told it did not')
        .argParser(positive)
        .default(90),
    )
    .addOption(new Option('--after <s>', 'seconds of pushes after the storm settled').argParser(positive).default(5))
    .addOption(
      new Option('--comet-workers <n>', 'comet.workers of the one comet (each process under the open-file limit)').argParser(int(1)).default(1),
    )
    .addOption(
      new Option('--workers <n>', 'load-generator processes the clients are spread over')
        .argParser(int(1))
        .default(Math.max(2, Math.min(4, availableParallelism()))),
    )
    .addOption(
      new Option('--connect-concurrency <n>', 'handshakes in flight at once for the first connections, over all workers')
        .argParser(int(1))
        .default(256),
    )
    .addOption(new Option('--sources <n>', 'client source addresses 127.0.0.2 … 127.0.0.(1+n), round-robin').argParser(int(1)).default(8))
    .addOption(
      new Option('--handshake-timeout <s>', 'a client not authenticated in this time at the start counts as failed').argParser(positive).default(30),
    )
    .addOption(
      new Option('--replay-max <n>', '[roomTypes.live] replayMax: most records one join replays (at most 1000)').argParser(int(0)).default(1000),
    )
    .addOption(new Option('--gap-wait <ms>', "the SDK's gapWaitMs: how long messages past a gap wait for it").argParser(int(0)).default(5000))
    .addOption(
      new Option('--postgres <url>', 'PostgreSQL server (a throwaway database is created there and dropped)').default(
        'postgres://postgres@127.0.0.1:5432/postgres',
      ),
    )
    .addOption(new Option('--out <dir>', 'folder for the JSON results').default(undefined, 'bench/results'))
    .action(async (f: Flags) => {
      try {
        const { runRecovery } = await import('./recovery.js');
        await runRecovery({
          clients: f.clients,
          rate: f.rate,
          warmupS: f.warmup,
          recoverTimeoutS: f.recoverTimeout,
          afterS: f.after,
          cometWorkers: f.cometWorkers,
          workers: f.workers,
          concurrency: f.connectConcurrency,
          sources: f.sources,
          timeoutMs: f.handshakeTimeout * 1000,
          replayMax: f.replayMax,
          gapWaitMs: f.gapWait,
          postgresUrl: f.postgres,
          outDir: f.out,
        });
        process.exit(0);
      } catch (err) {
        const text = err instanceof Error ? (process.env.BENCH_DEBUG === '1' ? (err.stack ?? err.message) : err.message) : String(err);
        process.stderr.write(`bench: ${text}\n`);
        process.exit(1);
      }
    });
}

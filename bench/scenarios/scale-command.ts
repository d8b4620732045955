// The `scale` and `chart` commands of the benchmark (`npm run bench -- scale …`); the scenario's
// code is imported only when it runs.
import { writeFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { int, positive } from '../args.js';
import type { Transport } from '../servers/server.js';

function countList(v: string): number[] {
  const list = v.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1)) throw new InvalidArgumentError('expected counts >= 1, e.g. 10000,50000');
  return list;
}

interface Flags {
  clients: number[];
  transport: Transport;
  clientsPerComet: number;
  clientsPerLoad: number;
  heartbeat: number;
  idle: number;
  rate: number[];
  duration: number;
  drain: number;
  batch: number;
  signal: number;
  size: number;
  connectConcurrency: number;
  sources?: number;
  handshakeTimeout: number;
  sampleEvery: number;
  out?: string;
}

function fail(err: unknown): never {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

export function registerScale(bench: Command): void {
  bench
    .command('scale')
    .description(
      'distributed tsim at growing N (one cluster per N, comet.workers and load processes so every process stays under the open-file limit): connect rate, RSS per connection idle (no GC) and after GC, idle CPU, the highest push rate kept up, CPU per million delivered messages',
    )
    .addOption(
      new Option('--clients <list>', 'connection counts, one run each')
        .argParser(countList)
        .default([10_000, 25_000, 50_000, 100_000], '10000,25000,50000,100000'),
    )
    .addOption(new Option('--transport <t>', 'client transport').choices(['tcp', 'ws']).default('tcp'))
    .addOption(new Option('--clients-per-comet <n>', 'comet.workers = ⌈clients / n⌉').argParser(int(1)).default(16_000))
    .addOption(new Option('--clients-per-load <n>', 'load processes = ⌈clients / n⌉ (at least 2)').argParser(int(1)).default(15_000))
    .addOption(
      new Option('--heartbeat <s>', 'each client heartbeats (op 2) this often during the idle phase; 0: never').argParser(int(0)).default(30),
    )
    .addOption(
      new Option('--idle <s>', 'idle phase after the connect: RSS read at its end, CPU over its second half').argParser(positive).default(30),
    )
    .addOption(
      new Option('--rate <list>', 'pushes/s, in turn, until one does not keep up')
        .argParser(countList)
        .default([10, 20, 40, 160, 480, 960, 1920], '10,20,40,160,480,960,1920'),
    )
    .addOption(new Option('--duration <s>', 'seconds each rate runs').argParser(positive).default(10))
    .addOption(new Option('--drain <s>', 'longest wait for late messages after each rate').argParser(positive).default(15))
    .addOption(new Option('--batch <n>', 'room.batch').argParser(int(1)).default(20))
    .addOption(new Option('--signal <ms>', 'room.signal in ms').argParser(int(1)).default(1000))
    .addOption(new Option('--size <bytes>', 'message body size (min 23: the send stamp)').argParser(int(1)).default(23))
    .addOption(new Option('--connect-concurrency <n>', 'handshakes in flight at once, over all load processes').argParser(int(1)).default(256))
    .addOption(
      new Option('--sources <n>', 'client source addresses 127.0.0.2 … 127.0.0.(1+n), round-robin')
        .argParser(int(1))
        .default(undefined, 'one per 2,000 clients, at least 8'),
    )
    .addOption(new Option('--handshake-timeout <s>', 'a client not authenticated in this time counts as failed').argParser(positive).default(60))
    .addOption(new Option('--sample-every <n>', 'one client in n records latency').argParser(int(1)).default(50))
    .addOption(new Option('--out <dir>', 'folder for the JSON results').default(undefined, 'bench/results'))
    .action(async (f: Flags) => {
      try {
        const { runScale } = await import('./scale.js');
        await runScale({
          counts: f.clients,
          clients: 0,
          transport: f.transport,
          clientsPerComet: f.clientsPerComet,
          clientsPerLoad: f.clientsPerLoad,
          heartbeatS: f.heartbeat,
          idleS: f.idle,
          rates: f.rate,
          durationS: f.duration,
          drainS: f.drain,
          batch: f.batch,
          signalMs: f.signal,
          size: f.size,
          concurrency: f.connectConcurrency,
          sources: f.sources ?? 8,
          sourcesAuto: f.sources === undefined,
          timeoutMs: f.handshakeTimeout * 1000,
          sampleEvery: f.sampleEvery,
          outDir: f.out,
        });
        process.exit(0);
      } catch (err) {
        fail(err);
      }
    });

  bench
    .command('chart <files...>')
    .description('the scale curve (RSS per connection, CPU per million messages against N) as an SVG, from scale result files')
    .addOption(new Option('--out <file>', 'where to write the SVG').default('bench/results/scale.svg'))
    .action(async (files: string[], f: { out: string }) => {
      try {
        const { scaleChart } = await import('../measure/scale-chart.js');
        writeFileSync(f.out, scaleChart(files));
        process.stderr.write(`chart: ${f.out}\n`);
      } catch (err) {
        fail(err);
      }
    });
}

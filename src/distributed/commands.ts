// `tsim comet | logic | job --config <file>`: one role per process (distributed mode).
// Each logs one JSON line "tsim <role> started" with the addresses it bound, and stops
// cleanly on SIGTERM/SIGINT (exit 0).
//
// Each role's code is imported only when its command runs: a process loads the modules
// (and their packages: gRPC, Redis, NATS, PostgreSQL, fastify, …) of its own role alone,
// and a comet primary none of the comet's.
import type { Command } from 'commander';
import { fail, prepare, withConfigOptions, type CommonOptions } from '../cli-common.js';
import { exitOnSignal } from '../shutdown.js';
import { cometWorkerIndex, runCometPrimary } from './comet-cluster.js';

/** Longest a role may take to stop on SIGTERM before it exits anyway (non-zero). */
const GRACE_MS = 20_000;

function roleCommand(program: Command, name: string, description: string): Command {
  return withConfigOptions(program.command(name).description(description), 'TOML configuration file (docs/configuration.md, docs/deployment.md)');
}

async function runComet(opts: CommonOptions): Promise<void> {
  const { config, log } = await prepare(opts);
  const worker = cometWorkerIndex();
  if (worker !== undefined) {
    const { runCometWorker } = await import('./comet-worker.js');
    return runCometWorker(config, log, worker);
  }
  if (config.comet.workers > 1) return runCometPrimary(config, log);
  const { startCometProcess } = await import('./comet-process.js');
  const comet = await startCometProcess(config, log);
  log.info({ role: 'comet', ...comet.addresses() }, 'tsim comet started');
  exitOnSignal(log, () => comet.stop(), GRACE_MS);
}

async function runLogic(opts: CommonOptions): Promise<void> {
  const { config, log } = await prepare(opts);
  const { startLogicProcess } = await import('./logic-process.js');
  const logic = await startLogicProcess(config, log);
  log.info({ role: 'logic', ...logic.addresses() }, 'tsim logic started');
  exitOnSignal(log, () => logic.stop(), GRACE_MS);
}

async function runJob(opts: CommonOptions): Promise<void> {
  const { config, log } = await prepare(opts);
  const { startJobProcess } = await import('./job-process.js');
  const job = await startJobProcess(config, log);
  log.info({ role: 'job', owner: job.owner, comets: job.job.comets(), ...(job.metrics ? { metrics: job.metrics } : {}) }, 'tsim job started');
  exitOnSignal(log, () => job.stop(), GRACE_MS);
}

/** Adds the `comet`, `logic` and `job` subcommands (distributed mode) to the tsim CLI. */
export function registerRoleCommands(program: Command): void {
  roleCommand(program, 'comet', 'run a comet: client connections (TCP, WebSocket) and the goim.comet gRPC service; needs Redis').action(
    (opts: CommonOptions) => runComet(opts).catch((err: unknown) => fail('tsim comet', err)),
  );
  roleCommand(
    program,
    'logic',
    'run a logic: the HTTP push API and the goim.logic gRPC service; needs Redis and NATS JetStream (or Kafka: queue.engine)',
  ).action((opts: CommonOptions) => runLogic(opts).catch((err: unknown) => fail('tsim logic', err)));
  roleCommand(
    program,
    'job',
    'run a job: takes pushes off the queue (NATS JetStream, or Kafka: queue.engine) and sends them to the comets; needs Redis',
  ).action((opts: CommonOptions) => runJob(opts).catch((err: unknown) => fail('tsim job', err)));
}

// One comet worker of `comet.workers = N > 1` (comet-cluster.ts is the primary): a comet of
// its own, server id `<env.host>-<i>`, on the gRPC and metrics addresses the primary chose.
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { metricsAddr } from '../metrics/metrics-addr.js';
import { STARTED, WORKER_GRPC_ENV, WORKER_METRICS_ENV, type StartedMessage } from './comet-cluster.js';
import { startCometProcess } from './comet-process.js';
import { COMET_GRPC_DEFAULT, grpcListen } from './grpc-settings.js';

const WORKER_GRACE_MS = 20_000;

/** Runs worker `index`: one comet; reports its addresses to the primary; stops on SIGTERM. */
export async function runCometWorker(config: Config, log: Logger, index: number): Promise<void> {
  const serverId = `${config.env.host}-${index}`;
  const wlog = log.child({ worker: index });
  const listen = process.env[WORKER_GRPC_ENV] ?? grpcListen(config, COMET_GRPC_DEFAULT);
  // Ctrl-C reaches every process of the group; the primary turns it into one SIGTERM each.
  process.on('SIGINT', () => {});
  const comet = await startCometProcess(config, wlog, {
    serverId,
    grpcListen: listen,
    metricsListen: process.env[WORKER_METRICS_ENV] ?? metricsAddr(config, 'comet', index),
  });
  const addresses = comet.addresses();
  wlog.info(addresses, 'comet worker started');
  process.send?.({ type: STARTED, index, pid: process.pid, addresses } satisfies StartedMessage);

  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    wlog.info('comet worker: shutting down');
    setTimeout(() => {
      wlog.error({ graceMs: WORKER_GRACE_MS }, 'comet worker: shutdown did not finish in time: exiting');
      process.exit(1);
    }, WORKER_GRACE_MS).unref();
    comet.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        wlog.error({ err: (err as Error).message }, 'comet worker: shutdown failed');
        process.exit(1);
      },
    );
  });
}

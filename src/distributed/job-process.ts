// A job as a process of its own (distributed mode): the Job role consuming NATS JetStream
// with partition leases in Redis (so several jobs share the partitions), or Kafka in a
// consumer group (queue.engine), finding comets in the Redis registry and calling them over
// gRPC; /metrics on metrics.addr.
//
// Stop: the job stops consuming, delivers what it accepted (held room batches, calls in
// flight), acknowledges it and hands its partitions over; then the registry closes.
import { grpcCometDialerWith } from '../adapters/grpc/comet-client.js';
import { openHistoryStore } from '../adapters/open-history-store.js';
import { historyStoreSettings } from '../config/history-settings.js';
import { jobHistorySettings, jobSettings } from '../config/job-settings.js';
import type { Config } from '../config/schema.js';
import { Job } from '../job/job.js';
import type { Logger } from '../log.js';
import type { HistoryStore } from '../ports/index.js';
import { createMetricsRegistry } from '../metrics/registry.js';
import { metricsAddr } from '../metrics/metrics-addr.js';
import { metricsServeOptions, serveMetrics } from '../metrics/serve.js';
import { showAddress } from '../config/listen.js';
import { rpcClientTls } from './grpc-settings.js';
import { kafkaPushQueue } from './kafka.js';
import { natsPushQueue } from './nats.js';
import { redisLeaseStore, redisNodeStats, redisRegistry } from './redis.js';
import { adminStatsInterval } from '../config/admin-settings.js';
import { NodeReporter } from '../metrics/node-reporter.js';
import { jobValues } from '../metrics/node-values.js';
import { packageVersion } from '../package-root.js';
import { NODE_ROOMS_MAX } from '../ports/node-stats.js';
import { Teardown } from './teardown.js';

export interface JobProcess {
  job: Job;
  /** This job's name among the jobs sharing the partitions. */
  owner: string;
  /** The bound metrics listener; undefined when metrics.enabled is false. */
  metrics: string | undefined;
  stop(): Promise<void>;
}

/** `historyStore`: where room history is stored when a room type has `history` on (default: the engine [history] names). */
export async function startJobProcess(config: Config, log: Logger, historyStore?: HistoryStore): Promise<JobProcess> {
  const teardown = new Teardown(log);
  try {
    const registry = redisRegistry(config, log.child({ role: 'registry' }));
    teardown.add('closing the registry', () => registry.close());
    // Kafka shares partitions through its consumer group; NATS through leases in Redis.
    const queue =
      config.queue.engine === 'kafka'
        ? kafkaPushQueue(config, log.child({ role: 'queue' }))
        : natsPushQueue(config, {
            log: log.child({ role: 'queue' }),
            leases: redisLeaseStore(config, log.child({ role: 'leases' })),
            ownsLeases: true,
          });
    // Job.stop() closes the queue once it consumes; this covers a start that failed before.
    teardown.add('closing the push queue', () => queue.close());
    const history = jobHistorySettings(config);
    const store = history
      ? (historyStore ?? (await openHistoryStore(historyStoreSettings(config, 'distributed'), log.child({ role: 'history' }))))
      : undefined;
    if (store) teardown.add('closing the history store', () => store.close());
    const job = new Job({
      ...jobSettings(config),
      history,
      historyStore: store,
      queue,
      registry,
      dial: grpcCometDialerWith({ timeoutMs: config.rpcClient.timeout, tls: rpcClientTls(config) }),
      log: log.child({ role: 'job' }),
    });
    let metrics: string | undefined;
    if (config.metrics.enabled) {
      const source = createMetricsRegistry({ job, queue });
      teardown.add('stopping metrics sampling', async () => source.close());
      const server = await serveMetrics(source, metricsAddr(config, 'job'), log, metricsServeOptions(config, source.limits));
      teardown.add('closing the metrics server', () => server.close());
      metrics = showAddress(server.address());
    }
    teardown.add('stopping the job', () => job.stop());
    await job.start();
    // The console's node snapshot. Jobs do not register and may share env.host: the pid tells them apart.
    const nodeStats = redisNodeStats(config, log.child({ role: 'node-stats' }));
    teardown.add('closing the node stats store', () => nodeStats.close());
    const reporter = new NodeReporter({
      store: nodeStats,
      intervalMs: adminStatsInterval(config),
      id: `${config.env.host}:${process.pid}`,
      version: packageVersion(),
      addrs: () => (metrics ? [`metrics ${metrics}`] : []),
      roles: [{ role: 'job', values: () => jobValues(job, queue), rooms: () => job.busiestRooms(NODE_ROOMS_MAX) }],
      log,
    });
    teardown.add('stopping the node snapshots', () => reporter.stop());
    reporter.start();
    return { job, owner: queue.owner, metrics, stop: () => teardown.run() };
  } catch (err) {
    await teardown.run().catch(() => {});
    throw err;
  }
}

// Embedded mode: comet, logic and job in one process on in-memory adapters (docs/architecture.md).
import type { AddressInfo } from 'node:net';
import { directCometClient } from './adapters/memory/comet-client.js';
import { lazyInboxStore } from './adapters/open-inbox-store.js';
import { inboxSettings } from './config/inbox-settings.js';
import { InboxPruner } from './logic/inbox-pruner.js';
import { openHistoryStore } from './adapters/open-history-store.js';
import { MemoryPushQueue, type MemoryPushQueueOptions } from './adapters/memory/push-queue.js';
import { MemoryRegistry } from './adapters/memory/registry.js';
import { MemorySendGuard } from './adapters/memory/send-guard.js';
import { MemorySessionStore } from './adapters/memory/session-store.js';
import { Comet } from './comet/comet.js';
import { cometSettings } from './config/comet-settings.js';
import { jobHistorySettings, jobSettings } from './config/job-settings.js';
import { historyRoomTypes, historyStoreSettings } from './config/history-settings.js';
import { logicHttpSettings, logicSettings } from './config/logic-settings.js';
import type { Config } from './config/schema.js';
import { Job } from './job/job.js';
import type { Logger } from './log.js';
import { createAuthenticator } from './logic/auth/from-config.js';
import { LogicHttpServer } from './logic/http/http-server.js';
import { Logic } from './logic/logic.js';
import { LimitHits } from './metrics/limit-hits.js';
import { registerLogicHttpMetrics } from './metrics/logic-metrics.js';
import { createMetricsRegistry, type MetricsRegistry } from './metrics/registry.js';
import { webRoots } from './package-root.js';
import type { CometDialer, HistoryStore, InboxStore } from './ports/index.js';
import { MemoryNodeStats } from './adapters/memory/node-stats.js';
import { adminAccess, adminStatsInterval } from './config/admin-settings.js';
import { ClusterView } from './logic/admin/cluster-view.js';
import { NodeReporter } from './metrics/node-reporter.js';
import { cometValues, jobValues, logicValues } from './metrics/node-values.js';
import { packageVersion } from './package-root.js';
import { showAddress } from './config/listen.js';
import type { CometAdmin } from './ports/comet-admin.js';
import { NODE_ROOMS_MAX } from './ports/node-stats.js';

export interface Embedded {
  comet: Comet;
  logic: Logic;
  job: Job;
  http: LogicHttpServer;
  /** Served at GET /metrics on the HTTP server; undefined when metrics.enabled is false. */
  metrics: MetricsRegistry | undefined;
  /** Bound addresses (useful when the config asks for port 0). */
  addresses(): { tcp: AddressInfo[]; ws: AddressInfo[]; http: AddressInfo };
  stop(): Promise<void>;
}

/** The embedded queue's bounds and redelivery waits (the queue* and retry* keys of [job]). */
export function memoryQueueOptions(config: Config): MemoryPushQueueOptions {
  const { queueSize, queueInflight, retryDelay, retryMaxDelay } = config.job;
  return { capacity: queueSize, inflight: queueInflight, retryDelay, retryMaxDelay };
}

/**
 * `historyStore`: where room history is kept (docs/history.md#storage); default: the engine
 * [history] names (SQLite in history.dataDir unless configured otherwise), closed on stop.
 * `inboxStore`: users' durable inboxes (docs/protocol.md#durable-inbox), closed on stop.
 */
export async function startEmbedded(config: Config, log: Logger, historyStore?: HistoryStore, inboxStore?: InboxStore): Promise<Embedded> {
  const jobHistory = jobHistorySettings(config);
  const historyTypes = historyRoomTypes(config);
  // Opened only when some room type keeps history: a goim configuration touches no file.
  const history =
    jobHistory !== undefined || historyTypes.size > 0
      ? (historyStore ?? (await openHistoryStore(historyStoreSettings(config, 'embedded'), log.child({ role: 'history' }))))
      : undefined;
  const inboxConfig = inboxSettings(config, 'embedded');
  const inboxLog = log.child({ role: 'inbox' });
  // Opened at its first use: a goim configuration touches no file.
  const inbox = inboxStore ?? lazyInboxStore(inboxConfig.store, inboxLog);
  const pruner = new InboxPruner({ store: inbox, rule: inboxConfig.retention, every: inboxConfig.pruneEvery, log: inboxLog });
  const store = new MemorySessionStore();
  const queue = new MemoryPushQueue({ ...memoryQueueOptions(config), log: log.child({ role: 'queue' }) });
  const registry = new MemoryRegistry();
  const logicLog = log.child({ role: 'logic' });
  const logic = new Logic({
    ...logicSettings(config),
    store,
    queue,
    registry,
    log: logicLog,
    authenticator: createAuthenticator(config.auth, logicLog),
    sendGuard: new MemorySendGuard(),
    ...(history !== undefined ? { history } : {}),
    historyTypes,
    inboxStore: inbox,
  });
  const limits = new LimitHits();
  const comet = new Comet({ ...cometSettings(config), serverId: config.env.host, logic, registry, log: log.child({ role: 'comet' }), limits });
  const dial: CometDialer = (instance) => {
    if (instance.hostname !== config.env.host) throw new Error(`embedded job: unknown comet ${instance.hostname}`);
    return directCometClient(comet);
  };
  const job = new Job({
    ...jobSettings(config),
    history: jobHistory,
    historyStore: jobHistory !== undefined ? history : undefined,
    queue,
    registry,
    dial,
    log: log.child({ role: 'job' }),
  });
  const metrics = config.metrics.enabled ? createMetricsRegistry({ comet, logic, job, queue, limits }) : undefined;
  const httpLog = log.child({ role: 'http' });
  // The operations console: node snapshots in memory, the one comet called directly.
  const statsInterval = adminStatsInterval(config);
  const nodeStats = new MemoryNodeStats();
  const view = new ClusterView({ store: nodeStats, intervalMs: statsInterval, log: httpLog });
  const cometAdmin: CometAdmin = {
    connectionInfo: (keys) => Promise.resolve(comet.connectionInfo(keys)),
    disconnect: (key) => Promise.resolve(comet.disconnect(key)),
    roomMembers: (room, limit) => Promise.resolve(comet.roomMembers(room, limit)),
  };
  const admin = {
    access: adminAccess(config, true, httpLog),
    view,
    comets: (server: string) => (server === config.env.host ? cometAdmin : undefined),
  };
  // Embedded: with api.auth = "auto" a loopback-only API runs without keys.
  const http = new LogicHttpServer({
    ...logicHttpSettings(config, true, httpLog),
    logic,
    log: httpLog,
    webRoots: webRoots(),
    metrics,
    limits,
    admin,
  });
  const reporter = new NodeReporter({
    store: nodeStats,
    intervalMs: statsInterval,
    id: config.env.host,
    version: packageVersion(),
    addrs: () => [
      ...comet.tcpAddresses().map((a) => `tcp ${showAddress(a)}`),
      ...comet.wsAddresses().map((a) => `ws ${showAddress(a)}`),
      `http ${showAddress(http.address())}`,
    ],
    roles: [
      { role: 'comet', values: () => cometValues(comet) },
      { role: 'logic', values: () => logicValues(logic) },
      { role: 'job', values: () => jobValues(job, queue), rooms: () => job.busiestRooms(NODE_ROOMS_MAX) },
    ],
    log: httpLog,
  });
  if (metrics) registerLogicHttpMetrics(metrics.registry, http);

  const started: Array<() => Promise<void>> = [];
  try {
    await logic.start();
    started.push(() => logic.close());
    await comet.start();
    started.push(() => comet.stop());
    await job.start();
    started.push(() => job.stop());
    await http.listen();
    started.push(() => http.close());
    pruner.start();
    // The snapshots and their sampling are for the console alone here: none when it is not served.
    if (admin.access.mode !== 'disabled') {
      reporter.start();
      view.start();
    }
  } catch (err) {
    for (const undo of started.reverse()) await undo().catch(() => {});
    await queue.close().catch(() => {});
    await inbox.close().catch(() => {});
    metrics?.close();
    throw err;
  }

  // SIGHUP re-reads the TLS certificate files (only taken over when TLS is configured).
  const onHup = (): void => void comet.reloadTls();
  if (config.websocket.tlsOpen || config.tcp.tlsBind.length > 0) process.on('SIGHUP', onHup);
  let stopping: Promise<void> | undefined;
  return {
    comet,
    logic,
    job,
    http,
    metrics,
    addresses: () => ({ tcp: comet.tcpAddresses(), ws: comet.wsAddresses(), http: http.address() }),
    stop() {
      // Pushes stop entering first; job then drains its batches into the comet before
      // the comet closes its connections.
      stopping ??= (async () => {
        process.off('SIGHUP', onHup);
        view.stop();
        await reporter.stop();
        await http.close();
        await job.stop();
        await history?.close();
        await pruner.stop();
        await inbox.close();
        await queue.close();
        await comet.stop();
        await logic.close();
        await store.close();
        await registry.close();
        metrics?.close();
      })();
      return stopping;
    },
  };
}

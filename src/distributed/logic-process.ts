// A logic as a process of its own (distributed mode): the Logic role on the Redis session
// store and registry, publishing to NATS JetStream (or Kafka: queue.engine); goim's HTTP API (and the demo page) and
// the goim.logic gRPC service that comets call.
//
// Start: logic watches the registry for comets and loads the online counts, then serves
// gRPC and registers (comets find it), then opens the HTTP API. Stop, in reverse: the HTTP
// API stops taking pushes, logic deregisters, the gRPC server lets calls in flight finish,
// then the reload loop, the queue (publishes settle), the store and the registry close.
import { advertisedAddr } from '../adapters/grpc/address.js';
import { registerLogic } from '../adapters/grpc/logic-registration.js';
import { serveLogic } from '../adapters/grpc/logic-server.js';
import { openHistoryStore } from '../adapters/open-history-store.js';
import { lazyInboxStore } from '../adapters/open-inbox-store.js';
import { inboxSettings } from '../config/inbox-settings.js';
import { InboxPruner } from '../logic/inbox-pruner.js';
import { historyRoomTypes, historyStoreSettings } from '../config/history-settings.js';
import { parseListen, showAddress } from '../config/listen.js';
import { logicHttpSettings, logicSettings } from '../config/logic-settings.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { createAuthenticator } from '../logic/auth/from-config.js';
import { LogicHttpServer } from '../logic/http/http-server.js';
import { Logic } from '../logic/logic.js';
import { registerLogicHttpMetrics } from '../metrics/logic-metrics.js';
import { createMetricsRegistry } from '../metrics/registry.js';
import { webRoots } from '../package-root.js';
import { AppId, type HistoryStore, type InboxStore } from '../ports/index.js';
import { grpcListen, grpcServerOptions, rpcClientTls } from './grpc-settings.js';
import { GrpcCometAdminDialer } from '../adapters/grpc/comet-admin-client.js';
import { kafkaPushQueue } from './kafka.js';
import { natsPushQueue } from './nats.js';
import { redisNodeStats, redisRegistry, redisSendGuard, redisSessionStore } from './redis.js';
import { adminAccess, adminStatsInterval } from '../config/admin-settings.js';
import { ClusterView } from '../logic/admin/cluster-view.js';
import { NodeReporter } from '../metrics/node-reporter.js';
import { logicValues } from '../metrics/node-values.js';
import { packageVersion } from '../package-root.js';
import { Teardown } from './teardown.js';
import { systemClock } from '../lib/clock.js';
import { MemorySettle } from '../lib/memory-settle.js';

/** goim's logic gRPC port. */
const LOGIC_GRPC_DEFAULT = ':3119';

export interface LogicAddresses {
  http: string;
  grpc: string;
  /** What the registry holds, e.g. "grpc://10.0.0.5:3119". */
  rpcAddr: string;
}

export interface LogicProcess {
  logic: Logic;
  addresses(): LogicAddresses;
  stop(): Promise<void>;
}

/**
 * `historyStore`: the room history store logic reads (docs/history.md#storage); default: the
 * engine [history] names (PostgreSQL unless configured otherwise), opened only when some room
 * type keeps history. `inboxStore`: users' durable inboxes (docs/protocol.md#durable-inbox).
 */
export async function startLogicProcess(config: Config, log: Logger, historyStore?: HistoryStore, inboxStore?: InboxStore): Promise<LogicProcess> {
  const teardown = new Teardown(log);
  try {
    const historyTypes = historyRoomTypes(config);
    let history = historyStore;
    if (history === undefined && historyTypes.size > 0) {
      const opened = await openHistoryStore(historyStoreSettings(config, 'distributed'), log.child({ role: 'history' }));
      teardown.add('closing the history store', () => opened.close());
      history = opened;
    }
    const inboxConfig = inboxSettings(config, 'distributed');
    const inboxLog = log.child({ role: 'inbox' });
    let inbox = inboxStore;
    if (inbox === undefined) {
      // Opened at its first use: a goim configuration touches no table.
      const opened = lazyInboxStore(inboxConfig.store, inboxLog);
      teardown.add('closing the inbox store', () => opened.close());
      inbox = opened;
    }
    const pruner = new InboxPruner({ store: inbox, rule: inboxConfig.retention, every: inboxConfig.pruneEvery, log: inboxLog });
    pruner.start();
    teardown.add('stopping inbox retention', () => pruner.stop());
    const registry = redisRegistry(config, log.child({ role: 'registry' }));
    teardown.add('closing the registry', () => registry.close());
    const store = redisSessionStore(config, log.child({ role: 'sessions' }));
    teardown.add('closing the session store', () => store.close());
    // A publisher only: no partition leases.
    const queueLog = log.child({ role: 'queue' });
    const queue = config.queue.engine === 'kafka' ? kafkaPushQueue(config, queueLog) : natsPushQueue(config, { log: queueLog });
    teardown.add('closing the push queue', () => queue.close());

    const sendGuard = redisSendGuard(config, log.child({ role: 'send-guard' }));
    teardown.add('closing the send guard', () => sendGuard.close());
    const logicLog = log.child({ role: 'logic' });
    // Logic's garbage per connect is as large as a comet's (docs/operations.md#memory-after-connect-storms).
    const settle = new MemorySettle({
      after: config.memory.settleAfter,
      quietMs: config.memory.settleQuiet,
      clock: systemClock,
      log: logicLog,
      name: 'logic',
    });
    settle.start();
    teardown.add('stopping the memory settle', async () => settle.stop());
    const logic = new Logic({
      onConnect: () => settle.count(),
      ...logicSettings(config),
      store,
      queue,
      registry,
      log: logicLog,
      authenticator: createAuthenticator(config.auth, logicLog),
      sendGuard,
      ...(history !== undefined ? { history } : {}),
      historyTypes,
      inboxStore: inbox,
    });
    teardown.add('stopping logic', () => logic.close());
    await logic.start();

    const listen = grpcListen(config, LOGIC_GRPC_DEFAULT);
    const rpc = await serveLogic(logic, listen, grpcServerOptions(config));
    teardown.add('closing the gRPC server', () => rpc.close());
    const { host } = parseListen(listen);
    const dialAddr = advertisedAddr(host, rpc.port);
    try {
      await registerLogic(registry, config.env, dialAddr);
    } catch (err) {
      // The registry keeps re-registering in the background: logic appears once Redis does.
      log.warn({ err: (err as Error).message }, 'logic: registration failed; retrying in the background');
    }
    teardown.add('deregistering', async () => {
      try {
        await registry.deregister(AppId.Logic, config.env.host);
      } catch (err) {
        // Not fatal: the entry expires after registry.ttl.
        log.warn({ err: (err as Error).message }, 'logic: deregister failed');
      }
    });

    const metrics = config.metrics.enabled ? createMetricsRegistry({ logic }) : undefined;
    if (metrics) teardown.add('stopping metrics sampling', async () => metrics.close());
    // Not embedded: with api.auth = "auto" a distributed logic requires API keys.
    const httpLog = log.child({ role: 'http' });
    // The operations console: every node's snapshot from Redis; comets called over
    // tsim.comet.Admin for connection details and disconnects.
    const statsInterval = adminStatsInterval(config);
    const cometAdmin = new GrpcCometAdminDialer(() => logic.comets(), { timeoutMs: config.rpcClient.timeout, tls: rpcClientTls(config) });
    teardown.add('closing the console comet channels', async () => cometAdmin.close());
    const nodeStats = redisNodeStats(config, log.child({ role: 'node-stats' }));
    teardown.add('closing the node stats store', () => nodeStats.close());
    const view = new ClusterView({ store: nodeStats, intervalMs: statsInterval, log: httpLog });
    const access = adminAccess(config, false, httpLog);
    const http = new LogicHttpServer({
      ...logicHttpSettings(config, false, httpLog),
      logic,
      log: httpLog,
      webRoots: webRoots(),
      metrics,
      limits: metrics?.limits,
      admin: { access, view, comets: cometAdmin.dial },
    });
    if (metrics) registerLogicHttpMetrics(metrics.registry, http);
    teardown.add('closing the HTTP server', () => http.close());
    await http.listen();

    const grpc = showAddress({ address: host ?? '::', port: rpc.port, family: '' });
    const reporter = new NodeReporter({
      store: nodeStats,
      intervalMs: statsInterval,
      id: config.env.host,
      version: packageVersion(),
      addrs: () => [`http ${showAddress(http.address())}`, `grpc grpc://${dialAddr}`],
      roles: [{ role: 'logic', values: () => logicValues(logic) }],
      log,
    });
    teardown.add('stopping the node snapshots', () => reporter.stop());
    reporter.start();
    // Nothing reads the view when the console is not served: no sampling of the store then.
    if (access.mode !== 'disabled') view.start();
    teardown.add('stopping the console sampling', async () => view.stop());
    return {
      logic,
      addresses: () => ({ http: showAddress(http.address()), grpc, rpcAddr: `grpc://${dialAddr}` }),
      stop: () => teardown.run(),
    };
  } catch (err) {
    await teardown.run().catch(() => {});
    throw err;
  }
}

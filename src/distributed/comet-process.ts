// A comet as a process of its own (distributed mode): the Comet role with the gRPC logic
// client, the Redis registry, and the goim.comet gRPC service that jobs call.
//
// Start: the gRPC listener is bound first, so the address the comet registers is the port
// actually bound (rpcServer.addr may say port 0); then the comet binds its client ports and
// registers; /metrics is served on metrics.addr. Stop, in reverse: deregister, stop
// accepting and close the connections (each told to logic), then the gRPC server (calls in
// flight finish), the logic client, the registry.
import { advertisedAddr } from '../adapters/grpc/address.js';
import { GrpcLogicClient } from '../adapters/grpc/logic-client.js';
import { serveComet } from '../adapters/grpc/comet-server.js';
import { Comet } from '../comet/comet.js';
import { cometSettings } from '../config/comet-settings.js';
import { ConfigError } from '../config/load.js';
import { parseListen, showAddress } from '../config/listen.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { LimitHits } from '../metrics/limit-hits.js';
import { createMetricsRegistry } from '../metrics/registry.js';
import { metricsAddr } from '../metrics/metrics-addr.js';
import { metricsServeOptions, serveMetrics } from '../metrics/serve.js';
import type { CometOps } from '../ports/index.js';
import { COMET_GRPC_DEFAULT, grpcListen, grpcServerOptions, rpcClientTls } from './grpc-settings.js';
import { redisNodeStats, redisRegistry } from './redis.js';
import { adminStatsInterval } from '../config/admin-settings.js';
import { NodeReporter } from '../metrics/node-reporter.js';
import { cometValues } from '../metrics/node-values.js';
import { packageVersion } from '../package-root.js';
import { Teardown } from './teardown.js';

export interface CometProcessOptions {
  /** Server id: routing value and registry host name (default env.host). */
  serverId?: string;
  /** gRPC listen address (default rpcServer.addr, else ":3109"). */
  grpcListen?: string;
  /** Metrics listen address (default metrics.addr, else ":3190"); unused when metrics.enabled is false. */
  metricsListen?: string;
}

export interface CometAddresses {
  serverId: string;
  tcp: string[];
  websocket: string[];
  /** The bound gRPC listener, e.g. ":3109". */
  grpc: string;
  /** What the registry holds, e.g. "grpc://10.0.0.5:3109". */
  rpcAddr: string;
  /** The bound metrics listener; absent when metrics.enabled is false. */
  metrics?: string;
}

export interface CometProcess {
  comet: Comet;
  addresses(): CometAddresses;
  stop(): Promise<void>;
}

export async function startCometProcess(config: Config, log: Logger, opts: CometProcessOptions = {}): Promise<CometProcess> {
  // Every session call holds one of limits.logicCalls slots until it settles: without a
  // deadline, a few hung calls would stop this comet authenticating anyone for good.
  if (config.rpcClient.timeout === 0 && config.limits.logicCalls > 0) {
    throw new ConfigError(
      'rpcClient.timeout: "0" (no deadline) cannot be combined with limits.logicCalls > 0; set a deadline, or limits.logicCalls = 0',
    );
  }
  const serverId = opts.serverId ?? config.env.host;
  const listen = opts.grpcListen ?? grpcListen(config, COMET_GRPC_DEFAULT);
  const teardown = new Teardown(log);
  try {
    const registry = redisRegistry(config, log.child({ role: 'registry' }));
    teardown.add('closing the registry', () => registry.close());
    const logic = new GrpcLogicClient({
      registry,
      addrs: config.rpcClient.logicAddrs,
      timeoutMs: config.rpcClient.timeout,
      zone: config.env.zone,
      tls: rpcClientTls(config),
    });
    teardown.add('closing the logic client', () => logic.close());

    // Jobs learn this address from the registry only once the comet registers (below), so
    // no call can arrive before `comet` is set; the guard is for a misdirected caller.
    let comet: Comet | undefined;
    const target: CometOps = {
      pushMsg: (keys, op, proto, inbox) => started().pushMsg(keys, op, proto, inbox),
      broadcast: (op, proto, speed) => started().broadcast(op, proto, speed),
      broadcastRoom: (room, proto, parts) => started().broadcastRoom(room, proto, parts),
      rooms: () => started().rooms(),
    };
    const started = (): Comet => {
      if (!comet) throw new Error(`comet ${serverId}: starting`);
      return comet;
    };
    // The operations console's calls (tsim.comet.Admin) on the same port.
    const admin = {
      connectionInfo: (keys: readonly string[]) => started().connectionInfo(keys),
      disconnect: (key: string) => started().disconnect(key),
      roomMembers: (room: string, limit: number) => started().roomMembers(room, limit),
    };
    const rpc = await serveComet(target, listen, grpcServerOptions(config), admin);
    teardown.add('closing the gRPC server', () => rpc.close());
    const { host } = parseListen(listen);
    const rpcAddr = `grpc://${advertisedAddr(host, rpc.port)}`;

    const limits = new LimitHits();
    // Besides client sockets, this process's HTTP connections are the metrics listener's.
    const sharesWith = { metricsConnections: config.metrics.enabled ? config.metrics.maxConnections : 0 };
    comet = new Comet({ ...cometSettings(config, sharesWith), serverId, logic, log: log.child({ role: 'comet' }), registry, rpcAddr, limits });
    const c = comet;
    let metrics: string | undefined;
    if (config.metrics.enabled) {
      const source = createMetricsRegistry({ comet: c, limits });
      teardown.add('stopping metrics sampling', async () => source.close());
      const server = await serveMetrics(source, opts.metricsListen ?? metricsAddr(config, 'comet'), log, metricsServeOptions(config, limits));
      teardown.add('closing the metrics server', () => server.close());
      metrics = showAddress(server.address());
    }
    teardown.add('stopping the comet', () => c.stop());
    await c.start();
    if (config.websocket.tlsOpen || config.tcp.tlsBind.length > 0) {
      // SIGHUP re-reads the TLS certificate files.
      const onHup = (): void => void c.reloadTls();
      process.on('SIGHUP', onHup);
      teardown.add('releasing SIGHUP', async () => void process.off('SIGHUP', onHup));
    }

    const grpc = showAddress({ address: host ?? '::', port: rpc.port, family: '' });
    // The console's node snapshot (docs/operations.md#operations-console).
    const nodeStats = redisNodeStats(config, log.child({ role: 'node-stats' }));
    teardown.add('closing the node stats store', () => nodeStats.close());
    const reporter = new NodeReporter({
      store: nodeStats,
      intervalMs: adminStatsInterval(config),
      id: serverId,
      version: packageVersion(),
      addrs: () => [
        ...c.tcpAddresses().map((a) => `tcp ${showAddress(a)}`),
        ...c.wsAddresses().map((a) => `ws ${showAddress(a)}`),
        `grpc ${rpcAddr}`,
        ...(metrics ? [`metrics ${metrics}`] : []),
      ],
      roles: [{ role: 'comet', values: () => cometValues(c) }],
      log,
    });
    // Stopped first (teardown runs in reverse): the console sees the comet go at once.
    teardown.add('stopping the node snapshots', () => reporter.stop());
    reporter.start();
    return {
      comet: c,
      addresses: () => ({
        serverId,
        tcp: c.tcpAddresses().map(showAddress),
        websocket: c.wsAddresses().map((a) => `${showAddress(a)}/sub`),
        grpc,
        rpcAddr,
        ...(metrics ? { metrics } : {}),
      }),
      stop: () => teardown.run(),
    };
  } catch (err) {
    await teardown.run().catch(() => {});
    throw err;
  }
}

// What the comet role takes from the configuration (comet/comet.ts CometSettings), picked
// out by the wiring (embedded.ts, distributed/comet-process.ts) so the role never sees the
// whole Config.
import type { CometSettings } from '../comet/comet.js';
import { fdNeeds } from '../file-descriptors.js';
import { cometInboxSettings } from './inbox-settings.js';
import { sendQueueSplit } from './push-limits.js';
import type { Config } from './schema.js';

/**
 * `sharesWith`: what else in the comet's process holds client connections, which the socket
 * caps derived from the fd limit leave room for: logic's HTTP API (embedded), or a metrics
 * listener of that many connections (distributed comet).
 */
export function cometSettings(config: Config, sharesWith: 'http api' | { metricsConnections: number } = 'http api'): CometSettings {
  const { tcp, websocket, protocol, limits, comet, env } = config;
  return {
    listeners: {
      tcp: tcp.bind,
      tcpTls: tcp.tlsBind,
      ws: websocket.bind,
      wss: websocket.tlsOpen ? websocket.tlsBind : undefined,
      keepalive: tcp.keepalive,
      backlog: comet.listenBacklog,
      wsCertificates: { certFile: websocket.certFile, privateFile: websocket.privateFile },
      tcpCertificates: { certFile: tcp.certFile, privateFile: tcp.privateFile },
    },
    protocol: {
      cliProto: protocol.cliProto,
      maxBody: protocol.maxBody,
      sendQueueBytes: protocol.sendQueueBytes,
      slowPolicy: protocol.slowPolicy,
      handshakeTimeout: protocol.handshakeTimeout,
      replyReserve: sendQueueSplit(protocol).replyReserve,
    },
    admission: {
      maxConnections: limits.maxConnections,
      maxConnectionsPerIp: limits.maxConnectionsPerIp,
      reservedFds: limits.reservedFds,
      fdNeeds: fdNeeds(config, sharesWith),
      newConnectionsPerSecond: limits.newConnectionsPerSecond,
      upstreamFramesPerSecond: limits.upstreamFramesPerSecond,
      upstreamFramesBurst: limits.upstreamFramesBurst,
      maxAccepts: limits.maxAccepts,
      maxRooms: limits.maxRooms,
      maxCometRooms: limits.maxCometRooms,
      maxRefusedWaiting: limits.maxRefusedWaiting,
      logicCalls: limits.logicCalls,
      connectQueue: limits.connectQueue,
      disconnectQueue: limits.disconnectQueue,
    },
    timers: {
      sweepInterval: comet.sweepInterval,
      routingRefresh: comet.routingRefresh,
      renewOnline: comet.renewOnline,
      shutdownWait: comet.shutdownWait,
    },
    maxThrottled: config.push.maxThrottled,
    replayCacheBytes: config.comet.replayCache,
    memorySettle: { after: config.memory.settleAfter, quietMs: config.memory.settleQuiet },
    inbox: cometInboxSettings(config),
    registration: {
      region: env.region,
      zone: env.zone,
      env: env.deployEnv,
      weight: env.weight,
      offline: env.offline,
      addrs: env.addrs,
      refreshMs: config.registry.refresh,
    },
  };
}

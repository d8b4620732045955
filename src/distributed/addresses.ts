// How a distributed role describes where it listens (the "started" log line) and where it
// serves gRPC.
import type { RpcServerOptions } from '../adapters/grpc/serve.js';
import type { Config } from '../config/schema.js';

export { showAddress } from '../config/listen.js';

/** rpcServer.addr, or the role's goim default (comet ":3109", logic ":3119"). */
export function grpcListen(config: Config, roleDefault: string): string {
  return config.rpcServer.addr ?? roleDefault;
}

/** The rpcServer keepalive settings for serveComet / serveLogic. */
export function grpcServerOptions(config: Config): RpcServerOptions {
  const { idleTimeout, maxLifeTime, forceCloseWait, keepAliveInterval, keepAliveTimeout } = config.rpcServer;
  return { idleTimeout, maxLifeTime, forceCloseWait, keepAliveInterval, keepAliveTimeout };
}

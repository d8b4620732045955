// The gRPC settings of a distributed role, from its configuration: where it serves gRPC and
// how (rpcServer), and how it calls other roles (rpcClient) (docs/configuration.md).
import type { RpcClientTls } from '../adapters/grpc/channel-options.js';
import type { RpcServerOptions } from '../adapters/grpc/serve.js';
import type { Config } from '../config/schema.js';

/** goim's comet gRPC port. */
export const COMET_GRPC_DEFAULT = ':3109';

/** rpcServer.addr, or the role's goim default (comet ":3109", logic ":3119"). */
export function grpcListen(config: Config, roleDefault: string): string {
  return config.rpcServer.addr ?? roleDefault;
}

/** The rpcServer keepalive and TLS settings for serveComet / serveLogic. */
export function grpcServerOptions(config: Config): RpcServerOptions {
  const { idleTimeout, maxLifeTime, forceCloseWait, keepAliveInterval, keepAliveTimeout, certFile, privateFile, clientCaFile } = config.rpcServer;
  return { idleTimeout, maxLifeTime, forceCloseWait, keepAliveInterval, keepAliveTimeout, certFile, privateFile, clientCaFile };
}

/** The TLS settings of `rpcClient`, or undefined when rpcClient.caFile is unset (plaintext). */
export function rpcClientTls(config: Config): RpcClientTls | undefined {
  const c = config.rpcClient;
  if (c.caFile === '') return undefined;
  return { caFile: c.caFile, certFile: c.certFile, privateFile: c.privateFile, serverName: c.serverName };
}

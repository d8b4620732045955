// A logic instance's entry in the registry (spec §1.1): appid goim.logic, its gRPC
// address as grpc://<internal IPv4>:<port>, metadata weight.
import { networkInterfaces } from 'node:os';
import { AppId, type Instance, type Registry } from '../../ports/index.js';
import type { Config } from '../../config/schema.js';

/**
 * The address others should dial for a server listening on `host:port`: the host when the
 * listener is bound to one, else the first IPv4 of an up, non-loopback interface whose name
 * does not start with "lo" (goim's rule), else 127.0.0.1.
 */
export function advertisedAddr(host: string | undefined, port: number): string {
  if (host !== undefined && host !== '0.0.0.0' && host !== '::') {
    return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  }
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name.startsWith('lo')) continue;
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return `${a.address}:${port}`;
  }
  return `127.0.0.1:${port}`;
}

/**
 * Registers this logic (`grpcAddr` = "host:port" others dial) and resolves to a function
 * that deregisters it.
 */
export async function registerLogic(registry: Registry, config: Config, grpcAddr: string): Promise<() => Promise<void>> {
  const instance: Instance = {
    region: config.env.region,
    zone: config.env.zone,
    env: config.env.deployEnv,
    appid: AppId.Logic,
    hostname: config.env.host,
    addrs: [`grpc://${grpcAddr}`],
    version: '',
    latestTimestamp: Date.now() * 1e6,
    metadata: { weight: String(config.env.weight) },
  };
  await registry.register(instance);
  return () => registry.deregister(AppId.Logic, instance.hostname);
}

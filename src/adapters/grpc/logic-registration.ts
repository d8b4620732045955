// A logic instance's entry in the registry, so comets find it: appid goim.logic, its gRPC
// address as grpc://host:port (address.ts), metadata weight.
import { AppId, type Instance, type Registry } from '../../ports/index.js';

/** Where this logic runs (the `env` section's keys). */
export interface LogicPlacement {
  region: string;
  zone: string;
  deployEnv: string;
  host: string;
  weight: number;
}

/**
 * Registers this logic (`grpcAddr` = "host:port" others dial) and resolves to a function
 * that deregisters it.
 */
export async function registerLogic(registry: Registry, env: LogicPlacement, grpcAddr: string): Promise<() => Promise<void>> {
  const instance: Instance = {
    region: env.region,
    zone: env.zone,
    env: env.deployEnv,
    appid: AppId.Logic,
    hostname: env.host,
    addrs: [`grpc://${grpcAddr}`],
    version: '',
    latestTimestamp: Date.now() * 1e6,
    metadata: { weight: String(env.weight) },
  };
  await registry.register(instance);
  return () => registry.deregister(AppId.Logic, instance.hostname);
}

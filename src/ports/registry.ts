// Discovery: comets and logics announce themselves, others watch. adapters/memory/registry.ts
// (embedded mode) and adapters/redis/registry.ts (keys with TTL + pub/sub, docs/deployment.md).

export const AppId = { Comet: 'goim.comet', Logic: 'goim.logic' } as const;

/** A registered comet or logic (goim discovery's instance model, docs/internal-protocol.md). */
export interface Instance {
  region: string;
  zone: string;
  env: string;
  appid: string;
  hostname: string;
  /** e.g. `grpc://10.0.0.5:3109`; empty in embedded mode. */
  addrs: string[];
  version: string;
  /** Nanoseconds since the epoch of the last registration or metadata change. */
  latestTimestamp: number;
  /** goim keys: weight, offline, addrs, conn_count, ip_count. */
  metadata: Record<string, string>;
}

export interface Registry {
  /** Registers or updates (metadata refresh) an instance; keeps it alive until deregistered. */
  register(instance: Instance): Promise<void>;
  deregister(appid: string, hostname: string): Promise<void>;
  /** Current instances of an app. */
  list(appid: string): Promise<Instance[]>;
  /** Calls `onChange` with the full list now and whenever it changes; returns a stop function. */
  watch(appid: string, onChange: (instances: Instance[]) => void): () => void;
  close(): Promise<void>;
}
